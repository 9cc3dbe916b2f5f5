package controllers

// The ReplicaSet reconcile keeps spec.replicas active pods: it claims matching orphans,
// releases pods that stop matching, creates at most BurstReplicas per sync, deletes
// surplus pods in Kubernetes' order, and counts ready and available pods.

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testRS(name string, replicas int32) *orchv1.ReplicaSet {
	return &orchv1.ReplicaSet{
		Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, Generation: 2},
		Spec: &orchv1.ReplicaSetSpec{
			Replicas: proto.Int32(replicas),
			Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: &orchv1.PodTemplateSpec{
				Metadata: &orchv1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

type podOpt func(*orchv1.Pod)

func testPod(name string, owner *orchv1.ReplicaSet, opts ...podOpt) *orchv1.Pod {
	p := &orchv1.Pod{
		Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name,
			Labels: map[string]string{"app": owner.GetMetadata().GetName(), "tier": "web"}, CreationTimestamp: timestamppb.New(t0)},
		Spec:   &orchv1.PodSpec{NodeName: "n1"},
		Status: &orchv1.PodStatus{Phase: api.PodRunning},
	}
	p.Metadata.OwnerReferences = []*orchv1.OwnerReference{newControllerRef(api.ReplicaSetKind, owner)}
	for _, o := range opts {
		o(p)
	}
	return p
}

func orphan(p *orchv1.Pod) { p.Metadata.OwnerReferences = nil }
func unscheduled(p *orchv1.Pod) {
	p.Spec.NodeName = ""
	p.Status.Phase = api.PodPending
}
func phase(ph string) podOpt { return func(p *orchv1.Pod) { p.Status.Phase = ph } }
func node(n string) podOpt   { return func(p *orchv1.Pod) { p.Spec.NodeName = n } }
func labelled(k, v string) podOpt {
	return func(p *orchv1.Pod) { p.Metadata.Labels[k] = v }
}
func created(d time.Duration) podOpt {
	return func(p *orchv1.Pod) { p.Metadata.CreationTimestamp = timestamppb.New(t0.Add(d)) }
}
func readySince(d time.Duration) podOpt {
	return func(p *orchv1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, &orchv1.PodCondition{Type: api.PodReady, Status: api.ConditionTrue,
			LastTransitionTime: timestamppb.New(t0.Add(d))})
	}
}
func deleting(p *orchv1.Pod) { p.Metadata.DeletionTimestamp = timestamppb.New(t0) }
func ownedBy(other string) podOpt {
	return func(p *orchv1.Pod) {
		p.Metadata.OwnerReferences = []*orchv1.OwnerReference{newControllerRef(api.ReplicaSetKind, testRS(other, 1))}
	}
}

func names(pods []*orchv1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.GetMetadata().GetName()
	}
	return out
}

func TestPlanReplicaSet(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 3)
	slow := testRS("web", 3)
	slow.Spec.MinReadySeconds = 10
	cases := []struct {
		name        string
		rs          *orchv1.ReplicaSet
		pods        []*orchv1.Pod
		blocked     bool // expectations not satisfied
		now         time.Duration
		create      int
		del         []string
		adopt       []string
		release     []string
		status      *orchv1.ReplicaSetStatus // nil: unchanged
		requeue     time.Duration
		wantNoWrite bool
	}{
		{name: "scale up from nothing", rs: rs, create: 3,
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2}},
		{name: "at most a burst per sync", rs: testRS("web", 700), create: BurstReplicas,
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2}},
		{name: "unobserved creations hold it back", rs: rs, blocked: true,
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2}},
		{name: "finished and terminating pods do not count", rs: rs, create: 2,
			pods: []*orchv1.Pod{testPod("a", rs, readySince(0)), testPod("f", rs, phase(api.PodFailed)),
				testPod("s", rs, phase(api.PodSucceeded)), testPod("d", rs, deleting)},
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}},
		{name: "surplus: unscheduled, then pending, then not ready, then newest", rs: testRS("web", 1),
			pods: []*orchv1.Pod{
				testPod("old-ready", rs, readySince(0), created(0)),
				testPod("new-ready", rs, readySince(0), created(time.Minute)),
				testPod("running-not-ready", rs, created(-time.Hour)),
				testPod("pending", rs, phase(api.PodPending), created(-time.Hour)),
				testPod("unscheduled", rs, unscheduled, created(-time.Hour)),
			},
			del:    []string{"unscheduled", "pending", "running-not-ready", "new-ready"},
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 5, FullyLabeledReplicas: 5, ReadyReplicas: 2, AvailableReplicas: 2}},
		{name: "surplus: ready for less time goes first", rs: testRS("web", 1),
			pods:   []*orchv1.Pod{testPod("long", rs, readySince(0)), testPod("short", rs, readySince(time.Minute))},
			del:    []string{"short"},
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}},
		{name: "surplus: doubled-up node goes first", rs: testRS("web", 2),
			pods: []*orchv1.Pod{testPod("alone", rs, node("n2"), readySince(0), created(time.Hour)),
				testPod("pair-1", rs, readySince(0)), testPod("pair-2", rs, readySince(0))},
			del:    []string{"pair-2"},
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}},
		{name: "adopt matching orphans, release non-matching, leave others' pods", rs: rs,
			pods: []*orchv1.Pod{
				testPod("mine", rs),
				testPod("orphan", rs, orphan),
				testPod("orphan-going", rs, orphan, deleting),
				testPod("moved", rs, labelled("app", "other")),
				testPod("theirs", rs, ownedBy("other"), labelled("app", "web")),
			},
			adopt: []string{"orphan"}, release: []string{"moved"}, create: 1,
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 2, FullyLabeledReplicas: 2}},
		{name: "not fully labelled", rs: testRS("web", 1),
			pods:   []*orchv1.Pod{testPod("a", rs, func(p *orchv1.Pod) { delete(p.Metadata.Labels, "tier") })},
			status: &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 1}},
		{name: "minReadySeconds: ready but not yet available, requeued for when it is", rs: slow, now: 4 * time.Second,
			pods:    []*orchv1.Pod{testPod("a", rs, readySince(0)), testPod("b", rs, readySince(-time.Minute)), testPod("c", rs)},
			status:  &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1},
			requeue: 7 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plan := planReplicaSet(rsInput{RS: tc.rs, Pods: tc.pods, Now: t0.Add(tc.now), NeedsSync: !tc.blocked})
			if plan.Create != tc.create {
				t.Errorf("create %d, want %d", plan.Create, tc.create)
			}
			if got := names(plan.Delete); !equalStrings(got, tc.del) {
				t.Errorf("delete %v, want %v", got, tc.del)
			}
			if got := names(plan.Adopt); !equalStrings(got, tc.adopt) {
				t.Errorf("adopt %v, want %v", got, tc.adopt)
			}
			for _, p := range plan.Adopt {
				if r := controllerRef(p); r == nil || r.GetUid() != tc.rs.GetMetadata().GetUid() || !r.GetBlockOwnerDeletion() {
					t.Errorf("adopted %s has controller ref %v", p.GetMetadata().GetName(), r)
				}
			}
			if got := names(plan.Release); !equalStrings(got, tc.release) {
				t.Errorf("release %v, want %v", got, tc.release)
			}
			for _, p := range plan.Release {
				if len(p.GetMetadata().GetOwnerReferences()) != 0 {
					t.Errorf("released %s still has owner refs", p.GetMetadata().GetName())
				}
			}
			if !proto.Equal(plan.Status, tc.status) {
				t.Errorf("status %v, want %v", plan.Status, tc.status)
			}
			if plan.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %v, want %v", plan.RequeueAfter, tc.requeue)
			}
		})
	}
}

func TestPlanReplicaSetNeverChangesItsInput(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 1)
	pods := []*orchv1.Pod{testPod("orphan", rs, orphan), testPod("moved", rs, labelled("app", "x"))}
	before := []*orchv1.Pod{proto.Clone(pods[0]).(*orchv1.Pod), proto.Clone(pods[1]).(*orchv1.Pod)}
	planReplicaSet(rsInput{RS: rs, Pods: pods, Now: t0, NeedsSync: true})
	for i := range pods {
		if !proto.Equal(pods[i], before[i]) {
			t.Fatalf("pod %d was modified in place (objects read from the store are constants)", i)
		}
	}
}

func TestPlanReplicaSetStatusUnchangedWritesNothing(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 1)
	rs.Status = &orchv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	plan := planReplicaSet(rsInput{RS: rs, Pods: []*orchv1.Pod{testPod("a", rs, readySince(0))}, Now: t0, NeedsSync: true})
	if plan.Status != nil || plan.Create != 0 || len(plan.Delete) != 0 {
		t.Fatalf("plan for a settled ReplicaSet: %+v", plan)
	}
}

func TestNewPodFromTemplate(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 1)
	p := newPodFromTemplate(rs)
	m := p.GetMetadata()
	if m.GetGenerateName() != "web-" || m.GetName() != "" || m.GetNamespace() != "default" {
		t.Fatalf("metadata %v: want generateName web- in default", m)
	}
	r := controllerRef(p)
	if r == nil || r.GetKind() != "ReplicaSet" || r.GetApiVersion() != "apps/v1" || r.GetUid() != "uid-web" || !r.GetBlockOwnerDeletion() {
		t.Fatalf("owner ref %v", r)
	}
	m.Labels["x"] = "y"
	if _, ok := rs.Spec.Template.Metadata.Labels["x"]; ok {
		t.Fatal("the pod shares its labels map with the template")
	}
}

func TestSlowStartBatch(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	n, err := slowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("all succeed: %d, %v, %d calls", n, err, calls.Load())
	}
	// Batches 1, 2, 4: the third call fails, so the batch of 4 is never started.
	calls.Store(0)
	n, err = slowStartBatch(10, 1, func() error {
		if calls.Add(1) == 3 {
			return errors.New("quota")
		}
		return nil
	})
	if err == nil || n != 2 || calls.Load() != 3 {
		t.Fatalf("failing: %d succeeded, err %v, %d calls; want 2 succeeded of 3 calls", n, err, calls.Load())
	}
}

func TestExpectations(t *testing.T) {
	t.Parallel()
	now := t0
	e := NewExpectations(func() time.Time { return now })
	if !e.Satisfied("rs") {
		t.Fatal("no expectations must be satisfied")
	}
	e.ExpectCreations("rs", 2)
	e.CreationObserved("rs")
	if e.Satisfied("rs") {
		t.Fatal("satisfied with one creation unseen")
	}
	e.CreationObserved("rs")
	if !e.Satisfied("rs") {
		t.Fatal("not satisfied after both creations seen")
	}
	e.ExpectDeletions("rs", []string{"default/a", "default/b"})
	e.DeletionObserved("rs", "default/a")
	e.DeletionObserved("rs", "default/a") // seen going, then gone: counts once
	if e.Satisfied("rs") {
		t.Fatal("satisfied with b's deletion unseen")
	}
	e.observeGone("rs", func(k string) bool { return k == "default/b" })
	if !e.Satisfied("rs") {
		t.Fatal("not satisfied after b found gone")
	}
	e.ExpectCreations("rs", 1)
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("rs") {
		t.Fatal("expired expectations must not block")
	}
}

// staticSource serves one fixed view: pods created through recordingWriter never show
// up in it, as with a feed that is slow to deliver them.
type staticSource struct{ v memView }

func (s staticSource) View() View { return s.v }
func (s staticSource) Watch(k *api.Kind) (View, Feed, error) {
	return s.v, &scriptFeed{block: true}, nil
}

type recordingWriter struct {
	mu              sync.Mutex
	creates, status int
	failCreates     bool
	lastStatus      api.Object
}

func (w *recordingWriter) Create(_ context.Context, k *api.Kind, o api.Object) (api.Object, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failCreates {
		return nil, errors.New("quota exceeded")
	}
	w.creates++
	return o, nil
}
func (w *recordingWriter) Update(_ context.Context, _ *api.Kind, o api.Object) (api.Object, error) {
	return o, nil
}
func (w *recordingWriter) UpdateStatus(_ context.Context, _ *api.Kind, o api.Object) (api.Object, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status++
	w.lastStatus = o
	return o, nil
}
func (w *recordingWriter) Delete(context.Context, *api.Kind, *orchv1.DeleteRequest) (api.Object, error) {
	return nil, nil
}
func (w *recordingWriter) Finalize(_ context.Context, ns *orchv1.Namespace) (api.Object, error) {
	return ns, nil
}

func TestReplicaSetSlowFeedNeverDoublesScaleUp(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 3)
	w := &recordingWriter{}
	c := NewReplicaSetController(Deps{Source: staticSource{memView{objs: []api.Object{rs}}}, Writer: w,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }})
	for range 3 {
		if _, err := c.Sync(context.Background(), "default/web"); err != nil {
			t.Fatal(err)
		}
	}
	if w.creates != 3 {
		t.Fatalf("%d pods created over 3 syncs whose view never shows them, want 3", w.creates)
	}
	// Once the pods are observed the ReplicaSet acts again.
	for range 3 {
		c.exp.CreationObserved("default/web")
	}
	if !c.exp.Satisfied("default/web") {
		t.Fatal("expectations not satisfied after observing the pods")
	}
}

func TestReplicaSetFailedCreatesDoNotBlock(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 3)
	w := &recordingWriter{failCreates: true}
	c := NewReplicaSetController(Deps{Source: staticSource{memView{objs: []api.Object{rs}}}, Writer: w,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }})
	if _, err := c.Sync(context.Background(), "default/web"); err == nil {
		t.Fatal("a failing create must fail the sync, to be retried")
	}
	if !c.exp.Satisfied("default/web") {
		t.Fatal("failed creations are still expected: the retry would wait for pods that never come")
	}
	st := w.lastStatus.(*orchv1.ReplicaSet).GetStatus()
	if len(st.GetConditions()) != 1 || st.Conditions[0].GetType() != ReplicaFailure || st.Conditions[0].GetReason() != "FailedCreate" ||
		!strings.Contains(st.Conditions[0].GetMessage(), "quota exceeded") {
		t.Fatalf("status conditions %v: want ReplicaFailure FailedCreate with the error", st.GetConditions())
	}
	// Once creating works again the condition goes.
	rs.Status = st
	w.failCreates = false
	if _, err := c.Sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(w.lastStatus.(*orchv1.ReplicaSet).GetStatus().GetConditions()); n != 0 {
		t.Fatalf("%d conditions after creates work again, want none", n)
	}
}
