package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
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
	API      string `json:"api,omitempty"`
	Raft     string `json:"raft"`
	Expect   int    `json:"expect,omitempty"`
	HasState bool   `json:"state,omitempty"`
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

func (g *gossip) setHasState() {
	g.mu.Lock()
	g.meta.HasState = true
	g.mu.Unlock()
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

// bootstrapServers decides the initial raft configuration from what gossip
// shows: once at least expect alive masters that were started with a
// bootstrap expectation see each other and none has raft state, the first
// expect of them by name form the cluster. Every candidate computes the same
// list. ok is false while the cluster must not (or need not) be formed.
func bootstrapServers(expect int, members []memberState) (servers []raft.Server, ok bool) {
	if expect <= 0 {
		return nil, false
	}
	var cands []memberState
	for _, m := range members {
		if m.status != StatusAlive {
			continue
		}
		if m.meta.HasState {
			return nil, false // a cluster exists; its leader will add us
		}
		if m.meta.Expect > 0 {
			cands = append(cands, m)
		}
	}
	if len(cands) < expect {
		return nil, false
	}
	slices.SortFunc(cands, func(a, b memberState) int { return strings.Compare(a.name, b.name) })
	for _, m := range cands[:expect] {
		servers = append(servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(m.name),
			Address:  raft.ServerAddress(m.meta.Raft),
		})
	}
	return servers, true
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

// formationLoop bootstraps the cluster when this node is one of the first
// BootstrapExpect masters, and publishes in gossip once raft state exists.
// It ends once the state is published.
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
		servers, ok := bootstrapServers(n.cfg.BootstrapExpect, n.gossip.snapshot())
		if !ok || !slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == raft.ServerID(n.cfg.Name) }) {
			return false
		}
		err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
		switch {
		case err == nil:
			n.log.Info("bootstrapped new cluster", "servers", serverIDs(servers))
		case errors.Is(err, raft.ErrCantBootstrap):
			// Raced with a leader adding us: the state exists now.
		default:
			n.log.Warn("bootstrap cluster", "error", err)
			return false
		}
	}
	n.gossip.setHasState()
	if !n.statePublished {
		if err := n.ml.UpdateNode(5 * time.Second); err != nil {
			n.log.Warn("publish raft state in gossip", "error", err)
			return false
		}
		n.statePublished = true
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
