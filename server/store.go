// Package server is the orch master: the state store and FSM behind Raft, the Connect API
// (admission, generic kind handlers, watches), and the wiring of a master process.
// It never runs containers and never talks to runc: that is node/'s job.
package server

import (
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/go-memdb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// record is one stored object. Records and their objects are read-only once inserted:
// every object returned by a read is a constant and is never modified in place.
type record struct {
	Key       string
	Namespace string
	NodeName  string   // pods: spec.nodeName
	Owners    []string // the uids of metadata.ownerReferences
	Obj       api.Object
}

type indexRecord struct {
	Name  string
	Index uint64
}

const (
	tableIndex = "index"
	indexKey   = "applied"
)

func schema() *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableIndex: {Name: tableIndex, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
		}},
	}}
	s.Tables[tableRequests] = requestsTable()
	for _, k := range api.Kinds {
		t := &memdb.TableSchema{Name: k.Name, Indexes: map[string]*memdb.IndexSchema{
			"id":        {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			"namespace": {Name: "namespace", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Namespace"}},
			"owner":     {Name: "owner", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Owners"}},
		}}
		if k == api.PodKind {
			t.Indexes["node"] = &memdb.IndexSchema{Name: "node", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "NodeName"}}
			// Pods without spec.nodeName: the empty value is not in the "node" index (and a
			// lookup of "" there would list the whole table), so pending gets its own.
			t.Indexes["pending"] = &memdb.IndexSchema{Name: "pending", Indexer: &memdb.ConditionalIndex{
				Conditional: func(obj any) (bool, error) { return obj.(*record).NodeName == "", nil },
			}}
		}
		s.Tables[k.Name] = t
	}
	return s
}

// Store is the in-memory indexed state of the cluster, written only by the FSM.
type Store struct {
	mu sync.RWMutex
	db *memdb.MemDB
}

// NewStore returns an empty store.
func NewStore() *Store {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("state store schema: %v", err))
	}
	return &Store{db: db}
}

func (s *Store) memdb() *memdb.MemDB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db
}

// swap replaces the whole state (snapshot restore).
func (s *Store) swap(db *memdb.MemDB) {
	s.mu.Lock()
	s.db = db
	s.mu.Unlock()
}

// View is a consistent read-only view of the store at one index.
type View struct{ txn *memdb.Txn }

// View opens a read-only view.
func (s *Store) View() View { return View{s.memdb().Txn(false)} }

// Index is the Raft index the view reflects.
func (v View) Index() uint64 { return readIndex(v.txn) }

func readIndex(txn *memdb.Txn) uint64 {
	raw, err := txn.First(tableIndex, "id", indexKey)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexRecord).Index
}

// Get returns one object.
func (v View) Get(k *api.Kind, key string) (api.Object, bool) {
	return get(v.txn, k, key)
}

func get(txn *memdb.Txn, k *api.Kind, key string) (api.Object, bool) {
	raw, err := txn.First(k.Name, "id", key)
	if err != nil || raw == nil {
		return nil, false
	}
	return raw.(*record).Obj, true
}

// List returns the objects of a kind in a namespace ("" for all), sorted by key.
func (v View) List(k *api.Kind, namespace string) []api.Object {
	return list(v.txn, k, "namespace", namespace)
}

// PodsOnNode returns the pods whose spec.nodeName is node, sorted by key: for "", the
// pods not bound to any node.
func (v View) PodsOnNode(node string) []api.Object {
	if node == "" {
		return v.unboundPods()
	}
	return list(v.txn, api.PodKind, "node", node)
}

// Owned returns the objects of a kind with an ownerReference to uid, sorted by key
// (the garbage collector and the controllers find dependents with it).
func (v View) Owned(k *api.Kind, uid string) []api.Object {
	if uid == "" {
		return nil
	}
	return list(v.txn, k, "owner", uid)
}

func (v View) unboundPods() []api.Object {
	it, err := v.txn.Get(api.PodKind.Name, "pending", true)
	if err != nil {
		panic(fmt.Sprintf("list unbound pods: %v", err))
	}
	var out []api.Object
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*record).Obj)
	}
	sort.Slice(out, func(i, j int) bool { return api.ObjectKey(out[i]) < api.ObjectKey(out[j]) })
	return out
}

func list(txn *memdb.Txn, k *api.Kind, index, value string) []api.Object {
	var it memdb.ResultIterator
	var err error
	if value == "" {
		it, err = txn.Get(k.Name, "id")
	} else {
		it, err = txn.Get(k.Name, index, value)
	}
	if err != nil {
		panic(fmt.Sprintf("list %s: %v", k.Name, err))
	}
	var out []api.Object
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*record).Obj)
	}
	if value != "" {
		sort.Slice(out, func(i, j int) bool { return api.ObjectKey(out[i]) < api.ObjectKey(out[j]) })
	}
	return out
}

func newRecord(o api.Object) *record {
	m := o.GetMetadata()
	r := &record{Key: api.Key(m.GetNamespace(), m.GetName()), Namespace: m.GetNamespace(), Obj: o}
	if p, ok := o.(*orchv1.Pod); ok {
		r.NodeName = p.GetSpec().GetNodeName()
	}
	for _, ref := range m.GetOwnerReferences() {
		if ref.GetUid() != "" {
			r.Owners = append(r.Owners, ref.GetUid())
		}
	}
	return r
}
