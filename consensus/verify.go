package consensus

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// verifyingTransport makes this node count a vote or an append only from the server
// it addressed. Raft sends to a server ID at an address and trusts whoever answers
// there; a master that lost its data and came back at the same address, under a new
// server ID, would otherwise be counted as its old self: an empty log granting a
// vote, or confirming a leader, for the voter that held acknowledged writes.
// Every answer carries the responder's server ID (raft's RPC header), so an answer
// from another ID is refused here, as if the server were unreachable. raft then keeps
// retrying the old server's next index (it only backs off on an answer it is given),
// so the mismatch is also reported: the node joins that address in gossip, where the
// new server makes itself known, and the leader replaces the old entry with it
// (reconnect.go, leader.go). Until then the new server gets nothing under the old ID.
//
// InstallSnapshot and TimeoutNow answers carry no ID: a snapshot only holds entries
// that are already committed, so counting it changes no commit, and TimeoutNow is
// only sent on an explicit leadership transfer.
type verifyingTransport struct {
	*raft.NetworkTransport
	mismatch func(want raft.ServerID, got string) // logs, once per pair
}

var (
	_ raft.Transport   = (*verifyingTransport)(nil)
	_ raft.WithPreVote = (*verifyingTransport)(nil)
	_ raft.WithClose   = (*verifyingTransport)(nil)
)

// checkResponder reports whether an answer with header h comes from server id.
func (t *verifyingTransport) checkResponder(id raft.ServerID, h raft.RPCHeader) error {
	if string(h.ID) == string(id) {
		return nil
	}
	if t.mismatch != nil {
		t.mismatch(id, string(h.ID))
	}
	return fmt.Errorf("%w: sent to server %s, answered by server %q", errIdentityMismatch, id, h.ID)
}

func (t *verifyingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if err := t.NetworkTransport.AppendEntries(id, target, args, resp); err != nil {
		return err
	}
	return t.checkResponder(id, resp.RPCHeader)
}

func (t *verifyingTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if err := t.NetworkTransport.RequestVote(id, target, args, resp); err != nil {
		return err
	}
	if err := t.checkResponder(id, resp.RPCHeader); err != nil {
		resp.Granted = false
		return err
	}
	return nil
}

func (t *verifyingTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if err := t.NetworkTransport.RequestPreVote(id, target, args, resp); err != nil {
		return err
	}
	if err := t.checkResponder(id, resp.RPCHeader); err != nil {
		resp.Granted = false
		return err
	}
	return nil
}

func (t *verifyingTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	vp := &verifyingPipeline{AppendPipeline: p, t: t, id: id, out: make(chan raft.AppendFuture, 128), done: make(chan struct{})}
	go vp.run()
	return vp, nil
}

// verifyingPipeline passes the pipeline's answers on, marking one from another
// server as failed: raft then stops pipelining to that server and falls back to
// AppendEntries, where the answer is refused.
type verifyingPipeline struct {
	raft.AppendPipeline
	t         *verifyingTransport
	id        raft.ServerID
	out       chan raft.AppendFuture
	done      chan struct{}
	closeOnce sync.Once
}

func (p *verifyingPipeline) run() {
	in := p.AppendPipeline.Consumer()
	for {
		select {
		case f := <-in:
			if f.Error() == nil {
				if resp := f.Response(); p.t.checkResponder(p.id, resp.RPCHeader) != nil {
					resp.Success = false
				}
			}
			select {
			case p.out <- f:
			case <-p.done:
				return
			}
		case <-p.done:
			return
		}
	}
}

func (p *verifyingPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

func (p *verifyingPipeline) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return p.AppendPipeline.Close()
}
