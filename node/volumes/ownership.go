package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// fsGroup ownership, as the kubelet's SetVolumeOwnership: every file and directory of a
// volume gets the pod's fsGroup as its group, with read (and, for a writable volume,
// write) permission for the group, and directories the setgid bit so that what
// containers create there inherits the group. hostPath volumes are left alone, as in
// Kubernetes.
//
// The walk opens every entry relative to its parent with O_NOFOLLOW and changes it
// through its descriptor, so a container that swaps a directory for a symlink while the
// walk runs cannot make the agent chown or chmod anything outside the volume.

const (
	rwMask = 0o660
	roMask = 0o440
)

// fsGroupOf returns the pod's fsGroup and whether ownership may be skipped when the
// volume's root already matches (fsGroupChangePolicy: OnRootMismatch).
func fsGroupOf(pod *orchv1.Pod) (gid int, set, onRootMismatch bool) {
	sc := pod.GetSpec().GetSecurityContext()
	if sc == nil || sc.FsGroup == nil {
		return 0, false, false
	}
	return int(sc.GetFsGroup()), true, sc.GetFsGroupChangePolicy() == "OnRootMismatch"
}

// setOwnership applies the pod's fsGroup to the volume at dir.
func setOwnership(dir string, pod *orchv1.Pod, readOnly bool) error {
	gid, set, onMismatch := fsGroupOf(pod)
	if !set {
		return nil
	}
	mask := os.FileMode(rwMask)
	if readOnly {
		mask = roMask
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsGroup: open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if onMismatch {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err == nil && int(st.Gid) == gid && rootMatches(os.FileMode(st.Mode), mask) {
			return nil
		}
	}
	if err := own(fd, gid, mask, true); err != nil {
		return fmt.Errorf("fsGroup %d on %s: %w", gid, dir, err)
	}
	return walkOwn(fd, gid, mask, filepath.Base(dir))
}

func rootMatches(mode, mask os.FileMode) bool {
	want := dirMode(mask)
	return mode&want == want && mode&unix.S_ISGID != 0
}

// dirMode adds search permission where the mask gives read.
func dirMode(mask os.FileMode) os.FileMode { return mask | (mask&0o444)>>2 }

// own sets the group of the entry open as fd and adds the group's permissions.
func own(fd, gid int, mask os.FileMode, dir bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := unix.Fchown(fd, -1, gid); err != nil {
		return err
	}
	mode := st.Mode & 0o7777
	if dir {
		mode |= uint32(dirMode(mask)) | unix.S_ISGID
	} else {
		mode |= uint32(mask)
	}
	// A chown clears setuid and setgid bits of files; set the mode after it.
	return unix.Fchmod(fd, mode)
}

// walkOwn applies ownership beneath the directory open as dfd.
func walkOwn(dfd, gid int, mask os.FileMode, name string) error {
	dup, err := unix.Dup(dfd)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), name)
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			// The link itself, never what it points to.
			if err := unix.Fchownat(dfd, e.Name(), -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
			continue
		}
		if !e.Type().IsDir() && !e.Type().IsRegular() {
			continue // sockets, fifos, devices: left as they are
		}
		fd, isDir, err := openEntry(dfd, e.Name())
		if err != nil {
			return fmt.Errorf("open %s: %w", e.Name(), err)
		}
		if fd < 0 {
			continue // gone, or no longer a file or directory
		}
		err = own(fd, gid, mask, isDir)
		if err == nil && isDir {
			err = walkOwn(fd, gid, mask, e.Name())
		}
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// openEntry opens name beneath dfd for reading if it is (still) a regular file or a
// directory, without following a symlink and without opening anything else (a device
// or fifo a container put there); fd is -1 when the entry is to be skipped.
func openEntry(dfd int, name string) (fd int, isDir bool, err error) {
	pfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return -1, false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		isDir = true
	case unix.S_IFREG:
	default:
		return -1, false, nil
	}
	// Reopening the descriptor's own inode: no path is resolved again.
	fd, err = unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, false, err
	}
	return fd, isDir, nil
}
