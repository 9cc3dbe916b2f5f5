package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// DefaultEventTTL is how long an Event is kept after it last happened, as
// kube-apiserver's --event-ttl.
const DefaultEventTTL = time.Hour

// EventTTLController deletes the Events that last happened more than the TTL ago, so
// that Events never grow the replicated state without bound. It sweeps all Events
// every TTL/60 (at least every second) rather than keeping a timer per Event.
type EventTTLController struct {
	deps Deps
	log  *slog.Logger
	ttl  time.Duration
}

// NewEventTTLController returns the event expiry controller for deps.EventTTL.
func NewEventTTLController(deps Deps) *EventTTLController {
	ttl := deps.EventTTL
	if ttl <= 0 {
		ttl = DefaultEventTTL
	}
	return &EventTTLController{deps: deps, log: deps.Log.With("controller", "eventttl"), ttl: ttl}
}

// Name implements Controller.
func (c *EventTTLController) Name() string { return "eventttl" }

const sweepKey = "sweep"

// Setup implements Controller: one key, swept at start and then periodically.
func (c *EventTTLController) Setup(_ *Informers, q *Queue) { q.Add(sweepKey) }

// Sync implements Controller.
func (c *EventTTLController) Sync(ctx context.Context, _ string) (Result, error) {
	interval := max(c.ttl/60, time.Second)
	for _, o := range expiredEvents(c.deps.Source.View().List(api.EventKind, ""), c.deps.Now().Add(-c.ttl)) {
		m := o.GetMetadata()
		_, err := c.deps.Writer.Delete(ctx, api.EventKind, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{ResourceVersion: proto.String(m.GetResourceVersion())}})
		if err != nil && !isNotFound(err) && !isConflict(err) {
			return Result{RequeueAfter: interval}, fmt.Errorf("delete expired event %s/%s: %w", m.GetNamespace(), m.GetName(), err)
		}
	}
	return Result{RequeueAfter: interval}, nil
}

// expiredEvents are the events that last happened before cutoff.
func expiredEvents(events []api.Object, cutoff time.Time) []*orchv1.Event {
	var out []*orchv1.Event
	for _, o := range events {
		e := o.(*orchv1.Event)
		if eventLastSeen(e).Before(cutoff) {
			out = append(out, e)
		}
	}
	return out
}

// eventLastSeen is when an Event last happened: its series' last observation, its
// lastTimestamp, eventTime, firstTimestamp, or its creation, the first one set.
func eventLastSeen(e *orchv1.Event) time.Time {
	for _, ts := range []*timestamppb.Timestamp{e.GetSeries().GetLastObservedTime(), e.GetLastTimestamp(), e.GetEventTime(), e.GetFirstTimestamp(), e.GetMetadata().GetCreationTimestamp()} {
		if ts != nil {
			return ts.AsTime()
		}
	}
	return time.Time{}
}
