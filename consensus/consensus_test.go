package consensus

// These tests run real masters on loopback (raft over TCP, memberlist over
// UDP+TCP) and pin the package's promises: one cluster forms from gossip,
// writes survive leader loss and restarts, joiners become voters, and reads
// through ReadIndex+WaitApplied see every acknowledged write.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterFormsAndReplicates(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	leader := waitLeader(t, ms)

	for _, m := range ms {
		waitFor(t, 5*time.Second, m.cfg.Name+" sees 3 voters", func() bool {
			return slices.Equal(voters(t, m.node), []string{"m1", "m2", "m3"})
		})
	}
	select {
	case v := <-leader.node.LeaderChanges():
		if !v {
			t.Fatal("leader reported leadership false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leader did not report leadership")
	}

	set(t, leader, "a", "1")
	idx, resp, err := leader.node.Apply(ctxT(t), []byte("set a 2"))
	if err != nil || resp != "1" {
		t.Fatalf("second apply: resp %v err %v, want previous value 1", resp, err)
	}
	for _, m := range ms {
		waitApplied(t, m, idx)
		if got := m.fsm.get("a"); got != "2" {
			t.Fatalf("%s: a = %q, want 2", m.cfg.Name, got)
		}
	}

	for _, f := range followers(ms, leader) {
		if _, _, err := f.node.Apply(ctxT(t), []byte("set b 1")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("apply on follower %s: %v, want ErrNotLeader", f.cfg.Name, err)
		}
		lm, ok := f.node.Leader()
		if !ok || lm.Name != leader.cfg.Name || lm.APIAddr != leader.cfg.APIAddr {
			t.Fatalf("%s: Leader() = %+v, %v; want %s at %s", f.cfg.Name, lm, ok, leader.cfg.Name, leader.cfg.APIAddr)
		}
	}

	for _, m := range ms {
		waitFor(t, 5*time.Second, m.cfg.Name+" lists 3 alive voters", func() bool {
			members := m.node.Members()
			leaders := 0
			for _, mm := range members {
				if mm.Status != StatusAlive || !mm.Voter || mm.APIAddr == "" || mm.RaftAddr == "" {
					return false
				}
				if mm.Leader {
					leaders++
				}
			}
			return len(members) == 3 && leaders == 1
		})
	}
}

func TestLeaderFailoverAndRestart(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	old := waitLeader(t, ms)
	set(t, old, "before", "1")

	old.stop(t)
	start := time.Now()
	leader := waitLeader(t, ms)
	t.Logf("new leader %s after %s", leader.cfg.Name, time.Since(start))
	if leader == old {
		t.Fatal("stopped master still leads")
	}
	idx := write(t, ms, "after", "2")

	// Restart from the same data dir; join whoever is still up.
	old.cfg.Join = nil
	for _, f := range followers(ms, old) {
		old.cfg.Join = append(old.cfg.Join, f.cfg.GossipAddr)
	}
	old.start(t)
	waitApplied(t, old, idx)
	if got := old.fsm.get("before") + old.fsm.get("after"); got != "12" {
		t.Fatalf("restarted master has before+after = %q, want 12", got)
	}
	waitFor(t, 5*time.Second, "restarted master resolves the leader", func() bool {
		lm, ok := old.node.Leader()
		return ok && lm.Name == leader.cfg.Name
	})
	if got := voters(t, leader.node); len(got) != 3 {
		t.Fatalf("voters after restart: %v", got)
	}
}

func TestJoinOnlyMasterBecomesVoter(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	idx := write(t, ms, "k", "v")

	cfg := testConfig(t, "m4")
	cfg.Join = []string{ms[1].cfg.GossipAddr}
	m4 := startMaster(t, cfg)
	waitFor(t, 10*time.Second, "m4 to be a voter", func() bool {
		return slices.Contains(voters(t, waitLeader(t, ms).node), "m4")
	})
	waitApplied(t, m4, idx)
	if got := m4.fsm.get("k"); got != "v" {
		t.Fatalf("m4: k = %q", got)
	}
	waitFor(t, 5*time.Second, "m4 to list itself as voter", func() bool {
		for _, mm := range m4.node.Members() {
			if mm.Name == "m4" {
				return mm.Voter
			}
		}
		return false
	})
}

func TestRemoveServer(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	leader := waitLeader(t, ms)
	fs := followers(ms, leader)
	alive, stopped := fs[0], fs[1]
	ctx := ctxT(t)

	if err := leader.node.RemoveServer(ctx, alive.cfg.Name); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("remove alive master: %v, want refusal", err)
	}
	if err := leader.node.RemoveServer(ctx, leader.cfg.Name); err == nil {
		t.Fatal("removing the leader itself was not refused")
	}
	if err := alive.node.RemoveServer(ctx, stopped.cfg.Name); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("remove on follower: %v, want ErrNotLeader", err)
	}

	stopped.stop(t)
	waitFor(t, 5*time.Second, "gossip to see the stopped master gone", func() bool {
		m, ok := leader.node.gossip.member(stopped.cfg.Name)
		return ok && m.status == StatusLeft
	})
	if err := leader.node.RemoveServer(ctx, stopped.cfg.Name); err != nil {
		t.Fatalf("remove stopped master: %v", err)
	}
	want := []string{leader.cfg.Name, alive.cfg.Name}
	slices.Sort(want)
	if got := voters(t, leader.node); !slices.Equal(got, want) {
		t.Fatalf("voters after remove: %v, want %v", got, want)
	}
	if err := leader.node.RemoveServer(ctx, stopped.cfg.Name); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("second remove: %v, want ErrUnknownServer", err)
	}
	for _, mm := range leader.node.Members() {
		if mm.Name == stopped.cfg.Name {
			t.Fatalf("removed master still listed: %+v", mm)
		}
	}
	// The two remaining voters still commit.
	waitApplied(t, alive, write(t, ms, "after-remove", "1"))
}

func TestReadIndexOnFollower(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)

	// Before any write the commit index ends in raft-internal entries (no-op,
	// barrier) that the FSM never sees: waiting must not hang on them.
	idx, leader := readIndex(t, ms)
	for _, f := range followers(ms, leader) {
		waitApplied(t, f, idx)
	}

	for i := range 5 {
		v := fmt.Sprint(i)
		write(t, ms, "x", v)
		idx, leader := readIndex(t, ms)
		for _, f := range followers(ms, leader) {
			waitApplied(t, f, idx)
			if got := f.fsm.get("x"); got != v {
				t.Fatalf("%s read x = %q after WaitApplied(%d), want %q", f.cfg.Name, got, idx, v)
			}
		}
	}
	leader = waitLeader(t, ms)
	f := followers(ms, leader)[0]
	if _, err := f.node.ReadIndex(ctxT(t)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read index on follower: %v, want ErrNotLeader", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, func(c *Config) {
		c.SnapshotThreshold = 16
		c.SnapshotInterval = 200 * time.Millisecond
	})
	var last uint64
	want := map[string]string{}
	for i := range 100 {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)
		want[k] = v
		last = write(t, ms, k, v)
	}
	f := followers(ms, waitLeader(t, ms))[0]
	waitApplied(t, f, last)
	if err := f.node.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot on %s: %v", f.cfg.Name, err)
	}
	f.stop(t)
	f.start(t)
	// Restored synchronously from the snapshot, before any contact.
	if got := f.fsm.dump(); !maps.Equal(got, want) {
		t.Fatalf("restored state has %d keys, want %d", len(got), len(want))
	}
	if got := f.node.AppliedIndex(); got < last {
		t.Fatalf("restored applied index %d < %d", got, last)
	}
	waitApplied(t, f, write(t, ms, "k-after", "x"))

	// A user backup is exactly the FSM's own snapshot format.
	var buf bytes.Buffer
	if err := waitLeader(t, ms).node.Snapshot(&buf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	got := map[string]string{}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("decode backup: %v", err)
	}
	want["k-after"] = "x"
	if !maps.Equal(got, want) {
		t.Fatalf("backup has %d keys, want %d", len(got), len(want))
	}
}

// Not parallel: it inspects every goroutine of the test binary, and parallel
// tests only start after the sequential ones.
func TestSingleMasterShutdownStopsGoroutines(t *testing.T) {
	cfg := testConfig(t, "solo")
	cfg.BootstrapExpect = 1
	m := startMaster(t, cfg)
	leader := waitLeader(t, []*testMaster{m})
	waitApplied(t, m, set(t, leader, "k", "v"))
	var buf bytes.Buffer
	if err := m.node.Snapshot(&buf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	m.stop(t)
	if err := m.node.WaitApplied(ctxT(t), 1<<40); !errors.Is(err, ErrShutdown) {
		t.Fatalf("WaitApplied after shutdown: %v", err)
	}

	leftover := func() string {
		b := make([]byte, 1<<20)
		for _, g := range strings.Split(string(b[:runtime.Stack(b, true)]), "\n\n") {
			if strings.Contains(g, "TestSingleMasterShutdownStopsGoroutines") || strings.Contains(g, "testing.(*T).Parallel") {
				continue
			}
			for _, pkg := range []string{"orchd/orch/consensus.", "hashicorp/raft", "hashicorp/memberlist"} {
				if strings.Contains(g, pkg) {
					return g
				}
			}
		}
		return ""
	}
	deadline := time.Now().Add(5 * time.Second)
	for g := leftover(); g != ""; g = leftover() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutine still running after Shutdown:\n%s", g)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
