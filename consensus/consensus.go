// Package consensus replicates the masters' state: it runs Raft (hashicorp/raft,
// log and stable store in raft-boltdb) among the masters, finds them and forms
// the cluster through gossip (hashicorp/memberlist), and tells the caller who
// leads and at which API address.
//
// It replicates opaque commands into the caller's raft.BatchingFSM and must
// never learn what they mean: nothing about pods, stores or HTTP belongs here.
// Its own replicated state is only the server registry (registry.go: cluster ID,
// server names, tombstones), in entries the caller's FSM never sees. Masters are
// known to raft by a persistent server ID, not by name (identity.go).
// It never forwards requests either; callers forward writes to Leader().APIAddr
// over their own RPC.
package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

var (
	// ErrNotLeader is returned by leader-only operations on a follower; the
	// caller forwards to Leader().
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrNoLeader is returned instead of ErrNotLeader when no leader is known
	// at all (an election is under way). errors.Is(ErrNoLeader, ErrNotLeader).
	ErrNoLeader = fmt.Errorf("%w: no leader elected", ErrNotLeader)
	// ErrUnknownServer is returned by RemoveServer for a name or server ID that
	// is not in the raft configuration.
	ErrUnknownServer = errors.New("consensus: not in the raft configuration")
	// ErrShutdown is returned once the node is shut down.
	ErrShutdown = errors.New("consensus: node is shut down")
)

// Config configures one master's consensus node.
type Config struct {
	Name            string // unique master name: memberlist node name, the label people use
	DataDir         string // raft state lives in DataDir/raft, the identity in DataDir/identity.json
	RaftAddr        string // host:port to bind and advertise for raft
	GossipAddr      string // host:port to bind and advertise for memberlist
	APIAddr         string // this master's API URL, published in gossip
	BootstrapExpect int    // >0: form a new cluster once this many masters see each other
	Join            []string
	FSM             raft.BatchingFSM // receives only raft.LogCommand entries
	Logger          *slog.Logger

	// StreamLayer replaces the plain TCP raft transport (for TLS); RaftAddr
	// is then only published, not bound.
	StreamLayer raft.StreamLayer

	// OnLeadership, when set, is called with true once this node leads and
	// raft.Barrier succeeded, and with false when it stops leading. Calls are
	// serial and in order; a slow callback delays the next leadership change.
	OnLeadership func(isLeader bool)

	// Tuning; zero means the production default. Tests set them small.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	GossipLocal        bool // memberlist.DefaultLocalConfig timings (tests, loopback)
}

// Member is one master as seen through gossip and the raft configuration.
type Member struct {
	Name       string
	ServerID   string // raft ServerID; a master with a new data dir has a new one
	ClusterID  string // "" until the master belongs to a cluster
	APIAddr    string
	RaftAddr   string
	GossipAddr string
	Status     string // StatusAlive, StatusDead or StatusLeft
	Leader     bool
	Voter      bool // in the raft configuration as a voter
}

// Server is one entry of the raft configuration.
type Server struct {
	ID       string // server ID
	Name     string // the master's name as last known ("" if never known)
	Address  string
	Suffrage string // "Voter", "Nonvoter", "Staging"
	Leader   bool
}

// Node is one master's consensus participant.
type Node struct {
	cfg    Config
	log    *slog.Logger
	fsm    *trackingFSM
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	store  *raftboltdb.BoltStore
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	ml     *memberlist.Memberlist
	gossip *gossip

	serverID string // raft ServerID, from the identity in the data dir

	statePublished  bool            // owned by formationLoop
	formationReason string          // owned by formationLoop: last reason logged
	refusedLogged   map[string]bool // owned by the leader loop
	mismatchMu      sync.Mutex
	mismatchLogged  map[[2]string]bool
	mismatchAt      map[string]time.Time // server ID -> last raft answer from another ID

	established     atomic.Bool   // leadership reported to the caller
	establishedTerm atomic.Uint64 // term in which the barrier succeeded
	leaderChanges   chan bool

	formationKick chan struct{}
	reconcileKick chan struct{}
	reconnectKick chan struct{}
	shutdownCh    chan struct{}
	shutdownOnce  sync.Once
	shutdownErr   error
	wg            sync.WaitGroup
}

const logCacheSize = 512

// New opens the raft stores in cfg.DataDir, starts raft and gossip, joins
// cfg.Join in the background and starts the formation and leadership loops.
func New(cfg Config) (*Node, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("consensus: Name is required")
	case cfg.DataDir == "":
		return nil, errors.New("consensus: DataDir is required")
	case cfg.RaftAddr == "" || cfg.GossipAddr == "":
		return nil, errors.New("consensus: RaftAddr and GossipAddr are required")
	case cfg.FSM == nil:
		return nil, errors.New("consensus: FSM is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{
		cfg:           cfg,
		log:           cfg.Logger.With("component", "consensus"),
		fsm:           newTrackingFSM(cfg.FSM),
		leaderChanges: make(chan bool, 1),
		formationKick: make(chan struct{}, 1),
		reconcileKick: make(chan struct{}, 1),
		reconnectKick: make(chan struct{}, 1),
		shutdownCh:    make(chan struct{}),
	}
	var closers []func()
	fail := func(err error) (*Node, error) {
		for _, c := range slices.Backward(closers) {
			c()
		}
		return nil, err
	}

	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft directory %s: %w", dir, err)
	}
	dbPath := filepath.Join(dir, "raft.db")
	store, err := raftboltdb.NewBoltStore(dbPath)
	if err != nil {
		return nil, fmt.Errorf("open raft log store %s: %w", dbPath, err)
	}
	closers = append(closers, func() { _ = store.Close() })
	n.store, n.stable = store, store
	if n.logs, err = raft.NewLogCache(logCacheSize, store); err != nil {
		return fail(fmt.Errorf("create raft log cache: %w", err))
	}
	raftLog := newHCLogger(cfg.Logger, "raft", hclog.Info)
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, 2, raftLog.Named("snapshot")); err != nil {
		return fail(fmt.Errorf("open raft snapshot store in %s: %w", dir, err))
	}
	hasState, err := raft.HasExistingState(n.logs, n.stable, n.snaps)
	if err != nil {
		return fail(fmt.Errorf("check raft state in %s: %w", dir, err))
	}
	id, warn, err := loadIdentity(n.stable, cfg.DataDir, cfg.Name, hasState)
	if err != nil {
		return fail(fmt.Errorf("load master identity in %s: %w", cfg.DataDir, err))
	}
	if warn != "" {
		n.log.Warn(warn, "name", cfg.Name)
	}
	n.serverID = id.ServerID
	n.refusedLogged = map[string]bool{}
	n.fsm.reg.changed = n.kickFormation

	trans, err := newTransport(&n.cfg, raftLog.Named("transport"))
	if err != nil {
		return fail(err)
	}
	n.trans = trans
	closers = append(closers, func() { _ = trans.Close() })
	vtrans := &verifyingTransport{NetworkTransport: trans, mismatch: n.answeredByAnother}

	if n.raft, err = raft.NewRaft(raftConfig(&cfg, n.serverID, raftLog), n.fsm, n.logs, n.stable, n.snaps, vtrans); err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	closers = append(closers, func() { _ = n.raft.Shutdown().Error() })

	n.gossip = &gossip{
		meta: nodeMeta{
			Role:     roleMaster,
			ID:       id.ServerID,
			API:      cfg.APIAddr,
			Raft:     cfg.RaftAddr,
			Expect:   cfg.BootstrapExpect,
			HasState: hasState,
			Cluster:  id.ClusterID,
		},
		members: map[string]*memberState{},
		kick:    n.kick,
		log:     n.log.With("part", "gossip"),
		dataDir: cfg.DataDir,
		self:    cfg.GossipAddr,
	}
	n.statePublished = hasState
	mc, err := newMemberlistConfig(&n.cfg, n.gossip)
	if err != nil {
		return fail(err)
	}
	if n.ml, err = memberlist.Create(mc); err != nil {
		return fail(fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err))
	}

	n.wg.Add(3)
	go n.monitorLeadership()
	go n.formationLoop()
	go n.reconnectLoop()
	// A restarted master also rejoins the masters it knew.
	known := loadPeers(cfg.DataDir)
	if join := withoutAddr(append(slices.Clone(cfg.Join), known...), cfg.GossipAddr); len(join) > 0 {
		n.wg.Add(1)
		go n.joinLoop(join)
	}
	n.log.Info("consensus node started", "name", cfg.Name, "server_id", id.ServerID, "cluster_id", id.ClusterID, "raft_addr", cfg.RaftAddr,
		"gossip_addr", cfg.GossipAddr, "existing_state", hasState, "bootstrap_expect", cfg.BootstrapExpect)
	return n, nil
}

func raftConfig(cfg *Config, serverID string, logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(serverID)
	rc.Logger = logger
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	// Keep a shortened heartbeat valid without making callers set every knob.
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, rc.HeartbeatTimeout)
	rc.ElectionTimeout = max(rc.ElectionTimeout, rc.HeartbeatTimeout)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	return rc
}

func withoutAddr(addrs []string, self string) []string {
	var out []string
	for _, a := range addrs {
		if a != "" && a != self {
			out = append(out, a)
		}
	}
	return out
}

// kick wakes the formation and reconcile loops after a gossip change. It is
// called by memberlist with its locks held, so it never blocks.
func (n *Node) kick() {
	for _, ch := range []chan struct{}{n.formationKick, n.reconcileKick} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// kickFormation wakes the formation loop (the registry changed). Never blocks.
func (n *Node) kickFormation() {
	select {
	case n.formationKick <- struct{}{}:
	default:
	}
}

// answeredByAnother is told that a raft answer came from another server ID than the
// one addressed: it logs that once per pair, and has the reconnect loop join that
// server's gossip address, so that the new server there becomes known and replaces
// the entry (reconnect.go). Called from raft's replication; never blocks.
func (n *Node) answeredByAnother(want raft.ServerID, got string) {
	key := [2]string{string(want), got}
	n.mismatchMu.Lock()
	if n.mismatchLogged == nil {
		n.mismatchLogged = map[[2]string]bool{}
		n.mismatchAt = map[string]time.Time{}
	}
	logged := n.mismatchLogged[key]
	n.mismatchLogged[key] = true
	n.mismatchAt[string(want)] = time.Now()
	n.mismatchMu.Unlock()
	select {
	case n.reconnectKick <- struct{}{}:
	default:
	}
	if !logged {
		n.log.Warn("not counting a raft answer from another server than the one addressed: "+
			"a master lost its raft state and came back under a new server ID",
			"addressed", want, "answered_by", got)
	}
}

// ServerID is this master's server ID (its raft ServerID).
func (n *Node) ServerID() string { return n.serverID }

// ClusterID is the ID of the cluster this master belongs to, "" before it does.
func (n *Node) ClusterID() string { return n.clusterID() }

func (n *Node) clusterID() string { return n.gossip.localMeta().Cluster }

// memberByID finds the gossip member that publishes server ID id.
func (n *Node) memberByID(id string) (memberState, bool) {
	for _, m := range n.gossip.snapshot() {
		if m.serverID() == id {
			return m, true
		}
	}
	return memberState{}, false
}

// nameOf is the name of server ID id: from gossip, else from the registry.
func (n *Node) nameOf(id string) string {
	if m, ok := n.memberByID(id); ok {
		return m.name
	}
	if rec, ok := n.fsm.reg.server(id); ok {
		return rec.Name
	}
	return ""
}

// Apply replicates cmd and returns its log index and what the FSM returned
// for it. Leader only. If ctx ends first the command may still commit.
func (n *Node) Apply(ctx context.Context, cmd []byte) (uint64, any, error) {
	if n.raft.State() != raft.Leader {
		return 0, nil, n.notLeader()
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return 0, nil, err
	}
	f := n.raft.Apply(cmd, timeout)
	if err := wait(ctx, f); err != nil {
		return 0, nil, n.raftError("apply", err)
	}
	return f.Index(), f.Response(), nil
}

// IsLeader reports whether raft considers this node the leader. Leader-only
// background work should rather follow LeaderChanges, which waits for the
// barrier.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader with its API address. ok is false when no
// leader is known or its gossip entry (hence API address) is not known yet.
func (n *Node) Leader() (Member, bool) {
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		return Member{}, false
	}
	m, ok := n.memberByID(string(id))
	if !ok || m.meta.API == "" {
		return Member{Name: n.nameOf(string(id)), ServerID: string(id), RaftAddr: string(addr), Leader: true, Voter: true}, false
	}
	out := toMember(m)
	out.Leader, out.Voter = true, true
	return out, true
}

// Members returns every master gossip knows, sorted by name. Masters that
// died or left are listed while they are still in the raft configuration.
func (n *Node) Members() []Member {
	var voters map[string]bool
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		voters = map[string]bool{}
		for _, s := range f.Configuration().Servers {
			voters[string(s.ID)] = s.Suffrage == raft.Voter
		}
	}
	_, leader := n.raft.LeaderWithID()
	var out []Member
	for _, m := range n.gossip.snapshot() {
		voter, inConfig := voters[m.serverID()]
		if m.status != StatusAlive && !inConfig {
			continue
		}
		mm := toMember(m)
		mm.Voter = voter
		mm.Leader = raft.ServerID(m.serverID()) == leader
		out = append(out, mm)
	}
	return out
}

func toMember(m memberState) Member {
	return Member{
		Name:       m.name,
		ServerID:   m.serverID(),
		ClusterID:  m.meta.Cluster,
		APIAddr:    m.meta.API,
		RaftAddr:   m.meta.Raft,
		GossipAddr: m.gossip,
		Status:     m.status,
	}
}

// Configuration returns the latest raft configuration, sorted by ID.
func (n *Node) Configuration() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.raftError("read raft configuration", err)
	}
	_, leader := n.raft.LeaderWithID()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID:       string(s.ID),
			Name:     n.nameOf(string(s.ID)),
			Address:  string(s.Address),
			Suffrage: s.Suffrage.String(),
			Leader:   s.ID == leader,
		})
	}
	slices.SortFunc(out, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RemoveServer removes a stopped master, given by name or server ID, from the
// raft configuration for good: its server ID is tombstoned in the replicated
// registry, and no leader adds it back. Started again from the same data dir it
// stays out; emptied, it joins as a new server. Leader only. It refuses to remove
// this node and any master gossip sees alive.
func (n *Node) RemoveServer(ctx context.Context, nameOrID string) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.raftError("read raft configuration", err)
	}
	var targets []raft.ServerID
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == nameOrID || n.nameOf(string(s.ID)) == nameOrID {
			targets = append(targets, s.ID)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("remove master %s: %w", nameOrID, ErrUnknownServer)
	}
	for _, id := range targets {
		if string(id) == n.serverID {
			return fmt.Errorf("remove master %s: it is this node, the leader; stop it and remove it from another master", nameOrID)
		}
		if m, ok := n.memberByID(string(id)); ok && m.status == StatusAlive {
			return fmt.Errorf("remove master %s: gossip sees it alive; stop it first", nameOrID)
		}
	}
	prev := f.Index()
	for _, id := range targets {
		if err := n.removeServer(ctx, id, prev); err != nil {
			return fmt.Errorf("remove master %s: %w", nameOrID, err)
		}
		prev = 0
		n.log.Info("removed master from raft configuration; its server ID is tombstoned", "name", n.nameOf(string(id)), "server_id", id)
	}
	return nil
}

// ReadIndex returns the index a linearizable read must wait for (see
// WaitApplied). Leader only: it confirms leadership with a quorum first.
//
// The index is that of the last entry up to the commit index that the FSM
// sees; raft-internal entries after it (no-ops, barriers) change nothing and
// never reach the FSM, so waiting for them would block until the next write.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	// A new leader's commit index may lag until an entry of its own term is
	// committed; the barrier of establishLeadership guarantees that.
	if n.establishedTerm.Load() != n.raft.CurrentTerm() {
		timeout, err := enqueueTimeout(ctx)
		if err != nil {
			return 0, err
		}
		if err := wait(ctx, n.raft.Barrier(timeout)); err != nil {
			return 0, n.raftError("barrier", err)
		}
	}
	commit := n.raft.CommitIndex()
	if err := wait(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, n.raftError("verify leadership", err)
	}
	return n.lastFSMIndex(commit), nil
}

// lastFSMIndex walks back from index to the last entry the FSM is given.
// When the log does not tell (compacted, or an unusually long run of
// raft-internal entries) it returns index itself: waiting longer is safe.
func (n *Node) lastFSMIndex(index uint64) uint64 {
	const maxWalk = 1024
	first, err := n.logs.FirstIndex()
	if err != nil {
		return index
	}
	for i := index; i > 0 && i >= first && index-i < maxWalk; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return index
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return index
}

// WaitApplied blocks until this node's FSM has applied index (or later).
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied, advanced := n.fsm.appliedIndex()
		if applied >= index {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, applied, ctx.Err())
		case <-n.shutdownCh:
			return ErrShutdown
		}
	}
}

// AppliedIndex returns the index of the last entry this node's FSM applied.
func (n *Node) AppliedIndex() uint64 {
	applied, _ := n.fsm.appliedIndex()
	return applied
}

// LeaderChanges delivers true once this node leads and raft.Barrier succeeded,
// false when it stops leading. Only the latest value is kept for a slow
// reader; Config.OnLeadership sees every change.
func (n *Node) LeaderChanges() <-chan bool { return n.leaderChanges }

// Snapshot takes a raft snapshot and copies the FSM's snapshot bytes (what its
// FSMSnapshot.Persist wrote) to w, as a backup.
func (n *Node) Snapshot(w io.Writer) error {
	var (
		rc  io.ReadCloser
		err error
	)
	f := n.raft.Snapshot()
	switch err = f.Error(); {
	case err == nil:
		_, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		// The latest snapshot is current: copy that one.
		var metas []*raft.SnapshotMeta
		if metas, err = n.snaps.List(); err == nil {
			if len(metas) == 0 {
				return errors.New("snapshot: nothing to snapshot yet")
			}
			_, rc, err = n.snaps.Open(metas[0].ID)
		}
	default:
		return n.raftError("take snapshot", err)
	}
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer func() { _ = rc.Close() }()
	_, body, err := readSnapshotHeader(rc)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	return nil
}

// Shutdown leaves gossip, stops raft and closes the stores. It does not remove
// this master from the raft configuration: restarted with the same data
// directory, it rejoins.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		close(n.shutdownCh)
		var errs []error
		n.sayGoodbye()
		if err := n.ml.Leave(5 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("leave gossip: %w", err))
		}
		if err := n.ml.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("stop gossip: %w", err))
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("stop raft: %w", err))
		}
		n.trans.CloseStreams() // pooled outbound connections; raft leaves them open
		n.wg.Wait()
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft store: %w", err))
		}
		n.shutdownErr = errors.Join(errs...)
		n.log.Info("consensus node stopped")
	})
	return n.shutdownErr
}

// Raft is an escape hatch for tests and stats.
func (n *Node) Raft() *raft.Raft { return n.raft }

func (n *Node) notLeader() error {
	if _, id := n.raft.LeaderWithID(); id == "" {
		return ErrNoLeader
	}
	return ErrNotLeader
}

// raftError maps raft's sentinel errors to this package's and adds context.
func (n *Node) raftError(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost) && op != "apply":
		return n.notLeader()
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%s: %w (the entry may still commit)", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// enqueueTimeout turns ctx's deadline into a raft timeout (0 = none).
func enqueueTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	t := time.Until(d)
	if t <= 0 {
		return 0, context.DeadlineExceeded
	}
	return t, nil
}

// wait waits for a raft future or ctx, whichever ends first. Raft answers
// every future, at the latest on shutdown, so the helper goroutine ends.
func wait(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return f.Error()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
