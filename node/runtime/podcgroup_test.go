package runtime

// Pod cgroups as the agent uses them, with real containers: a pod cgroup created with its
// limits before its first container, holding its containers, enforcing its memory limit
// on a container that has none of its own, and removed with its last container while
// the QoS level above it stays; oom_score_adj as the spec says.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readCgroupFile(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func readOOMScoreAdj(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestPodCgroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	qos := f.parent + "/burstable"
	f.kept = append(f.kept, f.parent, qos)
	if _, err := EnsureCgroup(qos, Resources{CPUShares: 2}); err != nil {
		t.Fatal(err)
	}
	pod := qos + "/pod-a"
	limits := Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	adj := 1000
	a := f.spec("sleep", "600")
	a.CgroupParent, a.ParentResources, a.OOMScoreAdj = pod, &limits, &adj
	b := f.spec("sleep", "600")
	adjB := max(-997, OOMScoreAdjFloor()) // -997 needs CAP_SYS_RESOURCE
	b.CgroupParent, b.ParentResources, b.OOMScoreAdj = pod, &limits, &adjB
	stA, stB := f.start(t, a), f.start(t, b)

	dirs, err := CgroupDirs(pod)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.limit_in_bytes": strconv.Itoa(64 << 20),
		"cpu.shares":            "512",
		"cpu.cfs_quota_us":      "50000",
		"cpu.cfs_period_us":     "100000",
	} {
		ctrl, _, _ := strings.Cut(file, ".")
		if got := readCgroupFile(t, dirs[ctrl], file); got != want {
			t.Errorf("pod cgroup %s = %s, want %s", file, got, want)
		}
	}
	paths, err := f.rt.CgroupPaths(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, p := range paths {
		if filepath.Dir(p) != dirs[ctrl] {
			t.Errorf("container cgroup %s (%s) is not in the pod cgroup %s", p, ctrl, dirs[ctrl])
		}
	}
	if got := readOOMScoreAdj(t, stA.Pid); got != "1000" {
		t.Errorf("oom_score_adj of a = %s, want 1000", got)
	}
	if got := readOOMScoreAdj(t, stB.Pid); got != strconv.Itoa(adjB) {
		t.Errorf("oom_score_adj of b = %s, want %d", got, adjB)
	}

	// A container without a limit of its own is held by the pod's.
	small := Resources{MemoryLimit: 16 << 20}
	c := f.spec("tail", "/dev/zero")
	c.CgroupParent, c.ParentResources = qos+"/pod-b", &small
	if !raceEnabled { // the race-instrumented init needs more than 16 MiB
		f.start(t, c)
		if st := f.waitExited(t, c.ID); !st.OOMKilled || st.Reason != ReasonOOMKilled {
			t.Errorf("container over its pod's memory limit: state = %+v, want OOMKilled", st)
		}
		if err := f.rt.Remove(c.ID); err != nil {
			t.Fatal(err)
		}
	}

	// The pod cgroup goes with its last container, and only then.
	for i, s := range []Spec{a, b} {
		if err := f.rt.Stop(context.Background(), s.ID, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.rt.Remove(s.ID); err != nil {
			t.Fatal(err)
		}
		for ctrl, d := range dirs {
			_, err := os.Stat(d)
			if gone := errors.Is(err, os.ErrNotExist); gone != (i == 1) {
				t.Errorf("after removing %d of 2 containers: pod cgroup %s (%s) gone = %v", i+1, d, ctrl, gone)
			}
		}
	}
	qosDirs, err := CgroupDirs(qos)
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, d := range qosDirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("QoS cgroup %s (%s): %v, want it kept", d, ctrl, err)
		}
	}
	if children, err := CgroupChildren(qos); err != nil || len(children) != 0 {
		t.Errorf("QoS cgroup children = %v, %v; want none", children, err)
	}
}

func TestRemoveCgroupRefusesBusy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pod := f.parent + "/pod-busy"
	f.kept = append(f.kept, f.parent)
	s := f.spec("sleep", "600")
	s.CgroupParent, s.ParentResources = pod, &Resources{}
	f.start(t, s)
	if err := RemoveCgroup(pod); !errors.Is(err, ErrCgroupBusy) {
		t.Fatalf("remove a pod cgroup holding a container: err = %v, want ErrCgroupBusy", err)
	}
	if err := f.rt.Stop(context.Background(), s.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.rt.Remove(s.ID); err != nil {
		t.Fatal(err)
	}
	if children, err := CgroupChildren(f.parent); err != nil || len(children) != 0 {
		t.Errorf("children of %s after removing the pod's only container = %v, %v; want none", f.parent, children, err)
	}
}

func TestCgroupResources(t *testing.T) {
	for name, tc := range map[string]struct {
		in                    Resources
		memory, quota, period int64
		shares                uint64
	}{
		"unlimited":  {Resources{}, -1, -1, 0, 0},
		"all":        {Resources{CPUShares: 2048, CPUQuota: 150000, MemoryLimit: 1 << 30}, 1 << 30, 150000, 100000, 2048},
		"own period": {Resources{CPUQuota: 5000, CPUPeriod: 10000}, -1, 5000, 10000, 0},
	} {
		r := cgroupResources(tc.in)
		if r.Memory != tc.memory || r.MemorySwap != tc.memory || r.CpuQuota != tc.quota || int64(r.CpuPeriod) != tc.period || r.CpuShares != tc.shares || !r.SkipDevices {
			t.Errorf("%s: got %+v", name, r)
		}
	}
	for _, p := range []string{"", "/", "a/../b", "a//b"} {
		if err := validCgroupPath(p); err == nil {
			t.Errorf("cgroup path %q accepted", p)
		}
	}
}
