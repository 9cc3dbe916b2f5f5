package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// CommandType is the first byte of every Raft log entry. The numbers are stored on disk:
// never renumber, never reuse.
type CommandType byte

const (
	CreateCommand       CommandType = 1
	UpdateCommand       CommandType = 2
	UpdateStatusCommand CommandType = 3
	DeleteCommandType   CommandType = 4
	BindCommandType     CommandType = 5
	EnvelopeCommandType CommandType = 6
	FinalizeCommand     CommandType = 7 // a namespace's spec.finalizers

	// IgnorableCommandFlag marks a command an older FSM may skip instead of panicking on.
	IgnorableCommandFlag CommandType = 128
)

// Snapshot record types, stored on disk: explicit numbers.
const (
	snapshotObjectRecord  byte = 1
	snapshotIndexRecord   byte = 2
	snapshotRequestRecord byte = 3
)

// encodeCommand frames a command as a Raft log entry.
func encodeCommand(t CommandType, payload proto.Message) ([]byte, error) {
	b, err := proto.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", t, err)
	}
	return append([]byte{byte(t)}, b...), nil
}

// applyResult is what the FSM returns for one command.
type applyResult struct {
	kind  *api.Kind
	obj   api.Object
	err   error
	bound int // bind commands: how many pods were bound
}

// FSM applies committed Raft entries to the store and feeds the watch hub. It is
// deterministic: no clocks, no randomness; everything it needs is in the entry.
type FSM struct {
	store *Store
	hub   *Hub
	log   *slog.Logger
}

// NewFSM returns an FSM writing to store and publishing to hub.
func NewFSM(store *Store, hub *Hub, log *slog.Logger) *FSM {
	return &FSM{store: store, hub: hub, log: log.With("component", "fsm")}
}

var _ raft.BatchingFSM = (*FSM)(nil)

// Apply applies one entry.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in one store transaction.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	results := make([]any, len(logs))
	if len(logs) == 0 {
		return results
	}
	txn := f.store.memdb().Txn(true)
	w := &fsmTxn{txn: txn}
	for i, l := range logs {
		w.index, w.term = l.Index, l.Term
		if l.Type != raft.LogCommand || len(l.Data) == 0 {
			continue
		}
		results[i] = w.apply(l.Data)
	}
	last := logs[len(logs)-1].Index
	w.forgetRequests(last)
	if err := txn.Insert(tableIndex, &indexRecord{Name: indexKey, Index: last}); err != nil {
		panic(fmt.Sprintf("fsm: write index: %v", err))
	}
	txn.Commit()
	f.hub.publish(w.events, last)
	return results
}

// fsmTxn is one batch being applied.
type fsmTxn struct {
	txn    *memdb.Txn
	index  uint64
	term   uint64 // of the entry being applied
	events []Event
}

func (w *fsmTxn) apply(data []byte) *applyResult {
	t, payload := CommandType(data[0])&^IgnorableCommandFlag, data[1:]
	ignorable := CommandType(data[0])&IgnorableCommandFlag != 0
	switch t {
	case CreateCommand:
		return w.applyWrite(payload, w.create)
	case UpdateCommand:
		return w.applyWrite(payload, w.update)
	case UpdateStatusCommand:
		return w.applyWrite(payload, w.updateStatus)
	case FinalizeCommand:
		return w.applyWrite(payload, w.finalize)
	case DeleteCommandType:
		var c orchv1.DeleteCommand
		mustUnmarshal(payload, &c, t)
		k := mustKind(c.GetKind())
		obj, err := w.delete(k, &c)
		return &applyResult{kind: k, obj: obj, err: err}
	case BindCommandType:
		var c orchv1.BindCommand
		mustUnmarshal(payload, &c, t)
		return w.bind(&c)
	case EnvelopeCommandType:
		return w.applyEnvelope(payload)
	}
	if ignorable {
		return nil
	}
	panic(fmt.Sprintf("fsm: unknown command type %d at index %d", t, w.index))
}

func (w *fsmTxn) applyWrite(payload []byte, fn func(*api.Kind, api.Object) (api.Object, error)) *applyResult {
	var c orchv1.WriteCommand
	mustUnmarshal(payload, &c, 0)
	k := mustKind(c.GetKind())
	obj := k.New()
	mustUnmarshal(c.GetObject(), obj, 0)
	out, err := fn(k, obj)
	return &applyResult{kind: k, obj: out, err: err}
}

// checkCommand decodes a command the way the FSM will, without applying it, so that a
// command that would make the FSM panic never reaches the log (forwarded commands are
// checked on the leader before they are proposed).
func checkCommand(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty command")
	}
	t, payload := CommandType(data[0])&^IgnorableCommandFlag, data[1:]
	switch t {
	case CreateCommand, UpdateCommand, UpdateStatusCommand, FinalizeCommand:
		var c orchv1.WriteCommand
		if err := proto.Unmarshal(payload, &c); err != nil {
			return fmt.Errorf("command %d: %w", t, err)
		}
		k, err := api.LookupAPI("", c.GetKind())
		if err != nil {
			return fmt.Errorf("command %d: %w", t, err)
		}
		if err := proto.Unmarshal(c.GetObject(), k.New()); err != nil {
			return fmt.Errorf("command %d: %s: %w", t, k.Name, err)
		}
	case DeleteCommandType:
		var c orchv1.DeleteCommand
		if err := proto.Unmarshal(payload, &c); err != nil {
			return fmt.Errorf("command %d: %w", t, err)
		}
		if _, err := api.LookupAPI("", c.GetKind()); err != nil {
			return fmt.Errorf("command %d: %w", t, err)
		}
	case BindCommandType:
		if err := proto.Unmarshal(payload, &orchv1.BindCommand{}); err != nil {
			return fmt.Errorf("command %d: %w", t, err)
		}
	case EnvelopeCommandType:
		return checkEnvelope(payload)
	default:
		return fmt.Errorf("unknown command type %d", data[0])
	}
	return nil
}

// A payload that does not decode breaks determinism: it is a bug, never user input.
func mustUnmarshal(b []byte, m proto.Message, t CommandType) {
	if err := proto.Unmarshal(b, m); err != nil {
		panic(fmt.Sprintf("fsm: decode command %d payload: %v", t, err))
	}
}

func mustKind(name string) *api.Kind {
	k, err := api.LookupAPI("", name)
	if err != nil {
		panic(fmt.Sprintf("fsm: %v", err))
	}
	return k
}

func (w *fsmTxn) get(k *api.Kind, key string) (api.Object, bool) { return get(w.txn, k, key) }

func (w *fsmTxn) put(k *api.Kind, typ string, o api.Object) {
	prev, _ := w.get(k, api.ObjectKey(o))
	api.Meta(o).ResourceVersion = strconv.FormatUint(w.index, 10)
	if err := w.txn.Insert(k.Name, newRecord(o)); err != nil {
		panic(fmt.Sprintf("fsm: insert %s: %v", k.Name, err))
	}
	w.events = append(w.events, Event{Index: w.index, Kind: k, Type: typ, Obj: o, Prev: prev})
}

func (w *fsmTxn) remove(k *api.Kind, o api.Object) {
	if _, err := w.txn.DeleteAll(k.Name, "id", api.ObjectKey(o)); err != nil {
		panic(fmt.Sprintf("fsm: delete %s: %v", k.Name, err))
	}
	gone := proto.Clone(o).(api.Object)
	api.Meta(gone).ResourceVersion = strconv.FormatUint(w.index, 10)
	w.events = append(w.events, Event{Index: w.index, Kind: k, Type: api.Deleted, Obj: gone})
	if k == api.NodeKind {
		w.forgetNode(o.GetMetadata().GetName())
	}
}

func notFound(k *api.Kind, name string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("%s %q not found", k.Plural, name))
}

func conflict(k *api.Kind, name string) error {
	return connect.NewError(connect.CodeAborted, fmt.Errorf(
		"operation cannot be fulfilled on %s %q: the object has been modified; apply your changes to the latest version and try again", k.Plural, name))
}

// checkNamespace refuses an object created in a namespace that does not exist or is
// being terminated, as Kubernetes' NamespaceLifecycle admission does.
func (w *fsmTxn) checkNamespace(k *api.Kind, name, ns string) error {
	o, ok := w.get(api.NamespaceKind, ns)
	if !ok {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("namespaces %q not found", ns))
	}
	if o.GetMetadata().GetDeletionTimestamp() != nil || o.(*orchv1.Namespace).GetStatus().GetPhase() == api.NamespaceTerminating {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s %q is forbidden: "+api.NamespaceForbiddenTerminatingMessageFormat, k.Plural, name, ns))
	}
	return nil
}

func (w *fsmTxn) create(k *api.Kind, o api.Object) (api.Object, error) {
	m := api.Meta(o)
	if _, exists := w.get(k, api.ObjectKey(o)); exists {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("%s %q already exists", k.Plural, m.GetName()))
	}
	if k.Namespaced {
		if err := w.checkNamespace(k, m.GetName(), m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if m.Generation == 0 {
		m.Generation = 1
	}
	if err := checkObjectSize(k, o); err != nil {
		return nil, err
	}
	if err := w.checkPodCIDR(k, o); err != nil {
		return nil, err
	}
	w.put(k, api.Added, o)
	return o, nil
}

// checkPodCIDR refuses a node whose pod CIDR another node holds: the leader allocates
// them, and uniqueness is decided here so that two leaders (one deposed) cannot hand out
// the same block.
func (w *fsmTxn) checkPodCIDR(k *api.Kind, o api.Object) error {
	n, ok := o.(*orchv1.Node)
	if !ok || n.GetSpec().GetPodCidr() == "" {
		return nil
	}
	cidr, name := n.GetSpec().GetPodCidr(), n.GetMetadata().GetName()
	if cur, ok := w.get(k, name); ok && cur.(*orchv1.Node).GetSpec().GetPodCidr() == cidr {
		return nil
	}
	for _, other := range list(w.txn, api.NodeKind, "", "") {
		if other.GetMetadata().GetName() != name && other.(*orchv1.Node).GetSpec().GetPodCidr() == cidr {
			return connect.NewError(connect.CodeAborted, fmt.Errorf("nodes %q: spec.podCIDR %s is already assigned to node %q", name, cidr, other.GetMetadata().GetName()))
		}
	}
	return nil
}

func (w *fsmTxn) current(k *api.Kind, o api.Object) (api.Object, error) {
	m := o.GetMetadata()
	cur, ok := w.get(k, api.ObjectKey(o))
	if !ok {
		return nil, notFound(k, m.GetName())
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != cur.GetMetadata().GetResourceVersion() {
		return nil, conflict(k, m.GetName())
	}
	return cur, nil
}

// update replaces everything but status and the server-owned metadata. A change of
// anything but metadata bumps metadata.generation. An update that changes nothing
// writes nothing.
func (w *fsmTxn) update(k *api.Kind, o api.Object) (api.Object, error) {
	cur, err := w.current(k, o)
	if err != nil {
		return nil, err
	}
	if err := validationError(k, validateUpdate(o, cur)); err != nil {
		return nil, err
	}
	m, cm := api.Meta(o), cur.GetMetadata()
	m.Uid, m.CreationTimestamp = cm.GetUid(), cm.GetCreationTimestamp()
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = cm.GetDeletionTimestamp(), cm.DeletionGracePeriodSeconds
	m.Generation = cm.GetGeneration()
	if k.HasStatus {
		api.CopyField(o, cur, "status")
	}
	if ns, ok := o.(*orchv1.Namespace); ok {
		// spec.finalizers change only through the finalize subresource.
		if ns.Spec == nil {
			ns.Spec = &orchv1.NamespaceSpec{}
		}
		ns.Spec.Finalizers = cur.(*orchv1.Namespace).GetSpec().GetFinalizers()
	}
	if !proto.Equal(api.Body(o), api.Body(cur)) {
		m.Generation++
	}
	if err := checkObjectSize(k, o); err != nil {
		return nil, err
	}
	if err := w.checkPodCIDR(k, o); err != nil {
		return nil, err
	}
	return w.replace(k, cur, o), nil
}

func (w *fsmTxn) updateStatus(k *api.Kind, o api.Object) (api.Object, error) {
	cur, err := w.current(k, o)
	if err != nil {
		return nil, err
	}
	next := proto.Clone(cur).(api.Object)
	api.CopyField(next, o, "status")
	if err := checkObjectSize(k, next); err != nil {
		return nil, err
	}
	return w.replace(k, cur, next), nil
}

// finalize replaces a namespace's spec.finalizers only.
func (w *fsmTxn) finalize(k *api.Kind, o api.Object) (api.Object, error) {
	ns, ok := o.(*orchv1.Namespace)
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s have no finalize subresource", k.Plural))
	}
	cur, err := w.current(k, o)
	if err != nil {
		return nil, err
	}
	next := proto.Clone(cur).(*orchv1.Namespace)
	if next.Spec == nil {
		next.Spec = &orchv1.NamespaceSpec{}
	}
	next.Spec.Finalizers = ns.GetSpec().GetFinalizers()
	return w.replace(k, cur, next), nil
}

// replace writes next over cur unless they are equal, then removes the object if its
// deletion has nothing left to wait for.
func (w *fsmTxn) replace(k *api.Kind, cur, next api.Object) api.Object {
	api.Meta(next).ResourceVersion = cur.GetMetadata().GetResourceVersion()
	if proto.Equal(cur, next) {
		return cur
	}
	w.put(k, api.Modified, next)
	if deletable(next) {
		w.remove(k, next)
	}
	return next
}

// deletable: marked for deletion, no finalizers left (a namespace's spec.finalizers
// too), and no node still stopping it.
func deletable(o api.Object) bool {
	m := o.GetMetadata()
	return m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && m.GetDeletionGracePeriodSeconds() == 0 && !heldBySpec(o)
}

// heldBySpec: a namespace whose spec.finalizers (the namespace controller's) remain.
func heldBySpec(o api.Object) bool {
	ns, ok := o.(*orchv1.Namespace)
	return ok && len(ns.GetSpec().GetFinalizers()) > 0
}

// deletionFinalizers are the finalizers an object has once a delete with policy is
// applied, as Kubernetes' deletionFinalizersForGarbageCollection decides them: Orphan and
// Foreground set their finalizer and drop the other's, Background drops both, and a
// request that names no policy leaves them as they are.
func deletionFinalizers(cur []string, policy string) []string {
	if policy == "" {
		return cur
	}
	var out []string
	for _, f := range cur {
		if f != api.FinalizerOrphanDependents && f != api.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	switch policy {
	case api.DeletePropagationOrphan:
		out = append(out, api.FinalizerOrphanDependents)
	case api.DeletePropagationForeground:
		out = append(out, api.FinalizerDeleteDependents)
	}
	return out
}

func (w *fsmTxn) delete(k *api.Kind, c *orchv1.DeleteCommand) (api.Object, error) {
	cur, ok := w.get(k, api.Key(c.GetNamespace(), c.GetName()))
	if !ok {
		return nil, notFound(k, c.GetName())
	}
	if rv := c.GetResourceVersion(); rv != "" && rv != cur.GetMetadata().GetResourceVersion() {
		return nil, conflict(k, c.GetName())
	}
	if uid := c.GetUid(); uid != "" && uid != cur.GetMetadata().GetUid() {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf(
			"precondition failed for %s %q: uid in precondition %s, uid in object meta %s", k.Plural, c.GetName(), uid, cur.GetMetadata().GetUid()))
	}
	return w.deleteObject(k, cur, c), nil
}

// deleteObject removes the object at once when nothing holds it; otherwise it marks it
// with a deletionTimestamp (now plus the grace period a pod's node has to stop it) and
// the finalizers of the propagation policy, and it goes when the last holder lets go.
// A namespace becomes Terminating and waits for the namespace controller's finalizer.
func (w *fsmTxn) deleteObject(k *api.Kind, cur api.Object, c *orchv1.DeleteCommand) api.Object {
	m := cur.GetMetadata()
	now := c.GetNow().AsTime()
	grace := int64(0)
	if p, ok := cur.(*orchv1.Pod); ok && w.podNeedsNode(p) {
		grace = api.PodGracePeriodSeconds(p)
		if c.GracePeriodSeconds != nil {
			grace = max(c.GetGracePeriodSeconds(), 0)
		}
	}
	finalizers := deletionFinalizers(m.GetFinalizers(), c.GetPropagationPolicy())
	if grace == 0 && len(finalizers) == 0 && !heldBySpec(cur) {
		w.remove(k, cur)
		return cur
	}
	next := proto.Clone(cur).(api.Object)
	nm := api.Meta(next)
	nm.Finalizers = finalizers
	// A deletion already under way is only ever made faster.
	if nm.DeletionTimestamp == nil || grace < nm.GetDeletionGracePeriodSeconds() {
		nm.DeletionTimestamp = timestamppb.New(now.Add(time.Duration(grace) * time.Second))
		nm.DeletionGracePeriodSeconds = &grace
	}
	if ns, ok := next.(*orchv1.Namespace); ok {
		if ns.Status == nil {
			ns.Status = &orchv1.NamespaceStatus{}
		}
		ns.Status.Phase = api.NamespaceTerminating
	}
	return w.replace(k, cur, next)
}

// podNeedsNode: a pod bound to a live node goes only once its node has stopped it.
func (w *fsmTxn) podNeedsNode(p *orchv1.Pod) bool {
	node := p.GetSpec().GetNodeName()
	if node == "" {
		return false
	}
	if api.PodTerminal(p) {
		return false
	}
	_, ok := w.get(api.NodeKind, node)
	return ok
}

// forgetNode removes pods that were waiting for a deleted node to stop them.
func (w *fsmTxn) forgetNode(node string) {
	for _, o := range list(w.txn, api.PodKind, "node", node) {
		if o.GetMetadata().GetDeletionTimestamp() == nil {
			continue
		}
		next := proto.Clone(o).(api.Object)
		zero := int64(0)
		api.Meta(next).DeletionGracePeriodSeconds = &zero
		w.replace(api.PodKind, o, next)
	}
}

// bind places pending pods on nodes. A binding whose pod is gone, was replaced (other
// uid), is already bound or is being deleted is skipped: the scheduler sees it next pass.
func (w *fsmTxn) bind(c *orchv1.BindCommand) *applyResult {
	bound := 0
	for _, b := range c.GetBindings() {
		cur, ok := w.get(api.PodKind, api.Key(b.GetNamespace(), b.GetName()))
		if !ok {
			continue
		}
		p := cur.(*orchv1.Pod)
		if p.GetMetadata().GetUid() != b.GetUid() || p.GetSpec().GetNodeName() != "" || p.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		next := proto.Clone(p).(*orchv1.Pod)
		if next.Spec == nil {
			next.Spec = &orchv1.PodSpec{}
		}
		next.Spec.NodeName = b.GetNodeName()
		if next.Status == nil {
			next.Status = &orchv1.PodStatus{}
		}
		setPodCondition(next.Status, &orchv1.PodCondition{Type: "PodScheduled", Status: "True", LastTransitionTime: c.GetNow()})
		w.replace(api.PodKind, p, next)
		bound++
	}
	return &applyResult{kind: api.PodKind, obj: nil, err: nil, bound: bound}
}

// setPodCondition replaces the condition of the same type, keeping its transition time
// when the status does not change.
func setPodCondition(st *orchv1.PodStatus, c *orchv1.PodCondition) {
	for i, old := range st.Conditions {
		if old.GetType() == c.GetType() {
			if old.GetStatus() == c.GetStatus() {
				c.LastTransitionTime = old.GetLastTransitionTime()
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// Snapshot captures the store as of now; Persist writes it out.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{txn: f.store.memdb().Txn(false)}, nil
}

type fsmSnapshot struct{ txn *memdb.Txn }

// Snapshot format: a sequence of records, each a type byte, a uvarint length and a
// protobuf (SnapshotRecord) or, for the index record, a uvarint.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.txn); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

func writeSnapshot(out io.Writer, txn *memdb.Txn) error {
	w := bufio.NewWriterSize(out, 256<<10)
	var lenBuf [binary.MaxVarintLen64]byte
	writeRecord := func(t byte, b []byte) error {
		if err := w.WriteByte(t); err != nil {
			return err
		}
		n := binary.PutUvarint(lenBuf[:], uint64(len(b)))
		if len(b) > maxSnapshotRecord {
			return fmt.Errorf("snapshot record of %s over the %s limit", humanBytes(len(b)), humanBytes(maxSnapshotRecord))
		}
		if _, err := w.Write(lenBuf[:n]); err != nil {
			return err
		}
		_, err := w.Write(b)
		return err
	}
	idx := binary.AppendUvarint(nil, readIndex(txn))
	if err := writeRecord(snapshotIndexRecord, idx); err != nil {
		return err
	}
	for _, k := range api.Kinds {
		for _, o := range list(txn, k, "", "") {
			ob, err := proto.Marshal(o)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", k.Name, err)
			}
			rb, err := proto.Marshal(&orchv1.SnapshotRecord{Kind: k.Name, Object: ob})
			if err != nil {
				return err
			}
			if err := writeRecord(snapshotObjectRecord, rb); err != nil {
				return err
			}
		}
	}
	it, err := txn.Get(tableRequests, "index")
	if err != nil {
		return err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		rb, err := proto.Marshal(raw.(*orchv1.RequestRecord))
		if err != nil {
			return err
		}
		if err := writeRecord(snapshotRequestRecord, rb); err != nil {
			return err
		}
	}
	return w.Flush()
}

// Restore replaces the store with a snapshot's contents.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, index, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	f.store.swap(db)
	f.hub.reset(index)
	f.log.Info("restored state from snapshot", "index", index)
	return nil
}

// ErrCorruptSnapshot reports a snapshot that does not decode.
var ErrCorruptSnapshot = errors.New("corrupt snapshot")

func readSnapshot(in io.Reader) (*memdb.MemDB, uint64, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, 0, err
	}
	r := bufio.NewReaderSize(in, 256<<10)
	txn := db.Txn(true)
	var index uint64
	for n := 0; ; n++ {
		t, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read snapshot record %d: %w", n, err)
		}
		size, err := binary.ReadUvarint(r)
		if err != nil || size > maxSnapshotRecord {
			return nil, 0, fmt.Errorf("%w: record %d: bad length", ErrCorruptSnapshot, n)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, 0, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, n, err)
		}
		switch t {
		case snapshotIndexRecord:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return nil, 0, fmt.Errorf("%w: record %d: bad index", ErrCorruptSnapshot, n)
			}
			index = v
		case snapshotObjectRecord:
			var rec orchv1.SnapshotRecord
			if err := proto.Unmarshal(b, &rec); err != nil {
				return nil, 0, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, n, err)
			}
			k, err := api.LookupAPI("", rec.GetKind())
			if err != nil {
				return nil, 0, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, n, err)
			}
			o := k.New()
			if err := proto.Unmarshal(rec.GetObject(), o); err != nil {
				return nil, 0, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, n, err)
			}
			if err := txn.Insert(k.Name, newRecord(o)); err != nil {
				return nil, 0, err
			}
		case snapshotRequestRecord:
			rec := &orchv1.RequestRecord{}
			if err := proto.Unmarshal(b, rec); err != nil || rec.GetId() == "" {
				return nil, 0, fmt.Errorf("%w: record %d: bad request record", ErrCorruptSnapshot, n)
			}
			if err := txn.Insert(tableRequests, rec); err != nil {
				return nil, 0, err
			}
		default:
			return nil, 0, fmt.Errorf("%w: record %d: unknown type %d", ErrCorruptSnapshot, n, t)
		}
	}
	if err := txn.Insert(tableIndex, &indexRecord{Name: indexKey, Index: index}); err != nil {
		return nil, 0, err
	}
	txn.Commit()
	return db, index, nil
}
