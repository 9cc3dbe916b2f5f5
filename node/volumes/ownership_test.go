package volumes

// fsGroup ownership as the kubelet applies it: group, group permissions and setgid on
// everything in the volume, nothing through a symlink or on a device or fifo, and with
// OnRootMismatch nothing once the root matches.

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func fsGroupPod(gid int32, policy string) *orchv1.Pod {
	sc := &orchv1.PodSecurityContext{FsGroup: proto.Int32(gid)}
	if policy != "" {
		sc.FsGroupChangePolicy = proto.String(policy)
	}
	return &orchv1.Pod{Spec: &orchv1.PodSpec{SecurityContext: sc}}
}

func statOf(t *testing.T, p string) (gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Gid, os.FileMode(st.Mode & 0o7777)
}

func TestSetOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files another group")
	}
	base := t.TempDir()
	vol := filepath.Join(base, "vol")
	outside := filepath.Join(base, "outside")
	os.WriteFile(outside, []byte("host"), 0o600)
	os.MkdirAll(filepath.Join(vol, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(vol, "sub", "file"), []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(vol, "link"))
	os.Symlink(base, filepath.Join(vol, "sub", "dirlink"))
	unix.Mkfifo(filepath.Join(vol, "fifo"), 0o600)

	if err := setOwnership(vol, fsGroupPod(2000, ""), false); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{vol, filepath.Join(vol, "sub"), filepath.Join(vol, "sub", "deeper")} {
		if gid, mode := statOf(t, d); gid != 2000 || mode&os.FileMode(unix.S_ISGID) == 0 || mode&0o070 != 0o070 {
			t.Errorf("dir %s: gid %d mode %o, want group 2000 with rwx and setgid", d, gid, mode)
		}
	}
	if gid, mode := statOf(t, filepath.Join(vol, "sub", "file")); gid != 2000 || mode&0o660 != 0o660 {
		t.Errorf("file: gid %d mode %o, want group 2000 rw", gid, mode)
	}
	if gid, mode := statOf(t, outside); gid != 0 || mode != 0o600 {
		t.Errorf("a symlink's target outside the volume changed: gid %d mode %o", gid, mode)
	}
	if gid, _ := statOf(t, base); gid != 0 {
		t.Errorf("a directory symlink was followed: %s has gid %d", base, gid)
	}
	if gid, mode := statOf(t, filepath.Join(vol, "fifo")); gid != 0 || mode != 0o600 {
		t.Errorf("fifo changed: gid %d mode %o", gid, mode)
	}

	// OnRootMismatch: the root matches, so nothing below is looked at.
	file := filepath.Join(vol, "sub", "file")
	os.Chown(file, 0, 0)
	if err := setOwnership(vol, fsGroupPod(2000, "OnRootMismatch"), false); err != nil {
		t.Fatal(err)
	}
	if gid, _ := statOf(t, file); gid != 0 {
		t.Error("OnRootMismatch walked a volume whose root already matched")
	}
	if err := setOwnership(vol, fsGroupPod(2000, "Always"), false); err != nil {
		t.Fatal(err)
	}
	if gid, _ := statOf(t, file); gid != 2000 {
		t.Error("Always did not walk the volume again")
	}

	// A read-only volume's files get group read only.
	ro := filepath.Join(base, "ro")
	os.MkdirAll(ro, 0o755)
	os.WriteFile(filepath.Join(ro, "key"), []byte("v"), 0o400)
	if err := setOwnership(ro, fsGroupPod(3000, ""), true); err != nil {
		t.Fatal(err)
	}
	if gid, mode := statOf(t, filepath.Join(ro, "key")); gid != 3000 || mode&0o070 != 0o040 {
		t.Errorf("read-only key: gid %d mode %o, want group 3000 read only", gid, mode)
	}
	// No fsGroup: nothing changes.
	if err := setOwnership(ro, &orchv1.Pod{}, true); err != nil {
		t.Fatal(err)
	}
}
