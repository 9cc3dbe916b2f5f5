// Package images pulls container images over the OCI distribution protocol,
// keeps a content-addressed cache of layer blobs, unpacks each image once per
// manifest digest into a shared read-only rootfs, and gives every container a
// private writable overlayfs layer on top of it.
//
// It must never write outside Config.Root while unpacking (layers are
// untrusted input), never modify an unpacked rootfs after it was renamed into
// place (many containers share it), and never import server/ code.
//
// Layout under Config.Root:
//
//	blobs/sha256/<hex>             compressed layer blobs, verified against their digest
//	unpacked/<hex>/rootfs          the image's filesystem (hex of the platform manifest digest)
//	unpacked/<hex>/image.json      the image's metadata; its presence marks a complete unpack
//	unpacked/.tmp-*                unpacks in progress (removed at start-up)
//	refs.json                      normalised ref -> manifest digest, written atomically
package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/orchd/orch/fsutil"
)

// ErrNotFound reports that the registry does not know the image (manifest or
// repository unknown). Errors matching it keep the registry's own message.
var ErrNotFound = errors.New("image not found")

// Config configures a Store.
type Config struct {
	// Root holds the blob cache, the unpacked images and refs.json.
	Root string
	// Mirrors maps a registry host to the base URL of a mirror to pull from
	// instead, e.g. "docker.io" -> "http://127.0.0.1:5000". The URL's scheme
	// decides plain HTTP or HTTPS; a path is prepended to the repository.
	// There is no fall-back to the original registry.
	Mirrors map[string]string
	// Insecure lists registries (host[:port]) reachable over plain HTTP.
	// Loopback, localhost and RFC 1918 registries are plain HTTP anyway.
	Insecure []string
	Logger   *slog.Logger
}

// Auth is one registry credential, as found in a .dockerconfigjson entry.
type Auth struct {
	Username, Password, Auth, IdentityToken string
}

// Image is an image present on this node.
type Image struct {
	// Ref is the reference the image was asked for (as given to Pull or Get).
	Ref string
	// Digest is the digest of the linux/amd64 manifest ("sha256:...").
	Digest string
	// Rootfs is the shared unpacked filesystem; it must not be written to.
	Rootfs string
	// From the image config.
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	// Size is the sum of the compressed layer sizes from the manifest.
	Size int64
}

// imageMeta is unpacked/<hex>/image.json.
type imageMeta struct {
	Digest       string   `json:"digest"`
	ConfigDigest string   `json:"configDigest"`
	Layers       []string `json:"layers"` // compressed layer digests, bottom first
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	Env          []string `json:"env,omitempty"`
	WorkingDir   string   `json:"workingDir,omitempty"`
	User         string   `json:"user,omitempty"`
	Size         int64    `json:"size"`
}

// refsFile is refs.json.
type refsFile struct {
	Refs map[string]string `json:"refs"` // normalised ref -> manifest digest
}

// Store is the node's image store. It is safe for concurrent use.
type Store struct {
	root     string
	mirrors  map[string]string // canonical host -> base URL
	insecure map[string]bool   // canonical host
	log      *slog.Logger

	// gcMu is held shared by pulls and exclusively by GC, so GC never removes
	// a blob or an unpack that a pull is about to use.
	gcMu sync.RWMutex

	refsMu sync.Mutex
	refs   map[string]string

	flight singleflight.Group // keys "unpack:<digest>" and "blob:<digest>"

	// Counters for tests.
	unpacks   atomic.Int64
	downloads atomic.Int64
}

// New opens (creating if needed) the store under cfg.Root. It removes
// unfinished unpacks and downloads left by a crash.
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("images: Config.Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		root:     root,
		mirrors:  map[string]string{},
		insecure: map[string]bool{},
		log:      log.With("component", "images"),
		refs:     map[string]string{},
	}
	for host, url := range cfg.Mirrors {
		s.mirrors[canonicalHost(host)] = url
	}
	for _, host := range cfg.Insecure {
		s.insecure[canonicalHost(host)] = true
	}
	for _, dir := range []string{s.blobDir(), s.unpackedDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	for _, dir := range []string{s.root, s.blobDir(), s.unpackedDir()} {
		if err := removeTemps(dir); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	if err := s.loadRefs(); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return s, nil
}

func (s *Store) blobDir() string     { return filepath.Join(s.root, "blobs", "sha256") }
func (s *Store) unpackedDir() string { return filepath.Join(s.root, "unpacked") }
func (s *Store) refsPath() string    { return filepath.Join(s.root, "refs.json") }

func (s *Store) blobPath(h v1.Hash) string { return filepath.Join(s.blobDir(), h.Hex) }
func (s *Store) imageDir(h v1.Hash) string { return filepath.Join(s.unpackedDir(), h.Hex) }

const tempPrefix = ".tmp-"

func removeTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Get returns the image for ref if it is present locally, without contacting
// a registry (imagePullPolicy IfNotPresent and Never). A digest reference is
// found even when it was pulled under another tag.
func (s *Store) Get(ref string) (Image, bool) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return Image{}, false
	}
	s.refsMu.Lock()
	digest, ok := s.refs[r.Name()]
	s.refsMu.Unlock()
	if !ok {
		d, isDigest := r.(name.Digest)
		if !isDigest {
			return Image{}, false
		}
		digest = d.DigestStr()
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return Image{}, false
	}
	img, err := s.load(ref, h)
	if err != nil {
		return Image{}, false
	}
	return img, true
}

// load reads a complete unpacked image; fs.ErrNotExist if it is not there.
func (s *Store) load(ref string, h v1.Hash) (Image, error) {
	m, err := s.loadMeta(h)
	if err != nil {
		return Image{}, err
	}
	return Image{
		Ref:        ref,
		Digest:     m.Digest,
		Rootfs:     filepath.Join(s.imageDir(h), "rootfs"),
		Entrypoint: m.Entrypoint,
		Cmd:        m.Cmd,
		Env:        m.Env,
		WorkingDir: m.WorkingDir,
		User:       m.User,
		Size:       m.Size,
	}, nil
}

func (s *Store) loadMeta(h v1.Hash) (imageMeta, error) { return s.loadMetaDir(s.imageDir(h)) }

// loadMetaDir reads dir/image.json, whose presence marks a complete unpack.
func (s *Store) loadMetaDir(dir string) (imageMeta, error) {
	var m imageMeta
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read %s: %w", dir, err)
	}
	return m, nil
}

func (s *Store) loadRefs() error {
	b, err := os.ReadFile(s.refsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f refsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read %s: %w", s.refsPath(), err)
	}
	if f.Refs != nil {
		s.refs = f.Refs
	}
	return nil
}

// setRef records ref -> digest and persists refs.json.
func (s *Store) setRef(ref name.Reference, digest string) error {
	s.refsMu.Lock()
	defer s.refsMu.Unlock()
	if s.refs[ref.Name()] == digest {
		return nil
	}
	s.refs[ref.Name()] = digest
	return s.saveRefsLocked()
}

// saveRefsLocked writes refs.json atomically; refsMu must be held.
func (s *Store) saveRefsLocked() error {
	b, err := json.MarshalIndent(refsFile{Refs: s.refs}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(s.refsPath(), b, 0o644)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// canonicalHost maps the names of one registry to one key: Docker Hub's
// several names become "docker.io", a scheme and path are dropped
// ("https://index.docker.io/v1/" is how .dockerconfigjson names Docker Hub).
func canonicalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimPrefix(h, "https://")
	h = strings.TrimPrefix(h, "http://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}
