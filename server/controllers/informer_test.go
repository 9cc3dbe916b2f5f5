package controllers

// An informer delivers every object it lists, then each change, and lists again when its
// feed is lost, so a change missed meanwhile still reaches the handlers.

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// memView is a View over a fixed set of objects.
type memView struct{ objs []api.Object }

func (v memView) Index() uint64 { return 1 }
func (v memView) Get(k *api.Kind, key string) (api.Object, bool) {
	for _, o := range v.objs {
		if kk, _ := api.KindOf(o); kk == k && api.ObjectKey(o) == key {
			return o, true
		}
	}
	return nil, false
}
func (v memView) List(k *api.Kind, ns string) []api.Object {
	var out []api.Object
	for _, o := range v.objs {
		if kk, _ := api.KindOf(o); kk == k && (ns == "" || o.GetMetadata().GetNamespace() == ns) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return api.ObjectKey(out[i]) < api.ObjectKey(out[j]) })
	return out
}
func (v memView) Owned(k *api.Kind, uid string) []api.Object {
	var out []api.Object
	for _, o := range v.List(k, "") {
		for _, r := range o.GetMetadata().GetOwnerReferences() {
			if r.GetUid() == uid {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func (v memView) PodsOnNode(node string) []api.Object {
	var out []api.Object
	for _, o := range v.List(api.PodKind, "") {
		if o.(*orchv1.Pod).GetSpec().GetNodeName() == node {
			out = append(out, o)
		}
	}
	return out
}

// scriptedSource hands out one (view, events) pair per Watch; each feed ends with an
// error once its events are delivered.
type scriptedSource struct {
	mu      sync.Mutex
	rounds  []scriptRound
	watches int
}

type scriptRound struct {
	view   memView
	events []Event
}

func (s *scriptedSource) View() View { return memView{} }
func (s *scriptedSource) Watch(k *api.Kind) (View, Feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watches++
	if len(s.rounds) == 0 {
		return memView{}, &scriptFeed{block: true}, nil
	}
	r := s.rounds[0]
	s.rounds = s.rounds[1:]
	return r.view, &scriptFeed{events: r.events}, nil
}

type scriptFeed struct {
	events []Event
	block  bool
}

func (f *scriptFeed) Next(ctx context.Context) (Event, error) {
	if len(f.events) > 0 {
		e := f.events[0]
		f.events = f.events[1:]
		return e, nil
	}
	if f.block {
		<-ctx.Done()
		return Event{}, ctx.Err()
	}
	return Event{}, errors.New("fell behind")
}
func (f *scriptFeed) Close() {}

func cmObj(name string) *orchv1.ConfigMap {
	return &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name}}
}

func TestInformerListsAgainAfterLostFeed(t *testing.T) {
	t.Parallel()
	src := &scriptedSource{rounds: []scriptRound{
		{view: memView{objs: []api.Object{cmObj("a")}}, events: []Event{{Type: api.Added, Obj: cmObj("b")}}},
		// The second listing holds "c", created while no feed was open.
		{view: memView{objs: []api.Object{cmObj("a"), cmObj("b"), cmObj("c")}}},
	}}
	inf := newInformers(src, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var seen []string
	inf.On(api.ConfigMapKind, func(e Event) {
		mu.Lock()
		seen = append(seen, e.Type+" "+e.Obj.GetMetadata().GetName())
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	inf.start(ctx, &wg)
	if !inf.waitSynced(ctx) {
		t.Fatal("not synced")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	want := []string{"ADDED a", "ADDED b", "ADDED a", "ADDED b", "ADDED c"}
	if !equalStrings(seen, want) {
		t.Fatalf("handlers saw %v, want %v", seen, want)
	}
}
