package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Every command the API proposes travels in a CommandEnvelope: a request id, so that a
// command whose commit outcome was unknown (leadership lost mid-commit, a forwarded call
// cut off) can be sent again and gets its first outcome instead of AlreadyExists or
// NotFound; and, for the leader's own work, the term it led in, so that a deposed
// leader's late writes are refused (fencing).

const (
	tableRequests = "requests"

	// requestWindow is how many log entries a request id is remembered for: retries
	// happen within seconds, and 100 000 entries is minutes at the highest write rates.
	requestWindow = 100_000
)

func requestsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableRequests, Indexes: map[string]*memdb.IndexSchema{
		"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id"}},
		"index": {Name: "index", Indexer: &memdb.UintFieldIndex{Field: "Index"}},
	}}
}

// newRequestID returns a fresh id for one write (decided before proposal, never in the FSM).
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// envelope frames cmd in an envelope with a request id and, when non-zero, a term.
func envelope(cmd []byte, term uint64) ([]byte, error) {
	return encodeCommand(EnvelopeCommandType, &orchv1.CommandEnvelope{Term: term, RequestId: newRequestID(), Command: cmd})
}

var errFenced = errors.New("leadership changed")

func fencedError(proposed, committed uint64) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"%w: proposed by the leader of term %d, committed in term %d; the write was not applied", errFenced, proposed, committed))
}

// applyEnvelope checks the fence, answers a repeated request with its first outcome, and
// applies and records anything else.
func (w *fsmTxn) applyEnvelope(payload []byte) *applyResult {
	var e orchv1.CommandEnvelope
	mustUnmarshal(payload, &e, EnvelopeCommandType)
	if len(e.GetCommand()) == 0 || CommandType(e.GetCommand()[0])&^IgnorableCommandFlag == EnvelopeCommandType {
		panic(fmt.Sprintf("fsm: envelope at index %d holds no command or another envelope", w.index))
	}
	id := e.GetRequestId()
	if id != "" {
		if raw, err := w.txn.First(tableRequests, "id", id); err == nil && raw != nil {
			return w.replay(raw.(*orchv1.RequestRecord))
		}
	}
	var r *applyResult
	if e.GetTerm() != 0 && e.GetTerm() != w.term {
		r = &applyResult{err: fencedError(e.GetTerm(), w.term)}
	} else {
		r = w.apply(e.GetCommand())
	}
	if id != "" {
		w.record(id, r)
	}
	return r
}

func (w *fsmTxn) record(id string, r *applyResult) {
	rec := &orchv1.RequestRecord{Id: id, Index: w.index}
	if r != nil {
		if r.err != nil {
			rec.Code, rec.Message = uint32(connect.CodeOf(r.err)), errorMessage(r.err)
		} else if r.obj != nil && r.kind != nil {
			m := r.obj.GetMetadata()
			rec.Kind, rec.Namespace, rec.Name = r.kind.Name, m.GetNamespace(), m.GetName()
		}
	}
	if err := w.txn.Insert(tableRequests, rec); err != nil {
		panic(fmt.Sprintf("fsm: record request: %v", err))
	}
}

func errorMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}

// replay is the outcome of a request applied before: its error, or the object as it is now
// (for a deletion that completed, an object with only its name).
func (w *fsmTxn) replay(rec *orchv1.RequestRecord) *applyResult {
	if rec.GetCode() != 0 {
		return &applyResult{err: connect.NewError(connect.Code(rec.GetCode()), errors.New(rec.GetMessage()))}
	}
	if rec.GetKind() == "" {
		return &applyResult{}
	}
	k := mustKind(rec.GetKind())
	if o, ok := w.get(k, api.Key(rec.GetNamespace(), rec.GetName())); ok {
		return &applyResult{kind: k, obj: o}
	}
	o := k.New()
	api.Meta(o).Name, api.Meta(o).Namespace = rec.GetName(), rec.GetNamespace()
	return &applyResult{kind: k, obj: o}
}

// forgetRequests drops the request ids older than the window.
func (w *fsmTxn) forgetRequests(last uint64) {
	if last <= requestWindow {
		return
	}
	cutoff := last - requestWindow
	it, err := w.txn.Get(tableRequests, "index")
	if err != nil {
		panic(fmt.Sprintf("fsm: list requests: %v", err))
	}
	var old []any
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if raw.(*orchv1.RequestRecord).GetIndex() > cutoff {
			break
		}
		old = append(old, raw)
	}
	for _, raw := range old {
		if err := w.txn.Delete(tableRequests, raw); err != nil {
			panic(fmt.Sprintf("fsm: forget request: %v", err))
		}
	}
}

func checkEnvelope(payload []byte) error {
	var e orchv1.CommandEnvelope
	if err := proto.Unmarshal(payload, &e); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	if len(e.GetCommand()) > 0 && CommandType(e.GetCommand()[0])&^IgnorableCommandFlag == EnvelopeCommandType {
		return errors.New("envelope inside an envelope")
	}
	return checkCommand(e.GetCommand())
}
