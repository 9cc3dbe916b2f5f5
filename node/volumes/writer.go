package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The kubelet's AtomicWriter layout, which containers and tools expect:
//
//	dir/..2024_01_02_15_04_05.123456789/  the files of one version
//	dir/..data -> ..2024_01_02_15_04_05.123456789
//	dir/key -> ..data/key                  one symlink per top-level path
//
// A new version is written into a fresh timestamped directory and published by renaming
// a new ..data symlink over the old one, so a reader resolving through ..data sees either
// the whole old set or the whole new one. Files already open keep the old contents.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic publishes files in dir unless dir already holds exactly them. It reports
// whether it wrote a new version.
func writeAtomic(dir string, files map[string]file) (bool, error) {
	for p := range files {
		if err := checkPayloadPath(p); err != nil {
			return false, err
		}
	}
	dataLink := filepath.Join(dir, dataDirName)
	old, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if old != "" {
		same, err := sameContents(filepath.Join(dir, old), files)
		if err != nil {
			return false, err
		}
		if same {
			// A previous run may have died after the swap but before the links or the
			// removal of the old version.
			if err := linkVisible(dir, files); err != nil {
				return false, err
			}
			return false, removeOldVersions(dir, old)
		}
	}

	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	tsName := filepath.Base(ts)
	if err := writeTree(ts, files); err != nil {
		os.RemoveAll(ts)
		return false, err
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(ts)
		return false, err
	}
	if err := os.Symlink(tsName, tmpLink); err != nil {
		os.RemoveAll(ts)
		return false, err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(ts)
		return false, err
	}
	if err := linkVisible(dir, files); err != nil {
		return true, err
	}
	return true, removeOldVersions(dir, tsName)
}

// removeOldVersions removes every timestamped directory but current. Old versions go last,
// once nothing points at them; a crash may have left more than one.
func removeOldVersions(dir, current string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() && strings.HasPrefix(n, "..") && n != current {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPayloadPath accepts a clean relative path whose elements are not "..", and whose
// first element does not start with ".." (those names are the writer's own).
func checkPayloadPath(p string) error {
	if p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p || strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid file path %q", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("invalid file path %q", p)
		}
	}
	return nil
}

func writeTree(root string, files map[string]file) error {
	// MkdirTemp makes 0700; containers running as any user must read the volume.
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(full, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// sameContents reports whether dir holds exactly files, with the same data and modes.
func sameContents(dir string, files map[string]file) (bool, error) {
	seen := 0
	same := true
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, ok := files[rel]
		if !ok || !d.Type().IsRegular() {
			same = false
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.mode || !bytes.Equal(data, f.data) {
			same = false
			return filepath.SkipAll
		}
		seen++
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // ..data dangling: write a new version
	}
	return same && err == nil && seen == len(files), err
}

// linkVisible makes "name -> ..data/name" for each top-level name of files and removes the
// links of names no longer there.
func linkVisible(dir string, files map[string]file) error {
	want := map[string]bool{}
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		want[top] = true
	}
	for name := range want {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataDirName, name)
		cur, err := os.Readlink(link)
		if err == nil && cur == target {
			continue
		}
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			// A stale or foreign entry in the way; the volume is ours to shape.
			if err := os.RemoveAll(link); err != nil {
				return err
			}
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "..") || want[n] {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if t, err := os.Readlink(filepath.Join(dir, n)); err == nil && strings.HasPrefix(t, dataDirName+"/") {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
