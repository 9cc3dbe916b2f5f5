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

// attemptStates numbers states as attempts first, first+1, ... of container c.
func attemptStates(first int, sts ...runtime.State) []runtime.State {
	for i := range sts {
		sts[i].ID = containerID("0f8e2c56-6f0b-4c1d-9a67-0123456789ab", "c", first+i)
	}
	return sts
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
		{"first crash waits 10s", attemptStates(0, crash(0, time.Second)), 10 * time.Second},
		{"third crash waits 40s", attemptStates(0, crash(0, time.Second), crash(0, time.Second), crash(0, time.Second)), 40 * time.Second},
		{"capped at 5 minutes", attemptStates(0, slices.Repeat([]runtime.State{crash(0, time.Second)}, 12)...), 5 * time.Minute},
		{"a long run resets the back-off", attemptStates(0, crash(0, time.Second), crash(0, time.Second), crash(0, 11*time.Minute), crash(0, time.Second)), 10 * time.Second},
		{"wait already over", attemptStates(0, crash(time.Minute, time.Second)), 0},
		{"pruned crash loop: the 6th crash (attempts 4, 5 kept) waits 5 min", attemptStates(4, crash(0, time.Second), crash(0, time.Second)), 5 * time.Minute},
		{"pruned loop after a long run (kept) counts from it", append(attemptStates(2, crash(0, 11*time.Minute)), attemptStates(6, crash(0, time.Second), crash(0, time.Second))...), 160 * time.Second},
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

// A crash loop as the worker runs it: start the next attempt, it crashes, prune while
// the next runs. Attempt numbers only grow (so restartCount does), a start never reuses
// an ID still on disk, and the back-off doubles up to its cap however much is pruned.
func TestCrashLoopNumberingAndBackoff(t *testing.T) {
	now := time.Now()
	var atts []runtime.State
	wantBackoff := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i := range 8 {
		n := nextAttempt(atts)
		if n != i {
			t.Fatalf("start %d numbered %d", i, n)
		}
		id := containerID("0f8e2c56-6f0b-4c1d-9a67-0123456789ab", "c", n)
		for _, a := range atts {
			if a.ID == id {
				t.Fatalf("start %d reuses %s, still on disk", i, id)
			}
		}
		atts = append(atts, runtime.State{ID: id, Status: runtime.StatusRunning, StartedAt: now})
		gone := prunable(atts)
		atts = slices.DeleteFunc(atts, func(s runtime.State) bool { return slices.Contains(gone, s.ID) })
		if len(atts) > 2 {
			t.Fatalf("start %d: %d attempts kept", i, len(atts))
		}
		atts[len(atts)-1].Status, atts[len(atts)-1].FinishedAt = runtime.StatusExited, now.Add(time.Second)
		if got, want := restartBackoff(restartStreak(atts)), wantBackoff[i]*time.Second; got != want {
			t.Errorf("after crash %d: back-off %v, want %v", i+1, got, want)
		}
	}
	if got := attemptOf(atts[len(atts)-1].ID); got != 7 {
		t.Errorf("restartCount after 8 starts: %d, want 7", got)
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

func TestSplitContainerID(t *testing.T) {
	const uid = "0b6f3c1e-8d2a-4c59-9f0e-3a1b2c3d4e5f"
	for _, tc := range []struct {
		name    string
		attempt int
	}{{"app", 0}, {"my-side-car", 12}} {
		uid2, name, attempt, ok := splitContainerID(containerID(uid, tc.name, tc.attempt))
		if !ok || uid2 != uid || name != tc.name || attempt != tc.attempt {
			t.Errorf("%s/%d: got %q %q %d %v", tc.name, tc.attempt, uid2, name, attempt, ok)
		}
	}
	for _, id := range []string{"", "not-ours", uid + "-app", uid + "-app-x", uid + "--1"} {
		if _, _, _, ok := splitContainerID(id); ok {
			t.Errorf("%q: accepted", id)
		}
	}
}
