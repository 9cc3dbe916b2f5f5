package controllers

// The work queue hands each key to one worker at a time, queues a key once however
// often it is added, and backs failing keys off exponentially.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueDeduplicates(t *testing.T) {
	t.Parallel()
	q := NewQueue(0, 0)
	for _, k := range []string{"a", "b", "a", "a", "c", "b"} {
		q.Add(k)
	}
	if n := q.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	var got []string
	for range 3 {
		k, _ := q.Get()
		got = append(got, k)
		q.Done(k)
	}
	if want := []string{"a", "b", "c"}; !equalStrings(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestQueueKeyAddedWhileProcessingWaitsForDone(t *testing.T) {
	t.Parallel()
	q := NewQueue(0, 0)
	q.Add("a")
	k, _ := q.Get()
	q.Add("a")
	q.Add("a")
	if n := q.Len(); n != 0 {
		t.Fatalf("Len while processing = %d, want 0 (a key is never handed out twice at once)", n)
	}
	q.Done(k)
	if n := q.Len(); n != 1 {
		t.Fatalf("Len after Done = %d, want 1", n)
	}
}

func TestQueueNeverProcessesOneKeyConcurrently(t *testing.T) {
	t.Parallel()
	q := NewQueue(0, 0)
	var active [4]atomic.Int32
	var overlaps, processed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, stop := q.Get()
				if stop {
					return
				}
				i := int(k[0] - 'a')
				if active[i].Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(200 * time.Microsecond)
				active[i].Add(-1)
				processed.Add(1)
				q.Done(k)
			}
		}()
	}
	for i := range 2000 {
		q.Add(string(rune('a' + i%4)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	q.ShutDown()
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("a key was processed by two workers at once %d times", n)
	}
	if processed.Load() == 0 {
		t.Fatal("nothing processed")
	}
}

func TestQueueBackoff(t *testing.T) {
	t.Parallel()
	q := NewQueue(10*time.Millisecond, 75*time.Millisecond)
	want := []time.Duration{10, 20, 40, 75, 75}
	for i, w := range want {
		if d := q.When("k"); d != w*time.Millisecond {
			t.Fatalf("failure %d: back-off %v, want %v", i+1, d, w*time.Millisecond)
		}
	}
	if n := q.NumRequeues("k"); n != 5 {
		t.Fatalf("NumRequeues = %d, want 5", n)
	}
	if d := q.When("other"); d != 10*time.Millisecond {
		t.Fatalf("another key's back-off %v, want its own start", d)
	}
	q.Forget("k")
	if d := q.When("k"); d != 10*time.Millisecond {
		t.Fatalf("after Forget: back-off %v, want 10ms", d)
	}
}

func TestQueueAddRateLimitedWaits(t *testing.T) {
	t.Parallel()
	q := NewQueue(30*time.Millisecond, time.Second)
	start := time.Now()
	q.AddRateLimited("k")
	if q.Len() != 0 {
		t.Fatal("rate-limited key queued at once")
	}
	k, _ := q.Get()
	if k != "k" {
		t.Fatalf("got %q", k)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("key came back after %v, before its 30ms back-off", el)
	}
}

func TestQueueShutDownWakesWorkers(t *testing.T) {
	t.Parallel()
	q := NewQueue(0, 0)
	done := make(chan bool)
	go func() { _, stop := q.Get(); done <- stop }()
	time.Sleep(5 * time.Millisecond)
	q.AddAfter("late", time.Hour)
	q.ShutDown()
	select {
	case stop := <-done:
		if !stop {
			t.Fatal("Get after ShutDown did not report shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ShutDown did not wake a waiting worker")
	}
	q.Add("x")
	if q.Len() != 0 {
		t.Fatal("Add after ShutDown queued a key")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
