// Package fsutil holds the one file-writing primitive orch's components share.
package fsutil

import (
	"os"
	"path/filepath"
)

// TempPrefix starts the names of WriteFile's temporary files, so that cleanups can
// recognise what a crash left behind.
const TempPrefix = ".tmp-"

// WriteFile replaces path with data through a synced temporary file in the same
// directory and a rename, then syncs the directory: readers see the old content or the
// new, never part of it, even when the writer dies.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
