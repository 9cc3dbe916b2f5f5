// These tests pin the image store's contract against a real (in-process) OCI
// registry: what a pull puts on disk, what it does not download twice, and
// that no layer can write outside the store.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/orchd/orch/node/images/imagetest"
)

func TestPullByTag(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	want := busybox(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", want)
	s := testStore(t)

	img, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != ref || img.Digest != digestOf(t, want) {
		t.Errorf("got ref %q digest %q, want %q %q", img.Ref, img.Digest, ref, digestOf(t, want))
	}
	if !slices.Equal(img.Cmd, []string{"sh"}) || !slices.Equal(img.Env, []string{"PATH=/bin"}) || img.Entrypoint != nil {
		t.Errorf("config: entrypoint %q cmd %q env %q", img.Entrypoint, img.Cmd, img.Env)
	}
	if img.Size <= 0 {
		t.Errorf("size %d", img.Size)
	}
	fi, err := os.Stat(filepath.Join(img.Rootfs, "bin/busybox"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/busybox: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(img.Rootfs, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(img.Rootfs, "tmp")); err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(img.Rootfs, "www/index.html")); err != nil || string(b) != imagetest.IndexHTML {
		t.Errorf("index.html: %q %v", b, err)
	}
	out, err := exec.Command(filepath.Join(img.Rootfs, "bin/sh"), "-c", "echo ok").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("running the unpacked busybox: %q %v", out, err)
	}
}

func TestSecondPullUsesCache(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	s := testStore(t)
	first, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.count("/blobs/"); n == 0 {
		t.Fatalf("first pull fetched no blobs")
	}

	reg.reset()
	second, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.count("/blobs/"); n != 0 {
		t.Errorf("second pull fetched %d blobs, want 0 (cached)", n)
	}
	if first.Rootfs != second.Rootfs || first.Digest != second.Digest {
		t.Errorf("second pull gave %+v, first %+v", second, first)
	}

	// A restarted agent opens the same root and still has everything.
	s2, err := New(Config{Root: s.root})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s2.Get(ref); !ok || got.Rootfs != first.Rootfs {
		t.Errorf("after restart Get = %+v, %v", got, ok)
	}
	reg.reset()
	if _, err := s2.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	if n := reg.count("/blobs/"); n != 0 {
		t.Errorf("pull after restart fetched %d blobs, want 0", n)
	}
	if s.unpacks.Load()+s2.unpacks.Load() != 1 || s.downloads.Load()+s2.downloads.Load() != 1 {
		t.Errorf("unpacks %d+%d downloads %d+%d, want 1 and 1", s.unpacks.Load(), s2.unpacks.Load(), s.downloads.Load(), s2.downloads.Load())
	}
}

func TestGetAfterPull(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	want := busybox(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", want)
	s := testStore(t)
	if _, ok := s.Get(ref); ok {
		t.Fatal("Get before Pull found the image")
	}
	pulled, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{
		ref,
		reg.Host + "/orch/busybox", // an untagged reference means :latest
		reg.Host + "/orch/busybox@" + digestOf(t, want),
	} {
		got, ok := s.Get(r)
		if !ok || got.Digest != pulled.Digest || got.Rootfs != pulled.Rootfs || got.Ref != r {
			t.Errorf("Get(%q) = %+v, %v", r, got, ok)
		}
	}
	if _, ok := s.Get(reg.Host + "/orch/busybox:other"); ok {
		t.Error("Get of a tag never pulled found an image")
	}
}

func TestPullMissing(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	s := testStore(t)
	for _, ref := range []string{
		reg.Host + "/orch/busybox:nope",
		reg.Host + "/orch/nothing:latest",
	} {
		_, err := s.Pull(context.Background(), ref, nil)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Pull(%q) = %v, want ErrNotFound", ref, err)
			continue
		}
		msg := err.Error()
		t.Log(msg)
		if !strings.Contains(msg, "pull "+ref) || !strings.Contains(strings.ToLower(msg), "unknown") {
			t.Errorf("error %q does not name the ref and keep the registry's message", msg)
		}
	}
}

func TestMirror(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	want := busybox(t)
	imagetest.Push(t, reg.Host, "library/busybox:latest", want)
	s := testStore(t, func(c *Config) { c.Mirrors = map[string]string{"docker.io": reg.URL} })

	for _, ref := range []string{"docker.io/library/busybox:latest", "busybox"} {
		reg.reset()
		img, err := s.Pull(context.Background(), ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != digestOf(t, want) {
			t.Errorf("Pull(%q) digest %s, want %s", ref, img.Digest, digestOf(t, want))
		}
		if reg.count("/v2/library/busybox/manifests/latest") == 0 {
			t.Errorf("Pull(%q) did not ask the mirror", ref)
		}
	}
	if _, ok := s.Get("index.docker.io/library/busybox"); !ok {
		t.Error("Get by Docker Hub's other name did not find the image")
	}
}

func TestWhiteouts(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	img := imageOf(t,
		[]imagetest.Entry{
			{Name: "a/"}, {Name: "a/keep", Body: []byte("1")}, {Name: "a/gone", Body: []byte("1")},
			{Name: "a/gonedir/"}, {Name: "a/gonedir/f", Body: []byte("1")},
			{Name: "opq/"}, {Name: "opq/old", Body: []byte("1")},
			{Name: "opq/sub/"}, {Name: "opq/sub/deep", Body: []byte("1")},
			{Name: "usr/"}, {Name: "usr/lib/"}, {Name: "lib", Type: tar.TypeSymlink, Linkname: "usr/lib"},
			{Name: "replaced", Body: []byte("file")},
			{Name: "owned", Body: []byte("x"), Uid: 1000, Gid: 1001, Mode: 0o4750},
			{Name: "a/hl", Type: tar.TypeLink, Linkname: "a/keep"},
		},
		[]imagetest.Entry{
			{Name: "a/.wh.gone"}, {Name: "a/.wh.gonedir"},
			// Entries of this layer written before the opaque marker survive it.
			{Name: "opq/new", Body: []byte("2")},
			{Name: "opq/sub/fresh", Body: []byte("2")},
			{Name: "opq/.wh..wh..opq"},
			{Name: "lib/through", Body: []byte("2")}, // a relative symlink inside the root is followed
			{Name: "replaced/"},
		},
	)
	ref := imagetest.Push(t, reg.Host, "orch/wh:1", img)
	s := testStore(t)
	got, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"a/keep": true, "a/gone": false, "a/gonedir": false, "a/.wh.gone": false,
		"opq/old": false, "opq/sub/deep": false, "opq/new": true, "opq/sub/fresh": true,
		"opq/.wh..wh..opq": false, "usr/lib/through": true,
	} {
		if exists(filepath.Join(got.Rootfs, p)) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
	if fi, err := os.Lstat(filepath.Join(got.Rootfs, "replaced")); err != nil || !fi.IsDir() {
		t.Errorf("a file replaced by a directory: %v %v", fi, err)
	}
	keep, err1 := os.Stat(filepath.Join(got.Rootfs, "a/keep"))
	hl, err2 := os.Stat(filepath.Join(got.Rootfs, "a/hl"))
	if err1 != nil || err2 != nil || !os.SameFile(keep, hl) {
		t.Errorf("hardlink a/hl is not a/keep: %v %v", err1, err2)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Lstat(filepath.Join(got.Rootfs, "owned"))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1000 || st.Gid != 1001 || fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o750 {
			t.Errorf("owned: uid %d gid %d mode %v, want 1000 1001 u+s,0750", st.Uid, st.Gid, fi.Mode())
		}
	}
}

func TestPullPicksLinuxAmd64FromAnIndex(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	amd := busybox(t)
	armCfg, err := imageOf(t, []imagetest.Entry{{Name: "arm", Body: []byte("x")}}).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	armCfg.Architecture = "arm64"
	arm, err := mutate.ConfigFile(imageOf(t, []imagetest.Entry{{Name: "arm", Body: []byte("x")}}), armCfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref := reg.Host + "/orch/multi:latest"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s := testStore(t)
	for _, r := range []string{ref, reg.Host + "/orch/multi@" + idxDigest.String()} {
		img, err := s.Pull(context.Background(), r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != digestOf(t, amd) || !exists(filepath.Join(img.Rootfs, "bin/busybox")) {
			t.Errorf("Pull(%q) gave %s, want the amd64 image %s", r, img.Digest, digestOf(t, amd))
		}
	}
	if n := s.unpacks.Load(); n != 1 {
		t.Errorf("unpacked %d times, want 1", n)
	}
}

func TestUnsafeLayersAreRefused(t *testing.T) {
	t.Parallel()
	outside := t.TempDir() // a host directory no layer may write into
	tests := []struct {
		name   string
		layers [][]imagetest.Entry
		entry  string // named in the error
	}{
		{"dotdot", [][]imagetest.Entry{{{Name: "../escape", Body: []byte("x")}}}, "../escape"},
		{"nested dotdot", [][]imagetest.Entry{{{Name: "a/"}, {Name: "a/../../escape", Body: []byte("x")}}}, "a/../../escape"},
		{"absolute symlink", [][]imagetest.Entry{{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: outside},
			{Name: "evil/pwned", Body: []byte("x")},
		}}, "evil/pwned"},
		{"absolute symlink from a lower layer", [][]imagetest.Entry{
			{{Name: "evil", Type: tar.TypeSymlink, Linkname: outside}},
			{{Name: "evil/pwned", Body: []byte("x")}},
		}, "evil/pwned"},
		{"relative symlink leaving the root", [][]imagetest.Entry{{
			{Name: "d/"},
			{Name: "d/up", Type: tar.TypeSymlink, Linkname: "../../../../../../../../.." + outside},
			{Name: "d/up/pwned", Body: []byte("x")},
		}}, "d/up/pwned"},
		{"hardlink leaving the root", [][]imagetest.Entry{{
			{Name: "hl", Type: tar.TypeLink, Linkname: "../../../../../../../../etc/passwd"},
		}}, "hl"},
		{"hardlink through a symlink", [][]imagetest.Entry{{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "hl", Type: tar.TypeLink, Linkname: "evil/passwd"},
		}}, "hl"},
		{"hardlink to an absolute path is root-relative", [][]imagetest.Entry{{
			{Name: "hl", Type: tar.TypeLink, Linkname: "/etc/passwd"},
		}}, "hl"},
	}
	reg := startRegistry(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := imageOf(t, tc.layers...)
			ref := imagetest.Push(t, reg.Host, "orch/evil:"+string(rune('a'+i)), img)
			s := testStore(t)
			_, err := s.Pull(context.Background(), ref, nil)
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "layer sha256:") || !strings.Contains(err.Error(), tc.entry) {
				t.Errorf("error %q does not name the layer and the entry %q", err, tc.entry)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("a layer wrote outside the root: %v", ents)
			}
			for _, p := range []string{filepath.Join(s.root, "escape"), filepath.Join(filepath.Dir(s.root), "escape"), filepath.Join(s.unpackedDir(), "escape")} {
				if exists(p) {
					t.Errorf("%s was written", p)
				}
			}
			if left := tempEntries(t, s); len(left) != 0 {
				t.Errorf("failed pull left %v", left)
			}
			if _, ok := s.Get(ref); ok {
				t.Error("a refused image is present")
			}
		})
	}
}

func TestCorruptBlobIsRefused(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	img := busybox(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", img)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	reg.setWrap(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, ld.String()) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferWriter{header: http.Header{}}
		next.ServeHTTP(rec, r)
		b := rec.buf.Bytes()
		b[len(b)/2] ^= 0xff
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(b)
	})
	s := testStore(t)
	if _, err := s.Pull(context.Background(), ref, nil); err == nil || !strings.Contains(err.Error(), ld.String()) {
		t.Fatalf("pull of a corrupted layer: %v", err)
	}
	if exists(s.blobPath(ld)) {
		t.Error("the corrupted blob was cached")
	}
}

type bufferWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header  { return b.header }
func (b *bufferWriter) WriteHeader(code int) { b.code = code }
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.buf.Write(p)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	reg.setWrap(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
	s := testStore(t)
	if _, err := s.Pull(context.Background(), ref, nil); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("pull without credentials: %v", err)
	}
	auth := map[string]Auth{reg.Host: {Username: "alice", Password: "s3cret"}}
	if _, err := s.Pull(context.Background(), ref, auth); err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
}

func TestConcurrentPullsUnpackOnce(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	ref := imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	s := testStore(t)
	var wg sync.WaitGroup
	results := make([]Image, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() { results[i], errs[i] = s.Pull(context.Background(), ref, nil) })
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i].Rootfs != results[0].Rootfs {
			t.Errorf("pull %d got %s, pull 0 got %s", i, results[i].Rootfs, results[0].Rootfs)
		}
	}
	if n := s.unpacks.Load(); n != 1 {
		t.Errorf("unpacked %d times, want 1", n)
	}
	if n := s.downloads.Load(); n != 1 {
		t.Errorf("downloaded the layer %d times, want 1", n)
	}
}

func TestGC(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	bbRef := imagetest.Push(t, reg.Host, "orch/busybox:latest", busybox(t))
	otherRef := imagetest.Push(t, reg.Host, "orch/other:1", imageOf(t, []imagetest.Entry{{Name: "other", Body: []byte("x")}}))
	s := testStore(t)
	bb, err := s.Pull(context.Background(), bbRef, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Pull(context.Background(), otherRef, nil)
	if err != nil {
		t.Fatal(err)
	}

	removed, err := s.GC(map[string]bool{bbRef: true}) // in use by reference
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, other.Digest) || slices.Contains(removed, bb.Digest) || len(removed) != 2 {
		t.Errorf("removed %v, want %s and its one layer", removed, other.Digest)
	}
	if exists(other.Rootfs) {
		t.Error("unused image still unpacked")
	}
	if _, ok := s.Get(otherRef); ok {
		t.Error("ref of a removed image still resolves")
	}
	if _, ok := s.Get(bbRef); !ok {
		t.Error("image in use was removed")
	}

	// Nothing in use: everything goes, the cache included.
	removed, err = s.GC(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] != bb.Digest {
		t.Errorf("removed %v, want %s and its layer", removed, bb.Digest)
	}
	if ents, _ := os.ReadDir(s.blobDir()); len(ents) != 0 {
		t.Errorf("blobs left: %v", ents)
	}
	// A pull after GC downloads again.
	if _, err := s.Pull(context.Background(), bbRef, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPullPolicyAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy, ref string
		present     bool
		pull        bool
		err         error
	}{
		{"Always", "busybox:1", true, true, nil},
		{"IfNotPresent", "busybox:1", true, false, nil},
		{"IfNotPresent", "busybox:1", false, true, nil},
		{"Never", "busybox:1", true, false, nil},
		{"Never", "busybox:1", false, false, ErrNeverPull},
		{"", "busybox", true, true, nil},                // untagged: Always
		{"", "127.0.0.1:5000/busybox", true, true, nil}, // a port is not a tag
		{"", "busybox:latest", true, true, nil},
		{"", "busybox:1", true, false, nil},
		{"", "busybox@sha256:" + strings.Repeat("a", 64), true, false, nil},
	}
	for _, tc := range tests {
		pull, err := PullPolicyAllows(tc.policy, tc.ref, tc.present)
		if pull != tc.pull || !errors.Is(err, tc.err) {
			t.Errorf("PullPolicyAllows(%q, %q, %v) = %v, %v; want %v, %v", tc.policy, tc.ref, tc.present, pull, err, tc.pull, tc.err)
		}
	}
	if _, err := PullPolicyAllows("Sometimes", "busybox", true); err == nil {
		t.Error("an unknown policy was accepted")
	}
}
