package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// kvFSM is the test FSM: a map fed with "set k v" commands.
type kvFSM struct {
	mu   sync.Mutex
	data map[string]string
}

func newKV() *kvFSM { return &kvFSM{data: map[string]string{}} }

// ApplyBatch returns the previous value of each key set.
func (f *kvFSM) ApplyBatch(logs []*raft.Log) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			panic(fmt.Sprintf("kvFSM got log type %v", l.Type))
		}
		parts := strings.SplitN(string(l.Data), " ", 3)
		if len(parts) != 3 || parts[0] != "set" {
			panic(fmt.Sprintf("kvFSM: bad command %q", l.Data))
		}
		out[i] = f.data[parts[1]]
		f.data[parts[1]] = parts[2]
	}
	return out
}

func (f *kvFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	return kvSnapshot(f.dump()), nil
}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	data := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return err
	}
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return nil
}

func (f *kvFSM) get(k string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data[k]
}

func (f *kvFSM) dump() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.data)
}

type kvSnapshot map[string]string

func (s kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(map[string]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s kvSnapshot) Release() {}

// testMaster is one master of a test cluster; restart keeps its config.
type testMaster struct {
	cfg  Config
	fsm  *kvFSM
	node *Node
}

func testLogger() *slog.Logger {
	if os.Getenv("CONSENSUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Test ports come from below the kernel's ephemeral range, handed out once
// per process: a port picked by binding ":0" and closing can be taken by an
// outbound connection before the master binds it.
var ports = struct {
	sync.Mutex
	next int
}{next: 20000 + rand.IntN(4000)}

// freeAddr returns a loopback address whose port is free for TCP and UDP
// (memberlist binds both).
func freeAddr(t *testing.T) string {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	for range 1000 {
		addr := fmt.Sprintf("127.0.0.1:%d", ports.next)
		ports.next++
		if ports.next >= 30000 {
			ports.next = 20000
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = l.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		_ = pc.Close()
		return addr
	}
	t.Fatal("no free port")
	return ""
}

func testConfig(t *testing.T, name string) Config {
	return Config{
		Name:               name,
		DataDir:            t.TempDir(),
		RaftAddr:           freeAddr(t),
		GossipAddr:         freeAddr(t),
		APIAddr:            "http://" + name + ".test:7000",
		Logger:             testLogger().With("test", t.Name(), "master", name),
		HeartbeatTimeout:   400 * time.Millisecond,
		ElectionTimeout:    400 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		GossipLocal:        true,
	}
}

func startMaster(t *testing.T, cfg Config) *testMaster {
	t.Helper()
	m := &testMaster{cfg: cfg}
	m.start(t)
	return m
}

func (m *testMaster) start(t *testing.T) {
	t.Helper()
	m.fsm = newKV()
	cfg := m.cfg
	cfg.FSM = m.fsm
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	m.node = n
	t.Cleanup(func() { _ = n.Shutdown() })
}

func (m *testMaster) stop(t *testing.T) {
	t.Helper()
	if err := m.node.Shutdown(); err != nil {
		t.Fatalf("shutdown %s: %v", m.cfg.Name, err)
	}
}

// crash stops m as kill -9 would, as far as the others can tell: no goodbye, no
// gossip leave; raft and gossip just stop answering.
func (m *testMaster) crash(t *testing.T) {
	t.Helper()
	n := m.node
	n.shutdownOnce.Do(func() {
		close(n.shutdownCh)
		_ = n.ml.Shutdown()
		_ = n.raft.Shutdown().Error()
		n.trans.CloseStreams()
		n.wg.Wait()
		_ = n.store.Close()
	})
}

// startCluster starts n masters expecting n; all but the first join the
// first by gossip. It returns once one of them leads.
func startCluster(t *testing.T, n int, tweak func(*Config)) []*testMaster {
	t.Helper()
	var ms []*testMaster
	var seed string
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("m%d", i+1))
		cfg.BootstrapExpect = n
		if i == 0 {
			seed = cfg.GossipAddr
		} else {
			cfg.Join = []string{seed}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		ms = append(ms, startMaster(t, cfg))
	}
	waitLeader(t, ms)
	return ms
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLeader waits until exactly one running master has established
// leadership and returns it.
func waitLeader(t *testing.T, ms []*testMaster) *testMaster {
	t.Helper()
	var leader *testMaster
	waitFor(t, 10*time.Second, "an established leader", func() bool {
		leader = nil
		count := 0
		for _, m := range ms {
			if m.running() && m.node.established.Load() && m.node.IsLeader() {
				leader = m
				count++
			}
		}
		return count == 1
	})
	return leader
}

func (m *testMaster) running() bool {
	select {
	case <-m.node.shutdownCh:
		return false
	default:
		return true
	}
}

func followers(ms []*testMaster, leader *testMaster) []*testMaster {
	var out []*testMaster
	for _, m := range ms {
		if m != leader && m.running() {
			out = append(out, m)
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// set applies "set k v" through m, which must lead, and returns the index.
func set(t *testing.T, m *testMaster, k, v string) uint64 {
	t.Helper()
	idx, _, err := m.node.Apply(ctxT(t), []byte("set "+k+" "+v))
	if err != nil {
		t.Fatalf("apply set %s %s on %s: %v", k, v, m.cfg.Name, err)
	}
	return idx
}

// write applies "set k v" through whichever master leads, retrying when
// leadership moves (a starved test machine can lose a leader), as a client
// would; "set" is idempotent.
func write(t *testing.T, ms []*testMaster, k, v string) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leader := waitLeader(t, ms)
		idx, _, err := leader.node.Apply(ctxT(t), []byte("set "+k+" "+v))
		if err == nil {
			return idx
		}
		if !retryable(err) || time.Now().After(deadline) {
			t.Fatalf("apply set %s %s on %s: %v", k, v, leader.cfg.Name, err)
		}
	}
}

// readIndex returns a read index from whichever master leads, and that master.
func readIndex(t *testing.T, ms []*testMaster) (uint64, *testMaster) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leader := waitLeader(t, ms)
		idx, err := leader.node.ReadIndex(ctxT(t))
		if err == nil {
			return idx, leader
		}
		if !retryable(err) || time.Now().After(deadline) {
			t.Fatalf("read index on %s: %v", leader.cfg.Name, err)
		}
	}
}

func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost)
}

func waitApplied(t *testing.T, m *testMaster, idx uint64) {
	t.Helper()
	if err := m.node.WaitApplied(ctxT(t), idx); err != nil {
		t.Fatalf("%s: %v", m.cfg.Name, err)
	}
}

// voters returns the names of the voters in n's raft configuration, sorted.
func voters(t *testing.T, n *Node) []string {
	t.Helper()
	servers, err := n.Configuration()
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	var out []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter.String() {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

// voterIDs returns the server IDs of the voters in n's raft configuration, sorted.
func voterIDs(t *testing.T, n *Node) []string {
	t.Helper()
	servers, err := n.Configuration()
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	var out []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter.String() {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out
}
