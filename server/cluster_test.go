package server

// In-process masters on loopback with real Raft on disk: replication, failover, joins,
// removal, forwarding, linearizable reads and watches across a leader change, through a
// Connect client and a gRPC client.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// freeAddr returns a loopback address free for TCP and UDP (gossip binds both), from
// below the kernel's ephemeral port range so no outgoing connection takes it meanwhile.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatal("no free loopback port")
	return ""
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testCluster struct {
	t       *testing.T
	dir     string
	cfgs    []Config
	masters []*Master
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("ORCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (c *testCluster) config(i, expect int, join []string) Config {
	return Config{
		Name: fmt.Sprintf("m%d", i), DataDir: filepath.Join(c.dir, fmt.Sprintf("m%d", i)),
		APIAddr: freeAddr(c.t), RaftAddr: freeAddr(c.t), GossipAddr: freeAddr(c.t),
		BootstrapExpect: expect, Join: join, Logger: testLogger(c.t), HistorySize: 1000,
		HeartbeatTimeout: 400 * time.Millisecond, ElectionTimeout: 400 * time.Millisecond,
		LeaderLeaseTimeout: 300 * time.Millisecond, GossipLocal: true,
	}
}

// startCluster starts n masters that bootstrap together.
func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir()}
	for i := range n {
		var join []string
		if i > 0 {
			join = []string{c.cfgs[0].GossipAddr}
		}
		c.cfgs = append(c.cfgs, c.config(i, n, join))
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, m := range c.masters {
			if m != nil {
				m.Close()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range c.masters {
		if err := m.WaitReady(ctx); err != nil {
			t.Fatalf("%s not ready: %v", m.cfg.Name, err)
		}
	}
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	for len(c.masters) <= i {
		c.masters = append(c.masters, nil)
	}
	m, err := Start(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].Name, err)
	}
	m.api.LeaderWait = 5 * time.Second
	c.masters[i] = m
}

func (c *testCluster) stop(i int) {
	c.masters[i].Close()
	c.masters[i] = nil
}

func (c *testCluster) leader() int {
	c.t.Helper()
	idx := -1
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
		for i, m := range c.masters {
			if m != nil && m.node.IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

func (c *testCluster) follower() int {
	l := c.leader()
	for i, m := range c.masters {
		if m != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

// clients returns a Connect and a gRPC client of the ConfigMap service on master i.
func (c *testCluster) clients(i int) map[string]orchv1connect.ConfigMapServiceClient {
	hc, url := transport.Client(), c.masters[i].URL()
	return map[string]orchv1connect.ConfigMapServiceClient{
		"connect": orchv1connect.NewConfigMapServiceClient(hc, url),
		"grpc":    orchv1connect.NewConfigMapServiceClient(hc, url, connect.WithGRPC()),
	}
}

func cm(name string, data map[string]string) *orchv1.ConfigMap {
	return &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: name}, Data: data}
}

func TestClusterReplicatesAndReadsAreLinearizable(t *testing.T) {
	c := startCluster(t, 3)
	f := c.follower()
	for proto, cl := range c.clients(f) {
		ctx := context.Background()
		created, err := cl.Create(ctx, connect.NewRequest(cm("cfg-"+proto, map[string]string{"a": "1"})))
		if err != nil {
			t.Fatalf("%s: create through a follower: %v", proto, err)
		}
		meta := created.Msg.GetMetadata()
		if meta.GetUid() == "" || meta.GetResourceVersion() == "" || meta.GetNamespace() != "default" || created.Msg.GetKind() != "ConfigMap" {
			t.Errorf("%s: created object lacks defaults: %v", proto, created.Msg)
		}
		// Every master serves the write at once: reads are linearizable.
		for i := range c.masters {
			got, err := c.clients(i)[proto].Get(ctx, connect.NewRequest(&orchv1.GetRequest{Name: "cfg-" + proto}))
			if err != nil {
				t.Fatalf("%s: get from m%d: %v", proto, i, err)
			}
			if got.Msg.GetMetadata().GetUid() != meta.GetUid() {
				t.Errorf("%s: m%d returned uid %s, want %s", proto, i, got.Msg.GetMetadata().GetUid(), meta.GetUid())
			}
		}
		// Update with optimistic concurrency; a stale one is a conflict.
		up := created.Msg
		up.Data = map[string]string{"a": "2"}
		if _, err := cl.Update(ctx, connect.NewRequest(up)); err != nil {
			t.Fatalf("%s: update: %v", proto, err)
		}
		if _, err := cl.Update(ctx, connect.NewRequest(up)); connect.CodeOf(err) != connect.CodeAborted {
			t.Errorf("%s: stale update: %v, want Aborted", proto, err)
		}
		list, err := cl.List(ctx, connect.NewRequest(&orchv1.ListRequest{Namespace: "default"}))
		if err != nil {
			t.Fatal(err)
		}
		if list.Msg.GetKind() != "ConfigMapList" || list.Msg.GetMetadata().GetResourceVersion() == "" {
			t.Errorf("%s: list type meta %q rv %q", proto, list.Msg.GetKind(), list.Msg.GetMetadata().GetResourceVersion())
		}
		if _, err := cl.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Name: "cfg-" + proto})); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Name: "cfg-" + proto})); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s: get after delete: %v, want NotFound", proto, err)
		}
	}
}

func TestClusterBadInputWritesNothing(t *testing.T) {
	c := startCluster(t, 1)
	hc, url := transport.Client(), c.masters[0].URL()
	pods := orchv1connect.NewPodServiceClient(hc, url)
	ctx := context.Background()
	cases := []struct {
		name  string
		pod   *orchv1.Pod
		field string
	}{
		{"invalid name", &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "Bad_Name"}, Spec: &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}}}, "metadata.name"},
		{"missing image", &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "p"}, Spec: &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c"}}}}, "spec.containers[0].image"},
		{"bad quantity", &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "p"}, Spec: &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox",
			Resources: &orchv1.ResourceRequirements{Limits: map[string]string{"memory": "12XB"}}}}}}, "spec.containers[0].resources.limits[memory]"},
	}
	before := c.masters[0].node.AppliedIndex()
	for _, tc := range cases {
		_, err := pods.Create(ctx, connect.NewRequest(tc.pod))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", tc.name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.field) {
			t.Errorf("%s: error %q does not name %s", tc.name, msg, tc.field)
		}
	}
	if after := c.masters[0].node.AppliedIndex(); after != before {
		t.Errorf("bad input wrote to the log: index %d -> %d", before, after)
	}
}

func TestClusterFailoverRestartJoinRemove(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	old := c.leader()
	c.stop(old)
	start := time.Now()
	nl := c.leader()
	t.Logf("new leader m%d elected %v after the old one stopped", nl, time.Since(start))

	// Writes continue on the two left.
	var other int
	for i, m := range c.masters {
		if m != nil && i != nl {
			other = i
		}
	}
	for i := range 5 {
		if _, err := c.clients(other)["connect"].Create(ctx, connect.NewRequest(cm(fmt.Sprintf("after-%d", i), nil))); err != nil {
			t.Fatalf("write after failover: %v", err)
		}
	}
	// The old leader restarts from its data dir and catches up.
	c.start(old)
	waitFor(t, 15*time.Second, "old leader to catch up", func() bool {
		_, err := c.masters[old].api.Get(ctx, api.ConfigMapKind, &orchv1.GetRequest{Name: "after-4", Stale: true})
		return err == nil
	})

	// A new master joins by gossip and becomes a voter.
	c.cfgs = append(c.cfgs, c.config(3, 0, []string{c.cfgs[nl].GossipAddr}))
	c.start(3)
	waitFor(t, 15*time.Second, "m3 to become a voter", func() bool {
		servers, err := c.masters[nl].node.Configuration()
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Name == "m3" && s.Suffrage == "Voter" {
				return true
			}
		}
		return false
	})
	waitFor(t, 15*time.Second, "m3 to serve the data", func() bool {
		_, err := c.masters[3].api.Get(ctx, api.ConfigMapKind, &orchv1.GetRequest{Name: "after-4"})
		return err == nil
	})

	// Removing a running master is refused; a stopped one is removed.
	cluster := orchv1connect.NewClusterServiceClient(transport.Client(), c.masters[other].URL())
	if _, err := cluster.RemoveMaster(ctx, connect.NewRequest(&orchv1.RemoveMasterRequest{Name: "m3"})); err == nil {
		t.Error("removing a running master succeeded")
	}
	c.stop(3)
	waitFor(t, 15*time.Second, "m3 removed", func() bool {
		_, err := cluster.RemoveMaster(ctx, connect.NewRequest(&orchv1.RemoveMasterRequest{Name: "m3"}))
		return err == nil
	})
	// The master asked may be a follower that applies the new configuration a moment later.
	waitFor(t, 5*time.Second, "a configuration of 3 servers", func() bool {
		cfg, err := cluster.RaftConfiguration(ctx, connect.NewRequest(&orchv1.RaftConfigurationRequest{}))
		return err == nil && len(cfg.Msg.GetServers()) == 3
	})
}

func TestClusterNoLeaderIsUnavailable(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	f := c.follower()
	for i := range c.masters {
		if i != f {
			c.stop(i)
		}
	}
	_ = l
	c.masters[f].api.LeaderWait = time.Second
	start := time.Now()
	_, err := c.clients(f)["connect"].Create(context.Background(), connect.NewRequest(cm("x", nil)))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("write without quorum: %v, want Unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("write without quorum took %v to fail", d)
	}
}

// A watch survives a leader change: the client resumes from its last resourceVersion on
// another master and sees every change exactly once.
func TestClusterWatchSurvivesLeaderChange(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := c.leader()
	writer := c.follower()

	seen := map[string]int{}
	var lastRV string
	watch := func(i int, rv string, until func() bool) error {
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		st, err := c.clients(i)["connect"].Watch(wctx, connect.NewRequest(&orchv1.WatchRequest{Namespace: "default", ResourceVersion: rv}))
		if err != nil {
			return err
		}
		defer st.Close()
		for !until() && st.Receive() {
			e := st.Msg()
			if e.GetType() == api.Added {
				seen[e.GetObject().GetMetadata().GetName()]++
			}
			lastRV = e.GetObject().GetMetadata().GetResourceVersion()
		}
		return st.Err()
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := c.clients(writer)["connect"].Create(ctx, connect.NewRequest(cm(fmt.Sprintf("w-%d", i), nil))); err != nil {
				t.Errorf("create w-%d: %v", i, err)
			}
		}
	}
	write(0, 5)
	// Watch on the leader, which then dies.
	if err := watch(l, "", func() bool { return len(seen) == 5 }); err != nil {
		t.Fatal(err)
	}
	c.stop(l)
	if l == writer {
		t.Fatal("writer is the leader")
	}
	write(5, 10)
	if err := watch(writer, lastRV, func() bool { return len(seen) == 10 }); err != nil {
		t.Fatalf("resume from %s: %v", lastRV, err)
	}
	for i := range 10 {
		if n := seen[fmt.Sprintf("w-%d", i)]; n != 1 {
			t.Errorf("w-%d seen %d times, want once", i, n)
		}
	}
	if rv, _ := strconv.Atoi(lastRV); rv == 0 {
		t.Errorf("last resourceVersion %q", lastRV)
	}
}

func TestReflectionAndHealth(t *testing.T) {
	c := startCluster(t, 1)
	resp, err := transport.Client().Get(c.masters[0].URL() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// gRPC server reflection lists the kind services, so grpcurl needs no .proto files.
	rc := grpcreflect.NewClient(transport.Client(), c.masters[0].URL())
	st := rc.NewStream(context.Background())
	defer st.Close()
	names, err := st.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, n := range names {
		found[string(n)] = true
	}
	for _, want := range []string{"orch.v1.PodService", "orch.v1.DeploymentService", "orch.v1.ClusterService"} {
		if !found[want] {
			t.Errorf("reflection does not list %s (got %v)", want, names)
		}
	}
}

// The master-to-master RPCs are not on the API port: a client that sends a raw command
// there (byte 0x07 would make every FSM panic) reaches nothing, and the internal port
// refuses a connection that does not open with an internal protocol byte.
func TestInternalServiceNotOnAPIPort(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[0]
	ic := orchv1connect.NewInternalServiceClient(transport.Client(), m.URL())
	_, err := ic.Apply(context.Background(), connect.NewRequest(&orchv1.ApplyRequest{Command: []byte{0x07}}))
	if code(err) != connect.CodeUnimplemented {
		t.Fatalf("InternalService.Apply on the API port: %v (code %v), want Unimplemented", err, code(err))
	}
	plain := orchv1connect.NewInternalServiceClient(transport.Client(), "http://"+m.cfg.RaftAddr)
	if _, err := plain.ReadIndex(context.Background(), connect.NewRequest(&orchv1.ReadIndexRequest{})); err == nil {
		t.Fatal("the internal port answered an HTTP client that did not open with the internal protocol byte")
	}
	// Through the internal port a malformed command is refused before it is proposed.
	internal := orchv1connect.NewInternalServiceClient(transport.InternalClient(), "http://"+m.cfg.RaftAddr)
	for _, cmd := range [][]byte{{0x07}, {byte(CreateCommand), 0xff, 0xff}, {}} {
		_, err := internal.Apply(context.Background(), connect.NewRequest(&orchv1.ApplyRequest{Command: cmd}))
		if code(err) != connect.CodeInvalidArgument {
			t.Errorf("internal Apply(%x): %v, want InvalidArgument", cmd, err)
		}
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	c := startCluster(t, 1)
	ctx := context.Background()
	cms := orchv1connect.NewConfigMapServiceClient(transport.Client(), c.masters[0].URL())
	for i := range 3 {
		if _, err := cms.Create(ctx, connect.NewRequest(cm(fmt.Sprintf("m%d", i), nil))); err != nil {
			t.Fatal(err)
		}
	}
	cms.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Name: "missing"}))
	resp, err := transport.Client().Get(c.masters[0].URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`orch_api_requests_total{code="ok",procedure="orch.v1.ConfigMapService/Create"} 3`,
		`orch_api_requests_total{code="not_found",procedure="orch.v1.ConfigMapService/Get"} 1`,
		`orch_raft_is_leader 1`,
		`orch_api_request_duration_seconds_count{procedure="orch.v1.ConfigMapService/Create"} 3`,
		`orch_watch_history_events`,
		`orch_raft_applied_index`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`orch_raft_commit_duration_seconds_count [1-9]`).Match(body) {
		t.Error("/metrics counts no commits")
	}
}
