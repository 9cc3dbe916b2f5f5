package images

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/orchd/orch/node/images/imagetest"
)

// testRegistry is an in-process OCI registry that counts the requests it
// serves.
type testRegistry struct {
	Host string // host:port, plain HTTP
	URL  string

	mu   sync.Mutex
	reqs []string // "METHOD /path"
	// wrap, when set, sees each request before the registry does.
	wrap func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, r.Method+" "+r.URL.Path)
		wrap := tr.wrap
		tr.mu.Unlock()
		if wrap != nil {
			wrap(w, r, reg)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.URL = srv.URL
	tr.Host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

// count returns how many requests since the last reset had a path
// containing part (e.g. "/blobs/"), with method GET.
func (r *testRegistry) count(part string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if strings.HasPrefix(q, "GET ") && strings.Contains(q, part) {
			n++
		}
	}
	return n
}

func (r *testRegistry) setWrap(wrap func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wrap = wrap
}

func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

func testStore(t *testing.T, mods ...func(*Config)) *Store {
	t.Helper()
	cfg := Config{Root: filepath.Join(t.TempDir(), "images")}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func busybox(t *testing.T) v1.Image {
	t.Helper()
	img, err := imagetest.BusyboxImage()
	if err != nil {
		t.Skipf("no busybox image: %v", err)
	}
	return img
}

// imageOf builds an image from layers given as entry lists.
func imageOf(t *testing.T, layers ...[]imagetest.Entry) v1.Image {
	t.Helper()
	var ls []v1.Layer
	for _, entries := range layers {
		l, err := imagetest.Layer(entries...)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := imagetest.Image(v1.Config{Cmd: []string{"sh"}}, ls...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlayfs mounts need root; run the tests as root to cover Mount/Unmount")
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// tempEntries lists leftover temporary files and directories under root.
func tempEntries(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{s.unpackedDir(), s.blobDir(), s.root} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}
