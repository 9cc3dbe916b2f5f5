package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultCaps is the default capability set of containerd and Docker.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// knownCaps are the Linux capabilities by number.
var knownCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// allCaps returns the capabilities this process has, which are what "ALL" and
// privileged grant, as containerd's (a container cannot get more than its runtime has).
// When that cannot be read: every capability this kernel knows.
var allCaps = sync.OnceValue(func() []string {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
					var out []string
					for i, c := range knownCaps {
						if mask&(1<<i) != 0 {
							out = append(out, c)
						}
					}
					return out
				}
			}
		}
	}
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return slices.Clone(knownCaps)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last < 0 || last >= len(knownCaps) {
		return slices.Clone(knownCaps)
	}
	return slices.Clone(knownCaps[:last+1])
})

// capName normalises a capability name as containerd does: upper case, "CAP_" prefixed.
func capName(c string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(c))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(knownCaps, n) {
		return "", fmt.Errorf("unknown capability %q", c)
	}
	return n, nil
}

// Capabilities returns the bounding (= effective = permitted) capability set of s, in
// the order of knownCaps. The default set is changed as containerd's CRI does: "ALL" in
// add grants everything, "ALL" in drop removes everything, then the named additions,
// then the named drops (so a capability both added and dropped is dropped).
func Capabilities(s Spec) ([]string, error) {
	all := allCaps()
	if s.Privileged {
		return slices.Clone(all), nil
	}
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	isAll := func(c string) bool { return strings.EqualFold(strings.TrimSpace(c), "ALL") }
	if slices.ContainsFunc(s.CapAdd, isAll) {
		for _, c := range all {
			set[c] = true
		}
	}
	if slices.ContainsFunc(s.CapDrop, isAll) {
		clear(set)
	}
	for _, c := range s.CapAdd {
		if isAll(c) {
			continue
		}
		n, err := capName(c)
		if err != nil {
			return nil, fmt.Errorf("capabilities.add: %w", err)
		}
		set[n] = true
	}
	for _, c := range s.CapDrop {
		if isAll(c) {
			continue
		}
		n, err := capName(c)
		if err != nil {
			return nil, fmt.Errorf("capabilities.drop: %w", err)
		}
		delete(set, n)
	}
	out := []string{}
	for _, c := range knownCaps {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// applyPrivileged makes o a privileged container as containerd does: every host device
// and a device cgroup that allows all, no masked or read-only paths, /sys and the
// cgroup file system writable.
func applyPrivileged(o *specs.Spec) error {
	devs, err := hostDevices("/dev")
	if err != nil {
		return fmt.Errorf("privileged: host devices: %w", err)
	}
	l := o.Linux
	l.Devices = devs
	l.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	l.MaskedPaths, l.ReadonlyPaths = nil, nil
	for i := range o.Mounts {
		if d := o.Mounts[i].Destination; d == "/sys" || d == "/sys/fs/cgroup" {
			o.Mounts[i].Options = slices.DeleteFunc(slices.Clone(o.Mounts[i].Options), func(opt string) bool { return opt == "ro" })
		}
	}
	return nil
}

// hostDevices lists the character and block devices under dir, as containerd's
// HostDevices: the mounts of their own (pts, shm, mqueue) and symlinks are skipped.
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p != dir && os.IsNotExist(err) {
				return nil // gone meanwhile
			}
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				if p != dir {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if d.Type()&(os.ModeDevice|os.ModeCharDevice) == 0 || p == filepath.Join(dir, "console") {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		typ := "b"
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			typ = "c"
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{Path: p, Type: typ, Major: int64(unix.Major(uint64(st.Rdev))),
			Minor: int64(unix.Minor(uint64(st.Rdev))), FileMode: &mode, UID: &uid, GID: &gid})
		return nil
	})
	return out, err
}
