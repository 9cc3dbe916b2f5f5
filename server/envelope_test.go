package server

// Envelopes make writes safe to retry and fence the leader's own writes: a request id
// is applied at most once (its outcome replayed, also after a snapshot restore, until it
// leaves the window), a command proposed in one term and committed in another changes
// nothing, and the API turns an outcome-unknown commit into a retry that gives the
// first outcome, never AlreadyExists or NotFound for its own write.

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/consensus"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func (f *testFSM) applyAt(term uint64, cmd []byte) *applyResult {
	f.t.Helper()
	f.index++
	r, _ := f.fsm.Apply(&raft.Log{Index: f.index, Term: term, Type: raft.LogCommand, Data: cmd}).(*applyResult)
	return r
}

func writeCmd(t *testing.T, ct CommandType, k *api.Kind, o api.Object) []byte {
	t.Helper()
	b, err := proto.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := encodeCommand(ct, &orchv1.WriteCommand{Kind: k.Name, Object: b})
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func wrap(t *testing.T, cmd []byte, term uint64, id string) []byte {
	t.Helper()
	e, err := encodeCommand(EnvelopeCommandType, &orchv1.CommandEnvelope{Term: term, RequestId: id, Command: cmd})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnvelopeFencesOtherTerms(t *testing.T) {
	f := newTestFSM(t)
	cmd := writeCmd(t, CreateCommand, api.ConfigMapKind, mockConfigMap("late"))
	r := f.applyAt(6, wrap(t, cmd, 5, "a"))
	if code(r.err) != connect.CodeFailedPrecondition {
		t.Fatalf("term-5 command in a term-6 entry: %v, want FailedPrecondition", r.err)
	}
	if f.get(api.ConfigMapKind, "default/late") != nil {
		t.Fatal("a fenced command wrote the object")
	}
	if r := f.applyAt(7, wrap(t, cmd, 7, "b")); r.err != nil || f.get(api.ConfigMapKind, "default/late") == nil {
		t.Fatalf("command of the entry's own term: %v", r.err)
	}
	if r := f.applyAt(7, wrap(t, writeCmd(t, CreateCommand, api.ConfigMapKind, mockConfigMap("any")), 0, "c")); r.err != nil {
		t.Fatalf("unfenced command: %v", r.err)
	}
}

func TestEnvelopeAppliesARequestOnce(t *testing.T) {
	f := newTestFSM(t)
	create := wrap(t, writeCmd(t, CreateCommand, api.ConfigMapKind, mockConfigMap("once")), 0, "req-create")
	for i := range 5 {
		r := f.applyAt(1, create)
		if r.err != nil || r.obj.GetMetadata().GetName() != "once" {
			t.Fatalf("attempt %d of one create: %v %v", i+1, r.obj, r.err)
		}
	}
	if got := f.get(api.ConfigMapKind, "default/once").GetMetadata().GetResourceVersion(); got != "2" {
		t.Errorf("resourceVersion %s: the create was applied more than once", got)
	}
	del, _ := encodeCommand(DeleteCommandType, &orchv1.DeleteCommand{Kind: api.ConfigMapKind.Name, Namespace: "default", Name: "once"})
	delEnv := wrap(t, del, 0, "req-delete")
	for i := range 3 {
		if r := f.applyAt(1, delEnv); r.err != nil {
			t.Fatalf("attempt %d of one delete: %v, want its first outcome (success)", i+1, r.err)
		}
	}
	// A failure is replayed as it was, even when the state has changed since.
	upd := mockConfigMap("later")
	upd.Metadata.ResourceVersion = "1"
	updEnv := wrap(t, writeCmd(t, UpdateCommand, api.ConfigMapKind, upd), 0, "req-update")
	first := f.applyAt(1, updEnv)
	if code(first.err) != connect.CodeNotFound {
		t.Fatalf("update of a missing object: %v", first.err)
	}
	f.create(api.ConfigMapKind, mockConfigMap("later"))
	if again := f.applyAt(1, updEnv); code(again.err) != connect.CodeNotFound || again.err.Error() != first.err.Error() {
		t.Fatalf("replayed failure: %v, want %v", again.err, first.err)
	}

	// The ids survive a snapshot and restore.
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, f.store.memdb().Txn(false)); err != nil {
		t.Fatal(err)
	}
	restored := newTestFSM(t)
	if err := restored.fsm.Restore(nopCloser{&buf}); err != nil {
		t.Fatal(err)
	}
	restored.index = f.index
	if r := restored.applyAt(1, create); r.err != nil {
		t.Fatalf("create replayed after restore: %v", r.err)
	}
	if restored.get(api.ConfigMapKind, "default/once") != nil {
		t.Fatal("after restore a repeated create was applied again")
	}

	// Past the window an id is forgotten: the same envelope is a new request.
	f.index += requestWindow + 10
	f.applyAt(1, wrap(t, writeCmd(t, CreateCommand, api.ConfigMapKind, mockConfigMap("tick")), 0, "req-tick"))
	if r := f.applyAt(1, create); r.err != nil || f.get(api.ConfigMapKind, "default/once") == nil {
		t.Fatalf("an id past the window was still remembered: %v", r.err)
	}
	if n := countRequests(f); n > 3 {
		t.Errorf("%d request ids kept after the window passed", n)
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func countRequests(f *testFSM) int {
	it, err := f.store.memdb().Txn(false).Get(tableRequests, "id")
	if err != nil {
		panic(err)
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

// lossyNode commits every command to a test FSM but reports the first commit of each as
// "leadership lost": the outcome a client cannot know.
type lossyNode struct {
	mu   sync.Mutex
	f    *testFSM
	seen map[string]bool
}

func (n *lossyNode) Apply(ctx context.Context, cmd []byte) (uint64, any, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.f.applyAt(1, cmd)
	if !n.seen[string(cmd)] {
		n.seen[string(cmd)] = true
		return n.f.index, r, raft.ErrLeadershipLost
	}
	return n.f.index, r, nil
}
func (n *lossyNode) IsLeader() bool                                  { return true }
func (n *lossyNode) Leader() (consensus.Member, bool)                { return consensus.Member{Leader: true}, true }
func (n *lossyNode) ReadIndex(context.Context) (uint64, error)       { return n.f.index, nil }
func (n *lossyNode) WaitApplied(ctx context.Context, i uint64) error { return nil }

func TestAPIRetriesOutcomeUnknownWritesOnce(t *testing.T) {
	f := newTestFSM(t)
	a := newAPI(f.store, f.hub, &lossyNode{f: f, seen: map[string]bool{}}, nil, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	out, err := a.Create(ctx, api.ConfigMapKind, &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: "c1", Namespace: "default"}})
	if err != nil || out.GetMetadata().GetName() != "c1" {
		t.Fatalf("create whose first commit reported leadership lost: %v %v, want the created object", out, err)
	}
	if _, err := a.Delete(ctx, api.ConfigMapKind, &orchv1.DeleteRequest{Namespace: "default", Name: "c1"}); err != nil {
		t.Fatalf("delete whose first commit reported leadership lost: %v, want success", err)
	}
	if f.get(api.ConfigMapKind, "default/c1") != nil {
		t.Fatal("object still there")
	}
}

func TestDeletePreconditionUID(t *testing.T) {
	f := newTestFSM(t)
	a := newAPI(f.store, f.hub, &lossyNode{f: f, seen: map[string]bool{}}, nil, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	f.create(api.PodKind, mockPod("p", ""))
	other := "u-old"
	_, err := a.Delete(ctx, api.PodKind, &orchv1.DeleteRequest{Namespace: "default", Name: "p", Preconditions: &orchv1.Preconditions{Uid: &other}})
	if code(err) != connect.CodeAborted || f.get(api.PodKind, "default/p") == nil {
		t.Fatalf("delete with another pod's uid: %v, want Aborted and the pod kept", err)
	}
	uid := "u-p"
	if _, err := a.Delete(ctx, api.PodKind, &orchv1.DeleteRequest{Namespace: "default", Name: "p", Preconditions: &orchv1.Preconditions{Uid: &uid}}); err != nil {
		t.Fatalf("delete with the pod's uid: %v", err)
	}
	if f.get(api.PodKind, "default/p") != nil {
		t.Fatal("pod not deleted")
	}
}

func TestFSMPodCIDRIsUnique(t *testing.T) {
	f := newTestFSM(t)
	n1 := readyNode("n1", "1", "1Gi")
	n1.Spec = &orchv1.NodeSpec{PodCidr: "10.244.0.0/24"}
	f.create(api.NodeKind, n1)
	n2 := readyNode("n2", "1", "1Gi")
	n2.Spec = &orchv1.NodeSpec{PodCidr: "10.244.0.0/24"}
	if _, err := f.write(CreateCommand, api.NodeKind, n2); code(err) != connect.CodeAborted {
		t.Fatalf("second node with the same pod CIDR: %v, want Aborted", err)
	}
	n2.Spec.PodCidr = "10.244.1.0/24"
	f.create(api.NodeKind, n2)
	again := proto.Clone(f.get(api.NodeKind, "n2")).(*orchv1.Node)
	again.Spec.PodCidr = "10.244.0.0/24"
	if _, err := f.write(UpdateCommand, api.NodeKind, again); code(err) != connect.CodeAborted {
		t.Fatalf("update to a held pod CIDR: %v, want Aborted", err)
	}
}
