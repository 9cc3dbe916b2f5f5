// Package record records Events about objects, as client-go's record package does for
// Kubernetes components: repeats of the same event are folded into one Event whose count
// and lastTimestamp grow, each source gets a bounded rate per object so a crash-looping
// pod cannot flood Raft, and writes happen in the background so a component never waits
// on them. The controllers, the scheduler and the node agent all record through it.
package record

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Event types, as Kubernetes'.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Sink writes Events: the API through a client, or a master's own writer.
type Sink interface {
	Create(ctx context.Context, e *orchv1.Event) (*orchv1.Event, error)
	// Update replaces an Event the recorder created earlier (its resourceVersion set).
	Update(ctx context.Context, e *orchv1.Event) (*orchv1.Event, error)
}

// Limits of the recorder. The spam filter is client-go's: a burst of 25 events per
// source and object, then one every 5 minutes.
const (
	spamBurst    = 25
	spamInterval = 5 * time.Minute
	// An Event repeated within this window is counted in the earlier one.
	aggregateWindow = 10 * time.Minute
	cacheSize       = 4096
	queueSize       = 1000
)

// Recorder records Events from one source (component and host).
type Recorder struct {
	sink   Sink
	source *orchv1.EventSource
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	seen     map[string]*seenEvent // by aggregation key
	limiters map[string]*rate.Limiter
	queue    chan *orchv1.Event
	lastName int64 // the writer's last name suffix
}

type seenEvent struct {
	event *orchv1.Event // as last written, with its resourceVersion
	at    time.Time
}

// New returns a recorder writing to sink for the given component (e.g. "scheduler",
// "orch-node") and host; Run must be called for it to write anything.
func New(sink Sink, component, host string, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		sink: sink, source: &orchv1.EventSource{Component: component, Host: host}, log: log, now: time.Now,
		seen: map[string]*seenEvent{}, limiters: map[string]*rate.Limiter{},
		queue: make(chan *orchv1.Event, queueSize),
	}
}

// Event records an event about obj. It never blocks: when the writer is behind, or the
// source has used its rate for obj, the event is dropped (and logged at debug level).
func (r *Recorder) Event(obj api.Object, typ, reason, format string, args ...any) {
	if r == nil || obj == nil {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	k, ok := api.KindOf(obj)
	if !ok {
		return
	}
	m := obj.GetMetadata()
	ref := &orchv1.ObjectReference{Kind: k.Name, ApiVersion: k.APIVersion, Namespace: m.GetNamespace(), Name: m.GetName(),
		Uid: m.GetUid(), ResourceVersion: m.GetResourceVersion()}
	ns := m.GetNamespace()
	if ns == "" {
		ns = "default" // events about cluster-scoped objects live in default, as in Kubernetes
	}
	now := r.now().UTC().Truncate(time.Second)
	e := &orchv1.Event{
		Metadata:       &orchv1.ObjectMeta{Namespace: ns},
		InvolvedObject: ref, Type: typ, Reason: reason, Message: truncate(msg, 1024), Count: 1,
		Source: r.source, FirstTimestamp: timestamppb.New(now), LastTimestamp: timestamppb.New(now),
		ReportingComponent: r.source.GetComponent(), ReportingInstance: r.source.GetHost(),
	}
	lkey := strings.Join([]string{ref.GetKind(), ref.GetNamespace(), ref.GetName(), ref.GetUid()}, "\x00")
	r.mu.Lock()
	lim, ok := r.limiters[lkey]
	if !ok {
		if len(r.limiters) >= cacheSize {
			clear(r.limiters)
		}
		lim = rate.NewLimiter(rate.Every(spamInterval), spamBurst)
		r.limiters[lkey] = lim
	}
	allowed := lim.AllowN(r.now(), 1)
	r.mu.Unlock()
	if !allowed {
		r.log.Debug("event dropped by the spam filter", "object", ref.GetKind()+"/"+ref.GetName(), "reason", reason)
		return
	}
	select {
	case r.queue <- e:
	default:
		r.log.Debug("event dropped: the writer is behind", "object", ref.GetKind()+"/"+ref.GetName(), "reason", reason)
	}
}

// Run writes the recorded events until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.queue:
			r.write(ctx, e)
		}
	}
}

// write creates e, or counts it in the Event it repeats.
func (r *Recorder) write(ctx context.Context, e *orchv1.Event) {
	key := aggregationKey(e)
	now := r.now()
	r.mu.Lock()
	prev, ok := r.seen[key]
	if ok && now.Sub(prev.at) > aggregateWindow {
		ok = false
	}
	r.mu.Unlock()
	var out *orchv1.Event
	var err error
	if ok {
		next := proto.Clone(prev.event).(*orchv1.Event)
		next.Count++
		next.LastTimestamp = e.GetLastTimestamp()
		next.InvolvedObject = e.GetInvolvedObject()
		out, err = r.sink.Update(ctx, next)
	}
	if !ok || err != nil {
		// A first event, or the earlier one is gone (expired, deleted): a new Event.
		// Named as Kubernetes names them, by the time in nanoseconds, made unique here.
		r.lastName = max(now.UnixNano(), r.lastName+1)
		e.Metadata.Name = fmt.Sprintf("%s.%x", e.GetInvolvedObject().GetName(), r.lastName)
		out, err = r.sink.Create(ctx, e)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Debug("record event", "object", e.GetInvolvedObject().GetKind()+"/"+e.GetInvolvedObject().GetName(), "reason", e.GetReason(), "err", err)
		}
		return
	}
	r.mu.Lock()
	if len(r.seen) >= cacheSize {
		clear(r.seen)
	}
	r.seen[key] = &seenEvent{event: out, at: now}
	r.mu.Unlock()
}

// aggregationKey identifies repeats: the same source, object, type, reason and message.
func aggregationKey(e *orchv1.Event) string {
	o := e.GetInvolvedObject()
	return strings.Join([]string{e.GetSource().GetComponent(), e.GetSource().GetHost(), o.GetKind(), o.GetNamespace(), o.GetName(), o.GetUid(),
		e.GetType(), e.GetReason(), e.GetMessage()}, "\x00")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
