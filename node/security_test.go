// These tests pin what a pod's and a container's securityContext decide for the
// container (Kubernetes' precedence, containerd's user resolution, the kubelet's
// runAsNonRoot messages, seccomp defaults) and that Localhost profiles stay in their root.
package node

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n# comment\nbroken\n"
	testGroup  = "root:x:0:\nstaff:x:50:app,other\napp:x:1000:app\nvideo:x:44:app\nnogroup:x:65534:\n"
)

func ptr[T any](v T) *T { return &v }

func secPod(psc *orchv1.PodSecurityContext, csc *orchv1.SecurityContext) *orchv1.Pod {
	return &orchv1.Pod{
		Metadata: &orchv1.ObjectMeta{Name: "web", Namespace: "prod", Uid: "u-1"},
		Spec: &orchv1.PodSpec{SecurityContext: psc,
			Containers: []*orchv1.Container{{Name: "main", SecurityContext: csc}}},
	}
}

func TestDecideSecurity(t *testing.T) {
	profiles := map[string]string{"ok.json": `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`,
		"bad.json": `{"defaultAction":"SCMP_ACT_NOPE"}`}
	type want struct {
		uid, gid uint32
		gids     []uint32
		nnp      bool
		priv     bool
		seccomp  string
		sysctls  map[string]string
	}
	tests := []struct {
		name      string
		psc       *orchv1.PodSecurityContext
		csc       *orchv1.SecurityContext
		image     string
		noDefault bool
		noSeccomp bool
		annot     map[string]string
		want      want
		err       string
	}{
		{name: "nothing set: root, RuntimeDefault", want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "--seccomp-default=false: Unconfined", noDefault: true, want: want{gids: []uint32{0}, seccomp: runtime.SeccompUnconfined}},
		{name: "the security-context-demo",
			psc: &orchv1.PodSecurityContext{RunAsUser: ptr[int32](1000), RunAsGroup: ptr[int32](3000), FsGroup: ptr[int32](2000), SupplementalGroups: []int32{4000}},
			csc: &orchv1.SecurityContext{AllowPrivilegeEscalation: ptr(false)},
			// uid 1000 is "app" in the image: its groups there come too.
			want: want{uid: 1000, gid: 3000, gids: []uint32{3000, 50, 44, 2000, 4000}, nnp: true, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "allowPrivilegeEscalation true: no no_new_privs", csc: &orchv1.SecurityContext{AllowPrivilegeEscalation: ptr(true)},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "container overrides the pod",
			psc:  &orchv1.PodSecurityContext{RunAsUser: ptr[int32](1000), RunAsGroup: ptr[int32](3000)},
			csc:  &orchv1.SecurityContext{RunAsUser: ptr[int32](2000), RunAsGroup: ptr[int32](5000)},
			want: want{uid: 2000, gid: 5000, gids: []uint32{5000}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "runAsUser unknown to the image: group 0", csc: &orchv1.SecurityContext{RunAsUser: ptr[int32](4242)},
			want: want{uid: 4242, gid: 0, gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "runAsUser replaces the image's user:group", image: "1000:50", csc: &orchv1.SecurityContext{RunAsUser: ptr[int32](65534)},
			want: want{uid: 65534, gid: 65534, gids: []uint32{65534}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "runAsGroup alone keeps the image's user", image: "nobody", psc: &orchv1.PodSecurityContext{RunAsGroup: ptr[int32](7)},
			want: want{uid: 65534, gid: 7, gids: []uint32{7}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "image user by name", image: "nobody", want: want{uid: 65534, gid: 65534, gids: []uint32{65534}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "image user:group by name", image: "app:staff", want: want{uid: 1000, gid: 50, gids: []uint32{50, 44}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "image uid:gid", image: "1234:77", want: want{uid: 1234, gid: 77, gids: []uint32{77}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "image user unknown", image: "ghost", err: "unable to find user ghost"},
		{name: "image group unknown", image: "app:ghosts", err: "unable to find group ghosts"},

		{name: "runAsNonRoot, root image", psc: &orchv1.PodSecurityContext{RunAsNonRoot: ptr(true)},
			err: `container has runAsNonRoot and image will run as root (pod: "web_prod(u-1)", container: main)`},
		{name: "runAsNonRoot, image USER 0:0", image: "0:0", csc: &orchv1.SecurityContext{RunAsNonRoot: ptr(true)},
			err: `container has runAsNonRoot and image will run as root (pod: "web_prod(u-1)", container: main)`},
		{name: "runAsNonRoot, named image user", image: "nobody", csc: &orchv1.SecurityContext{RunAsNonRoot: ptr(true)},
			err: `container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "web_prod(u-1)", container: main)`},
		{name: "runAsNonRoot with runAsUser 0", csc: &orchv1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int32](0)},
			err: `container's runAsUser breaks non-root policy (pod: "web_prod(u-1)", container: main)`},
		{name: "runAsNonRoot, numeric image user", image: "1000", csc: &orchv1.SecurityContext{RunAsNonRoot: ptr(true)},
			want: want{uid: 1000, gid: 1000, gids: []uint32{1000, 50, 44}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "runAsNonRoot, named image user but runAsUser set", image: "nobody",
			psc:  &orchv1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int32](1000)},
			want: want{uid: 1000, gid: 1000, gids: []uint32{1000, 50, 44}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "container lifts the pod's runAsNonRoot", psc: &orchv1.PodSecurityContext{RunAsNonRoot: ptr(true)},
			csc: &orchv1.SecurityContext{RunAsNonRoot: ptr(false)}, want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},

		{name: "privileged: Unconfined", csc: &orchv1.SecurityContext{Privileged: ptr(true),
			SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompRuntimeDefault}},
			want: want{gids: []uint32{0}, priv: true, seccomp: runtime.SeccompUnconfined}},
		{name: "privileged without seccomp support", noSeccomp: true, csc: &orchv1.SecurityContext{Privileged: ptr(true)},
			want: want{gids: []uint32{0}, priv: true, seccomp: runtime.SeccompUnconfined}},
		{name: "privileged and no escalation", csc: &orchv1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)},
			err: "cannot set allowPrivilegeEscalation to false and privileged to true"},

		{name: "pod's profile", noDefault: true,
			psc:  &orchv1.PodSecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompRuntimeDefault}},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "container's profile over the pod's",
			psc:  &orchv1.PodSecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompRuntimeDefault}},
			csc:  &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompUnconfined}},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompUnconfined}},
		{name: "Localhost", psc: &orchv1.PodSecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostProfile: ptr("ok.json")}},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompLocalhost}},
		{name: "Localhost missing", csc: &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostProfile: ptr("nope.json")}},
			err: `seccomp profile "nope.json"`},
		{name: "Localhost invalid", csc: &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostProfile: ptr("bad.json")}},
			err: `seccomp profile "bad.json"`},
		{name: "Localhost without a path", csc: &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompLocalhost}},
			err: "localhostProfile: required"},
		{name: "unknown profile type", csc: &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: "Strict"}},
			err: `seccompProfile.type "Strict"`},
		{name: "no seccomp support: refused, not unconfined", noSeccomp: true, err: "built without seccomp support"},
		{name: "no seccomp support, Unconfined asked", noSeccomp: true,
			csc:  &orchv1.SecurityContext{SeccompProfile: &orchv1.SeccompProfile{Type: runtime.SeccompUnconfined}},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompUnconfined}},

		{name: "safe sysctls", psc: &orchv1.PodSecurityContext{Sysctls: []*orchv1.Sysctl{
			{Name: "net.ipv4.ping_group_range", Value: "0 2147483647"}, {Name: "kernel/shm_rmid_forced", Value: "1"}}},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault,
				sysctls: map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "kernel.shm_rmid_forced": "1"}}},
		{name: "unsafe sysctl", psc: &orchv1.PodSecurityContext{Sysctls: []*orchv1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}},
			err: `sysctl "kernel.msgmax" is not in the node's safe set`},
		{name: "SELinux", psc: &orchv1.PodSecurityContext{SeLinuxOptions: &orchv1.SELinuxOptions{Level: "s0:c1"}}, err: "no SELinux"},
		{name: "AppArmor", annot: map[string]string{appArmorPrefix + "main": "runtime/default"}, err: "Cannot enforce AppArmor"},
		{name: "AppArmor unconfined", annot: map[string]string{appArmorPrefix + "main": "unconfined"},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
		{name: "procMount Unmasked", csc: &orchv1.SecurityContext{ProcMount: ptr("Unmasked")}, err: `procMount "Unmasked"`},
		{name: "procMount Default", csc: &orchv1.SecurityContext{ProcMount: ptr("Default")},
			want: want{gids: []uint32{0}, seccomp: runtime.SeccompRuntimeDefault}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := secPod(tt.psc, tt.csc)
			pod.Metadata.Annotations = tt.annot
			in := securityInput{pod: pod, c: pod.Spec.Containers[0], imageUser: tt.image,
				passwd: []byte(testPasswd), group: []byte(testGroup),
				seccompDefault: !tt.noDefault, seccompSupported: !tt.noSeccomp,
				localhostProfile: func(rel string) ([]byte, error) {
					if p, ok := profiles[rel]; ok {
						return []byte(p), nil
					}
					return nil, os.ErrNotExist
				}}
			sec, err := decideSecurity(in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{uid: sec.UID, gid: sec.GID, gids: sec.AdditionalGIDs, nnp: sec.NoNewPrivileges, priv: sec.Privileged,
				seccomp: sec.Seccomp, sysctls: sec.Sysctls}
			if got.uid != tt.want.uid || got.gid != tt.want.gid || !slices.Equal(got.gids, tt.want.gids) || got.nnp != tt.want.nnp ||
				got.priv != tt.want.priv || got.seccomp != tt.want.seccomp || len(got.sysctls) != len(tt.want.sysctls) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			for k, v := range tt.want.sysctls {
				if got.sysctls[k] != v {
					t.Errorf("sysctl %s = %q, want %q", k, got.sysctls[k], v)
				}
			}
			if tt.want.seccomp == runtime.SeccompLocalhost && string(sec.SeccompProfile) != profiles["ok.json"] {
				t.Errorf("profile %q", sec.SeccompProfile)
			}
		})
	}
}

func TestSecurityCapabilitiesAndReadonlyRootPassThrough(t *testing.T) {
	pod := secPod(nil, &orchv1.SecurityContext{ReadOnlyRootFilesystem: ptr(true),
		Capabilities: &orchv1.Capabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"ALL"}}})
	sec, err := decideSecurity(securityInput{pod: pod, c: pod.Spec.Containers[0], seccompSupported: true})
	if err != nil {
		t.Fatal(err)
	}
	var s runtime.Spec
	sec.apply(&s)
	if !s.ReadonlyRootfs || !slices.Equal(s.CapAdd, []string{"NET_ADMIN"}) || !slices.Equal(s.CapDrop, []string{"ALL"}) ||
		s.Seccomp != runtime.SeccompUnconfined {
		t.Errorf("spec %+v", s)
	}
}

func TestLocalhostProfileStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "seccomp")
	os.MkdirAll(filepath.Join(root, "team"), 0o755)
	os.WriteFile(filepath.Join(root, "team", "p.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir, "outside.json"), []byte("secret"), 0o644)
	os.Symlink("../outside.json", filepath.Join(root, "escape.json"))
	read := localhostProfileReader(root)
	if b, err := read("team/p.json"); err != nil || string(b) != "{}" {
		t.Errorf("team/p.json: %q %v", b, err)
	}
	for _, bad := range []string{"../outside.json", "/etc/passwd", "team/../../outside.json", "escape.json", ""} {
		if b, err := read(bad); err == nil {
			t.Errorf("%q read: %q", bad, b)
		}
	}
	if _, err := read("missing.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestReadInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "host-passwd"), []byte("host"), 0o644)
	os.Symlink("/../../host-passwd", filepath.Join(dir, "rootfs", "etc", "passwd"))
	if b, err := readInRoot(filepath.Join(dir, "rootfs"), "etc/passwd"); err == nil && string(b) == "host" {
		t.Error("a symlink in the image reached a host file")
	}
	if b, err := readInRoot(filepath.Join(dir, "rootfs"), "etc/group"); err != nil || b != nil {
		t.Errorf("missing file: %q %v", b, err)
	}
}
