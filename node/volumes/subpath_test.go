package volumes

// These tests pin that a subPath never leads out of its volume, whatever symlinks a
// container planted there (before or during the lookup), and that the staging mounts the
// runtime gets are removed with their container instance and with the pod.

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// subPathFixture builds base/vol (the volume, mode 0777 like an emptyDir) and base/outside
// (what a subPath must never reach):
//
//	vol/a/b/marker      "inside"
//	vol/f               "file"
//	vol/root     -> /
//	vol/up       -> ../../
//	vol/a/up2    -> ../../outside
//	vol/file-out -> ../outside/secret
//	vol/in       -> a/b
//	vol/a/back   -> ../a/b
//	vol/loop     -> loop
//	outside/secret      "secret"
func subPathFixture(t *testing.T) (vol, outside string) {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	vol, outside = filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(vol, "a", "b"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"vol/a/b/marker": "inside", "vol/f": "file", "outside/secret": "secret"}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(base, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"vol/root": "/", "vol/up": "../../", "vol/a/up2": "../../outside", "vol/file-out": "../outside/secret",
		"vol/in": "a/b", "vol/a/back": "../a/b", "vol/loop": "loop"}
	for p, target := range links {
		if err := os.Symlink(target, filepath.Join(base, p)); err != nil {
			t.Fatal(err)
		}
	}
	return vol, outside
}

// fdTarget is the path the kernel holds for a descriptor.
func fdTarget(t *testing.T, fd int) string {
	t.Helper()
	p, err := os.Readlink(fdPath(fd))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bothWalks runs f with openat2 and with the component-by-component walk.
func bothWalks(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			noOpenat2.Store(walk)
			defer noOpenat2.Store(false)
			f(t)
		})
	}
}

func TestOpenSubPathStaysInTheVolume(t *testing.T) {
	cases := []struct {
		sub  string
		want string // the path inside vol it must open; "" when it must be refused
		err  string
	}{
		{sub: "a/b", want: "a/b"},
		{sub: "a/b/marker", want: "a/b/marker"},
		{sub: "./a//b/", want: "a/b"},
		{sub: "", want: ""},
		{sub: "new/dir/c", want: "new/dir/c"},        // created
		{sub: "in", want: "a/b"},                     // a symlink that stays inside
		{sub: "in/marker", want: "a/b/marker"},       // ... also in the middle
		{sub: "a/back", want: "a/b"},                 // a relative symlink with .. that stays inside
		{sub: "f", want: "f"},                        // a file
		{sub: "root", err: "outside the volume"},     // absolute symlink to /
		{sub: "root/etc", err: "outside the volume"}, // ... in the middle
		{sub: "up", err: "outside the volume"},       // ../../ out of it
		{sub: "up/etc/passwd", err: "outside the volume"},
		{sub: "a/up2/secret", err: "outside the volume"}, // relative symlink to a sibling directory
		{sub: "a/up2/newdir", err: "outside the volume"}, // and nothing is created there
		{sub: "file-out", err: "outside the volume"},     // a symlink to a file outside
		{sub: "root/orch-test-newdir", err: "outside the volume"},
		{sub: "../outside", err: "'..'"},
		{sub: "a/../../outside", err: "'..'"},
		{sub: "..", err: "'..'"},
		{sub: "/etc", err: "relative"},
		{sub: "f/x", err: "not a directory"},
		{sub: "loop", err: "too many levels"},
	}
	bothWalks(t, func(t *testing.T) {
		vol, outside := subPathFixture(t)
		for _, tc := range cases {
			comps, err := subPathComponents(tc.sub)
			var fd int
			if err == nil {
				fd, err = openSubPath(vol, comps)
			}
			if tc.err != "" {
				if err == nil {
					t.Errorf("%q: opened %s, want an error containing %q", tc.sub, fdTarget(t, fd), tc.err)
					unix.Close(fd)
				} else if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%q: error %q, want it to contain %q", tc.sub, err, tc.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%q: %v", tc.sub, err)
				continue
			}
			if got, want := fdTarget(t, fd), filepath.Join(vol, tc.want); got != want {
				t.Errorf("%q: opened %s, want %s", tc.sub, got, want)
			}
			unix.Close(fd)
		}
		for _, p := range []string{filepath.Join(outside, "newdir"), "/orch-test-newdir"} {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was created outside the volume", p)
				os.Remove(p)
			}
		}
		// Directories a subPath creates get the volume's mode, umask or not.
		for _, d := range []string{"new", "new/dir", "new/dir/c"} {
			if got := fileMode(t, filepath.Join(vol, d)); got != 0o777 {
				t.Errorf("%s: mode %v, want 0777 like the volume", d, got)
			}
		}
	})
}

// A container may swap a symlink in for a directory at any moment: every lookup either
// fails or ends inside the volume.
func TestOpenSubPathRacingSymlinkSwap(t *testing.T) {
	bothWalks(t, func(t *testing.T) {
		vol, _ := subPathFixture(t)
		if err := os.MkdirAll(filepath.Join(vol, "sw", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/", filepath.Join(vol, "swap")); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// sw and swap trade places: sw is a directory one moment and -> / the next.
				if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(vol, "sw"), unix.AT_FDCWD, filepath.Join(vol, "swap"), unix.RENAME_EXCHANGE); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		opened := 0
		for range 2000 {
			fd, err := openSubPath(vol, []string{"sw", "etc"})
			if err != nil {
				continue
			}
			opened++
			if got := fdTarget(t, fd); !strings.HasPrefix(got, vol+"/") {
				t.Errorf("opened %s, outside %s", got, vol)
			}
			unix.Close(fd)
		}
		close(stop)
		wg.Wait()
		t.Logf("%d of 2000 lookups opened a path (the rest were refused)", opened)
	})
}

func TestExpandSubPathExpr(t *testing.T) {
	t.Parallel()
	env := []string{"POD_NAME=web-0", "NS=prod", "EVIL=../../etc", "ABS=/etc", "NS=staging"}
	cases := []struct{ expr, want, err string }{
		{expr: "$(POD_NAME)", want: "web-0"},
		{expr: "logs/$(NS)/$(POD_NAME)", want: "logs/staging/web-0"}, // the later definition wins
		{expr: "$(UNSET)/x", want: "$(UNSET)/x"},                     // kept as written, as Kubernetes does
		{expr: "$$(POD_NAME)", want: "$(POD_NAME)"},
		{expr: "$(EVIL)", err: "must not contain '..'"},
		{expr: "$(ABS)/x", err: "must be a relative path"},
	}
	for _, tc := range cases {
		got, err := ExpandSubPathExpr(tc.expr, env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %q, %v; want error %q", tc.expr, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

func TestMountReadOnly(t *testing.T) {
	t.Parallel()
	pod := mockPod(
		&orchv1.Volume{Name: "ed", EmptyDir: &orchv1.EmptyDirVolumeSource{}},
		&orchv1.Volume{Name: "hp", HostPath: &orchv1.HostPathVolumeSource{Path: "/x"}},
		&orchv1.Volume{Name: "cm", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "c"}},
		&orchv1.Volume{Name: "sec", Secret: &orchv1.SecretVolumeSource{SecretName: "s"}},
		&orchv1.Volume{Name: "dapi", DownwardApi: &orchv1.DownwardAPIVolumeSource{}},
		&orchv1.Volume{Name: "proj", Projected: &orchv1.ProjectedVolumeSource{}},
	)
	cases := []struct {
		name     string
		readOnly bool
		want     bool
	}{
		{"ed", false, false}, {"ed", true, true},
		{"hp", false, false}, {"hp", true, true},
		{"cm", false, true}, {"sec", false, true}, {"dapi", false, true}, {"proj", false, true},
	}
	for _, tc := range cases {
		if got := MountReadOnly(pod, &orchv1.VolumeMount{Name: tc.name, ReadOnly: tc.readOnly}); got != tc.want {
			t.Errorf("%s readOnly=%v: got %v, want %v", tc.name, tc.readOnly, got, tc.want)
		}
	}
}

func stagingMounts(t *testing.T, root string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range mountsUnder(t, real) {
		if strings.Contains(p, "/"+subPathsDirName+"/") {
			out = append(out, p)
		}
	}
	return out
}

func TestPrepareSubPathMountsWhatWasResolved(t *testing.T) {
	requireTmpfs(t)
	m, root := testManager(t)
	vol, _ := subPathFixture(t)
	sp := func(container string, attempt, index int, path string) SubPath {
		return SubPath{PodUID: "uid-1", Container: container, Attempt: attempt, Index: index, VolumePath: vol, Path: path}
	}

	// A directory: the staging path is a bind mount of it, writes land in the volume.
	dir, err := m.PrepareSubPath(sp("app", 0, 0, "a/b"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "uid-1", subPathsDirName, "app", "0", "0"); dir != want {
		t.Fatalf("staging %s, want %s", dir, want)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("staging %s is not a directory (no symlink either): %v %v", dir, fi, err)
	}
	if got := readFile(t, filepath.Join(dir, "marker")); got != "inside" {
		t.Fatalf("staging shows %q, want the volume's marker", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "written"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(vol, "a", "b", "written")); got != "w" {
		t.Fatal("a write through the staging mount did not reach the volume")
	}

	// A file: bound onto an empty file.
	file, err := m.PrepareSubPath(sp("app", 0, 1, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(file); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("file staging %s: %v %v", file, fi, err)
	}
	if got := readFile(t, file); got != "file" {
		t.Fatalf("file staging shows %q", got)
	}

	// An escape leaves nothing behind.
	for i, p := range []string{"root", "up", "file-out", "a/up2"} {
		if _, err := m.PrepareSubPath(sp("app", 0, 2+i, p)); err == nil || !strings.Contains(err.Error(), "outside the volume") {
			t.Errorf("%q: err %v, want it refused as outside the volume", p, err)
		}
		if _, err := os.Lstat(filepath.Join(root, "uid-1", subPathsDirName, "app", "0", strconv.Itoa(2+i))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: staging path left behind", p)
		}
	}

	// The path changes between lookup and mount: the mount is of what was looked up.
	testHookResolved = func() {
		if err := os.Rename(filepath.Join(vol, "a"), filepath.Join(vol, "a.old")); err != nil {
			t.Error(err)
		}
		if err := os.Symlink("/", filepath.Join(vol, "a")); err != nil {
			t.Error(err)
		}
	}
	swapped, err := m.PrepareSubPath(sp("app", 1, 0, "a/b"))
	testHookResolved = nil
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(swapped, "marker")); got != "inside" {
		t.Fatalf("after the swap the staging shows %q, want the volume's marker", got)
	}
	if _, err := os.Stat(filepath.Join(swapped, "etc")); err == nil {
		t.Fatal("the staging mount shows the host's root")
	}

	// Preparing the same mount again replaces it rather than stacking another.
	if _, err := m.PrepareSubPath(sp("app", 1, 0, "a.old/b")); err != nil {
		t.Fatal(err)
	}
	if got := stagingMounts(t, root); len(got) != 3 {
		t.Fatalf("staging mounts %v, want 3 (app/0/0, app/0/1, app/1/0)", got)
	}

	// Removing instance 0 leaves instance 1, and the volume's contents.
	if err := m.CleanSubPaths("uid-1", "app", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.CleanSubPaths("uid-1", "app", 0); err != nil {
		t.Fatalf("second CleanSubPaths: %v", err)
	}
	if got := stagingMounts(t, root); len(got) != 1 || !strings.HasSuffix(got[0], "/app/1/0") {
		t.Fatalf("after removing instance 0: staging mounts %v", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "uid-1", subPathsDirName, "app", "0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("instance 0's staging directory left behind")
	}
	for _, p := range []string{"a.old/b/marker", "a.old/b/written", "f"} {
		if _, err := os.Stat(filepath.Join(vol, p)); err != nil {
			t.Errorf("volume content %s lost: %v", p, err)
		}
	}
	if err := m.CleanSubPaths("uid-1", "app", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "uid-1", subPathsDirName, "app")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the container's staging directory outlived its last instance")
	}
}

// Teardown finds staging mounts by scanning, so an agent restarted since it made them (a
// new Manager) removes them too, and never deletes volume contents through them.
func TestTeardownRemovesStaleSubPathMounts(t *testing.T) {
	requireTmpfs(t)
	m, root := testManager(t)
	vol, _ := subPathFixture(t)
	pod := mockPod(
		&orchv1.Volume{Name: "scratch", EmptyDir: &orchv1.EmptyDirVolumeSource{}},
		&orchv1.Volume{Name: "cache", EmptyDir: &orchv1.EmptyDirVolumeSource{Medium: "Memory"}},
	)
	paths := setup(t, m, pod, newSource())
	for i, p := range []SubPath{
		{Container: "app", Path: "a/b", VolumePath: vol},
		{Container: "app", Path: "f", VolumePath: vol},
		{Container: "init", Path: "logs/x", VolumePath: paths["scratch"]},
		{Container: "init", Path: "tmp", VolumePath: paths["cache"]},
	} {
		p.PodUID, p.Index = "uid-1", i
		if _, err := m.PrepareSubPath(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := stagingMounts(t, root); len(got) != 4 {
		t.Fatalf("staging mounts %v, want 4", got)
	}

	restarted := New(root, nil)
	if err := restarted.Teardown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, root); len(got) != 0 {
		t.Fatalf("mounts left after Teardown: %v", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "uid-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("pod directory left behind")
	}
	for _, p := range []string{"a/b/marker", "f"} {
		if _, err := os.Stat(filepath.Join(vol, p)); err != nil {
			t.Errorf("content of a volume outside the pod directory (%s) lost: %v", p, err)
		}
	}
	if err := restarted.Teardown("uid-1"); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestPrepareSubPathRefusesBadNames(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	vol, _ := subPathFixture(t)
	for _, sp := range []SubPath{
		{PodUID: "../x", Container: "app", VolumePath: vol, Path: "a"},
		{PodUID: "uid-1", Container: "../app", VolumePath: vol, Path: "a"},
		{PodUID: "uid-1", Container: "app", VolumePath: vol, Path: "a", Index: -1},
		{PodUID: "uid-1", Container: "app", VolumePath: vol, Path: "../a"},
	} {
		if _, err := m.PrepareSubPath(sp); err == nil {
			t.Errorf("%+v: accepted", sp)
		}
	}
}
