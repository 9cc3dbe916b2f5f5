package probe

// These tests pin how a Worker turns a script of attempt results into a reported result:
// thresholds, initial results, callbacks, timing and when it stops, with 10ms "seconds".

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

const workerUnit = 10 * time.Millisecond

// scripted is what a Worker did with a script.
type scripted struct {
	changes  []string // onChange calls, as "Result@attempt"
	failures []int    // attempts onFailure was called for
	attempts int
	final    Result
	stopped  bool // Run returned on its own, before the script ran out
	times    []time.Duration
}

// runScript runs a Worker whose exec attempts return script in order (Success exits 0,
// Failure exits 1, Unknown cannot run) and ends it when the script runs out.
func runScript(t *testing.T, kind Kind, p *orchv1.Probe, script []Result) scripted {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s scripted
	start := time.Now()
	target := Target{Exec: func(context.Context, []string) (int, []byte, error) {
		s.times = append(s.times, time.Since(start))
		if s.attempts == len(script) {
			cancel()
			return -1, nil, context.Canceled
		}
		s.attempts++
		switch script[s.attempts-1] {
		case Success:
			return 0, nil, nil
		case Failure:
			return 1, []byte(fmt.Sprint("sick ", s.attempts)), nil
		}
		return -1, nil, errors.New("container not running")
	}}
	p = proto.CloneOf(p)
	p.Exec = &orchv1.ExecAction{Command: []string{"check"}}
	w := NewWorker(kind, p, target,
		func(r Result, msg string) {
			if r == Failure && msg != fmt.Sprintf(`command "check" exited with 1: sick %d`, s.attempts) {
				t.Errorf("onChange message %q is not the last attempt's", msg)
			}
			s.changes = append(s.changes, fmt.Sprintf("%v@%d", r, s.attempts))
		},
		func(string) { s.failures = append(s.failures, s.attempts) })
	w.unit = workerUnit
	w.Run(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("Run did not finish the script in time")
	}
	s.stopped = ctx.Err() == nil
	s.final = w.Result()
	return s
}

func TestWorkerThresholds(t *testing.T) {
	t.Parallel()
	const S, F, U = Success, Failure, Unknown
	period1 := &orchv1.Probe{PeriodSeconds: proto.Int32(1)}
	cases := []struct {
		name         string
		kind         Kind
		probe        *orchv1.Probe
		script       []Result
		wantChanges  []string
		wantFailures []int
		wantFinal    Result
		wantAttempts int
		wantStopped  bool
	}{
		{name: "liveness flips after the 3rd failure and stops", kind: Liveness, probe: period1,
			script: []Result{F, F, F, S}, wantChanges: []string{"Failure@3"}, wantFailures: []int{1, 2, 3},
			wantFinal: F, wantAttempts: 3, wantStopped: true},
		{name: "liveness success breaks the run", kind: Liveness, probe: period1,
			script: []Result{F, F, S, F, F, F}, wantChanges: []string{"Failure@6"}, wantFailures: []int{1, 2, 4, 5, 6},
			wantFinal: F, wantAttempts: 6, wantStopped: true},
		{name: "liveness healthy never changes", kind: Liveness, probe: period1,
			script: []Result{S, S, S}, wantFinal: S, wantAttempts: 3},
		{name: "readiness up then down", kind: Readiness, probe: period1,
			script: []Result{S, F, F, F}, wantChanges: []string{"Success@1", "Failure@4"}, wantFailures: []int{2, 3, 4},
			wantFinal: F, wantAttempts: 4},
		{name: "readiness successThreshold 2", kind: Readiness,
			probe:  &orchv1.Probe{PeriodSeconds: proto.Int32(1), SuccessThreshold: proto.Int32(2)},
			script: []Result{S, F, S, S, S}, wantChanges: []string{"Success@4"}, wantFailures: []int{2},
			wantFinal: S, wantAttempts: 5},
		{name: "unknown neither counts nor breaks a run", kind: Readiness,
			probe:  &orchv1.Probe{PeriodSeconds: proto.Int32(1), SuccessThreshold: proto.Int32(2)},
			script: []Result{S, U, S}, wantChanges: []string{"Success@3"}, wantFailures: []int{2},
			wantFinal: S, wantAttempts: 3},
		{name: "readiness flaps with thresholds 1", kind: Readiness,
			probe:  &orchv1.Probe{PeriodSeconds: proto.Int32(1), FailureThreshold: proto.Int32(1)},
			script: []Result{S, F, S}, wantChanges: []string{"Success@1", "Failure@2", "Success@3"}, wantFailures: []int{2},
			wantFinal: S, wantAttempts: 3},
		{name: "readiness failing from the start never changes", kind: Readiness, probe: period1,
			script: []Result{F, F, F, F}, wantFailures: []int{1, 2, 3, 4}, wantFinal: F, wantAttempts: 4},
		{name: "startup success stops", kind: Startup, probe: period1,
			script: []Result{F, S, F}, wantChanges: []string{"Success@2"}, wantFailures: []int{1},
			wantFinal: S, wantAttempts: 2, wantStopped: true},
		{name: "startup failureThreshold 2", kind: Startup,
			probe:  &orchv1.Probe{PeriodSeconds: proto.Int32(1), FailureThreshold: proto.Int32(2)},
			script: []Result{F, F, S}, wantChanges: []string{"Failure@2"}, wantFailures: []int{1, 2},
			wantFinal: F, wantAttempts: 2, wantStopped: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := runScript(t, tc.kind, tc.probe, tc.script)
			if !slices.Equal(got.changes, tc.wantChanges) {
				t.Errorf("changes = %q, want %q", got.changes, tc.wantChanges)
			}
			if !slices.Equal(got.failures, tc.wantFailures) {
				t.Errorf("onFailure at attempts %v, want %v", got.failures, tc.wantFailures)
			}
			if got.final != tc.wantFinal || got.attempts != tc.wantAttempts || got.stopped != tc.wantStopped {
				t.Errorf("final %v after %d attempts, stopped %v; want %v after %d, stopped %v",
					got.final, got.attempts, got.stopped, tc.wantFinal, tc.wantAttempts, tc.wantStopped)
			}
		})
	}
}

func TestWorkerInitialResult(t *testing.T) {
	t.Parallel()
	for kind, want := range map[Kind]Result{Readiness: Failure, Liveness: Success, Startup: Unknown} {
		if got := NewWorker(kind, &orchv1.Probe{}, Target{}, nil, nil).Result(); got != want {
			t.Errorf("%s starts as %v, want %v", kind, got, want)
		}
	}
}

func TestWorkerSchedule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		probe        *orchv1.Probe
		wantFirst    time.Duration
		wantInterval time.Duration
	}{
		{name: "initial delay then period", wantFirst: 5 * workerUnit, wantInterval: 3 * workerUnit,
			probe: &orchv1.Probe{InitialDelaySeconds: 5, PeriodSeconds: proto.Int32(3)}},
		{name: "no delay", wantFirst: 0, wantInterval: 2 * workerUnit,
			probe: &orchv1.Probe{PeriodSeconds: proto.Int32(2)}},
		{name: "default period", wantFirst: 0, wantInterval: 10 * workerUnit,
			probe: &orchv1.Probe{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := runScript(t, Readiness, tc.probe, []Result{Success, Success})
			if len(got.times) != 3 {
				t.Fatalf("%d attempts, want 3", len(got.times))
			}
			if got.times[0] < tc.wantFirst {
				t.Errorf("first attempt after %v, want at least %v", got.times[0], tc.wantFirst)
			}
			for i := 1; i < len(got.times); i++ {
				if d := got.times[i] - got.times[i-1]; d < tc.wantInterval {
					t.Errorf("attempt %d came %v after the previous, want at least %v", i+1, d, tc.wantInterval)
				}
			}
		})
	}
}

func TestWorkerStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWorker(Readiness, &orchv1.Probe{InitialDelaySeconds: 1000, Exec: &orchv1.ExecAction{Command: []string{"x"}}},
		Target{}, nil, nil)
	w.unit = workerUnit
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
