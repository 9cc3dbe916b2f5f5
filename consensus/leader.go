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

// reconcile adds every alive master that is missing from the raft
// configuration (or listed with a stale address or without a vote) as a voter.
func (n *Node) reconcile(ctx context.Context) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.log.Warn("reconcile: read raft configuration", "error", err)
		return
	}
	for _, s := range votersToAdd(f.Configuration().Servers, n.gossip.snapshot()) {
		if ctx.Err() != nil {
			return
		}
		n.log.Info("adding master as voter", "name", s.ID, "raft_addr", s.Address)
		if err := n.raft.AddVoter(s.ID, s.Address, 0, changeTimeout).Error(); err != nil {
			n.log.Warn("add voter", "name", s.ID, "error", err)
		}
	}
}

// votersToAdd is the plan of reconcile: alive masters whose raft entry is
// missing, has another address, or has no vote.
func votersToAdd(config []raft.Server, members []memberState) []raft.Server {
	have := make(map[raft.ServerID]raft.Server, len(config))
	for _, s := range config {
		have[s.ID] = s
	}
	var add []raft.Server
	for _, m := range members {
		if m.status != StatusAlive || m.meta.Raft == "" {
			continue
		}
		want := raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.name), Address: raft.ServerAddress(m.meta.Raft)}
		if s, ok := have[want.ID]; ok && s == want {
			continue
		}
		add = append(add, want)
	}
	return add
}
