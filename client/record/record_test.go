package record

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// memSink keeps Events by name, as the API would, with resourceVersions.
type memSink struct {
	mu      sync.Mutex
	events  map[string]*orchv1.Event
	rv      int
	creates int
	updates int
}

func newMemSink() *memSink { return &memSink{events: map[string]*orchv1.Event{}} }

func (s *memSink) Create(_ context.Context, e *orchv1.Event) (*orchv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := e.GetMetadata().GetNamespace() + "/" + e.GetMetadata().GetName()
	if _, ok := s.events[key]; ok {
		return nil, errors.New("already exists")
	}
	s.rv++
	e = proto.Clone(e).(*orchv1.Event)
	e.Metadata.ResourceVersion = fmt.Sprint(s.rv)
	s.events[key] = e
	s.creates++
	return e, nil
}

func (s *memSink) Update(_ context.Context, e *orchv1.Event) (*orchv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := e.GetMetadata().GetNamespace() + "/" + e.GetMetadata().GetName()
	cur, ok := s.events[key]
	if !ok {
		return nil, errors.New("not found")
	}
	if cur.GetMetadata().GetResourceVersion() != e.GetMetadata().GetResourceVersion() {
		return nil, errors.New("conflict")
	}
	s.rv++
	e = proto.Clone(e).(*orchv1.Event)
	e.Metadata.ResourceVersion = fmt.Sprint(s.rv)
	s.events[key] = e
	s.updates++
	return e, nil
}

func (s *memSink) list() []*orchv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*orchv1.Event
	for _, e := range s.events {
		out = append(out, e)
	}
	return out
}

// drain writes what is queued, synchronously.
func (r *Recorder) drain() {
	for {
		select {
		case e := <-r.queue:
			r.write(context.Background(), e)
		default:
			return
		}
	}
}

func pod(name, uid string) *orchv1.Pod {
	return &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "web", Name: name, Uid: uid}}
}

func newTestRecorder(s Sink) (*Recorder, *time.Time) {
	r := New(s, "scheduler", "m1", nil)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.now = func() time.Time { return now }
	return r, &now
}

func TestRepeatsAreCounted(t *testing.T) {
	s := newMemSink()
	r, now := newTestRecorder(s)
	p := pod("a", "u1")
	for i := range 5 {
		r.Event(p, Warning, "BackOff", "Back-off restarting failed container %s", "c")
		*now = now.Add(time.Second)
		r.drain()
		if got := s.list(); len(got) != 1 || got[0].GetCount() != int32(i+1) {
			t.Fatalf("after %d repeats: %v", i+1, got)
		}
	}
	e := s.list()[0]
	if e.GetFirstTimestamp().AsTime().Equal(e.GetLastTimestamp().AsTime()) {
		t.Errorf("lastTimestamp %v did not move past firstTimestamp", e.GetLastTimestamp().AsTime())
	}
	if s.creates != 1 || s.updates != 4 {
		t.Errorf("creates %d updates %d, want 1 and 4", s.creates, s.updates)
	}
	if o := e.GetInvolvedObject(); o.GetKind() != "Pod" || o.GetApiVersion() != "v1" || o.GetNamespace() != "web" || o.GetUid() != "u1" {
		t.Errorf("involvedObject %v", o)
	}
	if e.GetSource().GetComponent() != "scheduler" || e.GetSource().GetHost() != "m1" || e.GetMetadata().GetNamespace() != "web" {
		t.Errorf("source %v namespace %q", e.GetSource(), e.GetMetadata().GetNamespace())
	}

	// Another message, object or reason is another Event.
	r.Event(p, Warning, "BackOff", "Back-off restarting failed container d")
	r.Event(pod("b", "u2"), Warning, "BackOff", "Back-off restarting failed container c")
	r.Event(p, Normal, "Pulled", "pulled")
	r.drain()
	if got := len(s.list()); got != 4 {
		t.Errorf("%d events, want 4", got)
	}
}

func TestSpamFilterPerObject(t *testing.T) {
	s := newMemSink()
	r, now := newTestRecorder(s)
	for i := range 40 {
		r.Event(pod("a", "u1"), Normal, "Reason", "message %d", i)
		r.drain()
	}
	if s.creates != spamBurst {
		t.Errorf("%d events written for one object, want the burst of %d", s.creates, spamBurst)
	}
	// Another object has its own budget.
	r.Event(pod("b", "u2"), Normal, "Reason", "message")
	r.drain()
	if s.creates != spamBurst+1 {
		t.Errorf("another object's event was dropped")
	}
	// One more is allowed every 5 minutes.
	*now = now.Add(spamInterval)
	r.Event(pod("a", "u1"), Normal, "Reason", "later")
	r.Event(pod("a", "u1"), Normal, "Reason", "later still")
	r.drain()
	if s.creates != spamBurst+2 {
		t.Errorf("%d events after 5 minutes, want one more than %d", s.creates, spamBurst+1)
	}
}

func TestGoneEventIsRecreated(t *testing.T) {
	s := newMemSink()
	r, now := newTestRecorder(s)
	r.Event(pod("a", "u1"), Warning, "Failed", "x")
	r.drain()
	s.mu.Lock()
	clear(s.events) // expired
	s.mu.Unlock()
	*now = now.Add(time.Second)
	r.Event(pod("a", "u1"), Warning, "Failed", "x")
	r.drain()
	if got := s.list(); len(got) != 1 || got[0].GetCount() != 1 {
		t.Errorf("after the first Event expired: %v, want a new Event of count 1", got)
	}
	// Past the aggregation window a repeat starts a new Event too.
	*now = now.Add(aggregateWindow + time.Second)
	r.Event(pod("a", "u1"), Warning, "Failed", "x")
	r.drain()
	if got := len(s.list()); got != 2 {
		t.Errorf("%d events, want a second one after the window", got)
	}
}

func TestClusterScopedObjectsEventsInDefault(t *testing.T) {
	s := newMemSink()
	r, _ := newTestRecorder(s)
	r.Event(&orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: "n1", Uid: "n"}}, Normal, "NodeReady", "ready")
	r.drain()
	if got := s.list(); len(got) != 1 || got[0].GetMetadata().GetNamespace() != "default" || got[0].GetInvolvedObject().GetKind() != "Node" {
		t.Errorf("events %v", got)
	}
}

func TestEventNeverBlocks(t *testing.T) {
	r, _ := newTestRecorder(newMemSink())
	done := make(chan struct{})
	go func() {
		for i := range 3 * queueSize {
			r.Event(pod(fmt.Sprint(i), fmt.Sprint(i)), Normal, "R", "m")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Event blocked with nobody writing")
	}
	var nilRecorder *Recorder
	nilRecorder.Event(pod("a", "u"), Normal, "R", "m") // a component without events
}
