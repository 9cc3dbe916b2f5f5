package server

// These tests pin the FSM's contract: every command type, conflicts decided inside the
// FSM, snapshot → restore gives identical state, and the watch history's "too old".

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

type testFSM struct {
	t     testing.TB
	fsm   *FSM
	store *Store
	hub   *Hub
	index uint64
}

func newTestFSM(t testing.TB) *testFSM {
	t.Helper()
	store, hub := NewStore(), NewHub(16, 0)
	f := &testFSM{t: t, fsm: NewFSM(store, hub, slog.New(slog.DiscardHandler)), store: store, hub: hub}
	f.create(api.NamespaceKind, &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: "default"}})
	return f
}

func (f *testFSM) apply(t CommandType, payload proto.Message) *applyResult {
	f.t.Helper()
	cmd, err := encodeCommand(t, payload)
	if err != nil {
		f.t.Fatal(err)
	}
	f.index++
	r, _ := f.fsm.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: cmd}).(*applyResult)
	return r
}

func (f *testFSM) write(t CommandType, k *api.Kind, o api.Object) (api.Object, error) {
	f.t.Helper()
	b, err := proto.Marshal(o)
	if err != nil {
		f.t.Fatal(err)
	}
	r := f.apply(t, &orchv1.WriteCommand{Kind: k.Name, Object: b})
	return r.obj, r.err
}

func (f *testFSM) create(k *api.Kind, o api.Object) api.Object {
	f.t.Helper()
	out, err := f.write(CreateCommand, k, o)
	if err != nil {
		f.t.Fatalf("create %s: %v", k.Name, err)
	}
	return out
}

func (f *testFSM) delete(k *api.Kind, ns, name string, grace *int64) (api.Object, error) {
	f.t.Helper()
	r := f.apply(DeleteCommandType, &orchv1.DeleteCommand{Kind: k.Name, Namespace: ns, Name: name,
		GracePeriodSeconds: grace, Now: timestamppb.New(time.Unix(1700000000, 0))})
	return r.obj, r.err
}

func (f *testFSM) get(k *api.Kind, key string) api.Object {
	o, _ := f.store.View().Get(k, key)
	return o
}

func mockConfigMap(name string) *orchv1.ConfigMap {
	return &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default", Uid: "u-" + name}, Data: map[string]string{"k": "v"}}
}

func mockPod(name, node string) *orchv1.Pod {
	return &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default", Uid: "u-" + name},
		Spec: &orchv1.PodSpec{NodeName: node, Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}}}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func TestFSMCreate(t *testing.T) {
	f := newTestFSM(t)
	out := f.create(api.ConfigMapKind, mockConfigMap("a"))
	if got := out.GetMetadata().GetResourceVersion(); got != "2" {
		t.Errorf("resourceVersion = %q, want the Raft index 2", got)
	}
	if out.GetMetadata().GetGeneration() != 1 {
		t.Errorf("generation = %d, want 1", out.GetMetadata().GetGeneration())
	}
	if _, err := f.write(CreateCommand, api.ConfigMapKind, mockConfigMap("a")); code(err) != connect.CodeAlreadyExists {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	cm := mockConfigMap("b")
	cm.Metadata.Namespace = "nope"
	if _, err := f.write(CreateCommand, api.ConfigMapKind, cm); code(err) != connect.CodeNotFound {
		t.Errorf("create in missing namespace: %v, want NotFound", err)
	}
}

func TestFSMUpdateConflictAndGeneration(t *testing.T) {
	f := newTestFSM(t)
	dep := &orchv1.Deployment{Metadata: &orchv1.ObjectMeta{Name: "web", Namespace: "default", Uid: "u1"},
		Spec: &orchv1.DeploymentSpec{Replicas: proto.Int32(1)}}
	created := f.create(api.DeploymentKind, dep)
	rv := created.GetMetadata().GetResourceVersion()

	// A label change is metadata: no generation bump.
	next := proto.Clone(created).(*orchv1.Deployment)
	next.Metadata.Labels = map[string]string{"a": "b"}
	out, err := f.write(UpdateCommand, api.DeploymentKind, next)
	if err != nil {
		t.Fatal(err)
	}
	if g := out.GetMetadata().GetGeneration(); g != 1 {
		t.Errorf("generation after label change = %d, want 1", g)
	}
	// A stale resourceVersion is refused by the FSM.
	stale := proto.Clone(next).(*orchv1.Deployment)
	stale.Metadata.ResourceVersion = rv
	stale.Spec.Replicas = proto.Int32(5)
	if _, err := f.write(UpdateCommand, api.DeploymentKind, stale); code(err) != connect.CodeAborted {
		t.Fatalf("stale update: %v, want Aborted", err)
	}
	if got := f.get(api.DeploymentKind, "default/web").(*orchv1.Deployment).GetSpec().GetReplicas(); got != 1 {
		t.Errorf("stale update wrote replicas=%d", got)
	}
	// A spec change bumps generation; the status sent along is ignored.
	cur := proto.Clone(out).(*orchv1.Deployment)
	cur.Spec.Replicas = proto.Int32(3)
	cur.Status = &orchv1.DeploymentStatus{Replicas: 9}
	out, err = f.write(UpdateCommand, api.DeploymentKind, cur)
	if err != nil {
		t.Fatal(err)
	}
	d := out.(*orchv1.Deployment)
	if d.GetMetadata().GetGeneration() != 2 || d.GetStatus().GetReplicas() != 0 || d.GetMetadata().GetUid() != "u1" {
		t.Errorf("after spec update: generation %d status.replicas %d uid %q; want 2, 0, u1",
			d.GetMetadata().GetGeneration(), d.GetStatus().GetReplicas(), d.GetMetadata().GetUid())
	}
	// An update that changes nothing writes nothing.
	before := f.hub.LastIndex()
	same, err := f.write(UpdateCommand, api.DeploymentKind, proto.Clone(d).(api.Object))
	if err != nil || same.GetMetadata().GetResourceVersion() != d.GetMetadata().GetResourceVersion() {
		t.Errorf("no-op update: rv %q err %v, want unchanged rv %q", same.GetMetadata().GetResourceVersion(), err, d.GetMetadata().GetResourceVersion())
	}
	_ = before
}

func TestFSMUpdateStatusKeepsSpec(t *testing.T) {
	f := newTestFSM(t)
	created := f.create(api.PodKind, mockPod("p", ""))
	st := proto.Clone(created).(*orchv1.Pod)
	st.Spec.Containers[0].Image = "evil"
	st.Status = &orchv1.PodStatus{Phase: "Running"}
	out, err := f.write(UpdateStatusCommand, api.PodKind, st)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*orchv1.Pod)
	if p.GetStatus().GetPhase() != "Running" || p.GetSpec().GetContainers()[0].GetImage() != "busybox" || p.GetMetadata().GetGeneration() != 1 {
		t.Errorf("status update: phase %q image %q generation %d", p.GetStatus().GetPhase(), p.GetSpec().GetContainers()[0].GetImage(), p.GetMetadata().GetGeneration())
	}
}

func TestFSMDelete(t *testing.T) {
	f := newTestFSM(t)
	f.create(api.ConfigMapKind, mockConfigMap("a"))
	if _, err := f.delete(api.ConfigMapKind, "default", "a", nil); err != nil {
		t.Fatal(err)
	}
	if f.get(api.ConfigMapKind, "default/a") != nil {
		t.Error("configmap still there after delete")
	}
	if _, err := f.delete(api.ConfigMapKind, "default", "a", nil); code(err) != connect.CodeNotFound {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

func TestFSMFinalizers(t *testing.T) {
	f := newTestFSM(t)
	cm := mockConfigMap("a")
	cm.Metadata.Finalizers = []string{"example.com/hold"}
	f.create(api.ConfigMapKind, cm)
	out, err := f.delete(api.ConfigMapKind, "default", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.GetMetadata().GetDeletionTimestamp() == nil || f.get(api.ConfigMapKind, "default/a") == nil {
		t.Fatal("object with a finalizer must stay, marked for deletion")
	}
	next := proto.Clone(f.get(api.ConfigMapKind, "default/a")).(*orchv1.ConfigMap)
	next.Metadata.Finalizers = nil
	if _, err := f.write(UpdateCommand, api.ConfigMapKind, next); err != nil {
		t.Fatal(err)
	}
	if f.get(api.ConfigMapKind, "default/a") != nil {
		t.Error("object still there after its last finalizer was removed")
	}
}

func TestFSMGracefulPodDeletion(t *testing.T) {
	f := newTestFSM(t)
	f.create(api.NodeKind, &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: "n1"}})
	f.create(api.PodKind, mockPod("bound", "n1"))
	f.create(api.PodKind, mockPod("unbound", ""))
	f.create(api.PodKind, mockPod("orphan", "gone-node"))

	for _, name := range []string{"unbound", "orphan"} {
		if _, err := f.delete(api.PodKind, "default", name, nil); err != nil {
			t.Fatal(err)
		}
		if f.get(api.PodKind, "default/"+name) != nil {
			t.Errorf("pod %s with no live node must go at once", name)
		}
	}
	out, err := f.delete(api.PodKind, "default", "bound", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := out.GetMetadata()
	if m.GetDeletionGracePeriodSeconds() != 30 || m.GetDeletionTimestamp().AsTime() != time.Unix(1700000030, 0).UTC() {
		t.Fatalf("bound pod: grace %d deletionTimestamp %v, want 30s after now", m.GetDeletionGracePeriodSeconds(), m.GetDeletionTimestamp().AsTime())
	}
	if f.get(api.PodKind, "default/bound") == nil {
		t.Fatal("pod bound to a live node must wait for the node")
	}
	// The node confirms with grace 0.
	if _, err := f.delete(api.PodKind, "default", "bound", proto.Int64(0)); err != nil {
		t.Fatal(err)
	}
	if f.get(api.PodKind, "default/bound") != nil {
		t.Error("pod still there after its node confirmed")
	}
	// A node that goes away releases the pods waiting for it.
	f.create(api.PodKind, mockPod("b2", "n1"))
	f.delete(api.PodKind, "default", "b2", nil)
	if _, err := f.delete(api.NodeKind, "", "n1", nil); err != nil {
		t.Fatal(err)
	}
	if f.get(api.PodKind, "default/b2") != nil {
		t.Error("pod waiting for a deleted node must go")
	}
}

func TestFSMNamespaceDeletionWaitsForItsFinalizer(t *testing.T) {
	f := newTestFSM(t)
	ns := &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: "team"}}
	prepareNamespaceCreate(ns)
	f.create(api.NamespaceKind, ns)
	cm := mockConfigMap("a")
	cm.Metadata.Namespace = "team"
	f.create(api.ConfigMapKind, cm)
	out, err := f.delete(api.NamespaceKind, "", "team", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*orchv1.Namespace)
	if got.GetStatus().GetPhase() != api.NamespaceTerminating || got.GetMetadata().GetDeletionTimestamp() == nil {
		t.Fatalf("deleted namespace: phase %q deletionTimestamp %v, want Terminating and set", got.GetStatus().GetPhase(), got.GetMetadata().GetDeletionTimestamp())
	}
	// The content is the namespace controller's to delete, through normal deletes.
	if f.get(api.ConfigMapKind, "team/a") == nil || f.get(api.NamespaceKind, "team") == nil {
		t.Fatal("the FSM must not delete a namespace's content itself")
	}
	late := mockConfigMap("b")
	late.Metadata.Namespace = "team"
	_, err = f.write(CreateCommand, api.ConfigMapKind, late)
	if code(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "unable to create new content in namespace team because it is being terminated") {
		t.Fatalf("create in a terminating namespace: %v, want Forbidden", err)
	}
	// An update cannot drop spec.finalizers; finalize can.
	upd := proto.Clone(f.get(api.NamespaceKind, "team")).(*orchv1.Namespace)
	upd.Spec.Finalizers = nil
	if _, err := f.write(UpdateCommand, api.NamespaceKind, upd); err != nil {
		t.Fatal(err)
	}
	if f.get(api.NamespaceKind, "team") == nil {
		t.Fatal("an update removed the namespace's kubernetes finalizer")
	}
	if _, err := f.delete(api.ConfigMapKind, "team", "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.write(FinalizeCommand, api.NamespaceKind, upd); err != nil {
		t.Fatal(err)
	}
	if f.get(api.NamespaceKind, "team") != nil {
		t.Error("namespace still there after finalize cleared spec.finalizers")
	}
}

// Delete with a propagation policy sets the garbage collector's finalizer and the
// object waits for it; Background and no policy remove at once.
func TestFSMDeletePropagationFinalizers(t *testing.T) {
	cases := []struct {
		policy string
		have   []string
		want   []string // nil: removed at once
	}{
		{policy: "", want: nil},
		{policy: api.DeletePropagationBackground, want: nil},
		{policy: api.DeletePropagationForeground, want: []string{api.FinalizerDeleteDependents}},
		{policy: api.DeletePropagationOrphan, want: []string{api.FinalizerOrphanDependents}},
		{policy: api.DeletePropagationOrphan, have: []string{"example.com/x"}, want: []string{"example.com/x", api.FinalizerOrphanDependents}},
	}
	for _, tc := range cases {
		t.Run(tc.policy+strings.Join(tc.have, ","), func(t *testing.T) {
			f := newTestFSM(t)
			c := mockConfigMap("a")
			c.Metadata.Finalizers = tc.have
			f.create(api.ConfigMapKind, c)
			r := f.apply(DeleteCommandType, &orchv1.DeleteCommand{Kind: api.ConfigMapKind.Name, Namespace: "default", Name: "a",
				PropagationPolicy: tc.policy, Now: timestamppb.New(time.Unix(1700000000, 0))})
			if r.err != nil {
				t.Fatal(r.err)
			}
			cur := f.get(api.ConfigMapKind, "default/a")
			if tc.want == nil {
				if cur != nil {
					t.Fatalf("still there with finalizers %v", cur.GetMetadata().GetFinalizers())
				}
				return
			}
			if cur == nil || cur.GetMetadata().GetDeletionTimestamp() == nil || cur.GetMetadata().GetDeletionGracePeriodSeconds() != 0 {
				t.Fatalf("want the object marked for deletion, got %v", cur)
			}
			if got := cur.GetMetadata().GetFinalizers(); !slices.Equal(got, tc.want) {
				t.Fatalf("finalizers %v, want %v", got, tc.want)
			}
			next := proto.Clone(cur).(*orchv1.ConfigMap)
			next.Metadata.Finalizers = append(next.Metadata.Finalizers, "example.com/late")
			if _, err := f.write(UpdateCommand, api.ConfigMapKind, next); code(err) != connect.CodeInvalidArgument ||
				!strings.Contains(err.Error(), "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted") {
				t.Fatalf("adding a finalizer while deleting: %v, want Forbidden", err)
			}
		})
	}
}

func TestDeletionFinalizers(t *testing.T) {
	t.Parallel()
	o, fg, x := api.FinalizerOrphanDependents, api.FinalizerDeleteDependents, "example.com/x"
	cases := []struct {
		cur    []string
		policy string
		want   []string
	}{
		{nil, "", nil},
		{[]string{fg}, "", []string{fg}},
		{[]string{o, x}, "", []string{o, x}},
		{[]string{fg, x}, api.DeletePropagationBackground, []string{x}},
		{[]string{fg}, api.DeletePropagationOrphan, []string{o}},
		{[]string{x, o}, api.DeletePropagationForeground, []string{x, fg}},
		{[]string{o}, api.DeletePropagationOrphan, []string{o}},
	}
	for _, tc := range cases {
		if got := deletionFinalizers(tc.cur, tc.policy); !slices.Equal(got, tc.want) {
			t.Errorf("deletionFinalizers(%v, %q) = %v, want %v", tc.cur, tc.policy, got, tc.want)
		}
	}
}

func TestFSMSnapshotRestoreIdentical(t *testing.T) {
	f := newTestFSM(t)
	for _, n := range []string{"a", "b", "c"} {
		f.create(api.ConfigMapKind, mockConfigMap(n))
	}
	f.create(api.PodKind, mockPod("p", ""))
	snap, err := f.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, snap.(*fsmSnapshot).txn); err != nil {
		t.Fatal(err)
	}
	g := newTestFSM(t)
	if err := g.fsm.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	for _, k := range api.Kinds {
		a, b := f.store.View().List(k, ""), g.store.View().List(k, "")
		if len(a) != len(b) {
			t.Fatalf("%s: %d objects before, %d after restore", k.Name, len(a), len(b))
		}
		for i := range a {
			if !proto.Equal(a[i], b[i]) {
				t.Errorf("%s %d differs after restore", k.Name, i)
			}
		}
	}
	if f.store.View().Index() != g.store.View().Index() {
		t.Errorf("index %d before, %d after restore", f.store.View().Index(), g.store.View().Index())
	}
	// A watch from before the restored index is too old; from it, fine.
	if _, err := g.hub.Subscribe(api.ConfigMapKind, 1); !errors.Is(err, ErrTooOld) {
		t.Errorf("watch from before restore: %v, want too old", err)
	}
	// A corrupt snapshot is reported, not half-applied.
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)-3] ^= 0xff
	bad = append(bad, 9, 9)
	if err := g.fsm.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Error("corrupt snapshot restored without error")
	}
}

func TestHubHistoryAndTooOld(t *testing.T) {
	f := newTestFSM(t) // history of 16 events
	first := f.hub.LastIndex()
	sub, err := f.hub.Subscribe(api.ConfigMapKind, first)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		f.create(api.ConfigMapKind, mockConfigMap(string(rune('a'+i))))
	}
	for i := range 20 {
		select {
		case e := <-sub.C:
			if e.Type != api.Added || e.Index != first+uint64(i)+1 {
				t.Fatalf("event %d: %s at %d", i, e.Type, e.Index)
			}
		case <-time.After(time.Second):
			t.Fatalf("event %d missing", i)
		}
	}
	if _, err := f.hub.Subscribe(api.ConfigMapKind, first); !errors.Is(err, ErrTooOld) {
		t.Errorf("subscribe from %d after 20 events in a history of 16: %v, want too old", first, err)
	}
	late, err := f.hub.Subscribe(api.ConfigMapKind, f.hub.LastIndex()-5)
	if err != nil {
		t.Fatal(err)
	}
	if len(late.C) != 5 {
		t.Errorf("replayed %d events, want 5", len(late.C))
	}
}

func TestFSMUnknownCommand(t *testing.T) {
	f := newTestFSM(t)
	f.index++
	if r := f.fsm.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: []byte{byte(IgnorableCommandFlag | 77)}}); r != (*applyResult)(nil) && r != nil {
		t.Errorf("ignorable unknown command returned %v", r)
	}
	defer func() {
		if recover() == nil {
			t.Error("unknown command without the ignorable bit must panic")
		}
	}()
	f.index++
	f.fsm.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: []byte{77}})
}

func TestFSMKnownCommandWithIgnorableBitIsApplied(t *testing.T) {
	f := newTestFSM(t)
	b, _ := proto.Marshal(mockConfigMap("flagged"))
	cmd, err := encodeCommand(CreateCommand|IgnorableCommandFlag, &orchv1.WriteCommand{Kind: api.ConfigMapKind.Name, Object: b})
	if err != nil {
		t.Fatal(err)
	}
	f.index++
	f.fsm.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: cmd})
	if f.get(api.ConfigMapKind, "default/flagged") == nil {
		t.Fatal("a known command with the ignorable bit set was skipped")
	}
}
