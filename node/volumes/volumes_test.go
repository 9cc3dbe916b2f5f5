package volumes

// These tests pin what a container finds in each kind of volume, how a refresh replaces a
// projected set at once, and that Teardown leaves no mount or directory behind.

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestEmptyDirIsADirectory(t *testing.T) {
	t.Parallel()
	m, root := testManager(t)
	pod := mockPod(&orchv1.Volume{Name: "scratch", EmptyDir: &orchv1.EmptyDirVolumeSource{}})

	paths := setup(t, m, pod, newSource())
	want := filepath.Join(root, "uid-1", "volumes", "scratch")
	if paths["scratch"] != want {
		t.Fatalf("path = %q, want %q", paths["scratch"], want)
	}
	if got := fileMode(t, want); got != 0o777 {
		t.Fatalf("mode = %v, want 0777", got)
	}
	if err := os.WriteFile(filepath.Join(want, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	setup(t, m, pod, newSource()) // a later sync keeps the contents
	if readFile(t, filepath.Join(want, "kept")) != "x" {
		t.Fatal("emptyDir contents lost on a second Setup")
	}
}

func TestMemoryEmptyDirIsATmpfsUntilTeardown(t *testing.T) {
	t.Parallel()
	requireTmpfs(t)
	m, _ := testManager(t)
	pod := mockPod(&orchv1.Volume{Name: "cache", EmptyDir: &orchv1.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: "64Mi"}})

	p := setup(t, m, pod, newSource())["cache"]
	opts, ok := tmpfsAt(t, p)
	if !ok {
		t.Fatalf("%s is not a tmpfs in /proc/self/mountinfo", p)
	}
	if !strings.Contains(opts, "size=65536k") {
		t.Fatalf("tmpfs options %q, want size=65536k", opts)
	}
	setup(t, m, pod, newSource())
	if n := len(mountsUnder(t, p)); n != 1 {
		t.Fatalf("%d mounts at %s after a second Setup, want 1", n, p)
	}

	if err := m.Teardown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, p); len(left) != 0 {
		t.Fatalf("still mounted after Teardown: %v", left)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(p))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pod directory left after Teardown: %v", err)
	}
	if err := m.Teardown("uid-1"); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	file := filepath.Join(host, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(host, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	for _, tc := range []struct {
		name, path, typ string
		wantErr         string // "" for success
		check           func(t *testing.T, p string)
	}{
		{name: "no type, nothing there", path: filepath.Join(host, "absent")},
		{name: "DirectoryOrCreate creates", path: filepath.Join(host, "new/dir"), typ: "DirectoryOrCreate",
			check: func(t *testing.T, p string) {
				if fi, err := os.Stat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
					t.Fatalf("stat %s: %v %v", p, fi, err)
				}
			}},
		{name: "DirectoryOrCreate on a file", path: file, typ: "DirectoryOrCreate", wantErr: "is not a directory"},
		{name: "Directory exists", path: host, typ: "Directory"},
		{name: "Directory missing", path: filepath.Join(host, "nodir"), typ: "Directory", wantErr: "does not exist"},
		{name: "Directory on a file", path: file, typ: "Directory", wantErr: "is not a directory"},
		{name: "FileOrCreate creates", path: filepath.Join(host, "made"), typ: "FileOrCreate",
			check: func(t *testing.T, p string) {
				if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("stat %s: %v %v", p, fi, err)
				}
			}},
		{name: "FileOrCreate without parent", path: filepath.Join(host, "nope/made"), typ: "FileOrCreate", wantErr: "no such file"},
		{name: "File exists", path: file, typ: "File"},
		{name: "File on a directory", path: host, typ: "File", wantErr: "is not a file"},
		{name: "File missing", path: filepath.Join(host, "nofile"), typ: "File", wantErr: "does not exist"},
		{name: "Socket", path: sock, typ: "Socket"},
		{name: "Socket on a file", path: file, typ: "Socket", wantErr: "is not a socket"},
		{name: "CharDevice", path: "/dev/null", typ: "CharDevice"},
		{name: "BlockDevice on a char device", path: "/dev/null", typ: "BlockDevice", wantErr: "is not a block device"},
		{name: "unknown type", path: host, typ: "Pipe", wantErr: `type "Pipe" is not supported`},
		{name: "relative", path: "etc", wantErr: "not absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := testManager(t)
			hp := &orchv1.HostPathVolumeSource{Path: tc.path}
			if tc.typ != "" {
				hp.Type = ptr(tc.typ)
			}
			paths, err := m.Setup(context.Background(), mockPod(&orchv1.Volume{Name: "h", HostPath: hp}), newSource())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `volume "h"`) {
					t.Fatalf("err = %v, want one naming volume \"h\" and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if paths["h"] != tc.path {
				t.Fatalf("path = %q, want the host path %q", paths["h"], tc.path)
			}
			if tc.check != nil {
				tc.check(t, tc.path)
			}
		})
	}
}

func TestConfigMapItemsAndModes(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	src := newSource()
	src.setConfigMap("ns", "app-config", map[string]string{"a": "A", "b": "B", "c": "C"}, map[string][]byte{"bin": {0, 1, 2}})

	pod := mockPod(
		&orchv1.Volume{Name: "items", ConfigMap: &orchv1.ConfigMapVolumeSource{
			Name:        "app-config",
			DefaultMode: ptr(int32(0o440)),
			Items: []*orchv1.KeyToPath{
				{Key: "a", Path: "conf/a.txt", Mode: ptr(int32(0o600))},
				{Key: "b", Path: "b.txt"},
			},
		}},
		&orchv1.Volume{Name: "all", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "app-config"}},
	)
	paths := setup(t, m, pod, src)

	items := paths["items"]
	if got := visible(t, items); !slices.Equal(got, []string{"b.txt", "conf"}) {
		t.Fatalf("items volume holds %v, want [b.txt conf]", got)
	}
	if readFile(t, filepath.Join(items, "conf/a.txt")) != "A" || readFile(t, filepath.Join(items, "b.txt")) != "B" {
		t.Fatal("wrong item contents")
	}
	if got := fileMode(t, filepath.Join(items, "conf/a.txt")); got != 0o600 {
		t.Fatalf("item mode = %v, want 0600", got)
	}
	if got := fileMode(t, filepath.Join(items, "b.txt")); got != 0o440 {
		t.Fatalf("defaultMode = %v, want 0440", got)
	}
	// The kubelet's layout: top-level names link through ..data into a timestamped dir.
	if l, _ := os.Readlink(filepath.Join(items, "conf")); l != "..data/conf" {
		t.Fatalf("conf -> %q, want ..data/conf", l)
	}
	if l, _ := os.Readlink(filepath.Join(items, "..data")); !strings.HasPrefix(l, "..20") {
		t.Fatalf("..data -> %q, want a timestamped dir", l)
	}

	all := paths["all"]
	if got := visible(t, all); !slices.Equal(got, []string{"a", "b", "bin", "c"}) {
		t.Fatalf("all volume holds %v", got)
	}
	if readFile(t, filepath.Join(all, "bin")) != "\x00\x01\x02" {
		t.Fatal("binaryData not written")
	}
	if got := fileMode(t, filepath.Join(all, "c")); got != 0o644 {
		t.Fatalf("default mode = %v, want 0644", got)
	}
}

func TestConfigMapUpdateSwapsWholeSet(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	src := newSource()
	src.setConfigMap("ns", "cfg", map[string]string{"a": "a1", "b": "b1", "gone": "x"}, nil)
	pod := mockPod(&orchv1.Volume{Name: "cfg", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "cfg"}})
	dir := setup(t, m, pod, src)["cfg"]

	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	setup(t, m, pod, src)
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again != before {
		t.Fatalf("unchanged ConfigMap rewritten: ..data %s -> %s", before, again)
	}

	// A reader holding the old files open keeps reading the old set.
	fa, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()

	src.setConfigMap("ns", "cfg", map[string]string{"a": "a2", "b": "b2", "new": "n"}, nil)
	setup(t, m, pod, src)

	for f, want := range map[*os.File]string{fa: "a1", fb: "b1"} {
		b := make([]byte, 16)
		n, _ := f.Read(b)
		if string(b[:n]) != want {
			t.Fatalf("open reader sees %q, want the old %q", b[:n], want)
		}
	}
	if readFile(t, filepath.Join(dir, "a")) != "a2" || readFile(t, filepath.Join(dir, "new")) != "n" {
		t.Fatal("update not visible")
	}
	if got := visible(t, dir); !slices.Equal(got, []string{"a", "b", "new"}) {
		t.Fatalf("volume holds %v after update, want [a b new]", got)
	}
	after, _ := os.Readlink(filepath.Join(dir, "..data"))
	if after == before {
		t.Fatal("..data not swapped")
	}
	var versions []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			versions = append(versions, e.Name())
		}
	}
	if !slices.Equal(versions, []string{after}) {
		t.Fatalf("timestamped dirs %v, want only %s", versions, after)
	}
}

// A reader that opens ..data once and reads every key through it must see one version of
// the whole set, never a mix, however the writer's swaps interleave with it.
func TestConcurrentReadersSeeOneVersion(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	src := newSource()
	set := func(v string) { src.setConfigMap("ns", "cfg", map[string]string{"a": v, "b": v, "c": v}, nil) }
	set("v0")
	pod := mockPod(&orchv1.Volume{Name: "cfg", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "cfg"}})
	dir := setup(t, m, pod, src)["cfg"]

	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				r, err := os.OpenRoot(filepath.Join(dir, "..data"))
				if err != nil {
					continue // between a swap and the next read: try again
				}
				var vals []string
				for _, k := range []string{"a", "b", "c"} {
					b, err := r.ReadFile(k)
					if err != nil {
						break // the old version was removed under us: never a mix
					}
					vals = append(vals, string(b))
				}
				r.Close()
				if len(vals) == 3 {
					reads.Add(1)
					if vals[0] != vals[1] || vals[1] != vals[2] {
						select {
						case errc <- strings.Join(vals, ","):
						default:
						}
						return
					}
				}
			}
		})
	}
	start := time.Now()
	for i := 1; len(errc) == 0 && (time.Since(start) < 300*time.Millisecond || reads.Load() < 20); i++ {
		if time.Since(start) > 10*time.Second {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("readers completed only %d reads in 10s", reads.Load())
		}
		set("v" + strconv.Itoa(i))
		setup(t, m, pod, src)
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for mix := range errc {
		t.Fatalf("a reader saw a mixed set: %s", mix)
	}
}

func TestSecretIsOnTmpfs(t *testing.T) {
	t.Parallel()
	requireTmpfs(t)
	m, _ := testManager(t)
	src := newSource()
	key := []byte{0x00, 0xff, 0x10, '\n'}
	src.setSecret("ns", "db", map[string][]byte{"key": key, "user": []byte("admin")})
	pod := mockPod(&orchv1.Volume{Name: "creds", Secret: &orchv1.SecretVolumeSource{SecretName: "db", DefaultMode: ptr(int32(0o400))}})

	dir := setup(t, m, pod, src)["creds"]
	if _, ok := tmpfsAt(t, dir); !ok {
		t.Fatalf("secret volume %s is not a tmpfs", dir)
	}
	if readFile(t, filepath.Join(dir, "key")) != string(key) {
		t.Fatal("secret bytes differ")
	}
	if got := fileMode(t, filepath.Join(dir, "user")); got != 0o400 {
		t.Fatalf("mode = %v, want 0400", got)
	}

	src.setSecret("ns", "db", map[string][]byte{"user": []byte("root")})
	setup(t, m, pod, src)
	if readFile(t, filepath.Join(dir, "user")) != "root" {
		t.Fatal("secret update not visible")
	}
	if n := len(mountsUnder(t, dir)); n != 1 {
		t.Fatalf("%d mounts at %s after a refresh, want the one tmpfs kept", n, dir)
	}
	if err := m.Teardown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, dir); len(left) != 0 {
		t.Fatalf("still mounted after Teardown: %v", left)
	}
}

func TestMissingSources(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.setConfigMap("ns", "partial", map[string]string{"there": "1"}, nil)

	t.Run("optional missing is empty", func(t *testing.T) {
		m, _ := testManager(t)
		pod := mockPod(
			&orchv1.Volume{Name: "cm", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "app-config", Optional: ptr(true)}},
			&orchv1.Volume{Name: "keys", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "partial", Optional: ptr(true),
				Items: []*orchv1.KeyToPath{{Key: "there", Path: "t"}, {Key: "absent", Path: "a"}}}},
		)
		paths := setup(t, m, pod, src)
		if got := visible(t, paths["cm"]); len(got) != 0 {
			t.Fatalf("optional missing ConfigMap gave %v", got)
		}
		if got := visible(t, paths["keys"]); !slices.Equal(got, []string{"t"}) {
			t.Fatalf("optional missing key gave %v, want [t]", got)
		}
	})
	for _, tc := range []struct {
		name string
		vol  *orchv1.Volume
		want string
	}{
		{"configmap", &orchv1.Volume{Name: "cm", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "app-config"}},
			`volume "cm": configmap "app-config" not found`},
		{"secret", &orchv1.Volume{Name: "s", Secret: &orchv1.SecretVolumeSource{SecretName: "db"}},
			`volume "s": secret "db" not found`},
		{"projected", &orchv1.Volume{Name: "p", Projected: &orchv1.ProjectedVolumeSource{Sources: []*orchv1.VolumeProjection{
			{ConfigMap: &orchv1.ConfigMapProjection{Name: "app-config"}}}}},
			`volume "p": configmap "app-config" not found`},
	} {
		t.Run(tc.name+" required missing", func(t *testing.T) {
			m, _ := testManager(t)
			_, err := m.Setup(context.Background(), mockPod(tc.vol), src)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("errors.Is(%v, ErrNotFound) is false", err)
			}
		})
	}
	t.Run("required key missing", func(t *testing.T) {
		m, _ := testManager(t)
		pod := mockPod(&orchv1.Volume{Name: "keys", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "partial",
			Items: []*orchv1.KeyToPath{{Key: "absent", Path: "a"}}}})
		_, err := m.Setup(context.Background(), pod, src)
		if err == nil || !strings.Contains(err.Error(), `configmap "partial" has no key "absent"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUnsupportedVolumes(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	pod := mockPod(
		&orchv1.Volume{Name: "data", PersistentVolumeClaim: &orchv1.PersistentVolumeClaimVolumeSource{ClaimName: "pvc-1"}},
		&orchv1.Volume{Name: "ok", EmptyDir: &orchv1.EmptyDirVolumeSource{}},
	)
	_, err := m.Setup(context.Background(), pod, newSource())
	if err == nil || !strings.Contains(err.Error(), `volume "data": persistentVolumeClaim volumes (claim "pvc-1") are not supported yet`) {
		t.Fatalf("err = %v", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		_, err := m.Setup(context.Background(), mockPod(&orchv1.Volume{Name: bad, EmptyDir: &orchv1.EmptyDirVolumeSource{}}), newSource())
		if err == nil {
			t.Fatalf("volume name %q accepted", bad)
		}
	}
}

func TestProjectedCombinesSources(t *testing.T) {
	t.Parallel()
	requireTmpfs(t)
	m, _ := testManager(t)
	src := newSource()
	src.setConfigMap("ns", "app-config", map[string]string{"app.yaml": "port: 80"}, nil)
	src.setSecret("ns", "tls", map[string][]byte{"tls.key": []byte("KEY"), "tls.crt": []byte("CRT")})
	pod := mockPod(&orchv1.Volume{Name: "all", Projected: &orchv1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o440)),
		Sources: []*orchv1.VolumeProjection{
			{ConfigMap: &orchv1.ConfigMapProjection{Name: "app-config"}},
			{Secret: &orchv1.SecretProjection{Name: "tls", Items: []*orchv1.KeyToPath{{Key: "tls.key", Path: "certs/key", Mode: ptr(int32(0o400))}}}},
			{DownwardApi: &orchv1.DownwardAPIProjection{Items: []*orchv1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &orchv1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "app", FieldRef: &orchv1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
			}}},
			{ConfigMap: &orchv1.ConfigMapProjection{Name: "absent", Optional: ptr(true)}},
		},
	}})

	dir := setup(t, m, pod, src)["all"]
	if _, ok := tmpfsAt(t, dir); !ok {
		t.Fatal("projected volume is not a tmpfs (it may hold secrets)")
	}
	if got := visible(t, dir); !slices.Equal(got, []string{"app", "app.yaml", "certs", "labels"}) {
		t.Fatalf("projected volume holds %v", got)
	}
	for p, want := range map[string]string{
		"app.yaml": "port: 80", "certs/key": "KEY", "labels": "app=\"web\"\ntier=\"front\"", "app": "web",
	} {
		if got := readFile(t, filepath.Join(dir, p)); got != want {
			t.Fatalf("%s = %q, want %q", p, got, want)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "certs/key")); got != 0o400 {
		t.Fatalf("item mode = %v", got)
	}
	if got := fileMode(t, filepath.Join(dir, "labels")); got != 0o440 {
		t.Fatalf("defaultMode = %v", got)
	}
}

func TestDownwardAPIVolume(t *testing.T) {
	t.Parallel()
	m, _ := testManager(t)
	pod := mockPod(&orchv1.Volume{Name: "info", DownwardApi: &orchv1.DownwardAPIVolumeSource{Items: []*orchv1.DownwardAPIVolumeFile{
		{Path: "name", FieldRef: &orchv1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "annotations", FieldRef: &orchv1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: ptr(int32(0o600))},
		{Path: "mem", ResourceFieldRef: &orchv1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: "1Mi"}},
	}}})
	dir := setup(t, m, pod, newSource())["info"]
	for p, want := range map[string]string{"name": "web-0", "annotations": `note="say \"hi\""`, "mem": "64"} {
		if got := readFile(t, filepath.Join(dir, p)); got != want {
			t.Fatalf("%s = %q, want %q", p, got, want)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "annotations")); got != 0o600 {
		t.Fatalf("mode = %v", got)
	}

	// Labels change on the API: the next sync rewrites the file.
	pod.Metadata.Name = "web-1"
	setup(t, m, pod, newSource())
	if got := readFile(t, filepath.Join(dir, "name")); got != "web-1" {
		t.Fatalf("name = %q after refresh", got)
	}
}

func TestTeardownAndList(t *testing.T) {
	t.Parallel()
	m, root := testManager(t)
	if uids, err := m.List(); err != nil || len(uids) != 0 {
		t.Fatalf("List on an empty root = %v, %v", uids, err)
	}
	for _, uid := range []string{"uid-1", "uid-2"} {
		pod := mockPod(&orchv1.Volume{Name: "v", EmptyDir: &orchv1.EmptyDirVolumeSource{}})
		pod.Metadata.Uid = uid
		setup(t, m, pod, newSource())
	}
	uids, err := m.List()
	if err != nil || !slices.Equal(uids, []string{"uid-1", "uid-2"}) {
		t.Fatalf("List = %v, %v", uids, err)
	}
	if err := m.Teardown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown("uid-1"); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if err := m.Teardown("never-set-up"); err != nil {
		t.Fatalf("Teardown of an unknown pod: %v", err)
	}
	if err := m.Teardown("../x"); err == nil {
		t.Fatal("Teardown accepted a uid with a slash")
	}
	if uids, _ := m.List(); !slices.Equal(uids, []string{"uid-2"}) {
		t.Fatalf("List after Teardown = %v", uids)
	}
	if _, err := os.Stat(filepath.Join(root, "uid-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("pod directory left behind")
	}
}
