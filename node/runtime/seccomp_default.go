package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultSeccompProfile is the RuntimeDefault profile: the allow list that containerd
// and Docker ship. Everything not listed fails with EPERM. Left out on purpose, among
// others: the kernel keyring (keyctl, add_key, request_key), new namespaces (unshare,
// setns, clone with CLONE_NEW* flags) and mounting, bpf, perf_event_open, kexec, module
// loading, reboot, swapon/swapoff, clock setting, io_uring, userfaultfd, and ptrace on
// kernels before 4.8 (whose ptrace could bypass seccomp). Some of these come back with
// the capability that makes them meaningful (CAP_SYS_ADMIN, CAP_SYS_PTRACE, ...).
func defaultSeccompProfile() *seccompProfile {
	allow := specs.ActAllow
	p := &seccompProfile{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(unix.EPERM),
		ArchMap: []seccompArchMap{
			{Arch: specs.ArchX86_64, Subs: []specs.Arch{specs.ArchX86, specs.ArchX32}},
			{Arch: specs.ArchAARCH64, Subs: []specs.Arch{specs.ArchARM}},
			{Arch: specs.ArchPPC64LE},
			{Arch: specs.ArchS390X, Subs: []specs.Arch{specs.ArchS390}},
			{Arch: specs.ArchRISCV64},
		},
		Syscalls: []seccompRule{
			{Names: defaultAllowedSyscalls, Action: allow},
			// ptrace could escape seccomp before 4.8.
			{Names: []string{"process_vm_readv", "process_vm_writev", "ptrace"}, Action: allow,
				Includes: seccompFilter{MinKernel: "4.8"}},
			// socket, except AF_VSOCK (40): vsock reaches the host through the hypervisor.
			{Names: []string{"socket"}, Action: allow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpNotEqual}}},
			// personality: only the harmless personas (Linux, UNAME26, PER_LINUX32, query).
			{Names: []string{"personality"}, Action: allow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: allow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0008, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: allow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x20000, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: allow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x20008, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: allow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},

			// Architecture specific.
			{Names: []string{"sync_file_range2", "swapcontext"}, Action: allow, Includes: seccompFilter{Arches: []string{"ppc64le"}}},
			{Names: []string{"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
				Action: allow, Includes: seccompFilter{Arches: []string{"arm", "arm64"}}},
			{Names: []string{"arch_prctl"}, Action: allow, Includes: seccompFilter{Arches: []string{"amd64", "x32"}}},
			{Names: []string{"modify_ldt"}, Action: allow, Includes: seccompFilter{Arches: []string{"amd64", "x32", "x86"}}},
			{Names: []string{"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}, Action: allow,
				Includes: seccompFilter{Arches: []string{"s390", "s390x"}}},
			{Names: []string{"riscv_flush_icache"}, Action: allow, Includes: seccompFilter{Arches: []string{"riscv64"}}},

			// With the capability that governs them.
			{Names: []string{"open_by_handle_at"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_DAC_READ_SEARCH"}}},
			{Names: []string{"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
				"lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
				"quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"},
				Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_ADMIN"}}},
			// clone without CAP_SYS_ADMIN: no CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
			// NEWUSER, NEWPID or NEWNET (s390 swaps the first two arguments).
			{Names: []string{"clone"}, Action: allow,
				Args:     []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
				Excludes: seccompFilter{Caps: []string{"CAP_SYS_ADMIN"}, Arches: []string{"s390", "s390x"}}},
			{Names: []string{"clone"}, Action: allow,
				Args:     []specs.LinuxSeccompArg{{Index: 1, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
				Includes: seccompFilter{Arches: []string{"s390", "s390x"}}, Excludes: seccompFilter{Caps: []string{"CAP_SYS_ADMIN"}}},
			// clone3's flags are behind a pointer seccomp cannot follow: ENOSYS makes the C
			// libraries fall back to clone, which is filtered above.
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.ENOSYS),
				Excludes: seccompFilter{Caps: []string{"CAP_SYS_ADMIN"}}},
			{Names: []string{"reboot"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_BOOT"}}},
			{Names: []string{"chroot"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_CHROOT"}}},
			{Names: []string{"delete_module", "init_module", "finit_module"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_MODULE"}}},
			{Names: []string{"acct"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_PACCT"}}},
			{Names: []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"},
				Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_PTRACE"}}},
			{Names: []string{"iopl", "ioperm"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_RAWIO"}}},
			{Names: []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}, Action: allow,
				Includes: seccompFilter{Caps: []string{"CAP_SYS_TIME"}}},
			{Names: []string{"vhangup"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYS_TTY_CONFIG"}}},
			{Names: []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}, Action: allow,
				Includes: seccompFilter{Caps: []string{"CAP_SYS_NICE"}}},
			{Names: []string{"syslog"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_SYSLOG"}}},
			{Names: []string{"bpf"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_BPF"}}},
			{Names: []string{"perf_event_open"}, Action: allow, Includes: seccompFilter{Caps: []string{"CAP_PERFMON"}}},
		},
	}
	return p
}

// cloneNamespaceFlags are the clone flags that create namespaces.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// defaultAllowedSyscalls are allowed to every container under RuntimeDefault.
var defaultAllowedSyscalls = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset",
	"chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
	"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
	"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
	"fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
	"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
	"map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
	"msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
	"newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
	"pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
	"process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
	"readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
	"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
	"setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
	"sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
	"tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
	"truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
}
