package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
)

// Event is one change to one object, at the Raft index that made it.
type Event struct {
	Index uint64
	Kind  *api.Kind
	Type  string
	Obj   api.Object
	// Prev is the object as this change found it (nil for ADDED and DELETED): a watch
	// with a selector needs it to tell whether a MODIFIED object started or stopped
	// matching.
	Prev api.Object
}

// ErrTooOld: the history no longer holds the changes after the asked resourceVersion.
var ErrTooOld = errors.New("resource version too old")

// ErrTooLarge: the asked resourceVersion is ahead of what this master has applied, and
// it did not catch up in time.
var ErrTooLarge = errors.New("Too large resource version")

// errFellBehind: a watcher did not keep up; it resumes from its last resourceVersion.
var errFellBehind = errors.New("watch fell behind: resume from the last resourceVersion received")

var errRestored = errors.New("state was restored from a snapshot: list again")

// eventOverhead is what one history entry costs beyond its objects.
const eventOverhead = 96

// histEntry is one event in the history with what it counts against the byte budget.
type histEntry struct {
	Event
	bytes int64
}

// Hub keeps a bounded history of this master's applied changes and fans them out to
// watchers. Every master builds the same history from the same Raft log. The history is
// bounded by count and by bytes (the encoded size of the objects each event keeps:
// the object and, for MODIFIED, its previous state), whichever is reached first.
type Hub struct {
	mu       sync.Mutex
	ring     []histEntry // circular, len == cap once full
	start    int         // position of the oldest event in ring
	size     int
	bytes    int64         // bytes held by the events in ring
	maxBytes int64         // <= 0: no byte bound
	floor    uint64        // every event with Index > floor is in the history
	last     uint64        // last applied index
	advanced chan struct{} // closed and replaced whenever last moves
	subs     map[*Sub]struct{}
}

// NewHub returns a hub that keeps up to capacity events holding up to maxBytes
// (no byte bound when maxBytes <= 0).
func NewHub(capacity int, maxBytes int64) *Hub {
	return &Hub{ring: make([]histEntry, max(capacity, 1)), maxBytes: maxBytes,
		advanced: make(chan struct{}), subs: make(map[*Sub]struct{})}
}

// stats reports the open feeds and the events and bytes the history holds.
func (h *Hub) stats() (watchers, events int, bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs), h.size, h.bytes
}

// Sub is one watcher's feed of events of one kind, each with an Index after From.
type Sub struct {
	kind *api.Kind
	from uint64
	C    chan Event
	done chan struct{}
	err  error // set before done is closed
}

// From is the index the feed starts after.
func (s *Sub) From() uint64 { return s.from }

// Err tells why the feed ended, once Done is closed.
func (s *Sub) Err() error { return s.err }

// Done is closed when the hub ends the feed.
func (s *Sub) Done() <-chan struct{} { return s.done }

const subBuffer = 4096

// Subscribe feeds every event of kind after index from: first those in the history,
// then new ones. It never feeds an event at or before from.
func (h *Hub) Subscribe(k *api.Kind, from uint64) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribe(k, from)
}

// SubscribeNow feeds every event of kind after the last one published. Unlike
// Subscribe(k, LastIndex()), it cannot fail: a large batch published between the two
// calls could push the history's floor past the index asked for.
func (h *Hub) SubscribeNow(k *api.Kind) *Sub {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, _ := h.subscribe(k, h.last) // the floor is never past the last index
	return s
}

// SubscribeView opens a view of store and feeds every event of kind after the view's
// index, as one step: the view holds every change up to its index, the feed every one
// after it. The store commits before the hub publishes, so a view opened without the
// hub's lock could already hold changes the hub is about to send.
func (h *Hub) SubscribeView(k *api.Kind, store *Store) (*Sub, View, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := store.View()
	s, err := h.subscribe(k, v.Index())
	return s, v, err
}

func (h *Hub) subscribe(k *api.Kind, from uint64) (*Sub, error) {
	if from < h.floor {
		return nil, fmt.Errorf("%w: resourceVersion %d is older than the oldest change this master keeps (%d): list again", ErrTooOld, from, h.floor)
	}
	var replay []Event
	for i := 0; i < h.size; i++ {
		e := h.ring[(h.start+i)%len(h.ring)]
		if e.Index > from && e.Kind == k {
			replay = append(replay, e.Event)
		}
	}
	s := &Sub{kind: k, from: from, C: make(chan Event, len(replay)+subBuffer), done: make(chan struct{})}
	for _, e := range replay {
		s.C <- e
	}
	h.subs[s] = struct{}{}
	return s, nil
}

// Unsubscribe ends a feed.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(s, nil)
}

func (h *Hub) drop(s *Sub, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.done)
}

// LastIndex is the last index applied on this master.
func (h *Hub) LastIndex() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// WaitIndex waits until the hub has published index, or ctx ends.
func (h *Hub) WaitIndex(ctx context.Context, index uint64) error {
	for {
		h.mu.Lock()
		last, advanced := h.last, h.advanced
		h.mu.Unlock()
		if last >= index {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func eventBytes(e Event) int64 {
	n := int64(eventOverhead + proto.Size(e.Obj))
	if e.Prev != nil {
		n += int64(proto.Size(e.Prev))
	}
	return n
}

// evict drops the oldest event of the history.
func (h *Hub) evict() {
	old := &h.ring[h.start]
	h.floor = old.Index
	h.bytes -= old.bytes
	*old = histEntry{}
	h.start = (h.start + 1) % len(h.ring)
	h.size--
}

func (h *Hub) publish(events []Event, index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range events {
		n := eventBytes(e)
		// The newest event always stays, even alone over the budget.
		for h.size > 0 && (h.size == len(h.ring) || (h.maxBytes > 0 && h.bytes+n > h.maxBytes)) {
			h.evict()
		}
		h.ring[(h.start+h.size)%len(h.ring)] = histEntry{Event: e, bytes: n}
		h.size++
		h.bytes += n
		for s := range h.subs {
			if s.kind != e.Kind || e.Index <= s.from {
				continue
			}
			select {
			case s.C <- e:
			default:
				h.drop(s, errFellBehind)
			}
		}
	}
	if index > h.last {
		h.last = index
		close(h.advanced)
		h.advanced = make(chan struct{})
	}
}

// reset forgets the history after a snapshot restore: watchers must list again.
func (h *Hub) reset(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ring)
	h.start, h.size, h.bytes = 0, 0, 0
	h.floor, h.last = index, index
	close(h.advanced)
	h.advanced = make(chan struct{})
	for s := range h.subs {
		h.drop(s, errRestored)
	}
}
