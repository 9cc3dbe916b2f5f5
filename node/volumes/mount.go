package volumes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point  string
	fstype string
}

func readMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root point options [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 {
			continue
		}
		ms = append(ms, mountEntry{point: unescapeMount(f[4]), fstype: g[0]})
	}
	return ms, sc.Err()
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsAt returns the filesystem types mounted exactly at p, bottom first.
func mountsAt(p string) ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var types []string
	for _, m := range ms {
		if m.point == p {
			types = append(types, m.fstype)
		}
	}
	return types, nil
}

// ensureTmpfs mounts a tmpfs at dir unless the top mount there already is one.
func ensureTmpfs(dir, opts string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	types, err := mountsAt(real)
	if err != nil {
		return err
	}
	if n := len(types); n > 0 {
		if types[n-1] == "tmpfs" {
			return nil
		}
		return fmt.Errorf("%s is already a %s mount, not a tmpfs", dir, types[n-1])
	}
	if err := unix.Mount("tmpfs", real, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

// unmountTmpfsUnder unmounts every tmpfs at or below dir, deepest first, until none is left.
// Any other mount there is an error: dir must not be removed through it.
func unmountTmpfsUnder(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	// Each round unmounts the top of every stack; stacks deeper than this are not ours.
	for range 16 {
		ms, err := readMounts()
		if err != nil {
			return err
		}
		var under []mountEntry
		for _, m := range ms {
			if m.point == real || strings.HasPrefix(m.point, real+"/") {
				under = append(under, m)
			}
		}
		if len(under) == 0 {
			return nil
		}
		sort.SliceStable(under, func(i, j int) bool { return len(under[i].point) > len(under[j].point) })
		for _, m := range under {
			if m.fstype != "tmpfs" {
				return fmt.Errorf("%s is still mounted (%s); not removing %s", m.point, m.fstype, dir)
			}
		}
		done := map[string]bool{}
		for _, m := range under {
			if done[m.point] {
				continue
			}
			done[m.point] = true
			if err := unix.Unmount(m.point, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", m.point, err)
			}
		}
	}
	return fmt.Errorf("mounts keep reappearing under %s", dir)
}
