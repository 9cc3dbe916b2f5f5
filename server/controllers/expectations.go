package controllers

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long a controller waits to observe the creations and
// deletions it made before it acts again anyway (kube-controller-manager's 5 minutes):
// a write whose outcome was lost must not block its owner forever.
const ExpectationsTimeout = 5 * time.Minute

// Expectations remember, per owner key, the pod creations and deletions a controller
// made and has not observed yet (kube-controller-manager's controller_utils.go). A
// ReplicaSet that created N pods waits to see them before it counts pods again, so a
// slow feed never doubles a scale-up. Deletions are tracked by pod key, so that a pod
// seen first going (deletionTimestamp) and then gone counts once.
type Expectations struct {
	mu  sync.Mutex
	m   map[string]*expectation
	now func() time.Time
}

type expectation struct {
	add  int
	del  map[string]struct{}
	when time.Time
}

// NewExpectations returns empty expectations on the clock now.
func NewExpectations(now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{m: map[string]*expectation{}, now: now}
}

// Satisfied reports whether the owner has observed everything it expected, or its
// expectations expired, or it has none.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.add <= 0 && len(x.del) == 0 {
		return true
	}
	return e.now().Sub(x.when) > ExpectationsTimeout
}

// ExpectCreations records that the owner is about to create n pods.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{add: n, del: map[string]struct{}{}, when: e.now()}
}

// ExpectDeletions records that the owner is about to delete the pods podKeys.
func (e *Expectations) ExpectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{del: make(map[string]struct{}, len(podKeys)), when: e.now()}
	for _, k := range podKeys {
		x.del[k] = struct{}{}
	}
	e.m[key] = x
}

// CreationObserved lowers the creations expected by one: a pod was seen, or a creation
// failed and will not be seen.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.add > 0 {
		x.add--
	}
}

// DeletionObserved marks the deletion of podKey seen (or failed).
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.del, podKey)
	}
}

// Delete forgets the owner (it was deleted).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// observeGone marks seen the expected deletions of the pods gone reports gone: a
// deletion event missed while a feed was lost must not hold the owner back.
func (e *Expectations) observeGone(key string, gone func(podKey string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		for k := range x.del {
			if gone(k) {
				delete(x.del, k)
			}
		}
	}
}

// Expect records that the owner is about to create n pods and delete the pods podKeys
// in one sync (a DaemonSet does both at once).
func (e *Expectations) Expect(key string, n int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{add: n, del: make(map[string]struct{}, len(podKeys)), when: e.now()}
	for _, k := range podKeys {
		x.del[k] = struct{}{}
	}
	e.m[key] = x
}
