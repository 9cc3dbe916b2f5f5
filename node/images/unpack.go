package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// maxSymlinkHops bounds symlink resolution as the kernel does (ELOOP).
	maxSymlinkHops = 40
)

// unpackLayer applies the cached blob of one layer on top of rootfs and
// checks that the uncompressed stream matches the config's diff ID.
func (s *Store) unpackLayer(rootfs string, digest, diffID v1.Hash) error {
	f, err := os.Open(s.blobPath(digest))
	if err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	defer f.Close()
	r, closeFn, err := decompress(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	defer closeFn()
	sum := sha256.New()
	tee := io.TeeReader(r, sum)
	u := &unpacker{root: rootfs, written: map[string]bool{}, log: s.log, chown: os.Geteuid() == 0}
	tr := tar.NewReader(tee)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %s: read tar: %w", digest, err)
		}
		if err := u.apply(hdr, tr); err != nil {
			return fmt.Errorf("layer %s: entry %q: %w", digest, hdr.Name, err)
		}
	}
	// The tar reader stops at the end-of-archive marker; the diff ID covers
	// the whole stream, padding included.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); diffID.Algorithm != "sha256" || got != diffID.Hex {
		return fmt.Errorf("layer %s: uncompressed content is sha256:%s, config says %s", digest, got, diffID)
	}
	return nil
}

// decompress recognises gzip and zstd by their magic numbers; anything else
// is read as a plain tar.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// unpacker applies the entries of one layer inside root. Every path is
// resolved component by component inside root: a ".." component is refused,
// and a symlink met on the way is followed only when it is relative and stays
// inside root, so no entry can make a write land outside root. The final
// component is never followed: an existing entry there is replaced.
type unpacker struct {
	root    string
	written map[string]bool // host paths created by this layer, for opaque whiteouts
	log     *slog.Logger
	chown   bool
}

func (u *unpacker) apply(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanEntry(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil // the root directory itself keeps its mode
	}
	dir, base := path.Split(rel)
	parent, err := u.resolve(dir, true)
	if err != nil {
		return err
	}

	if base == whiteoutOpaque {
		return u.opaque(parent)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			return errors.New("invalid whiteout")
		}
		return os.RemoveAll(filepath.Join(parent, victim))
	}

	target := filepath.Join(parent, base)
	if fi, err := os.Lstat(target); err == nil {
		if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := u.owner(target, hdr); err != nil {
			return err
		}
		mode := hdr.FileInfo().Mode()
		if !u.chown {
			// Without root's DAC override a 0555 directory could not
			// receive the entries that follow it.
			mode |= 0o700
		}
		if err := os.Chmod(target, permBits(mode)); err != nil {
			return err
		}
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still use TypeRegA
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if u.chown {
			if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
				f.Close()
				return err
			}
		}
		// After chown, which clears set-user-ID bits.
		if err := f.Chmod(permBits(hdr.FileInfo().Mode())); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		atime := hdr.AccessTime
		if atime.IsZero() {
			atime = hdr.ModTime
		}
		if err := os.Chtimes(target, atime, hdr.ModTime); err != nil {
			return err
		}
	case tar.TypeSymlink:
		// The target is only data here; resolve checks it when a later
		// entry goes through the link.
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
		if err := u.owner(target, hdr); err != nil {
			return err
		}
	case tar.TypeLink:
		lrel, err := cleanEntry(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hardlink target: %w", err)
		}
		if lrel == "" {
			return errors.New("hardlink to the root directory")
		}
		ldir, lbase := path.Split(lrel)
		lparent, err := u.resolve(ldir, false)
		if err != nil {
			return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		src := filepath.Join(lparent, lbase)
		fi, err := os.Lstat(src)
		if err != nil {
			return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("hardlink target %q is a directory", hdr.Linkname)
		}
		// link(2) does not follow a symlink at src.
		if err := os.Link(src, target); err != nil {
			return err
		}
	case tar.TypeFifo:
		if err := syscall.Mkfifo(target, 0o600); err != nil {
			return err
		}
		if err := u.owner(target, hdr); err != nil {
			return err
		}
		if err := os.Chmod(target, permBits(hdr.FileInfo().Mode())); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock:
		// Containers get their devices from the runtime.
		u.log.Debug("skipping device node", "entry", hdr.Name)
		return nil
	default:
		u.log.Debug("skipping tar entry", "entry", hdr.Name, "type", hdr.Typeflag)
		return nil
	}
	u.markWritten(target)
	return nil
}

// markWritten records target and its ancestors, so an opaque whiteout later
// in the layer descends into them instead of removing them.
func (u *unpacker) markWritten(target string) {
	for p := target; len(p) > len(u.root) && !u.written[p]; p = filepath.Dir(p) {
		u.written[p] = true
	}
}

func (u *unpacker) owner(target string, hdr *tar.Header) error {
	if !u.chown {
		return nil
	}
	return os.Lchown(target, hdr.Uid, hdr.Gid)
}

func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// cleanEntry turns an entry name into a clean path relative to the root, ""
// for the root itself. Names are root-relative even when they start with
// "/"; a ".." component anywhere is refused.
func cleanEntry(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`path has a ".." component`)
		}
	}
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == "." || p == "" {
		return "", nil
	}
	return p, nil
}

// resolve returns the host path of directory rel (clean, relative, no ".."),
// following symlinks inside root only. Missing directories are created when
// create is set (layers need not list parents).
func (u *unpacker) resolve(rel string, create bool) (string, error) {
	pending := splitPath(rel)
	var cur []string // resolved components, each a real directory
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		host := filepath.Join(u.root, filepath.Join(cur...), c)
		fi, err := os.Lstat(host)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(host, 0o755); err != nil {
				return "", err
			}
			cur = append(cur, c)
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			hops++
			if hops > maxSymlinkHops {
				return "", fmt.Errorf("too many levels of symbolic links at %q", path.Join(path.Join(cur...), c))
			}
			target, err := os.Readlink(host)
			if err != nil {
				return "", err
			}
			at := path.Join(path.Join(cur...), c)
			if path.IsAbs(target) {
				return "", fmt.Errorf("path goes through symlink %q with absolute target %q", at, target)
			}
			next := path.Join(path.Join(cur...), target)
			if next == ".." || strings.HasPrefix(next, "../") {
				return "", fmt.Errorf("path goes through symlink %q whose target %q leaves the root", at, target)
			}
			pending = append(splitPath(next), pending...)
			cur = cur[:0]
		case fi.IsDir():
			cur = append(cur, c)
		default:
			return "", fmt.Errorf("%q is not a directory", path.Join(path.Join(cur...), c))
		}
	}
	return filepath.Join(u.root, filepath.Join(cur...)), nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// opaque removes everything under dir that this layer did not create: the
// lower layers' content of an opaque directory is hidden.
func (u *unpacker) opaque(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !u.written[p] {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		if e.IsDir() {
			if err := u.opaque(p); err != nil {
				return err
			}
		}
	}
	return nil
}
