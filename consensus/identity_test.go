package consensus

// These tests pin master identity: a master that lost its raft state is a new server
// and never counted as its old self (safety before liveness), a removed master stays
// out whoever leads, and masters of different clusters never merge.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestLoadIdentity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stable := raft.NewInmemStore()

	first, warn, err := loadIdentity(stable, dir, "m1", false)
	if err != nil || warn != "" {
		t.Fatalf("first start: %v %q", err, warn)
	}
	if len(first.ServerID) != 36 || first.ServerID == "m1" || first.ClusterID != "" {
		t.Fatalf("first start: identity %+v, want a new UUID and no cluster", first)
	}
	if err := storeIdentity(stable, dir, identity{ServerID: first.ServerID, ClusterID: "c1"}); err != nil {
		t.Fatal(err)
	}
	again, warn, err := loadIdentity(stable, dir, "m1", true)
	if err != nil || warn != "" || again != (identity{ServerID: first.ServerID, ClusterID: "c1"}) {
		t.Fatalf("restart: %+v %q %v", again, warn, err)
	}
	if f, err := readIdentityFile(dir); err != nil || f != again {
		t.Fatalf("identity.json: %+v %v", f, err)
	}

	// raft.db lost, identity.json left: a new server, with a warning.
	fresh, warn, err := loadIdentity(raft.NewInmemStore(), dir, "m1", false)
	if err != nil || fresh.ServerID == first.ServerID || fresh.ClusterID != "" || !strings.Contains(warn, first.ServerID) {
		t.Fatalf("lost raft.db: %+v %q %v", fresh, warn, err)
	}
	// identity.json lost, raft.db left: the same server.
	if err := os.Remove(filepath.Join(dir, identityFile)); err != nil {
		t.Fatal(err)
	}
	kept, _, err := loadIdentity(stable, dir, "m1", true)
	if err != nil || kept.ServerID != first.ServerID {
		t.Fatalf("lost identity.json: %+v %v", kept, err)
	}
	// Raft state from before server IDs: the name was the raft ID.
	legacy, _, err := loadIdentity(raft.NewInmemStore(), t.TempDir(), "m1", true)
	if err != nil || legacy.ServerID != "m1" {
		t.Fatalf("legacy state: %+v %v", legacy, err)
	}
}

// The scenario of a wiped master: m3 is down while E is written (so only m1 and m2
// hold it); m1 dies; m2 loses its data dir and restarts; m3 restarts. m3 lacks E, and
// the only other live master is the empty m2: no leader may be elected, since one
// would answer "not found" for an acknowledged write. Once m1 is back, E is served
// and m2 is a voter again under its new server ID, its old entry gone.
func TestWipedMasterIsNotCountedAsItsOldSelf(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	m1, m2, m3 := ms[0], ms[1], ms[2]
	waitFor(t, 10*time.Second, "the names of all voters", func() bool {
		return slices.Equal(voters(t, waitLeader(t, ms).node), []string{"m1", "m2", "m3"})
	})
	oldID := m2.node.ServerID()

	m3.stop(t)
	idx := write(t, ms, "E", "acknowledged")
	waitApplied(t, m1, idx)
	waitApplied(t, m2, idx)
	m1.stop(t)
	m2.stop(t)
	m2.cfg.DataDir = t.TempDir() // the wipe
	m2.start(t)
	m3.start(t)
	if m2.node.ServerID() == oldID {
		t.Fatalf("wiped m2 kept its server ID %s", oldID)
	}

	// Several election timeouts: nobody may lead without E.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range []*testMaster{m2, m3} {
			if m.node.IsLeader() && m.fsm.get("E") != "acknowledged" {
				if _, err := m.node.ReadIndex(ctxT(t)); err == nil {
					t.Fatalf("%s leads and serves reads without the acknowledged write E", m.cfg.Name)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range []*testMaster{m2, m3} {
		if m.node.IsLeader() {
			t.Fatalf("%s leads without a quorum of intact voters", m.cfg.Name)
		}
	}

	m1.start(t)
	leader := waitLeader(t, ms)
	if got := leader.fsm.get("E"); got != "acknowledged" {
		t.Fatalf("leader %s has E = %q", leader.cfg.Name, got)
	}
	waitFor(t, 15*time.Second, "m2 to be a voter under its new server ID", func() bool {
		ids := voterIDs(t, waitLeader(t, ms).node)
		return len(ids) == 3 && slices.Contains(ids, m2.node.ServerID()) && !slices.Contains(ids, oldID)
	})
	waitApplied(t, m2, idx)
	if got := m2.fsm.get("E"); got != "acknowledged" {
		t.Fatalf("m2 has E = %q after rejoining", got)
	}
	if got := voters(t, waitLeader(t, ms).node); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("voters by name: %v", got)
	}
}

// A removed master stays out when it comes back with its data dir, also after the
// leader that removed it is gone; emptied, it joins as a new server.
func TestRemovedMasterStaysOut(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 4, nil)
	leader := waitLeader(t, ms)
	victim := followers(ms, leader)[0]
	removedID := victim.node.ServerID()
	waitFor(t, 10*time.Second, "the names of all voters", func() bool {
		return len(voters(t, waitLeader(t, ms).node)) == 4 && !slices.Contains(voters(t, waitLeader(t, ms).node), "")
	})

	victim.stop(t)
	waitFor(t, 10*time.Second, "the removal", func() bool {
		return waitLeader(t, ms).node.RemoveServer(ctxT(t), victim.cfg.Name) == nil
	})
	// Another leader, which did not remove it, must keep it out too.
	old := waitLeader(t, ms)
	old.stop(t)
	leader = waitLeader(t, ms)
	victim.start(t)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if ids := voterIDs(t, waitLeader(t, ms).node); slices.Contains(ids, removedID) {
			t.Fatalf("removed master %s was added back: %v", victim.cfg.Name, ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	old.start(t)
	waitFor(t, 10*time.Second, "the old leader back as a voter", func() bool {
		return len(voterIDs(t, waitLeader(t, ms).node)) == 3
	})
	if ids := voterIDs(t, waitLeader(t, ms).node); slices.Contains(ids, removedID) {
		t.Fatalf("removed master was added back: %v", ids)
	}

	// Re-admission: an empty data dir makes it a new server, which is added.
	victim.stop(t)
	victim.cfg.DataDir = t.TempDir()
	victim.cfg.Join = []string{leader.cfg.GossipAddr}
	victim.start(t)
	if victim.node.ServerID() == removedID {
		t.Fatal("emptied data dir kept the server ID")
	}
	waitFor(t, 15*time.Second, "the emptied master to join as a new voter", func() bool {
		return slices.Contains(voterIDs(t, waitLeader(t, ms).node), victim.node.ServerID())
	})
	if got := voters(t, waitLeader(t, ms).node); len(got) != 4 || !slices.Contains(got, victim.cfg.Name) {
		t.Fatalf("voters by name: %v", got)
	}
}

// Masters of two clusters never merge, even when told to join each other.
func TestMastersOfAnotherClusterAreRefused(t *testing.T) {
	t.Parallel()
	a := startCluster(t, 1, nil)[0]
	bcfg := testConfig(t, "b1")
	bcfg.BootstrapExpect = 1
	b := startMaster(t, bcfg)
	waitLeader(t, []*testMaster{b})
	for _, m := range []*testMaster{a, b} {
		waitFor(t, 10*time.Second, m.cfg.Name+" to record its cluster ID", func() bool { return m.node.ClusterID() != "" })
	}
	if a.node.ClusterID() == b.node.ClusterID() {
		t.Fatalf("two clusters with one ID %s", a.node.ClusterID())
	}
	b.stop(t)
	b.cfg.Join = []string{a.cfg.GossipAddr}
	b.start(t)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range []*testMaster{a, b} {
			if got := m.node.Members(); len(got) != 1 {
				t.Fatalf("%s sees masters of another cluster: %+v", m.cfg.Name, got)
			}
		}
		if got := voters(t, a.node); len(got) != 1 {
			t.Fatalf("%s's cluster took in a master of another: %v", a.cfg.Name, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
