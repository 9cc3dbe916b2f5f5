package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount gives a container its writable root filesystem: an overlayfs with
// the image's shared rootfs as the read-only lower layer, dir/upper and
// dir/work for the container's own changes, mounted at dir/rootfs. It is
// idempotent: an overlay already mounted there is reused, so an agent that
// restarts finds a running container's rootfs intact.
func (s *Store) Mount(img Image, dir string) (string, error) {
	rootfs, err := s.mount(img, dir)
	if err != nil {
		return "", fmt.Errorf("mount %s at %s: %w", img.Ref, dir, err)
	}
	return rootfs, nil
}

func (s *Store) mount(img Image, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if img.Rootfs == "" {
		return "", errors.New("image has no rootfs")
	}
	upper, work, rootfs := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, p := range []string{img.Rootfs, upper, work} {
		// overlayfs splits its options on ',' and lowerdir on ':'.
		if strings.ContainsAny(p, ",:") {
			return "", fmt.Errorf("path %q contains ',' or ':'", p)
		}
	}
	if _, err := os.Stat(img.Rootfs); err != nil {
		return "", err
	}
	for _, p := range []string{dir, upper, work, rootfs} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
	}
	mounted, err := isMountPoint(rootfs)
	if err != nil {
		return "", err
	}
	if mounted {
		return rootfs, nil
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.Rootfs, upper, work)
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	return rootfs, nil
}

// Unmount undoes Mount and removes dir with the container's changes. It is
// idempotent: a missing dir or a rootfs not mounted is fine. It never
// removes dir while something is still mounted there.
func (s *Store) Unmount(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	// Mounts stacked at rootfs (by hand, or by a racing caller) are
	// unmounted until none is left.
	for range 8 {
		mounted, err := isMountPoint(rootfs)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		if !mounted {
			break
		}
		if err := unix.Unmount(rootfs, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", rootfs, err)
		}
	}
	if mounted, err := isMountPoint(rootfs); err == nil && mounted {
		return fmt.Errorf("unmount %s: still mounted", rootfs)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether p is on another filesystem than its parent,
// which is the case for an overlay mounted at p.
func isMountPoint(p string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if err := unix.Lstat(filepath.Dir(p), &parent); err != nil {
		return false, &os.PathError{Op: "lstat", Path: filepath.Dir(p), Err: err}
	}
	return st.Dev != parent.Dev, nil
}
