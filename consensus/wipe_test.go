package consensus

// These tests pin that a follower whose data dir was wiped, and which comes back
// under a new server ID at its old addresses, catches up with the leader: its old
// raft entry is replaced by the new server ID, and the leader's replication to that
// address backs off to what the new server holds (or sends a snapshot) rather than
// repeat the old server's next index forever. The hard case is the first master of
// a cluster: it has no --join, and the wipe took the gossip peers it had recorded,
// so it cannot find the others by itself.

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestWipedFollowerCatchesUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		snapshot bool // the leader compacted its log: the new server needs a snapshot
		crash    bool // kill -9 rather than a clean shutdown: no goodbye, no gossip leave
		dead     bool // restarted only once gossip declared the old one dead
		noJoin   bool // restarted without --join, as the first master of a cluster is
	}{
		{name: "log/crash", crash: true},
		{name: "log/stopped/no-join", noJoin: true},
		{name: "snapshot/crash/no-join", snapshot: true, crash: true, noJoin: true},
		{name: "snapshot/crash/dead/no-join", snapshot: true, crash: true, dead: true, noJoin: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := startCluster(t, 3, func(c *Config) {
				// High enough that no snapshot is taken unless the test asks.
				c.SnapshotThreshold = 1 << 20
				c.SnapshotInterval = time.Hour
			})
			waitFor(t, 10*time.Second, "the names of all voters", func() bool {
				return slices.Equal(voters(t, waitLeader(t, ms).node), []string{"m1", "m2", "m3"})
			})
			var last uint64
			for i := range 450 {
				last = write(t, ms, fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))
			}
			leader := waitLeader(t, ms)
			victim := followers(ms, leader)[0]
			waitApplied(t, victim, last)
			if tc.snapshot {
				if err := leader.node.Raft().Snapshot().Error(); err != nil {
					t.Fatalf("snapshot on %s: %v", leader.cfg.Name, err)
				}
			}
			oldID := victim.node.ServerID()

			if tc.crash {
				victim.crash(t)
			} else {
				victim.stop(t)
			}
			if tc.dead {
				waitFor(t, 20*time.Second, "gossip to declare "+victim.cfg.Name+" dead", func() bool {
					for _, m := range followers(ms, nil) {
						if mm, ok := m.node.gossip.member(victim.cfg.Name); !ok || mm.status == StatusAlive {
							return false
						}
					}
					return true
				})
			}
			victim.cfg.DataDir = t.TempDir() // the wipe; name and addresses stay
			if tc.noJoin {
				victim.cfg.Join = nil
			} else {
				victim.cfg.Join = []string{leader.cfg.GossipAddr}
			}
			victim.start(t)
			if victim.node.ServerID() == oldID {
				t.Fatalf("wiped %s kept its server ID %s", victim.cfg.Name, oldID)
			}

			last = write(t, ms, "after-wipe", "1")
			waitFor(t, 20*time.Second, victim.cfg.Name+" to catch up with the leader", func() bool {
				return victim.node.AppliedIndex() >= last
			})
			if got := victim.fsm.get("k449") + victim.fsm.get("after-wipe"); got != "v4491" {
				t.Fatalf("%s after catching up: k449+after-wipe = %q", victim.cfg.Name, got)
			}
			waitFor(t, 15*time.Second, "the new server ID to replace the old one", func() bool {
				ids := voterIDs(t, waitLeader(t, ms).node)
				return len(ids) == 3 && slices.Contains(ids, victim.node.ServerID()) && !slices.Contains(ids, oldID)
			})
			waitFor(t, 10*time.Second, victim.cfg.Name+" to resolve the leader", func() bool {
				_, ok := victim.node.Leader()
				return ok
			})
		})
	}
}
