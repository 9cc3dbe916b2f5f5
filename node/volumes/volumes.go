// Package volumes prepares a pod's volumes on a worker and builds its containers'
// environments, with Kubernetes semantics (the kubelet's volume manager and env builder).
//
// Each pod's volumes live under root/<podUID>/volumes/<name>. configMap, secret, projected
// and downwardAPI volumes are written the way the kubelet's AtomicWriter writes them, so a
// refresh on a later sync swaps the whole set at once. Secret and projected volumes sit on
// a tmpfs so secrets never reach the node's disk.
//
// It must never remove anything through a mount point it did not make: Teardown unmounts
// its own tmpfs mounts first and refuses to delete a pod directory that still holds any
// other mount. hostPath volumes are handed back as they are, never copied or removed.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// ErrNotFound is what a Source returns (wrapped or not) for an object that does not exist.
var ErrNotFound = errors.New("not found")

// Source reads the objects volumes and env refer to (the agent implements it over the API).
type Source interface {
	// ConfigMap returns an error for which errors.Is(err, ErrNotFound) holds when the
	// ConfigMap does not exist.
	ConfigMap(ctx context.Context, namespace, name string) (*orchv1.ConfigMap, error)
	// Secret returns an error for which errors.Is(err, ErrNotFound) holds when the Secret
	// does not exist.
	Secret(ctx context.Context, namespace, name string) (*orchv1.Secret, error)
}

// defaultMode is the file mode of projected keys when neither the item nor the volume says.
const defaultMode = 0o644

// Manager owns root (DATA/pods): one directory per pod, volumes under it.
type Manager struct {
	root string
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per pod UID: Setup and Teardown of one pod never overlap
	owned map[string]bool        // emptyDir paths given their pod's fsGroup by this agent
}

// New returns a Manager for root (DATA/pods). Nothing is created until a pod is set up.
func New(root string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{root: root, log: log, locks: map[string]*sync.Mutex{}, owned: map[string]bool{}}
}

func (m *Manager) lock(uid string) func() {
	m.mu.Lock()
	l, ok := m.locks[uid]
	if !ok {
		l = &sync.Mutex{}
		m.locks[uid] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// podDir is root/<uid>; uid is checked so it can never name anything outside root.
func (m *Manager) podDir(uid string) (string, error) {
	if err := checkName(uid); err != nil {
		return "", fmt.Errorf("pod uid: %w", err)
	}
	return filepath.Join(m.root, uid), nil
}

// checkName accepts one path element: not empty, no slash, not "." or "..".
func checkName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("%q is not a valid name", s)
	}
	return nil
}

// Setup makes every volume of the pod ready and returns volume name -> host path to
// bind-mount. It is idempotent and meant to run on every sync: configMap, secret, projected
// and downwardAPI volumes are rewritten (atomically) only when their contents changed.
// Every volume is attempted; the error joins the failures, each naming its volume.
func (m *Manager) Setup(ctx context.Context, pod *orchv1.Pod, src Source) (map[string]string, error) {
	uid := pod.GetMetadata().GetUid()
	dir, err := m.podDir(uid)
	if err != nil {
		return nil, err
	}
	defer m.lock(uid)()

	paths := make(map[string]string, len(pod.GetSpec().GetVolumes()))
	var errs []error
	for _, v := range pod.GetSpec().GetVolumes() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := m.setupVolume(ctx, pod, dir, v, src)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.GetName(), err))
			continue
		}
		paths[v.GetName()] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return paths, nil
}

func (m *Manager) setupVolume(ctx context.Context, pod *orchv1.Pod, podDir string, v *orchv1.Volume, src Source) (string, error) {
	if err := checkName(v.GetName()); err != nil {
		return "", err
	}
	dir := filepath.Join(podDir, "volumes", v.GetName())
	switch {
	case v.GetEmptyDir() != nil:
		if err := setupEmptyDir(dir, v.GetEmptyDir()); err != nil {
			return "", err
		}
		return dir, m.ownEmptyDir(dir, pod)
	case v.GetHostPath() != nil:
		return setupHostPath(v.GetHostPath())
	case v.GetConfigMap() != nil:
		cm := v.GetConfigMap()
		files, err := configMapFiles(ctx, src, namespace(pod), cm.GetName(), cm.GetItems(), cm.GetOptional(), modeOr(cm.DefaultMode, defaultMode))
		if err != nil {
			return "", err
		}
		return dir, m.publish(dir, false, files, pod)
	case v.GetSecret() != nil:
		s := v.GetSecret()
		files, err := secretFiles(ctx, src, namespace(pod), s.GetSecretName(), s.GetItems(), s.GetOptional(), modeOr(s.DefaultMode, defaultMode))
		if err != nil {
			return "", err
		}
		return dir, m.publish(dir, true, files, pod)
	case v.GetProjected() != nil:
		files, err := projectedFiles(ctx, src, pod, v.GetProjected())
		if err != nil {
			return "", err
		}
		return dir, m.publish(dir, true, files, pod)
	case v.GetDownwardApi() != nil:
		d := v.GetDownwardApi()
		files, err := downwardFiles(pod, d.GetItems(), modeOr(d.DefaultMode, defaultMode))
		if err != nil {
			return "", err
		}
		return dir, m.publish(dir, false, files, pod)
	case v.GetPersistentVolumeClaim() != nil:
		return "", fmt.Errorf("persistentVolumeClaim volumes (claim %q) are not supported yet", v.GetPersistentVolumeClaim().GetClaimName())
	case v.GetNfs() != nil:
		return "", errors.New("nfs volumes are not supported yet")
	default:
		return "", errors.New("no volume source set")
	}
}

// publish makes dir (on a tmpfs when onTmpfs) and writes files into it atomically, owned
// by the pod's fsGroup when it has one.
func (m *Manager) publish(dir string, onTmpfs bool, files map[string]file, pod *orchv1.Pod) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if onTmpfs {
		if err := ensureTmpfs(dir, "mode=0755"); err != nil {
			return err
		}
	}
	changed, err := writeAtomic(dir, files)
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	m.log.Debug("volume contents updated", "dir", dir, "files", len(files))
	return setOwnership(dir, pod, true)
}

// ownEmptyDir applies the pod's fsGroup to an emptyDir once per agent run (as the kubelet
// does at each mount), not at every sync: the walk covers what containers wrote.
func (m *Manager) ownEmptyDir(dir string, pod *orchv1.Pod) error {
	m.mu.Lock()
	done := m.owned[dir]
	m.mu.Unlock()
	if done {
		return nil
	}
	if err := setOwnership(dir, pod, false); err != nil {
		return err
	}
	m.mu.Lock()
	m.owned[dir] = true
	m.mu.Unlock()
	return nil
}

func setupEmptyDir(dir string, ed *orchv1.EmptyDirVolumeSource) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	switch ed.GetMedium() {
	case "":
	case "Memory":
		opts := ""
		if ed.GetSizeLimit() != "" {
			q, err := resource.ParseQuantity(ed.GetSizeLimit())
			if err != nil {
				return fmt.Errorf("emptyDir sizeLimit %q: %w", ed.GetSizeLimit(), err)
			}
			// size=0 would mean "no limit" to tmpfs; a zero limit is left to the default.
			if n := q.Value(); n > 0 {
				opts = fmt.Sprintf("size=%d", n)
			}
		}
		if err := ensureTmpfs(dir, opts); err != nil {
			return err
		}
	default:
		return fmt.Errorf("emptyDir medium %q is not supported (use \"\" or Memory)", ed.GetMedium())
	}
	// Any container user may write an emptyDir, as in Kubernetes; MkdirAll is subject to
	// the umask and a fresh tmpfs root has its own mode. The setgid bit an fsGroup put
	// there stays.
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() == 0o777 {
		return nil
	}
	return os.Chmod(dir, fi.Mode()&(os.ModeSetgid|os.ModeSticky)|0o777)
}

func setupHostPath(hp *orchv1.HostPathVolumeSource) (string, error) {
	p := hp.GetPath()
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("hostPath %q is not absolute", p)
	}
	p = filepath.Clean(p)
	typ := hp.GetType()
	if typ == "" {
		return p, nil
	}
	fi, err := os.Stat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("hostPath %s: %w", p, err)
	}
	missing := err != nil
	want := func(ok bool, what string) (string, error) {
		if missing {
			return "", fmt.Errorf("hostPath %s: %s does not exist", p, what)
		}
		if !ok {
			return "", fmt.Errorf("hostPath %s is not a %s", p, what)
		}
		return p, nil
	}
	switch typ {
	case "DirectoryOrCreate":
		if missing {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", fmt.Errorf("hostPath %s: %w", p, err)
			}
			return p, nil
		}
		return want(fi.IsDir(), "directory")
	case "Directory":
		return want(!missing && fi.IsDir(), "directory")
	case "FileOrCreate":
		if missing {
			// As in Kubernetes, the parent directory is not created.
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", fmt.Errorf("hostPath %s: %w", p, err)
			}
			return p, f.Close()
		}
		return want(fi.Mode().IsRegular(), "file")
	case "File":
		return want(!missing && fi.Mode().IsRegular(), "file")
	case "Socket":
		return want(!missing && fi.Mode()&os.ModeSocket != 0, "socket")
	case "CharDevice":
		return want(!missing && fi.Mode()&os.ModeCharDevice != 0, "character device")
	case "BlockDevice":
		return want(!missing && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0, "block device")
	default:
		return "", fmt.Errorf("hostPath type %q is not supported", typ)
	}
}

// Teardown unmounts the pod's subPath staging mounts and every tmpfs of the pod, and
// removes root/<podUID>. It is idempotent. It refuses to remove the directory while any
// other mount is left under it.
func (m *Manager) Teardown(podUID string) error {
	dir, err := m.podDir(podUID)
	if err != nil {
		return err
	}
	defer m.lock(podUID)()
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// subPath staging mounts first: they are bind mounts of volume contents, and nothing
	// may be removed through them.
	if err := removeStagingTree(filepath.Join(dir, subPathsDirName)); err != nil {
		return fmt.Errorf("teardown pod %s: %w", podUID, err)
	}
	if err := unmountTmpfsUnder(dir); err != nil {
		return fmt.Errorf("teardown pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("teardown pod %s: %w", podUID, err)
	}
	m.mu.Lock()
	delete(m.locks, podUID)
	for p := range m.owned {
		if strings.HasPrefix(p, dir+string(filepath.Separator)) {
			delete(m.owned, p)
		}
	}
	m.mu.Unlock()
	return nil
}

// List returns the UIDs of the pods that have a directory under root, for cleanup after an
// agent restart.
func (m *Manager) List() ([]string, error) {
	ents, err := os.ReadDir(m.root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var uids []string
	for _, e := range ents {
		if e.IsDir() {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

func namespace(pod *orchv1.Pod) string {
	if ns := pod.GetMetadata().GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}

func modeOr(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & os.ModePerm
}

// MountReadOnly reports whether a volumeMount of pod is mounted read-only into its
// container. configMap, secret, downwardAPI and projected volumes always are, whatever the
// volumeMount says (as in Kubernetes since 1.10): their contents are the agent's, which
// replaces them atomically on the host side, and a container must not change them.
// emptyDir and hostPath volumes follow volumeMount.readOnly.
func MountReadOnly(pod *orchv1.Pod, vm *orchv1.VolumeMount) bool {
	if vm.GetReadOnly() {
		return true
	}
	for _, v := range pod.GetSpec().GetVolumes() {
		if v.GetName() == vm.GetName() {
			return v.GetConfigMap() != nil || v.GetSecret() != nil || v.GetDownwardApi() != nil || v.GetProjected() != nil
		}
	}
	return false
}
