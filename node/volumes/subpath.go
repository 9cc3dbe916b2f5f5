package volumes

// volumeMount.subPath without a host escape (CVE-2017-1002101 and its kind).
//
// A subPath names a path inside a volume that a container may have written: any component
// may be a symlink the container planted, and it may swap one in at any time. So the agent
// never hands the runtime a path it has to resolve again. It resolves the subPath itself,
// beneath the volume root (openat2 RESOLVE_BENEATH: a symlink is followed only while it
// stays under the root, an absolute one or a ".." above the root is refused), holds the
// result as an O_PATH file descriptor, bind-mounts that descriptor onto a staging path the
// agent owns, and gives the runtime the staging path:
//
//	<podDir>/volume-subpaths/<container>/<attempt>/<mountIndex>
//
// The staging mounts of a container instance are removed with the instance, and all of a
// pod's with the pod; both scan the directory and /proc/self/mountinfo, so a restarted
// agent finds what an earlier one left.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const subPathsDirName = "volume-subpaths"

// maxSymlinks is the kernel's limit of symlinks followed in one lookup (MAXSYMLINKS).
const maxSymlinks = 40

// noOpenat2 is set the first time openat2 reports ENOSYS; tests set it to run the
// component-by-component walk.
var noOpenat2 atomic.Bool

// testHookResolved runs between resolving a subPath and mounting it (tests change the
// path there to show the mount follows the descriptor, not the path).
var testHookResolved func()

// SubPath is one volumeMount with a subPath, for one container instance.
type SubPath struct {
	PodUID    string
	Container string // the container's name
	Attempt   int    // the instance (restart count) the mount is for
	Index     int    // the volumeMount's index in the container
	// VolumePath is the volume's host directory, as Setup returned it.
	VolumePath string
	// Path is the subPath (or the expanded subPathExpr), relative to the volume.
	Path string
}

// PrepareSubPath resolves sp.Path beneath the volume, creating missing directories in it
// as the kubelet does, and bind-mounts the result onto the instance's staging path, which
// it returns: that path, never the subPath itself, is the mount source for the runtime. A
// path that leads out of the volume is refused. Preparing the same mount again replaces
// the earlier staging mount (a failed start is retried with the same attempt number).
func (m *Manager) PrepareSubPath(sp SubPath) (string, error) {
	comps, err := subPathComponents(sp.Path)
	if err != nil {
		return "", err
	}
	dir, err := m.podDir(sp.PodUID)
	if err != nil {
		return "", err
	}
	if err := checkName(sp.Container); err != nil {
		return "", fmt.Errorf("container name: %w", err)
	}
	if sp.Attempt < 0 || sp.Index < 0 {
		return "", fmt.Errorf("invalid attempt %d or mount index %d", sp.Attempt, sp.Index)
	}
	defer m.lock(sp.PodUID)()

	fd, err := openSubPath(sp.VolumePath, comps)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sp.Path, err)
	}
	defer unix.Close(fd)
	if testHookResolved != nil {
		testHookResolved()
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR, unix.S_IFREG, unix.S_IFSOCK:
	default:
		return "", fmt.Errorf("subPath %q: not a directory, regular file or socket", sp.Path)
	}

	staging := filepath.Join(dir, subPathsDirName, sp.Container, strconv.Itoa(sp.Attempt), strconv.Itoa(sp.Index))
	if err := os.MkdirAll(filepath.Dir(staging), 0o750); err != nil {
		return "", err
	}
	if err := removeStaging(staging); err != nil {
		return "", err
	}
	// The staging node has the type of what is mounted on it; nothing else is ever in it.
	if isDir {
		err = os.Mkdir(staging, 0o750)
	} else {
		var f *os.File
		if f, err = os.OpenFile(staging, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return "", err
	}
	// The magic link names exactly the inode the descriptor holds, whatever happened to
	// the path since it was resolved.
	if err := unix.Mount(fdPath(fd), staging, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		os.Remove(staging)
		return "", fmt.Errorf("bind subPath %q onto %s: %w", sp.Path, staging, err)
	}
	return staging, nil
}

// CleanSubPaths unmounts and removes the staging mounts of one container instance. It is
// idempotent.
func (m *Manager) CleanSubPaths(podUID, container string, attempt int) error {
	dir, err := m.podDir(podUID)
	if err != nil {
		return err
	}
	if err := checkName(container); err != nil {
		return fmt.Errorf("container name: %w", err)
	}
	defer m.lock(podUID)()
	cdir := filepath.Join(dir, subPathsDirName, container)
	if err := removeStagingTree(filepath.Join(cdir, strconv.Itoa(attempt))); err != nil {
		return err
	}
	// The container's directory goes with its last instance.
	if err := os.Remove(cdir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// ExpandSubPathExpr expands $(VAR_NAME) references in a volumeMount's subPathExpr from the
// container's environment ("NAME=value" entries, later ones winning) as the kubelet does,
// and checks the result is a relative path without "..".
func ExpandSubPathExpr(expr string, env []string) (string, error) {
	vals := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	p := expand(expr, func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
	if _, err := subPathComponents(p); err != nil {
		return "", fmt.Errorf("subPathExpr %q expands to %q: %w", expr, p, err)
	}
	return p, nil
}

// subPathComponents splits a subPath into its names, refusing an absolute path and ".."
// (the API refuses them too; a subPathExpr is checked only once expanded, here).
func subPathComponents(p string) ([]string, error) {
	if strings.HasPrefix(p, "/") {
		return nil, errors.New("must be a relative path")
	}
	if strings.ContainsRune(p, 0) {
		return nil, errors.New("must not contain NUL")
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return nil, errors.New("must not contain '..'")
		default:
			comps = append(comps, c)
		}
	}
	return comps, nil
}

// openSubPath returns an O_PATH descriptor of comps beneath root, making the missing
// directories (mkdirat, one at a time, each resolved again beneath root) with the root's
// permission bits, as the kubelet does.
func openSubPath(root string, comps []string) (int, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open volume: %w", err)
	}
	defer unix.Close(rootFD)
	fd, err := openBeneath(rootFD, comps)
	if !errors.Is(err, unix.ENOENT) {
		return fd, describe(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		return -1, err
	}
	perm := st.Mode & 0o7777

	parent, err := unix.Dup(rootFD)
	if err != nil {
		return -1, err
	}
	defer func() { unix.Close(parent) }()
	n := 0
	for ; n < len(comps); n++ {
		fd, err := openBeneath(rootFD, comps[:n+1])
		if errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return -1, describe(err)
		}
		unix.Close(parent)
		parent = fd
	}
	for ; n < len(comps); n++ {
		if err := unix.Mkdirat(parent, comps[n], 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create %s: %w", strings.Join(comps[:n+1], "/"), err)
		}
		// Resolved again from the root: a symlink swapped in meanwhile is held to the
		// root like any other.
		fd, err := openBeneath(rootFD, comps[:n+1])
		if err != nil {
			return -1, describe(err)
		}
		unix.Close(parent)
		parent = fd
		if err := chmodDir(fd, perm); err != nil {
			return -1, fmt.Errorf("create %s: %w", strings.Join(comps[:n+1], "/"), err)
		}
	}
	fd, err = unix.Dup(parent)
	return fd, err
}

// chmodDir sets the mode of the directory fd holds. The umask made it 0700 at most; the
// kubelet gives a new subPath directory the volume's mode.
func chmodDir(fd int, perm uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if st.Mode&0o7777 == perm&0o7777 {
		return nil
	}
	// An O_PATH descriptor cannot fchmod; the magic link reaches the same inode.
	return unix.Chmod(fdPath(fd), perm)
}

func describe(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EXDEV):
		return errors.New("leads outside the volume (a symlink or '..' points out of it)")
	case errors.Is(err, unix.ELOOP):
		return errors.New("too many levels of symbolic links")
	}
	return err
}

// openBeneath opens comps beneath the directory rootFD as O_PATH, following symlinks only
// while they stay beneath it. A path that would leave it fails with EXDEV.
func openBeneath(rootFD int, comps []string) (int, error) {
	if !noOpenat2.Load() {
		p := strings.Join(comps, "/")
		if p == "" {
			p = "."
		}
		for try := 0; ; try++ {
			fd, err := unix.Openat2(rootFD, p, &unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_CLOEXEC,
				Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
			})
			// EAGAIN: a rename or mount raced the lookup (RESOLVE_BENEATH refuses to guess).
			if (errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN)) && try < 100 {
				continue
			}
			if errors.Is(err, unix.ENOSYS) {
				noOpenat2.Store(true)
				break
			}
			return fd, err
		}
	}
	return walkBeneath(rootFD, comps)
}

// walkBeneath is openBeneath for kernels without openat2 (before 5.6): one component at a
// time with O_NOFOLLOW, reading each symlink and walking its target itself. It holds every
// directory it passed as a descriptor, so ".." goes back the way it came and never above
// the root.
func walkBeneath(rootFD int, comps []string) (int, error) {
	root, err := unix.Dup(rootFD)
	if err != nil {
		return -1, err
	}
	stack := []int{root}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	todo := append([]string(nil), comps...)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, unix.EXDEV
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			continue
		}
		top := stack[len(stack)-1]
		fd, err := unix.Openat(top, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := readlinkFD(fd)
			unix.Close(fd)
			if err != nil {
				return -1, err
			}
			if links++; links > maxSymlinks {
				return -1, unix.ELOOP
			}
			if strings.HasPrefix(target, "/") {
				return -1, unix.EXDEV
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if len(todo) > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			return -1, unix.ENOTDIR
		}
		stack = append(stack, fd)
	}
	fd := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	return fd, nil
}

// readlinkFD reads the symlink an O_PATH|O_NOFOLLOW descriptor holds.
func readlinkFD(fd int) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// removeStaging unmounts whatever is mounted at a staging path and removes it. Only
// unlink and rmdir of the node itself: if anything is still mounted there they fail
// (EBUSY), so nothing is ever deleted through a mount.
func removeStaging(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountUnder(p); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove subPath staging %s: %w", p, err)
	}
	return nil
}

// removeStagingTree unmounts every mount at or under dir and removes dir, deepest entry
// first, one rmdir or unlink at a time.
func removeStagingTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountUnder(dir); err != nil {
		return err
	}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove subPath staging %s: %w", p, err)
		}
	}
	return nil
}

// unmountUnder detaches every mount at or below p, deepest first, until none is left.
func unmountUnder(p string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	for range 16 {
		ms, err := readMounts()
		if err != nil {
			return err
		}
		var under []string
		for _, m := range ms {
			if m.point == real || strings.HasPrefix(m.point, real+"/") {
				under = append(under, m.point)
			}
		}
		if len(under) == 0 {
			return nil
		}
		sort.SliceStable(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
		for _, mp := range under {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmount subPath staging %s: %w", mp, err)
			}
		}
	}
	return fmt.Errorf("mounts keep reappearing under %s", p)
}
