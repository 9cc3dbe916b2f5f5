package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orchd/orch/node/images/imagetest"
)

// mountCount counts the mounts at p in this mount namespace.
func mountCount(t *testing.T, p string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

func TestMountGivesAPrivateWritableLayer(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := startRegistry(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	s := testStore(t)
	img, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirA := filepath.Join(t.TempDir(), "ctr-a")
	dirB := filepath.Join(t.TempDir(), "ctr-b")
	t.Cleanup(func() {
		// Undo every mount even when the test failed half-way.
		for _, d := range []string{dirA, dirB} {
			if err := s.Unmount(d); err != nil {
				t.Error(err)
			}
		}
	})

	rootA, err := s.Mount(img, dirA)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Mount(img, dirA)
	if err != nil || again != rootA {
		t.Fatalf("second Mount = %q, %v", again, err)
	}
	if n := mountCount(t, rootA); n != 1 {
		t.Errorf("%d mounts at %s after two Mounts, want 1", n, rootA)
	}
	rootB, err := s.Mount(img, dirB)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(rootA, "www/index.html"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootA, "tmp/new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(rootA, "bin/ls")); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{img.Rootfs, rootB} {
		if b, err := os.ReadFile(filepath.Join(root, "www/index.html")); err != nil || string(b) != imagetest.IndexHTML {
			t.Errorf("%s/www/index.html = %q, %v; a container's write leaked", root, b, err)
		}
		if exists(filepath.Join(root, "tmp/new")) || !exists(filepath.Join(root, "bin/ls")) {
			t.Errorf("a container's change leaked into %s", root)
		}
	}

	// GC keeps an image that is mounted, whatever the caller says.
	if removed, err := s.GC(nil); err != nil || len(removed) != 0 {
		t.Errorf("GC with the image mounted removed %v, %v", removed, err)
	}

	if err := s.Unmount(dirA); err != nil {
		t.Fatal(err)
	}
	if exists(dirA) || mountCount(t, rootA) != 0 {
		t.Errorf("Unmount left %s", dirA)
	}
	if err := s.Unmount(dirA); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
	if !exists(filepath.Join(img.Rootfs, "bin/busybox")) {
		t.Error("Unmount touched the shared rootfs")
	}
}
