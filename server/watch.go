package server

import (
	"errors"
	"fmt"
	"sync"

	"github.com/orchd/orch/api"
)

// Event is one change to one object, at the Raft index that made it.
type Event struct {
	Index uint64
	Kind  *api.Kind
	Type  string
	Obj   api.Object
}

// ErrTooOld: the history no longer holds the changes after the asked resourceVersion.
var ErrTooOld = errors.New("resource version too old")

// errFellBehind: a watcher did not keep up; it resumes from its last resourceVersion.
var errFellBehind = errors.New("watch fell behind: resume from the last resourceVersion received")

var errRestored = errors.New("state was restored from a snapshot: list again")

// Hub keeps a bounded history of this master's applied changes and fans them out to
// watchers. Every master builds the same history from the same Raft log.
type Hub struct {
	mu    sync.Mutex
	ring  []Event // circular, len == cap once full
	start int     // position of the oldest event in ring
	size  int
	floor uint64 // every event with Index > floor is in the history
	last  uint64 // last applied index
	subs  map[*Sub]struct{}
}

// NewHub returns a hub that keeps up to capacity events.
func NewHub(capacity int) *Hub {
	return &Hub{ring: make([]Event, capacity), subs: make(map[*Sub]struct{})}
}

// Sub is one watcher's feed of events of one kind.
type Sub struct {
	kind *api.Kind
	C    chan Event
	done chan struct{}
	err  error // set before done is closed
}

// Err tells why the feed ended, once Done is closed.
func (s *Sub) Err() error { return s.err }

// Done is closed when the hub ends the feed.
func (s *Sub) Done() <-chan struct{} { return s.done }

const subBuffer = 4096

// Subscribe feeds every event of kind after index from: first those in the history,
// then new ones.
func (h *Hub) Subscribe(k *api.Kind, from uint64) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.floor {
		return nil, fmt.Errorf("%w: resourceVersion %d is older than the oldest change this master keeps (%d): list again", ErrTooOld, from, h.floor)
	}
	var replay []Event
	for i := 0; i < h.size; i++ {
		e := h.ring[(h.start+i)%len(h.ring)]
		if e.Index > from && e.Kind == k {
			replay = append(replay, e)
		}
	}
	s := &Sub{kind: k, C: make(chan Event, len(replay)+subBuffer), done: make(chan struct{})}
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

func (h *Hub) publish(events []Event, index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range events {
		if h.size == len(h.ring) {
			h.floor = h.ring[h.start].Index
			h.start = (h.start + 1) % len(h.ring)
			h.size--
		}
		h.ring[(h.start+h.size)%len(h.ring)] = e
		h.size++
		for s := range h.subs {
			if s.kind != e.Kind {
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
	}
}

// reset forgets the history after a snapshot restore: watchers must list again.
func (h *Hub) reset(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ring)
	h.start, h.size = 0, 0
	h.floor, h.last = index, index
	for s := range h.subs {
		h.drop(s, errRestored)
	}
}
