package consensus

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

const (
	barrierTimeout    = time.Minute
	reconcileInterval = time.Second
	changeTimeout     = 10 * time.Second // AddVoter
)

// monitorLeadership follows raft's leadership signal and runs leaderLoop for
// as long as this node leads.
func (n *Node) monitorLeadership() {
	defer n.wg.Done()
	var run *leaderRun
	revoke := func() {
		if run == nil {
			return
		}
		run.cancel()
		<-run.done
		run = nil
		if n.established.Load() {
			n.setLeadership(false)
		}
	}
	for {
		select {
		case <-n.shutdownCh:
			revoke()
			return
		case isLeader := <-n.raft.LeaderCh():
			// raft may coalesce signals: true after true means leadership was
			// lost and regained, so always start over.
			revoke()
			if isLeader {
				run = n.startLeaderLoop()
			}
		}
	}
}

// leaderRun is one term's leaderLoop.
type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) startLeaderLoop() *leaderRun {
	ctx, cancel := context.WithCancel(context.Background())
	run := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go n.leaderLoop(ctx, run.done)
	return run
}

// leaderLoop establishes leadership, then reconciles raft voters with gossip
// until ctx ends.
func (n *Node) leaderLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if !n.establishLeadership(ctx) {
		return
	}
	ticker := time.NewTicker(reconcileInterval)
	defer ticker.Stop()
	for {
		n.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-n.reconcileKick:
		}
	}
}

// establishLeadership waits until everything earlier leaders committed is
// applied here (raft.Barrier), then reports leadership. It gives up when
// leadership is lost.
func (n *Node) establishLeadership(ctx context.Context) bool {
	for {
		term := n.raft.CurrentTerm()
		err := n.raft.Barrier(barrierTimeout).Error()
		if err == nil {
			n.establishedTerm.Store(term)
			n.setLeadership(true)
			n.log.Info("leadership established", "term", term)
			return true
		}
		n.log.Warn("barrier on new leadership failed", "error", err)
		if n.raft.State() != raft.Leader {
			return false
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

func (n *Node) setLeadership(isLeader bool) {
	n.established.Store(isLeader)
	select { // the channel holds only the latest value
	case <-n.leaderChanges:
	default:
	}
	n.leaderChanges <- isLeader
	if n.cfg.OnLeadership != nil {
		n.cfg.OnLeadership(isLeader)
	}
}

// reconcile makes the raft configuration follow gossip and the registry: it records
// the cluster ID and the names of server IDs, removes entries of removed servers and
// of servers that came back under a new identity, and adds every other alive master
// of this cluster as a voter.
func (n *Node) reconcile(ctx context.Context) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.log.Warn("reconcile: read raft configuration", "error", err)
		return
	}
	reg := n.fsm.reg.snapshot()
	if reg.ClusterID == "" {
		// The first leader of a cluster records its ID; a cluster from before
		// cluster IDs gets a new one.
		cid := n.clusterID()
		if cid == "" {
			cid = newUUID()
		}
		if err := n.applyRegistry(ctx, registryCmd{ClusterID: cid}); err != nil {
			n.log.Warn("reconcile: record cluster ID", "error", err)
			return
		}
		n.log.Info("recorded cluster ID", "cluster_id", cid)
		reg = n.fsm.reg.snapshot()
	}
	plan := planReconcile(reconcileInput{
		Self: n.serverID, ClusterID: reg.ClusterID, Config: f.Configuration().Servers,
		Members: n.gossip.snapshot(), Registry: reg.Servers,
	})
	for _, m := range plan.Refused {
		if !n.refusedLogged[m.serverID()] {
			n.refusedLogged[m.serverID()] = true
			n.log.Warn("not adding a removed master back: to re-admit it, stop it, empty its data dir and start it again (it joins as a new server)",
				"name", m.name, "server_id", m.serverID())
		}
	}
	for _, rec := range plan.Register {
		if ctx.Err() != nil {
			return
		}
		if err := n.applyRegistry(ctx, registryCmd{Server: &rec}); err != nil {
			n.log.Warn("reconcile: record server name", "name", rec.Name, "server_id", rec.ID, "error", err)
			return
		}
	}
	for _, id := range plan.Remove {
		if ctx.Err() != nil {
			return
		}
		rec, _ := n.fsm.reg.server(string(id))
		n.log.Warn("removing stale raft entry: its server was removed or came back under a new server ID",
			"server_id", id, "name", rec.Name)
		if err := n.removeServer(ctx, id, 0); err != nil {
			n.log.Warn("remove stale raft entry", "server_id", id, "error", err)
			return
		}
	}
	for _, s := range plan.Add {
		if ctx.Err() != nil {
			return
		}
		name := ""
		if rec, ok := n.fsm.reg.server(string(s.ID)); ok {
			name = rec.Name
		}
		n.log.Info("adding master as voter", "name", name, "server_id", s.ID, "raft_addr", s.Address)
		if err := n.raft.AddVoter(s.ID, s.Address, 0, changeTimeout).Error(); err != nil {
			n.log.Warn("add voter", "name", name, "server_id", s.ID, "error", err)
		}
	}
}

// applyRegistry commits a registry command. Leader only.
func (n *Node) applyRegistry(ctx context.Context, c registryCmd) error {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return err
	}
	if timeout == 0 {
		timeout = changeTimeout
	}
	if err := wait(ctx, n.raft.ApplyLog(registryLog(c), timeout)); err != nil {
		return n.raftError("apply registry entry", err)
	}
	return nil
}

// removeServer tombstones id in the registry, then removes it from the raft
// configuration. The tombstone comes first: should the leader fail in between, the
// next leader finds the tombstoned entry and finishes the removal, and never adds
// the server back.
func (n *Node) removeServer(ctx context.Context, id raft.ServerID, prevIndex uint64) error {
	if err := n.applyRegistry(ctx, registryCmd{Server: &serverRecord{ID: string(id), Removed: true}}); err != nil {
		return err
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return err
	}
	if timeout == 0 {
		timeout = changeTimeout
	}
	if err := wait(ctx, n.raft.RemoveServer(id, prevIndex, timeout)); err != nil {
		return n.raftError("remove server "+string(id), err)
	}
	return nil
}

// reconcileInput is everything planReconcile decides from.
type reconcileInput struct {
	Self      string // this leader's server ID
	ClusterID string
	Config    []raft.Server
	Members   []memberState
	Registry  map[string]serverRecord
}

// reconcilePlan is what reconcile does, in this order.
type reconcilePlan struct {
	Register []serverRecord  // names to record for server IDs
	Remove   []raft.ServerID // entries to tombstone and remove
	Add      []raft.Server   // voters to add (or re-add with a new address or a vote)
	Refused  []memberState   // alive masters whose server ID was removed
}

// planReconcile is the pure part of reconcile.
//
//   - An alive master of this cluster (or of none yet) whose server ID is not
//     tombstoned gets its name recorded and becomes a voter.
//   - A tombstoned server ID is never added, and is removed if still listed.
//   - A listed server ID that is not alive under that ID, while an alive master with
//     another ID has its name or its raft address, is stale: that master lost its
//     raft state and came back as a new server. The old entry is removed (and
//     tombstoned) before the new one is added, so it is never counted for it.
//   - This leader's own entry is never removed.
func planReconcile(in reconcileInput) reconcilePlan {
	var p reconcilePlan
	listed := make(map[raft.ServerID]raft.Server, len(in.Config))
	for _, s := range in.Config {
		listed[s.ID] = s
	}
	aliveIDs := map[string]bool{}
	for _, m := range in.Members {
		if m.status == StatusAlive {
			aliveIDs[m.serverID()] = true
		}
	}
	removing := map[raft.ServerID]bool{}
	remove := func(id raft.ServerID) {
		if string(id) != in.Self && !removing[id] {
			removing[id] = true
			p.Remove = append(p.Remove, id)
		}
	}
	for _, s := range in.Config {
		if in.Registry[string(s.ID)].Removed {
			remove(s.ID)
		}
	}
	for _, m := range in.Members {
		id := m.serverID()
		rec, known := in.Registry[id]
		if rec.Removed {
			if m.status == StatusAlive && id != in.Self {
				p.Refused = append(p.Refused, m)
			}
			continue
		}
		if in.ClusterID != "" && m.meta.Cluster != "" && m.meta.Cluster != in.ClusterID {
			continue // gossip refuses them; never let them vote here either
		}
		if !known || rec.Name != m.name {
			p.Register = append(p.Register, serverRecord{ID: id, Name: m.name})
		}
		if m.status != StatusAlive || m.meta.Raft == "" {
			continue
		}
		for _, s := range in.Config {
			if string(s.ID) == id || aliveIDs[string(s.ID)] {
				continue
			}
			if in.Registry[string(s.ID)].Name == m.name || string(s.Address) == m.meta.Raft {
				remove(s.ID)
			}
		}
		want := raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(m.meta.Raft)}
		if s, ok := listed[want.ID]; ok && s == want {
			continue
		}
		p.Add = append(p.Add, want)
	}
	return p
}
