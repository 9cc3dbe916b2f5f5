// These tests pin the OCI spec built for each security setting of a container: user and
// groups, capabilities (add, drop, ALL), privileged, no_new_privs, seccomp (none,
// RuntimeDefault, Localhost) and sysctls. They need no root.
package runtime

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specView is what the security settings change in an OCI spec.
type specView struct {
	uid, gid       uint32
	gids           []uint32
	caps           []string
	noNewPrivs     bool
	masked         bool // runc's masked paths are in place
	readonlyPaths  bool
	allDevices     bool // the device cgroup allows every device
	hostDevices    bool // host devices are created
	sysRO          bool
	seccomp        string // "" for none, else the default action
	sysctl         map[string]string
	readonlyRootfs bool
}

func viewOf(o *specs.Spec) specView {
	v := specView{uid: o.Process.User.UID, gid: o.Process.User.GID, gids: o.Process.User.AdditionalGids,
		caps: o.Process.Capabilities.Bounding, noNewPrivs: o.Process.NoNewPrivileges,
		masked: len(o.Linux.MaskedPaths) > 0, readonlyPaths: len(o.Linux.ReadonlyPaths) > 0,
		hostDevices: len(o.Linux.Devices) > 0, sysctl: o.Linux.Sysctl, readonlyRootfs: o.Root.Readonly}
	for _, d := range o.Linux.Resources.Devices {
		if d.Allow && d.Type == "" && d.Major == nil && d.Access == "rwm" {
			v.allDevices = true
		}
	}
	for _, m := range o.Mounts {
		if m.Destination == "/sys" {
			v.sysRO = slices.Contains(m.Options, "ro")
		}
	}
	if o.Linux.Seccomp != nil {
		v.seccomp = string(o.Linux.Seccomp.DefaultAction)
	}
	return v
}

func baseSpec() Spec {
	return Spec{ID: "c", Rootfs: "/r", Args: []string{"sh"}, LogPath: "/l", UID: 1000, GID: 3000}
}

type specCase struct {
	name string
	set  func(*Spec)
	want specView
	err  string
}

func TestOCISpecSecurity(t *testing.T) {
	seccompOK, _ := SeccompSupported()
	all := allCaps()
	minus := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(c string) bool { return slices.Contains(drop, c) })
	}
	normal := specView{uid: 1000, gid: 3000, masked: true, readonlyPaths: true, sysRO: true,
		caps: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
			"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD",
			"CAP_AUDIT_WRITE", "CAP_SETFCAP"}}
	with := func(f func(*specView)) specView {
		v := normal
		f(&v)
		return v
	}
	tests := []specCase{
		{name: "defaults: containerd's capabilities, masked paths, no filter", set: func(*Spec) {}, want: normal},
		{name: "groups", set: func(s *Spec) { s.AdditionalGIDs = []uint32{3000, 2000, 4000} },
			want: with(func(v *specView) { v.gids = []uint32{3000, 2000, 4000} })},
		{name: "drop ALL", set: func(s *Spec) { s.CapDrop = []string{"ALL"} },
			want: with(func(v *specView) { v.caps = []string{} })},
		{name: "drop all (any case) then add two, with and without CAP_", set: func(s *Spec) {
			s.CapDrop = []string{"all"}
			s.CapAdd = []string{"net_bind_service", "CAP_Kill"}
		}, want: with(func(v *specView) { v.caps = []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"} })},
		{name: "drop some", set: func(s *Spec) { s.CapDrop = []string{"NET_RAW", "cap_mknod", "SYS_ADMIN"} },
			want: with(func(v *specView) {
				v.caps = slices.DeleteFunc(slices.Clone(normal.caps), func(c string) bool { return c == "CAP_NET_RAW" || c == "CAP_MKNOD" })
			})},
		{name: "add one", set: func(s *Spec) { s.CapAdd = []string{"SYS_TIME"} },
			want: with(func(v *specView) {
				v.caps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
					"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SYS_TIME",
					"CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
			})},
		{name: "added and dropped: dropped", set: func(s *Spec) { s.CapAdd, s.CapDrop = []string{"SYS_ADMIN"}, []string{"sys_admin"} },
			want: normal},
		{name: "add ALL, drop one", set: func(s *Spec) { s.CapAdd, s.CapDrop = []string{"ALL"}, []string{"CHOWN"} },
			want: with(func(v *specView) { v.caps = minus("CAP_CHOWN") })},
		{name: "unknown capability", set: func(s *Spec) { s.CapAdd = []string{"NOPE"} }, err: `capabilities.add: unknown capability "NOPE"`},
		{name: "no_new_privs", set: func(s *Spec) { s.NoNewPrivileges = true },
			want: with(func(v *specView) { v.noNewPrivs = true })},
		{name: "privileged: everything, no filter even when asked", set: func(s *Spec) {
			s.Privileged, s.Seccomp, s.CapDrop = true, SeccompRuntimeDefault, []string{"ALL"}
		}, want: specView{uid: 1000, gid: 3000, caps: all, allDevices: true, hostDevices: true}},
		{name: "sysctls", set: func(s *Spec) { s.Sysctls = map[string]string{"net.ipv4.ping_group_range": "0 2147483647"} },
			want: with(func(v *specView) { v.sysctl = map[string]string{"net.ipv4.ping_group_range": "0 2147483647"} })},
		{name: "read-only root", set: func(s *Spec) { s.ReadonlyRootfs = true },
			want: with(func(v *specView) { v.readonlyRootfs = true })},
		{name: "unconfined", set: func(s *Spec) { s.Seccomp = SeccompUnconfined }, want: normal},
		{name: "unknown seccomp type", set: func(s *Spec) { s.Seccomp = "Other" }, err: `unknown profile type "Other"`},
	}
	if seccompOK {
		tests = append(tests,
			specCase{name: "RuntimeDefault", set: func(s *Spec) { s.Seccomp = SeccompRuntimeDefault },
				want: with(func(v *specView) { v.seccomp = string(specs.ActErrno) })},
			specCase{name: "Localhost", set: func(s *Spec) {
				s.Seccomp, s.SeccompProfile = SeccompLocalhost, []byte(`{"defaultAction":"SCMP_ACT_LOG"}`)
			}, want: with(func(v *specView) { v.seccomp = string(specs.ActLog) })},
			specCase{name: "Localhost, not JSON", set: func(s *Spec) { s.Seccomp, s.SeccompProfile = SeccompLocalhost, []byte(`{`) },
				err: "seccomp profile"})
	} else {
		tests = append(tests, specCase{name: "RuntimeDefault refused without seccomp support", set: func(s *Spec) { s.Seccomp = SeccompRuntimeDefault },
			err: "built without seccomp support"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.set(&s)
			o, err := ociSpec(s)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := viewOf(o)
			if !equalView(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if c := o.Process.Capabilities; !slices.Equal(c.Effective, c.Bounding) || !slices.Equal(c.Permitted, c.Bounding) || len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("capability sets differ: %+v", c)
			}
		})
	}
}

func equalView(a, b specView) bool {
	return a.uid == b.uid && a.gid == b.gid && slices.Equal(a.gids, b.gids) && slices.Equal(a.caps, b.caps) &&
		a.noNewPrivs == b.noNewPrivs && a.masked == b.masked && a.readonlyPaths == b.readonlyPaths &&
		a.allDevices == b.allDevices && a.hostDevices == b.hostDevices && a.sysRO == b.sysRO &&
		a.seccomp == b.seccomp && a.readonlyRootfs == b.readonlyRootfs && len(a.sysctl) == len(b.sysctl) &&
		func() bool {
			for k, v := range a.sysctl {
				if b.sysctl[k] != v {
					return false
				}
			}
			return true
		}()
}

// rules returns the syscalls a compiled profile lets through unconditionally, those it
// allows only with some argument, and those it answers with an errno of its own.
func rules(p *specs.LinuxSeccomp) (allowed, conditional, errno map[string]bool) {
	allowed, conditional, errno = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			switch {
			case r.Action == specs.ActAllow && len(r.Args) == 0:
				allowed[n] = true
			case r.Action == specs.ActAllow:
				conditional[n] = true
			default:
				errno[n] = true
			}
		}
	}
	return
}

func TestDefaultSeccompProfile(t *testing.T) {
	compile := func(caps []string, arch string, kernel [2]int) *specs.LinuxSeccomp {
		t.Helper()
		p, err := defaultSeccompProfile().compile(caps, arch, kernel)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := compile(defaultCaps, "amd64", [2]int{6, 1})
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
		t.Errorf("default action %s/%v, want SCMP_ACT_ERRNO with EPERM", p.DefaultAction, p.DefaultErrnoRet)
	}
	if !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Errorf("architectures %v", p.Architectures)
	}
	allowed, conditional, errno := rules(p)
	for _, n := range []string{"read", "write", "execve", "ptrace", "arch_prctl", "setuid", "statx"} {
		if !allowed[n] {
			t.Errorf("%s not allowed", n)
		}
	}
	for _, n := range []string{"keyctl", "add_key", "request_key", "unshare", "setns", "mount", "umount2", "bpf",
		"perf_event_open", "kexec_load", "init_module", "reboot", "swapon", "clock_settime", "io_uring_setup",
		"userfaultfd", "open_by_handle_at", "s390_runtime_instr"} {
		if allowed[n] || conditional[n] {
			t.Errorf("%s allowed by default", n)
		}
	}
	if !conditional["clone"] || !conditional["socket"] || !conditional["personality"] || !errno["clone3"] {
		t.Errorf("clone, socket and personality must be filtered by argument, clone3 must get ENOSYS: %v %v", conditional, errno)
	}
	for _, r := range p.Syscalls {
		if slices.Contains(r.Names, "clone") && r.Args[0].Value != 0x7E020000 {
			t.Errorf("clone mask %#x", r.Args[0].Value)
		}
	}

	if !allowed["chroot"] {
		t.Error("chroot refused with CAP_SYS_CHROOT (a default capability)")
	}
	allowed, conditional, errno = rules(compile(append(slices.Clone(defaultCaps), "CAP_SYS_ADMIN"), "amd64", [2]int{6, 1}))
	for _, n := range []string{"mount", "unshare", "setns", "clone", "clone3", "chroot"} {
		if !allowed[n] {
			t.Errorf("with CAP_SYS_ADMIN: %s not allowed", n)
		}
	}
	if errno["clone3"] {
		t.Error("with CAP_SYS_ADMIN: clone3 still gets ENOSYS")
	}

	// ptrace only from 4.8 on, without CAP_SYS_PTRACE.
	if allowed, _, _ = rules(compile(defaultCaps, "amd64", [2]int{4, 4})); allowed["ptrace"] {
		t.Error("ptrace allowed on 4.4")
	}
	if allowed, _, _ = rules(compile(append(slices.Clone(defaultCaps), "CAP_SYS_PTRACE"), "amd64", [2]int{4, 4})); !allowed["ptrace"] {
		t.Error("ptrace refused on 4.4 with CAP_SYS_PTRACE")
	}

	// Architecture specific rules.
	p = compile(defaultCaps, "arm64", [2]int{6, 1})
	allowed, _, _ = rules(p)
	if !slices.Equal(p.Architectures, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}) || allowed["arch_prctl"] || !allowed["set_tls"] {
		t.Errorf("arm64: %v, arch_prctl %v, set_tls %v", p.Architectures, allowed["arch_prctl"], allowed["set_tls"])
	}
}

func TestLocalhostSeccompProfile(t *testing.T) {
	docker := `{
  "defaultAction": "SCMP_ACT_ERRNO",
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
  "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
    {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
  ]
}`
	p, err := parseSeccomp([]byte(docker))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.compile(defaultCaps, "amd64", [2]int{6, 1})
	if err != nil {
		t.Fatal(err)
	}
	allowed, conditional, _ := rules(out)
	if !allowed["read"] || allowed["mount"] || !conditional["personality"] ||
		!slices.Equal(out.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86}) {
		t.Errorf("docker profile compiled to %+v", out)
	}
	oci := `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`
	if err := ParseSeccompProfile([]byte(oci)); err != nil {
		t.Errorf("OCI profile: %v", err)
	}
	for _, bad := range []string{`{`, `{"syscalls":[]}`, `{"defaultAction":"SCMP_ACT_NOPE"}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"op":"SCMP_CMP_NOPE"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_NOPE"]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`} {
		if err := ParseSeccompProfile([]byte(bad)); err == nil {
			t.Errorf("profile %s accepted", bad)
		}
	}
}

func TestSeccompRefusedWithoutSupport(t *testing.T) {
	if ok, _ := SeccompSupported(); ok {
		t.Skip("built with seccomp support")
	}
	s := baseSpec()
	s.Seccomp = SeccompRuntimeDefault
	if _, err := ociSpec(s); !errors.Is(err, ErrNoSeccomp) {
		t.Fatalf("err = %v, want ErrNoSeccomp", err)
	}
}

func TestParseKernel(t *testing.T) {
	for in, want := range map[string][2]int{"6.18.44-fc-v1300": {6, 18}, "4.8": {4, 8}, "5": {5, 0}, "": {0, 0}, "4.19rc1": {4, 19}} {
		if got := parseKernel(in); got != want {
			t.Errorf("parseKernel(%q) = %v, want %v", in, got, want)
		}
	}
}

// A volume's mountPropagation reaches its mount, and the root's propagation lets it
// through as containerd sets it.
func TestOCISpecMountPropagation(t *testing.T) {
	cases := []struct {
		opts     [][]string
		mountOpt []string
		rootfs   string
	}{
		{[][]string{{"rprivate"}}, []string{"rprivate"}, ""},
		{[][]string{{"rprivate"}, {"rslave"}}, []string{"rprivate"}, "rslave"},
		{[][]string{{"rslave"}, {"rshared"}}, []string{"rslave"}, "rshared"},
	}
	for _, tc := range cases {
		s := baseSpec()
		for i, o := range tc.opts {
			s.Mounts = append(s.Mounts, Mount{Source: "/src", Destination: "/dst" + string(rune('a'+i)), Type: "bind", Options: o})
		}
		o, err := ociSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		if o.Linux.RootfsPropagation != tc.rootfs {
			t.Errorf("%v: rootfs propagation %q, want %q", tc.opts, o.Linux.RootfsPropagation, tc.rootfs)
		}
		for _, m := range o.Mounts {
			if m.Destination == "/dsta" {
				for _, want := range tc.mountOpt {
					if !slices.Contains(m.Options, want) {
						t.Errorf("%v: mount options %v lack %s", tc.opts, m.Options, want)
					}
				}
			}
		}
	}
}
