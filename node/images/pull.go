package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// platform is the only platform this agent runs.
var platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// maxParallelDownloads bounds concurrent layer downloads of one pull.
const maxParallelDownloads = 3

// Pull resolves ref at its registry (or its mirror), and makes the
// linux/amd64 image present locally: layers already in the blob cache are
// not downloaded again, an image already unpacked is not unpacked again.
// auth is keyed by registry host ("docker.io", "127.0.0.1:5000"); the
// credential of the host actually contacted (the mirror, if any) is used.
func (s *Store) Pull(ctx context.Context, ref string, auth map[string]Auth) (Image, error) {
	img, err := s.pull(ctx, ref, auth)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	return img, nil
}

func (s *Store) pull(ctx context.Context, ref string, auth map[string]Auth) (Image, error) {
	orig, err := name.ParseReference(ref)
	if err != nil {
		return Image{}, err
	}
	src, err := s.source(orig)
	if err != nil {
		return Image{}, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithPlatform(platform),
		remote.WithAuth(authFor(auth, src.Context().RegistryStr())),
		remote.WithUserAgent("orch"),
	}
	if src.Name() != orig.Name() {
		s.log.Debug("pulling from mirror", "ref", ref, "source", src.Name())
	}
	rimg, err := remote.Image(src, opts...)
	if err != nil {
		return Image{}, classify(err)
	}
	digest, err := rimg.Digest()
	if err != nil {
		return Image{}, err
	}

	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	if _, err := s.loadMeta(digest); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return Image{}, err
		}
		_, err, _ = s.flight.Do("unpack:"+digest.String(), func() (any, error) {
			return nil, s.fetchAndUnpack(ctx, digest, rimg)
		})
		if err != nil {
			return Image{}, classify(err)
		}
	}
	if err := s.setRef(orig, digest.String()); err != nil {
		return Image{}, err
	}
	return s.load(ref, digest)
}

// source returns the reference to pull from: ref itself, or ref rewritten
// to the mirror configured for its registry.
func (s *Store) source(ref name.Reference) (name.Reference, error) {
	host := canonicalHost(ref.Context().RegistryStr())
	var regOpts []name.Option
	if s.insecure[host] {
		regOpts = append(regOpts, name.Insecure)
	}
	regName := ref.Context().RegistryStr()
	repo := ref.Context().RepositoryStr()
	if m, ok := s.mirrors[host]; ok {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("mirror %q for %s: not a base URL", m, host)
		}
		regOpts = nil
		if u.Scheme == "http" || s.insecure[canonicalHost(u.Host)] {
			regOpts = append(regOpts, name.Insecure)
		}
		regName = u.Host
		if p := strings.Trim(u.Path, "/"); p != "" {
			repo = path.Join(p, repo)
		}
	}
	reg, err := name.NewRegistry(regName, regOpts...)
	if err != nil {
		return nil, err
	}
	r := reg.Repo(repo)
	if d, ok := ref.(name.Digest); ok {
		return r.Digest(d.DigestStr()), nil
	}
	return r.Tag(ref.Identifier()), nil
}

func authFor(auth map[string]Auth, registry string) authn.Authenticator {
	want := canonicalHost(registry)
	for host, a := range auth {
		if canonicalHost(host) == want {
			return authn.FromConfig(authn.AuthConfig{
				Username:      a.Username,
				Password:      a.Password,
				Auth:          a.Auth,
				IdentityToken: a.IdentityToken,
			})
		}
	}
	return authn.Anonymous
}

// classify marks registry errors that mean "no such image" with ErrNotFound,
// keeping the registry's message.
func classify(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	if len(terr.Errors) == 0 && terr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// fetchAndUnpack downloads the image's missing layers into the blob cache
// and unpacks them, bottom layer first, into unpacked/<hex>.
func (s *Store) fetchAndUnpack(ctx context.Context, digest v1.Hash, img v1.Image) error {
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		return err
	}
	manifest, err := img.Manifest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return fmt.Errorf("image %s has %d layers but its config lists %d diff IDs", digest, len(layers), len(cfg.RootFS.DiffIDs))
	}
	if err := s.fetchLayers(ctx, layers); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp(s.unpackedDir(), tempPrefix+digest.Hex[:12]+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(rootfs, 0o755); err != nil { // whatever the umask
		return err
	}
	meta := imageMeta{
		Digest:       digest.String(),
		ConfigDigest: cfgDigest.String(),
		Entrypoint:   cfg.Config.Entrypoint,
		Cmd:          cfg.Config.Cmd,
		Env:          cfg.Config.Env,
		WorkingDir:   cfg.Config.WorkingDir,
		User:         cfg.Config.User,
	}
	for i, l := range manifest.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.unpackLayer(rootfs, l.Digest, cfg.RootFS.DiffIDs[i]); err != nil {
			return err
		}
		meta.Layers = append(meta.Layers, l.Digest.String())
		meta.Size += l.Size
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "image.json"), b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.imageDir(digest)); err != nil {
		return err
	}
	s.unpacks.Add(1)
	s.log.Info("image unpacked", "digest", digest.String(), "layers", len(layers))
	return syncDir(s.unpackedDir())
}

// fetchLayers makes every layer's compressed blob present in the cache,
// downloading a few at a time.
func (s *Store) fetchLayers(ctx context.Context, layers []v1.Layer) error {
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, maxParallelDownloads)
		errMu    sync.Mutex
		firstErr error
	)
	for _, l := range layers {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := s.fetchLayer(l); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (s *Store) fetchLayer(l v1.Layer) error {
	h, err := l.Digest()
	if err != nil {
		return err
	}
	if h.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: unsupported digest algorithm", h)
	}
	_, err, _ = s.flight.Do("blob:"+h.String(), func() (any, error) {
		if _, err := os.Stat(s.blobPath(h)); err == nil {
			return nil, nil
		}
		if err := s.download(l, h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", h, err)
		}
		return nil, nil
	})
	return err
}

// download writes the layer's compressed bytes to blobs/sha256/<hex>, and
// only after their digest matched.
func (s *Store) download(l v1.Layer, h v1.Hash) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(s.blobDir(), tempPrefix+h.Hex[:12]+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, sum), rc); err != nil {
		f.Close()
		return err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.Hex {
		f.Close()
		return fmt.Errorf("digest mismatch: downloaded sha256:%s", got)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	s.downloads.Add(1)
	return os.Rename(f.Name(), s.blobPath(h))
}
