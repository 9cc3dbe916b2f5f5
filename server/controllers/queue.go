package controllers

import (
	"sync"
	"time"
)

// Queue is a work queue of object keys, as client-go's rate-limited work queue:
//   - a key added again before a worker takes it is queued once (de-duplication);
//   - a key is never handed to two workers at once: added while being processed, it is
//     queued again only when the worker calls Done;
//   - AddRateLimited re-adds a failed key after an exponential back-off per key
//     (base·2^failures, capped), which Forget resets.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	items      []string
	dirty      map[string]struct{} // queued or to be queued again after processing
	processing map[string]struct{}
	failures   map[string]int
	timers     map[*time.Timer]struct{}
	shutdown   bool

	baseDelay, maxDelay time.Duration
}

// Default back-off of a failing key, as client-go's per-item limiter starts (5 ms); the
// cap is lower than client-go's 1000 s so that a controller retries a lasting failure
// (a broken write, a full namespace) at least once a minute.
const (
	DefaultBaseDelay = 5 * time.Millisecond
	DefaultMaxDelay  = 60 * time.Second
)

// NewQueue returns an empty queue with the given back-off bounds (defaults when zero).
func NewQueue(baseDelay, maxDelay time.Duration) *Queue {
	if baseDelay <= 0 {
		baseDelay = DefaultBaseDelay
	}
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	q := &Queue{dirty: map[string]struct{}{}, processing: map[string]struct{}{}, failures: map[string]int{},
		timers: map[*time.Timer]struct{}{}, baseDelay: baseDelay, maxDelay: maxDelay}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is already queued.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.add(key)
}

func (q *Queue) add(key string) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, ok := q.processing[key]; ok {
		return // Done queues it again
	}
	q.items = append(q.items, key)
	q.cond.Signal()
}

// AddAfter queues key once d has passed.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, t)
		q.add(key)
	})
	q.timers[t] = struct{}{}
}

// When is the back-off before the next retry of key, counting this failure.
func (q *Queue) When(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.when(key)
}

func (q *Queue) when(key string) time.Duration {
	n := q.failures[key]
	q.failures[key] = n + 1
	d := q.baseDelay
	for i := 0; i < n && d < q.maxDelay; i++ {
		d *= 2
	}
	return min(d, q.maxDelay)
}

// AddRateLimited queues key again after its back-off.
func (q *Queue) AddRateLimited(key string) {
	q.AddAfter(key, q.When(key))
}

// Forget clears key's failure count: its next failure backs off from the start.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// NumRequeues is how many times key failed since it was last forgotten.
func (q *Queue) NumRequeues(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Get waits for a key and marks it being processed; shutdown is true once the queue is
// shut down (the queued keys are dropped).
func (q *Queue) Get() (key string, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", true
	}
	key, q.items = q.items[0], q.items[1:]
	delete(q.dirty, key)
	q.processing[key] = struct{}{}
	return key, false
}

// Done ends the processing of key; a key added meanwhile is queued now.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, ok := q.dirty[key]; ok && !q.shutdown {
		q.items = append(q.items, key)
		q.cond.Signal()
	}
}

// Len is the number of keys waiting for a worker.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// ShutDown wakes every waiting worker with shutdown and drops pending delayed adds.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for t := range q.timers {
		t.Stop()
	}
	clear(q.timers)
	q.cond.Broadcast()
}
