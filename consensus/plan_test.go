package consensus

// Table tests for the pure decisions (which masters bootstrap, which become
// voters) and for the FSM wrapper's filtering and snapshot header.

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func master(name string, status string, expect int, hasState bool) memberState {
	return memberState{name: name, status: status, meta: nodeMeta{
		Role: roleMaster, ID: "id-" + name, Raft: name + ":7001", Expect: expect, HasState: hasState,
	}}
}

// proposing is m publishing the bootstrap proposal plan.
func proposing(m memberState, plan string) memberState {
	m.meta.Plan = plan
	return m
}

// bootstrapped is m after it bootstrapped cluster plan.
func bootstrapped(m memberState, plan string) memberState {
	m.meta.Plan, m.meta.Cluster, m.meta.HasState = plan, plan, true
	return m
}

func names(ms ...string) []string { return ms }

// TestPlanFormation pins when a master bootstraps: exactly N alive masters with the
// same --bootstrap-expect, none with raft state (but co-bootstrappers of the same
// configuration), and all proposing the same configuration.
func TestPlanFormation(t *testing.T) {
	t.Parallel()
	a, b, c, d := master("a", StatusAlive, 3, false), master("b", StatusAlive, 3, false), master("c", StatusAlive, 3, false), master("d", StatusAlive, 3, false)
	abc := clusterIDFor([]raft.Server{
		{Suffrage: raft.Voter, ID: "id-a", Address: "a:7001"},
		{Suffrage: raft.Voter, ID: "id-b", Address: "b:7001"},
		{Suffrage: raft.Voter, ID: "id-c", Address: "c:7001"},
	})
	for _, tc := range []struct {
		name      string
		expect    int
		members   []memberState
		plan      bool     // a proposal is published
		bootstrap []string // nil: do not bootstrap
		join      bool
		reason    string // part of the reason logged
		warn      bool
	}{
		{name: "not expecting", expect: 0, members: []memberState{master("a", StatusAlive, 0, false)}, join: true, reason: "no --bootstrap-expect"},
		{name: "too few", expect: 3, members: []memberState{a, b}, reason: "2 in view"},
		{name: "exactly N, nobody agreed yet: propose", expect: 3, members: []memberState{c, a, b}, plan: true, reason: "waiting for b to agree"},
		{name: "exactly N, one not agreed", expect: 3, members: []memberState{a, proposing(b, abc), c}, plan: true, reason: "waiting for c to agree"},
		{name: "exactly N, all agree", expect: 3, members: []memberState{a, proposing(b, abc), proposing(c, abc)}, plan: true, bootstrap: names("id-a", "id-b", "id-c")},
		{name: "N+1 visible: nobody bootstraps", expect: 3, members: []memberState{a, proposing(b, abc), proposing(c, abc), d}, reason: "more than the 3 expected", warn: true},
		{name: "mismatched expect", expect: 3, members: []memberState{a, proposing(b, abc), master("c", StatusAlive, 5, false)}, reason: "master c expects 5 masters, this one 3", warn: true},
		{name: "one has state: join instead", expect: 3, members: []memberState{a, proposing(b, abc), master("c", StatusAlive, 3, true)}, join: true, reason: "c has raft state"},
		{name: "a cluster of another size exists: join", expect: 3, members: []memberState{a, b, master("x", StatusAlive, 0, true), master("y", StatusAlive, 0, true)}, join: true},
		{name: "co-bootstrapper got there first", expect: 3, members: []memberState{a, bootstrapped(b, abc), proposing(c, abc)}, plan: true, bootstrap: names("id-a", "id-b", "id-c")},
		{name: "stateful member of another cluster", expect: 3, members: []memberState{a, proposing(b, abc), bootstrapped(c, "other")}, join: true},
		{name: "dead do not count", expect: 2, members: []memberState{master("a", StatusAlive, 2, false), master("b", StatusDead, 2, false)}, reason: "1 in view"},
		{name: "join-only masters do not count", expect: 2, members: []memberState{master("a", StatusAlive, 2, false), master("b", StatusAlive, 0, false)}, reason: "1 in view"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := planFormation("id-a", tc.expect, tc.members)
			if f.Bootstrap != (tc.bootstrap != nil) || (f.Bootstrap && !slices.Equal(serverIDs(f.Servers), tc.bootstrap)) {
				t.Fatalf("bootstrap %v with %v; want %v (reason %q)", f.Bootstrap, serverIDs(f.Servers), tc.bootstrap, f.Reason)
			}
			if (f.Plan != "") != tc.plan || (tc.plan && f.Plan != abc) {
				t.Fatalf("plan %q, want proposal %v (%s)", f.Plan, tc.plan, abc)
			}
			if f.Warn != tc.warn {
				t.Fatalf("warn %v, want %v (reason %q)", f.Warn, tc.warn, f.Reason)
			}
			if f.Join != tc.join {
				t.Fatalf("join %v, want %v (reason %q)", f.Join, tc.join, f.Reason)
			}
			if !strings.Contains(f.Reason, tc.reason) || (tc.bootstrap != nil) != (f.Reason == "") {
				t.Fatalf("reason %q, want it to contain %q", f.Reason, tc.reason)
			}
			for _, s := range f.Servers {
				if s.Suffrage != raft.Voter || string(s.Address) != strings.TrimPrefix(string(s.ID), "id-")+":7001" {
					t.Fatalf("bad server %+v", s)
				}
			}
		})
	}
}

// TestPlanReconcile pins what the leader does with the raft configuration: alive
// masters of this cluster become voters under their server ID, a removed server ID
// is never added back, and a master that came back under a new server ID replaces
// its old entry, which is removed first.
func TestPlanReconcile(t *testing.T) {
	t.Parallel()
	voter := func(name string) raft.Server {
		return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID("id-" + name), Address: raft.ServerAddress(name + ":7001")}
	}
	moved := voter("b")
	moved.Address = "b:9999"
	nonvoter := voter("c")
	nonvoter.Suffrage = raft.Nonvoter
	oldB := raft.Server{Suffrage: raft.Voter, ID: "id-old-b", Address: "b:7001"}
	oldBElsewhere := raft.Server{Suffrage: raft.Voter, ID: "id-old-b", Address: "b:5555"}
	newB := master("b", StatusAlive, 0, false)
	newB.meta.ID = "id-new-b"
	other := master("x", StatusAlive, 0, true)
	other.meta.Cluster = "other"
	reg := func(recs ...serverRecord) map[string]serverRecord {
		m := map[string]serverRecord{}
		for _, r := range recs {
			m[r.ID] = r
		}
		return m
	}
	named := reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-b", Name: "b"}, serverRecord{ID: "id-c", Name: "c"})
	alive := func(n string) memberState { return master(n, StatusAlive, 0, true) }
	ids := func(ss []raft.Server) []string { return serverIDs(ss) }
	for _, tc := range []struct {
		name     string
		config   []raft.Server
		members  []memberState
		registry map[string]serverRecord
		add      []string
		remove   []string
		register []string
		refused  []string
	}{
		{name: "all in", config: []raft.Server{voter("a"), voter("b")}, members: []memberState{alive("a"), alive("b")}, registry: named},
		{name: "names are recorded", config: []raft.Server{voter("a"), voter("b")}, members: []memberState{alive("a"), alive("b")}, register: names("id-a", "id-b")},
		{name: "new alive master", config: []raft.Server{voter("a")}, members: []memberState{alive("a"), master("b", StatusAlive, 0, false)}, registry: named, add: names("id-b")},
		{name: "dead master is not added", config: []raft.Server{voter("a")}, members: []memberState{alive("a"), master("b", StatusDead, 0, false)}, registry: named},
		{name: "address changed", config: []raft.Server{voter("a"), moved}, members: []memberState{alive("a"), alive("b")}, registry: named, add: names("id-b")},
		{name: "nonvoter promoted", config: []raft.Server{voter("a"), nonvoter}, members: []memberState{alive("a"), alive("c")}, registry: named, add: names("id-c")},
		{name: "removed master is not re-added", config: []raft.Server{voter("a")}, members: []memberState{alive("a"), alive("b")},
			registry: reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-b", Name: "b", Removed: true}), refused: names("b")},
		{name: "tombstoned entry still listed is removed", config: []raft.Server{voter("a"), voter("b")}, members: []memberState{alive("a")},
			registry: reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-b", Name: "b", Removed: true}), remove: names("id-b")},
		{name: "new identity at the old address replaces the old entry", config: []raft.Server{voter("a"), oldB, voter("c")}, members: []memberState{alive("a"), newB, alive("c")},
			registry: reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-c", Name: "c"}, serverRecord{ID: "id-new-b", Name: "b"}), remove: names("id-old-b"), add: names("id-new-b")},
		{name: "new identity under the old name elsewhere replaces the old entry", config: []raft.Server{voter("a"), oldBElsewhere}, members: []memberState{alive("a"), newB},
			registry: reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-old-b", Name: "b"}, serverRecord{ID: "id-new-b", Name: "b"}), remove: names("id-old-b"), add: names("id-new-b")},
		{name: "an unrelated dead entry stays", config: []raft.Server{voter("a"), oldBElsewhere}, members: []memberState{alive("a"), newB},
			registry: reg(serverRecord{ID: "id-a", Name: "a"}, serverRecord{ID: "id-old-b", Name: "z"}, serverRecord{ID: "id-new-b", Name: "b"}), add: names("id-new-b")},
		{name: "the leader's own entry is never removed", config: []raft.Server{voter("a")}, members: []memberState{alive("a")},
			registry: reg(serverRecord{ID: "id-a", Name: "a", Removed: true})},
		{name: "masters of another cluster are not added", config: []raft.Server{voter("a")}, members: []memberState{alive("a"), other}, registry: named},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planReconcile(reconcileInput{Self: "id-a", ClusterID: "ours", Config: tc.config, Members: tc.members, Registry: tc.registry})
			var remove, register, refused []string
			for _, id := range p.Remove {
				remove = append(remove, string(id))
			}
			for _, r := range p.Register {
				register = append(register, r.ID)
			}
			for _, m := range p.Refused {
				refused = append(refused, m.name)
			}
			if got := ids(p.Add); !slices.Equal(got, tc.add) {
				t.Errorf("add %v, want %v", got, tc.add)
			}
			if !slices.Equal(remove, tc.remove) {
				t.Errorf("remove %v, want %v", remove, tc.remove)
			}
			if !slices.Equal(register, tc.register) {
				t.Errorf("register %v, want %v", register, tc.register)
			}
			if !slices.Equal(refused, tc.refused) {
				t.Errorf("refused %v, want %v", refused, tc.refused)
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

// Registry entries never reach the caller's FSM, and the registry travels in
// snapshots (log compaction must not lose a tombstone); a version 1 header reads.
func TestTrackingFSMRegistry(t *testing.T) {
	t.Parallel()
	kv := newKV()
	f := newTrackingFSM(kv)
	reg := func(c registryCmd, index uint64) *raft.Log {
		l := registryLog(c)
		l.Index = index
		return &l
	}
	resps := f.ApplyBatch([]*raft.Log{
		reg(registryCmd{ClusterID: "c1"}, 1),
		{Index: 2, Type: raft.LogCommand, Data: []byte("set a 1")},
		reg(registryCmd{Server: &serverRecord{ID: "s1", Name: "m1"}}, 3),
		reg(registryCmd{Server: &serverRecord{ID: "s2", Name: "m2"}}, 4),
		reg(registryCmd{Server: &serverRecord{ID: "s2", Removed: true}}, 5),
		reg(registryCmd{ClusterID: "c2"}, 6),                              // set once
		reg(registryCmd{Server: &serverRecord{ID: "s2", Name: "m2b"}}, 7), // never revived
	})
	if want := []any{nil, "", nil, nil, nil, nil, nil}; !slices.Equal(resps, want) {
		t.Fatalf("responses %v, want %v", resps, want)
	}
	want := registryState{ClusterID: "c1", Servers: map[string]serverRecord{
		"s1": {ID: "s1", Name: "m1"}, "s2": {ID: "s2", Name: "m2b", Removed: true},
	}}
	check := func(what string, got registryState) {
		t.Helper()
		if got.ClusterID != want.ClusterID || len(got.Servers) != 2 || got.Servers["s1"] != want.Servers["s1"] || got.Servers["s2"] != want.Servers["s2"] {
			t.Fatalf("%s: registry %+v, want %+v", what, got, want)
		}
	}
	check("applied", f.reg.snapshot())
	if got := kv.dump(); len(got) != 1 || got["a"] != "1" {
		t.Fatalf("caller's FSM saw %v", got)
	}

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
	check("restored", g.reg.snapshot())
	if idx, _ := g.appliedIndex(); idx != 7 {
		t.Fatalf("restored applied %d, want 7", idx)
	}

	// A version 1 snapshot: index, no registry.
	body, _ := json.Marshal(map[string]string{"b": "2"})
	v1 := append([]byte(snapshotMagic), 0, 0, 0, 0, 0, 0, 0, 9)
	h := newTrackingFSM(newKV())
	if err := h.Restore(io.NopCloser(bytes.NewReader(append(v1, body...)))); err != nil {
		t.Fatal(err)
	}
	if idx, _ := h.appliedIndex(); idx != 9 || h.inner.(*kvFSM).get("b") != "2" || h.reg.clusterID() != "" {
		t.Fatalf("v1 restore: index %d, b %q", idx, h.inner.(*kvFSM).get("b"))
	}
	// A damaged registry length is refused, not allocated.
	bad := append([]byte(snapshotMagicV2), 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff)
	if err := newTrackingFSM(newKV()).Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("damaged registry length accepted")
	}
}

type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }
