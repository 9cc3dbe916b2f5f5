package server

// These tests pin the watch stream's contract through the API over a real FSM and hub:
// a watch with a selector sees objects enter its set as ADDED and leave it as DELETED,
// a watch never repeats or skips a change however its start races the writes, the
// history is bounded in bytes, and a resourceVersion from the future fails after a
// bounded wait instead of hanging.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/consensus"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// fakeRaft commits every command at once into the FSM, one index per command: a
// single master that always leads.
type fakeRaft struct {
	mu    sync.Mutex
	fsm   *FSM
	index uint64
}

func (f *fakeRaft) Apply(_ context.Context, cmd []byte) (uint64, any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	return f.index, f.fsm.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: cmd}), nil
}

func (f *fakeRaft) IsLeader() bool                   { return true }
func (f *fakeRaft) Leader() (consensus.Member, bool) { return consensus.Member{Name: "test"}, true }

func (f *fakeRaft) ReadIndex(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index, nil
}

// WaitApplied: Apply returns once the FSM has applied, so every read index is applied.
func (f *fakeRaft) WaitApplied(context.Context, uint64) error { return nil }

type testAPI struct {
	*API
	store *Store
	hub   *Hub
	raft  *fakeRaft
}

func newTestAPI(t testing.TB, historyBytes int64) *testAPI {
	t.Helper()
	store, hub := NewStore(), NewHub(10_000, historyBytes)
	log := slog.New(slog.DiscardHandler)
	fr := &fakeRaft{fsm: NewFSM(store, hub, log)}
	a := newAPI(store, hub, fr, nil, nil, log)
	a.BookmarkInterval = time.Hour
	ta := &testAPI{API: a, store: store, hub: hub, raft: fr}
	ta.mustCreate(t, api.NamespaceKind, &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: "default"}})
	return ta
}

func (ta *testAPI) mustCreate(t testing.TB, k *api.Kind, o api.Object) api.Object {
	t.Helper()
	out, err := ta.Create(context.Background(), k, o)
	if err != nil {
		t.Fatalf("create %s %s: %v", k.Name, o.GetMetadata().GetName(), err)
	}
	return out
}

func (ta *testAPI) mustUpdate(t testing.TB, k *api.Kind, o api.Object) api.Object {
	t.Helper()
	out, err := ta.Update(context.Background(), k, o)
	if err != nil {
		t.Fatalf("update %s %s: %v", k.Name, o.GetMetadata().GetName(), err)
	}
	return out
}

// bind places a pod as the scheduler does.
func (ta *testAPI) bind(t testing.TB, p api.Object, node string) {
	t.Helper()
	m := p.GetMetadata()
	cmd, err := encodeCommand(BindCommandType, &orchv1.BindCommand{Now: timestamppb.Now(), Bindings: []*orchv1.Binding{
		{Namespace: m.GetNamespace(), Name: m.GetName(), Uid: m.GetUid(), NodeName: node}}})
	if err != nil {
		t.Fatal(err)
	}
	_, r, _ := ta.raft.Apply(context.Background(), cmd)
	if n := r.(*applyResult).bound; n != 1 {
		t.Fatalf("bind %s to %s: %d bound", m.GetName(), node, n)
	}
}

type watchEvent struct {
	typ string
	obj api.Object
}

type testWatch struct {
	events chan watchEvent
	done   chan error
}

// watch runs a watch until the test ends, delivering its events, bookmarks included.
func (ta *testAPI) watch(t testing.TB, k *api.Kind, r *orchv1.WatchRequest) *testWatch {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &testWatch{events: make(chan watchEvent, 1000), done: make(chan error, 1)}
	go func() {
		w.done <- ta.Watch(ctx, k, r, func(m proto.Message) error {
			typ, o := api.EventParts(m)
			w.events <- watchEvent{typ, o}
			return nil
		})
	}()
	return w
}

// next returns the next event that is not a bookmark.
func (w *testWatch) next(t testing.TB) watchEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-w.events:
			if e.typ != api.Bookmark {
				return e
			}
		case err := <-w.done:
			t.Fatalf("watch ended: %v", err)
		case <-timeout:
			t.Fatal("no watch event within 5s")
		}
	}
}

func (w *testWatch) expect(t testing.TB, what, typ, name, rv string) api.Object {
	t.Helper()
	e := w.next(t)
	if e.typ != typ || e.obj.GetMetadata().GetName() != name || e.obj.GetMetadata().GetResourceVersion() != rv {
		t.Fatalf("%s: got %s %s at %s, want %s %s at %s", what, e.typ, e.obj.GetMetadata().GetName(),
			e.obj.GetMetadata().GetResourceVersion(), typ, name, rv)
	}
	return e.obj
}

func labeledPod(name string, labels map[string]string) *orchv1.Pod {
	p := mockPod(name, "")
	p.Metadata.Uid = ""
	p.Metadata.Labels = labels
	return p
}

// A watch with a selector follows the set of objects the selector picks: MODIFIED only
// while an object stays in it, ADDED when it enters, DELETED when it leaves (with the
// content it had in the set, at the resourceVersion of the change), as Kubernetes'
// watch cache does. A node's agent watching spec.nodeName so learns of a pod bound to
// it as ADDED.
func TestWatchSelectorEntersAndLeaves(t *testing.T) {
	ta := newTestAPI(t, 0)
	p := ta.mustCreate(t, api.PodKind, labeledPod("web", map[string]string{"app": "web"})).(*orchv1.Pod)
	byLabel := ta.watch(t, api.PodKind, &orchv1.WatchRequest{LabelSelector: "app=web"})
	byNode := ta.watch(t, api.PodKind, &orchv1.WatchRequest{FieldSelector: "spec.nodeName=n1"})
	running := ta.watch(t, api.PodKind, &orchv1.WatchRequest{FieldSelector: "status.phase=Running"})
	other := ta.watch(t, api.PodKind, &orchv1.WatchRequest{LabelSelector: "app=other"})
	all := ta.watch(t, api.PodKind, &orchv1.WatchRequest{})
	rv := p.GetMetadata().GetResourceVersion()
	byLabel.expect(t, "initial state", api.Added, "web", rv)
	all.expect(t, "initial state", api.Added, "web", rv)

	ta.bind(t, p, "n1")
	bound, _ := ta.store.View().Get(api.PodKind, "default/web")
	rv = bound.GetMetadata().GetResourceVersion()
	byNode.expect(t, "bound to the watched node", api.Added, "web", rv)
	byLabel.expect(t, "bound, labels unchanged", api.Modified, "web", rv)
	all.expect(t, "bound", api.Modified, "web", rv)

	relabeled := proto.Clone(bound).(*orchv1.Pod)
	relabeled.Metadata.Labels = map[string]string{"app": "db"}
	out := ta.mustUpdate(t, api.PodKind, relabeled)
	rv = out.GetMetadata().GetResourceVersion()
	gone := byLabel.expect(t, "label no longer matches", api.Deleted, "web", rv)
	if l := gone.GetMetadata().GetLabels()["app"]; l != "web" {
		t.Errorf("DELETED for leaving the selector carries app=%q, want the content it matched with (app=web)", l)
	}
	byNode.expect(t, "relabeled, still on n1", api.Modified, "web", rv)
	all.expect(t, "relabeled", api.Modified, "web", rv)

	back := proto.Clone(out).(*orchv1.Pod)
	back.Metadata.Labels = map[string]string{"app": "web"}
	out = ta.mustUpdate(t, api.PodKind, back)
	rv = out.GetMetadata().GetResourceVersion()
	byLabel.expect(t, "label matches again", api.Added, "web", rv)
	all.expect(t, "relabeled back", api.Modified, "web", rv)
	byNode.expect(t, "relabeled back, still on n1", api.Modified, "web", rv)

	for _, phase := range []string{"Running", "Succeeded"} {
		st := proto.Clone(out).(*orchv1.Pod)
		st.Status = &orchv1.PodStatus{Phase: phase}
		var err error
		if out, err = ta.UpdateStatus(context.Background(), api.PodKind, st); err != nil {
			t.Fatal(err)
		}
		rv = out.GetMetadata().GetResourceVersion()
		want := api.Added
		if phase != "Running" {
			want = api.Deleted
		}
		running.expect(t, "status.phase "+phase, want, "web", rv)
		byLabel.expect(t, "status.phase "+phase, api.Modified, "web", rv)
		byNode.expect(t, "status.phase "+phase, api.Modified, "web", rv)
		all.expect(t, "status.phase "+phase, api.Modified, "web", rv)
	}

	if _, err := ta.Delete(context.Background(), api.PodKind, &orchv1.DeleteRequest{Namespace: "default", Name: "web"}); err != nil {
		t.Fatal(err)
	}
	rv = strconv.FormatUint(ta.hub.LastIndex(), 10)
	byLabel.expect(t, "deleted", api.Deleted, "web", rv)
	byNode.expect(t, "deleted", api.Deleted, "web", rv)
	all.expect(t, "deleted", api.Deleted, "web", rv)

	// A watch whose selector never matched saw none of it.
	z := ta.mustCreate(t, api.PodKind, labeledPod("z", map[string]string{"app": "other"}))
	other.expect(t, "first match", api.Added, "z", z.GetMetadata().GetResourceVersion())
}

var errWatchDone = errors.New("seen enough")

// Watches started while writes go on, from "now" and from a resourceVersion, each see
// every change after their start exactly once: the store commits before the hub
// publishes, and no interleaving of the two may show a change twice or never.
func TestWatchStartRacesWrites(t *testing.T) {
	for round := 0; round < 10 && !t.Failed(); round++ {
		raceWatchStarts(t, newTestAPI(t, 0), 400)
	}
}

func raceWatchStarts(t *testing.T, ta *testAPI, writes int) {
	rvs := make([]uint64, writes)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range writes {
			out, err := ta.Create(context.Background(), api.ConfigMapKind, cm(fmt.Sprintf("cm-%03d", i), nil))
			if err != nil {
				t.Errorf("create cm-%03d: %v", i, err)
				return
			}
			rvs[i], _ = strconv.ParseUint(out.GetMetadata().GetResourceVersion(), 10, 64)
		}
	}()
	type result struct {
		from    uint64 // 0: a watch from now
		initial int    // ADDED events before the opening bookmark
		seen    map[string]int
		indexes []uint64
		err     error
	}
	var (
		mu      sync.Mutex
		results []*result
		wg      sync.WaitGroup
	)
	// Every watch ends at a last write made once no more watches start.
	const last = "end"
	start := func(from uint64) {
		defer wg.Done()
		r := &result{from: from, seen: map[string]int{}}
		req := &orchv1.WatchRequest{Namespace: "default"}
		if from > 0 {
			req.ResourceVersion = strconv.FormatUint(from, 10)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		opened := false
		err := ta.Watch(ctx, api.ConfigMapKind, req, func(m proto.Message) error {
			typ, o := api.EventParts(m)
			if typ == api.Bookmark {
				opened = true
				return nil
			}
			if !opened {
				r.initial++
			} else {
				i, _ := strconv.ParseUint(o.GetMetadata().GetResourceVersion(), 10, 64)
				r.indexes = append(r.indexes, i)
			}
			r.seen[o.GetMetadata().GetName()]++
			if o.GetMetadata().GetName() == last {
				return errWatchDone
			}
			return nil
		})
		if !errors.Is(err, errWatchDone) {
			r.err = fmt.Errorf("watch ended with %v before seeing %s", err, last)
		}
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	for n := 0; ; n++ {
		select {
		case <-writerDone:
		default:
			wg.Add(1)
			if n%2 == 0 {
				go start(0)
			} else {
				go start(ta.hub.LastIndex())
			}
			time.Sleep(time.Duration(n%3) * 100 * time.Microsecond)
			continue
		}
		break
	}
	ta.mustCreate(t, api.ConfigMapKind, cm(last, nil))
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("watch from %d: %v", r.from, r.err)
			continue
		}
		for i, name := range rvsNames(writes) {
			want := 1
			if r.from > 0 && rvs[i] <= r.from {
				want = 0
			}
			if got := r.seen[name]; got != want {
				t.Errorf("watch from %d (%d listed): %s (index %d) seen %d times, want %d", r.from, r.initial, name, rvs[i], got, want)
			}
		}
		if r.from > 0 && r.initial > 0 {
			t.Errorf("watch from %d sent %d events before its opening bookmark", r.from, r.initial)
		}
		for i, idx := range r.indexes {
			if (r.from > 0 && idx <= r.from) || (i > 0 && idx <= r.indexes[i-1]) {
				t.Errorf("watch from %d: event %d at index %d out of order (after %v)", r.from, i, idx, r.indexes[:i])
				break
			}
		}
	}
}

func rvsNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cm-%03d", i)
	}
	return out
}

// The history is bounded in bytes as well as in count: many updates of a large object
// do not pin each version on every master; a watch from a dropped version relists.
func TestWatchHistoryBoundedInBytes(t *testing.T) {
	const budget = 4 << 20
	ta := newTestAPI(t, budget)
	big := cm("big", map[string]string{"v": strings.Repeat("x", 256<<10)})
	cur := ta.mustCreate(t, api.ConfigMapKind, big)
	first := cur.GetMetadata().GetResourceVersion()
	var rvs []string
	for i := range 64 {
		next := proto.Clone(cur).(*orchv1.ConfigMap)
		next.Data["v"] = strings.Repeat(string(rune('a'+i%26)), 256<<10)
		cur = ta.mustUpdate(t, api.ConfigMapKind, next)
		rvs = append(rvs, cur.GetMetadata().GetResourceVersion())
	}
	ta.hub.mu.Lock()
	held, events := ta.hub.bytes, ta.hub.size
	ta.hub.mu.Unlock()
	if held > budget {
		t.Errorf("history holds %d bytes in %d events, budget %d", held, events, budget)
	}
	if events < 2 {
		t.Errorf("history keeps %d events of a %d-byte budget", events, budget)
	}

	old := ta.watch(t, api.ConfigMapKind, &orchv1.WatchRequest{ResourceVersion: first})
	select {
	case err := <-old.done:
		if code(err) != connect.CodeOutOfRange || !strings.Contains(err.Error(), "too old") {
			t.Errorf("watch from the dropped %s: %v, want OutOfRange too old", first, err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("watch from %s, dropped from a %d-byte history, did not fail", first, budget)
	}
	recent := ta.watch(t, api.ConfigMapKind, &orchv1.WatchRequest{ResourceVersion: rvs[len(rvs)-3]})
	recent.expect(t, "recent history", api.Modified, "big", rvs[len(rvs)-2])
	recent.expect(t, "recent history", api.Modified, "big", rvs[len(rvs)-1])
}

// A resourceVersion this master has not reached is waited for, briefly: a lagging
// master that catches up serves the watch; one that does not fails it with OutOfRange
// ("Too large resource version", as Kubernetes says) so that the client lists again.
func TestWatchFutureResourceVersion(t *testing.T) {
	defer func(d time.Duration) { tooLargeWait = d }(tooLargeWait)
	tooLargeWait = 500 * time.Millisecond
	ta := newTestAPI(t, 0)
	now := ta.hub.LastIndex()

	far := ta.watch(t, api.ConfigMapKind, &orchv1.WatchRequest{ResourceVersion: strconv.FormatUint(now+1000, 10)})
	began := time.Now()
	select {
	case err := <-far.done:
		if code(err) != connect.CodeOutOfRange || !strings.Contains(err.Error(), "Too large resource version") {
			t.Errorf("watch from %d at %d: %v, want OutOfRange Too large resource version", now+1000, now, err)
		}
		if d := time.Since(began); d < tooLargeWait/2 {
			t.Errorf("failed after %v, before waiting for the store to catch up", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("watch from %d, far ahead of %d, still open after 5s", now+1000, now)
	}

	// Two writes ahead: the watch waits for them, then sends only what comes after.
	near := ta.watch(t, api.ConfigMapKind, &orchv1.WatchRequest{ResourceVersion: strconv.FormatUint(now+2, 10)})
	time.Sleep(tooLargeWait / 5)
	ta.mustCreate(t, api.ConfigMapKind, cm("a", nil))
	ta.mustCreate(t, api.ConfigMapKind, cm("b", nil))
	c := ta.mustCreate(t, api.ConfigMapKind, cm("c", nil))
	near.expect(t, "first change after the future resourceVersion", api.Added, "c", c.GetMetadata().GetResourceVersion())
}

// A subscription from "now" never fails, even when one batch alone overflows the
// history (a namespace of large objects deleted at one index).
func TestHubSubscribeNowAfterOverflowingBatch(t *testing.T) {
	hub := NewHub(4, 0)
	var batch []Event
	for i := range 10 {
		batch = append(batch, Event{Index: 7, Kind: api.ConfigMapKind, Type: api.Deleted, Obj: cm(fmt.Sprint(i), nil)})
	}
	hub.publish(batch, 7)
	if _, err := hub.Subscribe(api.ConfigMapKind, hub.LastIndex()-1); !errors.Is(err, ErrTooOld) {
		t.Fatalf("subscribe from before the batch: %v, want too old", err)
	}
	s := hub.SubscribeNow(api.ConfigMapKind)
	hub.publish([]Event{{Index: 8, Kind: api.ConfigMapKind, Type: api.Added, Obj: cm("x", nil)}}, 8)
	if e := <-s.C; e.Index != 8 {
		t.Errorf("first event at %d, want 8", e.Index)
	}
}
