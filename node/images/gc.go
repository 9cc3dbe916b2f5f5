package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// GC removes the unpacked images not in use, the refs that point to them,
// and the cached blobs no remaining image needs. inUse holds image digests
// ("sha256:...") or references as given to Pull. An image that is still the
// lower layer of a mounted overlay is kept whatever inUse says, so a caller
// that lost track of a container cannot pull the floor from under it.
// removed lists the digests of the images removed, then of the blobs removed.
func (s *Store) GC(inUse map[string]bool) (removed []string, err error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	used := map[string]bool{}
	for k, v := range inUse {
		if !v {
			continue
		}
		used[k] = true
		if r, err := name.ParseReference(k); err == nil {
			used[r.Name()] = true
		}
	}
	s.refsMu.Lock()
	for ref, d := range s.refs {
		if used[ref] {
			used[d] = true
		}
	}
	s.refsMu.Unlock()

	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	ents, err := os.ReadDir(s.unpackedDir())
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	kept := map[string]bool{}
	neededBlobs := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue // left by a crash; New removes them
		}
		digest := "sha256:" + e.Name()
		dir := filepath.Join(s.unpackedDir(), e.Name())
		mounted := strings.Contains(string(mountinfo), dir+"/rootfs")
		if used[digest] || mounted {
			kept[digest] = true
			m, err := s.loadMetaDir(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("gc: %w", err)
			}
			for _, l := range m.Layers {
				neededBlobs[l] = true
			}
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("gc: %w", err)
		}
		removed = append(removed, digest)
	}

	if err := s.dropRefs(kept); err != nil {
		return removed, fmt.Errorf("gc: %w", err)
	}

	blobs, err := os.ReadDir(s.blobDir())
	if err != nil {
		return removed, fmt.Errorf("gc: %w", err)
	}
	for _, b := range blobs {
		digest := "sha256:" + b.Name()
		if strings.HasPrefix(b.Name(), tempPrefix) || neededBlobs[digest] {
			continue
		}
		if err := os.Remove(filepath.Join(s.blobDir(), b.Name())); err != nil {
			return removed, fmt.Errorf("gc: %w", err)
		}
		removed = append(removed, digest)
	}
	if len(removed) > 0 {
		s.log.Info("image gc", "removed", len(removed))
	}
	return removed, nil
}

// dropRefs forgets the refs to images not kept.
func (s *Store) dropRefs(kept map[string]bool) error {
	s.refsMu.Lock()
	defer s.refsMu.Unlock()
	changed := false
	for ref, d := range s.refs {
		if !kept[d] {
			delete(s.refs, ref)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.saveRefsLocked()
}
