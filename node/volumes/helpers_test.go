package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// fakeSource is a map-based Source; set* may run while the Manager reads.
type fakeSource struct {
	mu      sync.Mutex
	cms     map[string]*orchv1.ConfigMap
	secrets map[string]*orchv1.Secret
}

func newSource() *fakeSource {
	return &fakeSource{cms: map[string]*orchv1.ConfigMap{}, secrets: map[string]*orchv1.Secret{}}
}

func (f *fakeSource) setConfigMap(ns, name string, data map[string]string, binary map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cms[ns+"/"+name] = &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: ns}, Data: data, BinaryData: binary}
}

func (f *fakeSource) setSecret(ns, name string, data map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[ns+"/"+name] = &orchv1.Secret{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
}

func (f *fakeSource) ConfigMap(_ context.Context, ns, name string) (*orchv1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cm, ok := f.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, ErrNotFound)
}

func (f *fakeSource) Secret(_ context.Context, ns, name string) (*orchv1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("secret %s/%s: %w", ns, name, ErrNotFound)
}

// mockPod is a pod in namespace "ns" with uid "uid-1" and the given volumes.
func mockPod(vols ...*orchv1.Volume) *orchv1.Pod {
	return &orchv1.Pod{
		Metadata: &orchv1.ObjectMeta{
			Name: "web-0", Namespace: "ns", Uid: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\""},
		},
		Spec: &orchv1.PodSpec{
			Volumes:            vols,
			NodeName:           "worker-1",
			ServiceAccountName: "builder",
			Containers: []*orchv1.Container{{
				Name: "app",
				Resources: &orchv1.ResourceRequirements{
					Limits:   map[string]string{"cpu": "250m", "memory": "64Mi"},
					Requests: map[string]string{"memory": "32Mi"},
				},
			}},
		},
		Status: &orchv1.PodStatus{PodIp: "10.1.0.7", HostIp: "192.168.1.20"},
	}
}

// testManager returns a Manager over a temporary root. Whatever the test leaves mounted
// there is unmounted at the end, pass or fail, before the directory is removed.
func testManager(t *testing.T) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() { unmountAll(t, root) })
	return New(root, nil), root
}

func unmountAll(t *testing.T, root string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	for range 16 {
		left := mountsUnder(t, real)
		if len(left) == 0 {
			return
		}
		for _, p := range left {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				t.Errorf("cleanup: unmount %s: %v", p, err)
			}
		}
	}
	t.Errorf("cleanup: mounts left under %s", root)
}

// mountsUnder reads /proc/self/mountinfo on its own (not through the package) and returns
// the mount points at or below dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, m := range mountInfo(t) {
		if m[0] == dir || strings.HasPrefix(m[0], dir+"/") {
			out = append(out, m[0])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// mountInfo returns {mount point, fstype, super options} for each mount.
func mountInfo(t *testing.T) [][3]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out [][3]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(g) >= 3 {
			out = append(out, [3]string{f[4], g[0], g[2]})
		}
	}
	return out
}

// tmpfsAt returns the super options of the top tmpfs mounted at p, and whether there is one.
func tmpfsAt(t *testing.T, p string) (string, bool) {
	t.Helper()
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	opts, ok := "", false
	for _, m := range mountInfo(t) {
		if m[0] == real {
			opts, ok = m[2], m[1] == "tmpfs"
		}
	}
	return opts, ok
}

var (
	tmpfsOnce sync.Once
	tmpfsErr  error
)

// requireTmpfs skips the test unless this process may mount a tmpfs (root with
// CAP_SYS_ADMIN in its mount namespace).
func requireTmpfs(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root; run `sudo go test ./node/volumes/` to cover tmpfs volumes")
	}
	tmpfsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "volumes-probe-")
		if err != nil {
			tmpfsErr = err
			return
		}
		defer os.Remove(dir)
		if tmpfsErr = unix.Mount("tmpfs", dir, "tmpfs", 0, ""); tmpfsErr == nil {
			tmpfsErr = unix.Unmount(dir, 0)
		}
	})
	if tmpfsErr != nil {
		t.Skipf("skipped: cannot mount a tmpfs here (%v); needs CAP_SYS_ADMIN", tmpfsErr)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// visible lists the entries of a volume a container sees (the writer's ".." entries aside).
func visible(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "..") {
			names = append(names, e.Name())
		}
	}
	return names
}

func setup(t *testing.T, m *Manager, pod *orchv1.Pod, src Source) map[string]string {
	t.Helper()
	paths, err := m.Setup(context.Background(), pod, src)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return paths
}

func ptr[T any](v T) *T { return &v }
