package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// Member statuses as reported by Members.
const (
	StatusAlive = "alive"
	StatusDead  = "dead"
	StatusLeft  = "left"
)

const roleMaster = "master"

// nodeMeta is what a master publishes about itself in gossip. memberlist
// limits it to 512 bytes, so keep the keys short.
type nodeMeta struct {
	Role     string `json:"role"`
	ID       string `json:"id,omitempty"` // server ID (raft ServerID)
	API      string `json:"api,omitempty"`
	Raft     string `json:"raft"`
	Expect   int    `json:"expect,omitempty"`
	HasState bool   `json:"state,omitempty"`
	Cluster  string `json:"cluster,omitempty"` // cluster ID, once this master belongs to one
	Plan     string `json:"plan,omitempty"`    // cluster ID of the bootstrap it proposes
}

// serverID is the member's raft ServerID; masters from before server IDs were
// published used their name.
func (m memberState) serverID() string {
	if m.meta.ID != "" {
		return m.meta.ID
	}
	return m.name
}

// Gossip user messages: one type byte, then the payload.
const msgLeaving byte = 1 // payload: the name of the master that is leaving

// memberState is this node's view of one gossip member.
type memberState struct {
	name    string
	gossip  string
	meta    nodeMeta
	status  string
	leaving bool // said goodbye before it left: "left" rather than "dead"
}

// gossip holds the memberlist delegate state. Its mutex is never held while
// calling into memberlist: memberlist calls the delegate with its own locks held.
type gossip struct {
	mu      sync.Mutex
	meta    nodeMeta
	members map[string]*memberState

	kick func() // wakes the bootstrap and reconcile loops
	log  *slog.Logger

	refusedMu sync.Mutex
	refused   map[string]string // peer name -> cluster ID already logged as refused

	dataDir, self string // where the known peers are recorded; own gossip address
	saveMu        sync.Mutex
	saved         []string
}

func (g *gossip) NodeMeta(limit int) []byte {
	g.mu.Lock()
	b, err := json.Marshal(g.meta)
	g.mu.Unlock()
	if err != nil || len(b) > limit {
		// Cannot happen with our fixed fields and sane addresses; an empty meta
		// makes the node invisible as a master, which is the safe failure.
		return nil
	}
	return b
}

// setMeta changes this master's published meta; the caller then publishes it with
// memberlist's UpdateNode. It reports whether anything changed.
func (g *gossip) setMeta(change func(*nodeMeta)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	before := g.meta
	change(&g.meta)
	return g.meta != before
}

func (g *gossip) localMeta() nodeMeta {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.meta
}

// NotifyAlive refuses masters of another cluster: they are never members of ours.
func (g *gossip) NotifyAlive(n *memberlist.Node) error { return g.admit(n) }

// NotifyMerge refuses a join with (or by) a gossip pool that holds masters of
// another cluster.
func (g *gossip) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := g.admit(n); err != nil {
			return err
		}
	}
	return nil
}

func (g *gossip) admit(n *memberlist.Node) error {
	var meta nodeMeta
	if json.Unmarshal(n.Meta, &meta) != nil || meta.Role != roleMaster {
		return nil
	}
	own := g.localMeta().Cluster
	if own == "" || meta.Cluster == "" || meta.Cluster == own {
		return nil
	}
	g.refusedMu.Lock()
	logged := g.refused[n.Name] == meta.Cluster
	if !logged {
		if g.refused == nil {
			g.refused = map[string]string{}
		}
		g.refused[n.Name] = meta.Cluster
	}
	g.refusedMu.Unlock()
	if !logged && g.log != nil {
		g.log.Error("refusing a master of another cluster: check --join addresses; a master moved to this cluster needs an empty data dir",
			"peer", n.Name, "peer_addr", net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
			"peer_cluster", meta.Cluster, "cluster", own)
	}
	return fmt.Errorf("master %s belongs to cluster %s, this one to cluster %s", n.Name, meta.Cluster, own)
}

func (g *gossip) NotifyMsg(b []byte) {
	if len(b) < 2 || b[0] != msgLeaving {
		return
	}
	name := string(b[1:])
	g.mu.Lock()
	if m, ok := g.members[name]; ok {
		m.leaving = true
		if m.status == StatusDead {
			m.status = StatusLeft
		}
	}
	g.mu.Unlock()
}

func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (g *gossip) LocalState(join bool) []byte                { return nil }
func (g *gossip) MergeRemoteState(buf []byte, join bool)     {}

func (g *gossip) NotifyJoin(n *memberlist.Node)   { g.update(n, true) }
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.update(n, false) }

func (g *gossip) update(n *memberlist.Node, joined bool) {
	var meta nodeMeta
	if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.Role != roleMaster {
		return // not one of ours
	}
	g.mu.Lock()
	m, ok := g.members[n.Name]
	if !ok {
		m = &memberState{name: n.Name}
		g.members[n.Name] = m
	}
	m.gossip = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	m.meta = meta
	if joined || m.status != StatusAlive {
		m.status, m.leaving = StatusAlive, false
	}
	g.mu.Unlock()
	g.savePeers()
	g.kick()
}

func (g *gossip) NotifyLeave(n *memberlist.Node) {
	g.mu.Lock()
	if m, ok := g.members[n.Name]; ok {
		m.status = StatusDead
		if m.leaving {
			m.status = StatusLeft
		}
	}
	g.mu.Unlock()
	g.kick()
}

// snapshot returns a copy of every known master, sorted by name.
func (g *gossip) snapshot() []memberState {
	g.mu.Lock()
	out := make([]memberState, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, *m)
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b memberState) int { return strings.Compare(a.name, b.name) })
	return out
}

func (g *gossip) member(name string) (memberState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[name]
	if !ok {
		return memberState{}, false
	}
	return *m, true
}

// formation is what planFormation decided.
type formation struct {
	Servers   []raft.Server // configuration to bootstrap, sorted by server ID
	Plan      string        // cluster ID of Servers, to publish as a proposal ("" proposes none)
	Bootstrap bool          // every master of Servers proposes Plan: bootstrap now
	Join      bool          // a cluster exists: wait for its leader to add this master
	Reason    string        // why not bootstrapping (for the log); "" when Bootstrap
	Warn      bool          // Reason is a misconfiguration an operator must fix
}

// planFormation decides from what gossip shows whether this master (server ID self,
// started with --bootstrap-expect expect) bootstraps a new cluster. A cluster is
// bootstrapped once (Consul's and Nomad's rule, made strict):
//   - exactly expect masters started with --bootstrap-expect are alive (join-only
//     masters wait to be added and do not count): more means masters of another
//     formation are in view and nobody may choose among them;
//   - all of them expect the same number;
//   - none has raft state or a cluster ID, unless it bootstrapped this very
//     configuration (it got there first);
//   - every one of them proposes the same configuration (its cluster ID, in its
//     gossip meta): the masters agree on it before any of them bootstraps.
//
// Anyone else waits, and is added by the leader once a cluster exists.
func planFormation(self string, expect int, members []memberState) formation {
	if expect <= 0 {
		return formation{Join: true, Reason: "no --bootstrap-expect: waiting to be added to a cluster"}
	}
	var cands, stateful []memberState
	for _, m := range members {
		if m.status != StatusAlive {
			continue
		}
		if m.meta.HasState || m.meta.Cluster != "" {
			stateful = append(stateful, m)
		}
		if m.meta.Expect > 0 || m.meta.HasState || m.meta.Cluster != "" {
			cands = append(cands, m)
		}
	}
	exists := func(why string) formation {
		return formation{Join: true, Reason: fmt.Sprintf("a cluster exists (%s has raft state): waiting to be added by its leader", why)}
	}
	if len(cands) != expect {
		if len(stateful) > 0 {
			return exists(stateful[0].name)
		}
		if len(cands) > expect {
			return formation{Warn: true, Reason: fmt.Sprintf("%d masters with --bootstrap-expect are in view, more than the %d expected; "+
				"stop the extra masters or give them all the same, right --bootstrap-expect", len(cands), expect)}
		}
		return formation{Reason: fmt.Sprintf("waiting for %d masters with --bootstrap-expect, %d in view", expect, len(cands))}
	}
	for _, m := range cands {
		if m.meta.Expect != expect {
			if len(stateful) > 0 {
				return exists(stateful[0].name)
			}
			return formation{Warn: true, Reason: fmt.Sprintf("master %s expects %d masters, this one %d; "+
				"every master started with --bootstrap-expect must expect the same number", m.name, m.meta.Expect, expect)}
		}
	}
	slices.SortFunc(cands, func(a, b memberState) int { return strings.Compare(a.serverID(), b.serverID()) })
	servers := make([]raft.Server, len(cands))
	for i, m := range cands {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.serverID()), Address: raft.ServerAddress(m.meta.Raft)}
	}
	plan := clusterIDFor(servers)
	for _, m := range stateful {
		if m.meta.Cluster != plan {
			return exists(m.name)
		}
	}
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == self }) {
		return formation{Reason: "this master is not in its own gossip view yet"}
	}
	f := formation{Servers: servers, Plan: plan}
	for _, m := range cands {
		if m.serverID() != self && m.meta.Plan != plan {
			f.Reason = fmt.Sprintf("proposed cluster %s of %d masters; waiting for %s to agree", plan, expect, m.name)
			return f
		}
	}
	f.Bootstrap = true
	return f
}

// newMemberlistConfig builds the memberlist config for cfg; bind and
// advertise are both GossipAddr.
func newMemberlistConfig(cfg *Config, g *gossip) (*memberlist.Config, error) {
	host, portStr, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("parse gossip address %s: %w", cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("parse gossip address %s: %w", cfg.GossipAddr, err)
	}
	ip, err := net.ResolveIPAddr("ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve gossip address %s: %w", cfg.GossipAddr, err)
	}
	mc := memberlist.DefaultLANConfig()
	if cfg.GossipLocal {
		mc = memberlist.DefaultLocalConfig()
		// Full state exchange is cheap among a handful of local masters and
		// bounds how long any missed update can stay unknown.
		mc.PushPullInterval = 2 * time.Second
	}
	// A broadcast is sent RetransmitMult*ceil(log10(n+1)) times in all, to
	// random peers. With the local default of 2 and four masters, each sender
	// reaches only two of three peers, and a leader that misses a joiner's
	// alive message would not add it until the next push/pull.
	mc.RetransmitMult = max(mc.RetransmitMult, 4)
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = ip.String(), port
	mc.AdvertiseAddr, mc.AdvertisePort = ip.String(), port
	mc.Delegate = g
	mc.Events = g
	mc.Alive = g
	mc.Merge = g
	mc.Logger = newStdLogger(cfg.Logger, "gossip")
	return mc, nil
}

// joinLoop joins the configured gossip peers, retrying with backoff until one
// answers or the node shuts down.
func (n *Node) joinLoop(addrs []string) {
	defer n.wg.Done()
	backoff := 500 * time.Millisecond
	for {
		num, err := n.ml.Join(addrs)
		if num > 0 {
			n.log.Info("joined gossip", "peers", addrs, "contacted", num)
			return
		}
		n.log.Warn("join gossip failed, retrying", "peers", addrs, "retry_in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-n.shutdownCh:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// formationLoop bootstraps the cluster when planFormation says so, publishes in
// gossip once raft state exists, and records the cluster ID once this master
// belongs to a cluster. It ends when all of that is done.
func (n *Node) formationLoop() {
	defer n.wg.Done()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		if n.formationStep() {
			return
		}
		select {
		case <-n.shutdownCh:
			return
		case <-ticker.C:
		case <-n.formationKick:
		}
	}
}

// formationStep reports true when there is nothing left to do.
func (n *Node) formationStep() bool {
	has, err := raft.HasExistingState(n.logs, n.stable, n.snaps)
	if err != nil {
		n.log.Warn("check raft state", "error", err)
		return false
	}
	if !has {
		f := planFormation(n.serverID, n.cfg.BootstrapExpect, n.gossip.snapshot())
		if f.Reason != n.formationReason {
			n.formationReason = f.Reason
			switch {
			case f.Warn:
				n.log.Warn("not bootstrapping: "+f.Reason, "bootstrap_expect", n.cfg.BootstrapExpect)
			case f.Reason != "":
				n.log.Info("not bootstrapping: "+f.Reason, "bootstrap_expect", n.cfg.BootstrapExpect)
			}
		}
		if n.gossip.setMeta(func(m *nodeMeta) { m.Plan = f.Plan }) {
			n.publishMeta("publish bootstrap proposal")
		}
		if !f.Bootstrap {
			return false
		}
		err := n.raft.BootstrapCluster(raft.Configuration{Servers: f.Servers}).Error()
		switch {
		case err == nil:
			n.log.Info("bootstrapped new cluster", "cluster_id", f.Plan, "servers", serverIDs(f.Servers))
			if err := n.setClusterID(f.Plan); err != nil {
				n.log.Warn("record cluster ID", "error", err)
			}
		case errors.Is(err, raft.ErrCantBootstrap):
			// Raced with a leader adding us: the state exists now.
		default:
			n.log.Warn("bootstrap cluster", "error", err)
			return false
		}
	}
	// The replicated cluster ID, once this master's log holds it, is the one.
	if cid := n.fsm.reg.clusterID(); cid != "" && cid != n.clusterID() {
		if old := n.clusterID(); old != "" {
			n.log.Warn("the raft log names another cluster ID than the data dir; the log wins", "data_dir_cluster_id", old, "cluster_id", cid)
		}
		if err := n.setClusterID(cid); err != nil {
			n.log.Warn("record cluster ID", "error", err)
			return false
		}
		n.log.Info("joined cluster", "cluster_id", cid)
	}
	if n.gossip.setMeta(func(m *nodeMeta) { m.HasState = true }) || !n.statePublished {
		if !n.publishMeta("publish raft state in gossip") {
			return false
		}
		n.statePublished = true
	}
	return n.fsm.reg.clusterID() != ""
}

// setClusterID records the cluster ID in the data dir and publishes it in gossip.
func (n *Node) setClusterID(cid string) error {
	if err := storeIdentity(n.stable, n.cfg.DataDir, identity{ServerID: n.serverID, ClusterID: cid}); err != nil {
		return err
	}
	if n.gossip.setMeta(func(m *nodeMeta) { m.Cluster = cid }) {
		n.publishMeta("publish cluster ID")
	}
	return nil
}

// publishMeta sends this master's changed meta to the others.
func (n *Node) publishMeta(what string) bool {
	if err := n.ml.UpdateNode(5 * time.Second); err != nil {
		n.log.Warn(what, "error", err)
		return false
	}
	return true
}

func serverIDs(servers []raft.Server) []string {
	ids := make([]string, len(servers))
	for i, s := range servers {
		ids[i] = string(s.ID)
	}
	return ids
}

// sayGoodbye tells the other masters that this one is leaving on purpose, so
// that they report it "left" rather than "dead". Each send is bounded by
// memberlist's TCP timeout; unreachable peers fail fast on a live host.
func (n *Node) sayGoodbye() {
	msg := append([]byte{msgLeaving}, n.cfg.Name...)
	var wg sync.WaitGroup
	for _, m := range n.gossip.snapshot() {
		if m.name == n.cfg.Name || m.status != StatusAlive {
			continue
		}
		to, err := gossipNode(m)
		if err != nil {
			continue
		}
		wg.Go(func() {
			if err := n.ml.SendReliable(to, msg); err != nil {
				n.log.Debug("say goodbye", "peer", m.name, "error", err)
			}
		})
	}
	wg.Wait()
}

// gossipNode builds the memberlist address of m from our own copy, rather
// than sharing memberlist's internal nodes.
func gossipNode(m memberState) (*memberlist.Node, error) {
	host, portStr, err := net.SplitHostPort(m.gossip)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, err
	}
	return &memberlist.Node{Name: m.name, Addr: net.ParseIP(host), Port: uint16(port)}, nil
}
