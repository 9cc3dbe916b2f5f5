package probe

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Worker runs one probe of one container instance on the probe's schedule. The agent
// starts a new Worker when the container is restarted, which is how initialDelaySeconds
// and the initial result apply again to the new instance.
type Worker struct {
	kind      Kind
	probe     *orchv1.Probe
	target    Target
	onChange  func(Result, string)
	onFailure func(string)

	// unit is the length of one of the probe's seconds; tests shorten it.
	unit time.Duration

	result atomic.Int32 // the reported Result
}

// NewWorker returns a Worker reporting the initial result Kubernetes gives kind: Failure
// for readiness (not ready until proven), Success for liveness (no restart before the
// first verdict) and Unknown for startup.
//
// onChange, if set, is called with the message of the last attempt each time the reported
// result flips; onFailure, if set, with the message of every attempt that failed or could
// not be made (Unknown), for Events. Both run on Run's goroutine and delay the next
// attempt while they run.
func NewWorker(kind Kind, p *orchv1.Probe, t Target, onChange func(Result, string), onFailure func(string)) *Worker {
	if p == nil {
		panic("probe.NewWorker: nil probe")
	}
	w := &Worker{kind: kind, probe: p, target: t, onChange: onChange, onFailure: onFailure, unit: time.Second}
	switch kind {
	case Readiness:
		w.result.Store(int32(Failure))
	case Liveness:
		w.result.Store(int32(Success))
	case Startup:
		w.result.Store(int32(Unknown))
	default:
		panic(fmt.Sprintf("probe.NewWorker: unknown kind %q", kind))
	}
	return w
}

// Result returns the reported result; it is safe to call from any goroutine.
func (w *Worker) Result() Result {
	return Result(w.result.Load())
}

// Run waits initialDelaySeconds, then makes an attempt every periodSeconds (default 10,
// counted from the end of the previous attempt, so attempts never overlap) until ctx
// ends. Call it once.
//
// It also returns once there is nothing left to learn about this container instance, as
// the kubelet stops such workers: after a startup probe succeeds, and after a liveness or
// startup probe reports Failure (the container is about to be restarted). An attempt
// interrupted by ctx ending is not counted.
func (w *Worker) Run(ctx context.Context) {
	period := time.Duration(orDefault(w.probe.GetPeriodSeconds(), defaultPeriodSeconds)) * w.unit
	timer := time.NewTimer(time.Duration(max(w.probe.GetInitialDelaySeconds(), 0)) * w.unit)
	defer timer.Stop()

	var c counter
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		res, msg := do(ctx, w.probe, w.target, w.unit)
		if ctx.Err() != nil {
			return
		}
		if done := w.observe(&c, res, msg); done {
			return
		}
		timer.Reset(period)
	}
}

// counter holds the run of identical attempt results, as the kubelet's worker does.
type counter struct {
	last Result
	run  int
}

// observe counts one attempt and reports whether the worker is done.
func (w *Worker) observe(c *counter, res Result, msg string) bool {
	if res != Success && w.onFailure != nil {
		w.onFailure(msg)
	}
	if res == Unknown {
		// The attempt was not made: it neither breaks nor extends a run.
		return false
	}
	if res == c.last {
		c.run++
	} else {
		c.last, c.run = res, 1
	}
	threshold := orDefault(w.probe.GetFailureThreshold(), defaultFailureThreshold)
	if res == Success {
		threshold = orDefault(w.probe.GetSuccessThreshold(), defaultSuccessThreshold)
	}
	if c.run < int(threshold) {
		return false
	}
	if prev := Result(w.result.Swap(int32(res))); prev != res && w.onChange != nil {
		w.onChange(res, msg)
	}
	switch w.kind {
	case Startup:
		return true // either way this instance's startup is decided
	case Liveness:
		return res == Failure
	}
	return false
}
