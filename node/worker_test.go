package node

// Pure helpers of the pod worker: how a container's command line, environment and
// cgroup settings are derived, and the restart back-off.

import (
	"slices"
	"testing"
	"time"

	"github.com/orchd/orch/node/images"
	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestCommandLine(t *testing.T) {
	img := images.Image{Entrypoint: []string{"/entry"}, Cmd: []string{"default-arg"}}
	cases := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "default-arg"}},
		{"args replace cmd", nil, []string{"a"}, []string{"/entry", "a"}},
		{"command replaces entrypoint and cmd", []string{"sh"}, nil, []string{"sh"}},
		{"command and args", []string{"sh", "-c"}, []string{"echo hi"}, []string{"sh", "-c", "echo hi"}},
	}
	for _, tc := range cases {
		got := commandLine(img, &orchv1.Container{Command: tc.command, Args: tc.args})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=image"}, []string{"A=pod", "B=pod"})
	if want := []string{"PATH=/bin", "A=pod", "B=pod"}; !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestResources(t *testing.T) {
	c := &orchv1.Container{Resources: &orchv1.ResourceRequirements{
		Requests: map[string]string{"cpu": "250m"},
		Limits:   map[string]string{"cpu": "500m", "memory": "64Mi"},
	}}
	r := resources(c)
	if r.CPUShares != 256 || r.CPUQuota != 50000 || r.CPUPeriod != 100000 || r.MemoryLimit != 64<<20 {
		t.Errorf("resources = %+v, want shares 256, quota 50000/100000, memory 64Mi", r)
	}
	if r := resources(&orchv1.Container{}); r.CPUShares != 2 || r.CPUQuota != 0 || r.MemoryLimit != 0 {
		t.Errorf("no requests or limits: %+v, want the minimum shares and no limits", r)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Now()
	crash := func(ago time.Duration, ran time.Duration) runtime.State {
		return runtime.State{Status: runtime.StatusExited, StartedAt: now.Add(-ago - ran), FinishedAt: now.Add(-ago)}
	}
	w := &podWorker{}
	cases := []struct {
		name string
		atts []runtime.State
		want time.Duration // remaining wait, roughly
	}{
		{"first crash waits 10s", []runtime.State{crash(0, time.Second)}, 10 * time.Second},
		{"third crash waits 40s", []runtime.State{crash(0, time.Second), crash(0, time.Second), crash(0, time.Second)}, 40 * time.Second},
		{"capped at 5 minutes", slices.Repeat([]runtime.State{crash(0, time.Second)}, 12), 5 * time.Minute},
		{"a long run resets the back-off", []runtime.State{crash(0, time.Second), crash(0, time.Second), crash(0, 11*time.Minute), crash(0, time.Second)}, 10 * time.Second},
		{"wait already over", []runtime.State{crash(time.Minute, time.Second)}, 0},
	}
	for _, tc := range cases {
		got := w.backoffLeft("c", tc.atts)
		if got < tc.want-time.Second || got > tc.want+time.Second {
			if !(tc.want == 0 && got <= 0) {
				t.Errorf("%s: %v, want about %v", tc.name, got, tc.want)
			}
		}
	}
}

func TestContainerIDs(t *testing.T) {
	uid := "0f8e2c56-6f0b-4c1d-9a67-0123456789ab"
	id := containerID(uid, "web", 3)
	if podUIDOf(id) != uid || attemptOf(id) != 3 {
		t.Errorf("%s: uid %q attempt %d", id, podUIDOf(id), attemptOf(id))
	}
	if podUIDOf("orch-test-bench-1") != "" {
		t.Error("a foreign container ID parsed as a pod's")
	}
}
