package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// Cgroups of their own, without a container: the pod cgroups and the QoS levels above
// them, as the kubelet keeps them with the cgroupfs driver. A path is relative to this
// process's own cgroup in each hierarchy (as a container's CgroupParent is) unless it is
// absolute.

// ErrCgroupBusy is returned by RemoveCgroup for a cgroup that still holds processes or
// child cgroups.
var ErrCgroupBusy = errors.New("cgroup still in use")

// cgroupManager returns the cgroupfs manager of path with res, for every hierarchy
// libcontainer uses (every v1 hierarchy, and the unified one in hybrid mode).
func cgroupManager(path string, res Resources) (cgroups.Manager, error) {
	if err := validCgroupPath(path); err != nil {
		return nil, err
	}
	return cgmanager.New(&cgroups.Cgroup{Path: path, Resources: cgroupResources(res)})
}

func validCgroupPath(path string) error {
	if path == "" || filepath.Clean("/"+path) == "/" {
		return errors.New("cgroup path: empty")
	}
	if filepath.Clean(path) != strings.TrimSuffix(path, "/") || strings.Contains(path, "..") {
		return fmt.Errorf("cgroup path %q: not a clean path", path)
	}
	return nil
}

// cgroupResources are res as libcontainer's cgroup resources. A zero limit is written as
// unlimited, so that ensuring a cgroup again also lifts a limit it no longer has. The
// device rules are left alone: a cgroup that only holds containers must not narrow what
// they may be given.
func cgroupResources(res Resources) *cgroups.Resources {
	r := &cgroups.Resources{SkipDevices: true, CpuShares: res.CPUShares, Memory: -1, MemorySwap: -1, CpuQuota: -1}
	if res.MemoryLimit > 0 {
		r.Memory, r.MemorySwap = res.MemoryLimit, res.MemoryLimit // no swap beyond the limit
	}
	if res.CPUQuota > 0 {
		r.CpuQuota, r.CpuPeriod = res.CPUQuota, res.CPUPeriod
		if r.CpuPeriod == 0 {
			r.CpuPeriod = 100000
		}
	}
	pids := int64(-1)
	if res.PidsLimit > 0 {
		pids = res.PidsLimit
	}
	r.PidsLimit = &pids
	return r
}

// EnsureCgroup creates cgroup path in every hierarchy (the missing levels above it
// too) and gives it the limits res; for a cgroup that exists it only updates the limits.
// It returns the cgroup's directory by controller.
func EnsureCgroup(path string, res Resources) (map[string]string, error) {
	m, err := cgroupManager(path, res)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	if err := m.Apply(-1); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if err := m.Set(cgroupResources(res)); err != nil {
		return nil, fmt.Errorf("set limits of cgroup %s: %w", path, err)
	}
	return m.GetPaths(), nil
}

// CgroupDirs returns the directories of cgroup path by controller, whether or not they
// exist.
func CgroupDirs(path string) (map[string]string, error) {
	m, err := cgroupManager(path, Resources{})
	if err != nil {
		return nil, err
	}
	return m.GetPaths(), nil
}

// RemoveCgroup removes cgroup path (not the levels above it) from every hierarchy. A
// cgroup that does not exist is fine; one that still holds processes or child cgroups
// stays, and the error wraps ErrCgroupBusy. It never removes anything beneath path.
func RemoveCgroup(path string) error {
	dirs, err := CgroupDirs(path)
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	var errs []error
	for _, d := range sortedValues(dirs) {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
				err = fmt.Errorf("%s: %w", d, ErrCgroupBusy)
			}
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove cgroup %s: %w", path, errors.Join(errs...))
	}
	return nil
}

// CgroupChildren lists the names of the child cgroups of path in the memory hierarchy
// (the unified one on cgroup v2); none when path does not exist.
func CgroupChildren(path string) ([]string, error) {
	dirs, err := CgroupDirs(path)
	if err != nil {
		return nil, err
	}
	dir, ok := dirs["memory"]
	if !ok {
		dir = dirs[""]
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	seen := map[string]bool{}
	for _, v := range m {
		if v != "" && !seen[v] { // cpu and cpuacct may share a directory
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// OOMScoreAdjFloor is the lowest oom_score_adj this process can give its containers:
// -1000 with CAP_SYS_RESOURCE, else its own (the kernel refuses to lower a process's
// oom_score_adj below the value it was given without that capability).
func OOMScoreAdjFloor() int {
	if slices.Contains(allCaps(), "CAP_SYS_RESOURCE") {
		return -1000
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 1000
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1000
	}
	return n
}
