package consensus

// Gossip reconnection. memberlist never contacts a member again once it holds it left,
// nor, after a while, dead; and a master whose data dir was emptied lost the gossip
// peers it had recorded. If it has no --join either (the first master of a cluster),
// it knows nobody: raft traffic for its old server ID keeps reaching it at its old
// address, answered under its new ID and so refused (verify.go), while the other
// masters never learn its new ID from gossip and never replace its raft entry. It
// would stay empty for good. So every master now and then joins the gossip address of
// each server of the raft configuration that gossip does not show alive, as Serf
// reconnects to failed members, and promptly the address of a server whose raft
// answers came from another server ID: once the two exchange state, the newcomer
// refutes its old gossip entry, its new ID spreads, and the leader replaces the entry.

import (
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// reconnectInterval spaces joins to a server of the raft configuration that
	// gossip does not show alive (most often one that is simply down).
	reconnectInterval = 10 * time.Second
	// mismatchReconnectInterval spaces joins to a server whose raft answers come
	// from another server ID: a new master that gossip has not heard of yet.
	mismatchReconnectInterval = 2 * time.Second
	// mismatchMemory is how long such an answer keeps a server on that short interval.
	mismatchMemory = 30 * time.Second
	reconnectTick  = time.Second
)

// reconnectInput is everything planReconnect decides from.
type reconnectInput struct {
	Self       string // this master's server ID
	SelfGossip string // this master's gossip address
	Config     []raft.Server
	Members    []memberState
	Registry   map[string]serverRecord
	Mismatched map[string]time.Time // server ID -> last raft answer from another server ID
	Tried      map[string]time.Time // gossip address -> last join attempt
	Now        time.Time
}

// planReconnect returns the gossip addresses to join now, sorted.
//
//   - A server of the raft configuration is found in gossip by its server ID, else
//     by the name the registry knows for it; one gossip has never seen is skipped
//     (there is no address to dial).
//   - A server whose name gossip shows alive under another ID is skipped: the
//     replacement is in view, reconcile does the rest.
//   - A server answered by another server ID is joined every
//     mismatchReconnectInterval; one gossip does not show alive, every
//     reconnectInterval. Tombstoned servers and this master are never joined.
func planReconnect(in reconnectInput) []string {
	members := map[string]memberState{}
	byName := map[string]memberState{}
	for _, m := range in.Members {
		members[m.serverID()] = m
		byName[m.name] = m
	}
	var out []string
	for _, s := range in.Config {
		id := string(s.ID)
		rec := in.Registry[id]
		if id == in.Self || rec.Removed {
			continue
		}
		m, ok := members[id]
		if !ok && rec.Name != "" {
			m, ok = byName[rec.Name]
		}
		if !ok || m.gossip == "" || m.gossip == in.SelfGossip || m.serverID() == in.Self {
			continue
		}
		alive := m.status == StatusAlive
		if alive && m.serverID() != id {
			continue
		}
		var every time.Duration
		switch at, seen := in.Mismatched[id]; {
		case seen && in.Now.Sub(at) < mismatchMemory:
			every = mismatchReconnectInterval
		case !alive:
			every = reconnectInterval
		default:
			continue
		}
		if last, tried := in.Tried[m.gossip]; tried && in.Now.Sub(last) < every {
			continue
		}
		out = append(out, m.gossip)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// reconnectLoop joins the gossip addresses planReconnect names, every
// reconnectTick and at once after a raft answer from another server ID. Each join
// runs on its own, so that one to an unreachable address (memberlist waits for its
// TCP timeout) delays no other; an address is never joined twice at once.
func (n *Node) reconnectLoop() {
	defer n.wg.Done()
	tried := map[string]time.Time{}
	inflight := map[string]bool{}
	done := make(chan string)
	ticker := time.NewTicker(reconnectTick)
	defer ticker.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case a := <-done:
			delete(inflight, a)
			continue
		case <-ticker.C:
		case <-n.reconnectKick:
		}
		now := time.Now()
		for a, at := range tried {
			if now.Sub(at) > 2*reconnectInterval {
				delete(tried, a)
			}
		}
		for _, a := range n.planReconnect(tried, now) {
			if inflight[a] {
				continue
			}
			tried[a], inflight[a] = now, true
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				if _, err := n.ml.Join([]string{a}); err != nil {
					n.log.Debug("rejoin gossip", "peer", a, "error", err)
				} else {
					n.log.Info("rejoined gossip with a master of the raft configuration that gossip did not see", "peer", a)
				}
				select {
				case done <- a:
				case <-n.shutdownCh:
				}
			}()
		}
	}
}

func (n *Node) planReconnect(tried map[string]time.Time, now time.Time) []string {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	n.mismatchMu.Lock()
	mismatched := make(map[string]time.Time, len(n.mismatchAt))
	for id, at := range n.mismatchAt {
		if now.Sub(at) >= mismatchMemory {
			delete(n.mismatchAt, id)
			continue
		}
		mismatched[id] = at
	}
	n.mismatchMu.Unlock()
	return planReconnect(reconnectInput{
		Self: n.serverID, SelfGossip: n.cfg.GossipAddr, Config: f.Configuration().Servers,
		Members: n.gossip.snapshot(), Registry: n.fsm.reg.snapshot().Servers,
		Mismatched: mismatched, Tried: tried, Now: now,
	})
}
