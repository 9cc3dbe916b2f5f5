package consensus

// Table tests for the pure decisions (which masters bootstrap, which become
// voters) and for the FSM wrapper's filtering and snapshot header.

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

func master(name string, status string, expect int, hasState bool) memberState {
	return memberState{name: name, status: status, meta: nodeMeta{
		Role: roleMaster, Raft: name + ":7001", Expect: expect, HasState: hasState,
	}}
}

func TestBootstrapServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		expect  int
		members []memberState
		want    []string // nil: do not bootstrap
	}{
		{"not expecting", 0, []memberState{master("a", StatusAlive, 0, false)}, nil},
		{"too few", 3, []memberState{master("a", StatusAlive, 3, false), master("b", StatusAlive, 3, false)}, nil},
		{"enough", 3, []memberState{master("c", StatusAlive, 3, false), master("a", StatusAlive, 3, false), master("b", StatusAlive, 3, false)}, []string{"a", "b", "c"}},
		{"first by name", 2, []memberState{master("c", StatusAlive, 2, false), master("a", StatusAlive, 2, false), master("b", StatusAlive, 2, false)}, []string{"a", "b"}},
		{"dead do not count", 2, []memberState{master("a", StatusAlive, 2, false), master("b", StatusDead, 2, false)}, nil},
		{"join-only do not count", 2, []memberState{master("a", StatusAlive, 2, false), master("b", StatusAlive, 0, false)}, nil},
		{"cluster exists", 2, []memberState{master("a", StatusAlive, 2, false), master("b", StatusAlive, 2, false), master("c", StatusAlive, 0, true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers, ok := bootstrapServers(tc.expect, tc.members)
			if ok != (tc.want != nil) || !slices.Equal(serverIDs(servers), tc.want) {
				t.Fatalf("got %v, %v; want %v", serverIDs(servers), ok, tc.want)
			}
			for _, s := range servers {
				if s.Suffrage != raft.Voter || string(s.Address) != string(s.ID)+":7001" {
					t.Fatalf("bad server %+v", s)
				}
			}
		})
	}
}

func TestVotersToAdd(t *testing.T) {
	t.Parallel()
	voter := func(id string) raft.Server {
		return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":7001")}
	}
	moved := voter("b")
	moved.Address = "b:9999"
	nonvoter := voter("c")
	nonvoter.Suffrage = raft.Nonvoter
	for _, tc := range []struct {
		name    string
		config  []raft.Server
		members []memberState
		want    []string
	}{
		{"all in", []raft.Server{voter("a"), voter("b")}, []memberState{master("a", StatusAlive, 0, true), master("b", StatusAlive, 0, true)}, nil},
		{"new alive master", []raft.Server{voter("a")}, []memberState{master("a", StatusAlive, 0, true), master("b", StatusAlive, 0, false)}, []string{"b"}},
		{"dead master is not added", []raft.Server{voter("a")}, []memberState{master("a", StatusAlive, 0, true), master("b", StatusDead, 0, false)}, nil},
		{"address changed", []raft.Server{voter("a"), moved}, []memberState{master("a", StatusAlive, 0, true), master("b", StatusAlive, 0, true)}, []string{"b"}},
		{"nonvoter promoted", []raft.Server{voter("a"), nonvoter}, []memberState{master("a", StatusAlive, 0, true), master("c", StatusAlive, 0, true)}, []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := serverIDs(votersToAdd(tc.config, tc.members)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTrackingFSMFiltersAndTracks(t *testing.T) {
	t.Parallel()
	kv := newKV()
	f := newTrackingFSM(kv)
	resps := f.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogConfiguration},
		{Index: 2, Type: raft.LogCommand, Data: []byte("set a 1")},
		{Index: 3, Type: raft.LogConfiguration},
		{Index: 4, Type: raft.LogCommand, Data: []byte("set a 2")},
	})
	if want := []any{nil, "", nil, "1"}; !slices.Equal(resps, want) {
		t.Fatalf("responses %v, want %v", resps, want)
	}
	if idx, _ := f.appliedIndex(); idx != 4 {
		t.Fatalf("applied %d, want 4", idx)
	}
	f.ApplyBatch([]*raft.Log{{Index: 5, Type: raft.LogConfiguration}})
	if idx, _ := f.appliedIndex(); idx != 5 {
		t.Fatalf("applied %d after config-only batch, want 5", idx)
	}

	// Snapshot round trip carries the index.
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	g := newTrackingFSM(newKV())
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if idx, _ := g.appliedIndex(); idx != 5 {
		t.Fatalf("restored applied %d, want 5", idx)
	}
	if got := g.inner.(*kvFSM).get("a"); got != "2" {
		t.Fatalf("restored a = %q", got)
	}

	// A bare FSM snapshot (a backup) restores too, index unknown.
	bare, _ := json.Marshal(map[string]string{"b": "3"})
	h := newTrackingFSM(newKV())
	if err := h.Restore(io.NopCloser(bytes.NewReader(bare))); err != nil {
		t.Fatal(err)
	}
	if got := h.inner.(*kvFSM).get("b"); got != "3" {
		t.Fatalf("restored bare b = %q", got)
	}
}

type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }
