package chaos

// One history's world: a test network, a master in each of its hosts, and the helpers
// the nemeses, the workload and the checks share.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/e2e/harness"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

const namespace = "chaos"

type env struct {
	t     *testing.T
	start time.Time
	net   *harness.Network
	c     *harness.Cluster
	http  *http.Client // for the nemeses and the checks; the workload has its own

	mu      sync.Mutex
	rng     *rand.Rand        // the nemesis's choices
	members []*harness.Master // the masters the cluster should have once healed
	paused  map[*harness.Master]bool
}

// newEnv starts n masters, each in its own host on a fresh test network, and arranges
// for all of it to go when the test ends.
func newEnv(t *testing.T, bin string, n int, seed uint64) *env {
	t.Helper()
	dir := t.TempDir()
	network, err := harness.NewNetwork(30 + rand.IntN(70))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(network.Close)
	var hosts []*harness.Host
	for i := range n {
		h, err := network.AddHost(fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	c, err := harness.StartMastersInHosts(dir, bin, hosts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, start: time.Now(), net: network, c: c, http: transport.Client(),
		rng: rand.New(rand.NewPCG(seed, 1)), members: slices.Clone(c.Masters), paused: map[*harness.Master]bool{}}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range e.masters() {
				t.Log(c.LogTail(m, 25))
			}
		}
		c.KillAll()
	})
	return e
}

func (e *env) logf(format string, args ...any) {
	e.t.Helper()
	e.t.Logf("%6.2fs "+format, append([]any{time.Since(e.start).Seconds()}, args...)...)
}

// masters is every master ever started, removed ones too (clients keep trying them).
func (e *env) masters() []*harness.Master {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.c.Masters)
}

func (e *env) memberList() []*harness.Master {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.members)
}

func (e *env) intn(n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.IntN(n)
}

func (e *env) pick(ms []*harness.Master) *harness.Master { return ms[e.intn(len(ms))] }

// leader is the master the running ones name as leader.
func (e *env) leader(ctx context.Context) (*harness.Master, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return e.c.Leader(ctx)
}

func (e *env) followers(leader *harness.Master) []*harness.Master {
	var out []*harness.Master
	for _, m := range e.memberList() {
		if m != leader {
			out = append(out, m)
		}
	}
	return out
}

func hosts(ms ...*harness.Master) []*harness.Host {
	var out []*harness.Host
	for _, m := range ms {
		out = append(out, m.Host)
	}
	return out
}

func (e *env) configMaps(m *harness.Master) orchv1connect.ConfigMapServiceClient {
	return orchv1connect.NewConfigMapServiceClient(e.http, m.URL())
}

func (e *env) cluster(m *harness.Master) orchv1connect.ClusterServiceClient {
	return orchv1connect.NewClusterServiceClient(e.http, m.URL())
}

// raftConfiguration asks m for the Raft configuration and its applied index.
func (e *env) raftConfiguration(ctx context.Context, m *harness.Master) (*orchv1.RaftConfigurationResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := e.cluster(m).RaftConfiguration(ctx, connect.NewRequest(&orchv1.RaftConfigurationRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// voters returns the Raft addresses of the voters in a Raft configuration. Addresses,
// not server ids: a master whose data dir was wiped comes back at its old address as a
// new server.
func voters(rc *orchv1.RaftConfigurationResponse) []string {
	var out []string
	for _, s := range rc.GetServers() {
		if s.GetSuffrage() == "Voter" {
			out = append(out, s.GetAddress())
		}
	}
	slices.Sort(out)
	return out
}

func raftAddrs(ms []*harness.Master) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.RaftAddr)
	}
	slices.Sort(out)
	return out
}

// until polls cond every 100 ms until it holds or d has passed; it returns cond's last
// error.
func until(ctx context.Context, d time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settle undoes whatever a nemesis left behind and waits until every member serves
// linearizable reads and the Raft configuration holds exactly the members.
func (e *env) settle(ctx context.Context, f *findings) {
	if err := e.net.Heal(); err != nil {
		f.add(&f.Other, "heal: %v", err)
	}
	e.mu.Lock()
	for m := range e.paused {
		e.c.Resume(m)
	}
	clear(e.paused)
	e.mu.Unlock()
	members := e.memberList()
	for _, m := range members {
		if !m.Running() {
			e.logf("%s is not running after the nemesis: starting it", m.Name)
			if err := e.c.Start(m); err != nil {
				f.add(&f.Other, "restart %s: %v", m.Name, err)
			}
		}
	}
	for _, m := range members {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := e.c.WaitReady(wctx, m)
		cancel()
		if err != nil {
			f.add(&f.Other, "after healing, %s does not serve: %v", m.Name, err)
			return
		}
	}
	want := raftAddrs(members)
	var got []string
	err := until(ctx, 30*time.Second, func(ctx context.Context) error {
		l, err := e.c.Leader(ctx)
		if err != nil {
			return err
		}
		rc, err := e.raftConfiguration(ctx, l)
		if err != nil {
			return err
		}
		if got = voters(rc); !slices.Equal(got, want) {
			return fmt.Errorf("voters %v", got)
		}
		return nil
	})
	if err != nil {
		f.add(&f.Other, "after healing, the Raft voters are %v, want %v (%v)", got, want, err)
	}
}

// compareStores waits until every member has applied the same index and then compares
// a stale list of every kind from each: the masters must hold the same state.
func (e *env) compareStores(ctx context.Context, f *findings) {
	members := e.memberList()
	indexes := func(ctx context.Context) ([]uint64, error) {
		var out []uint64
		for _, m := range members {
			rc, err := e.raftConfiguration(ctx, m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.Name, err)
			}
			out = append(out, rc.GetAppliedIndex())
		}
		return out, nil
	}
	var last []uint64
	err := until(ctx, 30*time.Second, func(ctx context.Context) error {
		before, err := indexes(ctx)
		if err != nil {
			return err
		}
		last = before
		if slices.Min(before) != slices.Max(before) {
			return fmt.Errorf("applied indexes differ: %v", before)
		}
		dumps := make([]map[string]proto.Message, len(members))
		for i, m := range members {
			if dumps[i], err = e.dumpStore(ctx, m); err != nil {
				return err
			}
		}
		after, err := indexes(ctx)
		if err != nil {
			return err
		}
		if !slices.Equal(before, after) {
			return fmt.Errorf("applied indexes moved from %v to %v", before, after)
		}
		for i := 1; i < len(members); i++ {
			for _, k := range api.Kinds {
				a, b := dumps[0][k.Name], dumps[i][k.Name]
				if !proto.Equal(a, b) {
					f.add(&f.Other, "at applied index %d, %s and %s hold different %s: %s", before[0], members[0].Name, members[i].Name,
						k.Plural, firstDifference(a, b))
				}
			}
		}
		return nil
	})
	if err != nil {
		f.add(&f.Other, "masters never reached the same applied index (last %v): %v", last, err)
	}
}

// firstDifference names the first item that differs between two lists of one kind.
func firstDifference(a, b proto.Message) string {
	items := func(m proto.Message) map[string]proto.Message {
		out := map[string]proto.Message{}
		l := m.ProtoReflect()
		fd := l.Descriptor().Fields().ByName("items")
		list := l.Get(fd).List()
		for i := range list.Len() {
			o := list.Get(i).Message().Interface().(api.Object)
			out[o.GetMetadata().GetNamespace()+"/"+o.GetMetadata().GetName()] = o
		}
		return out
	}
	ia, ib := items(a), items(b)
	for k, x := range ia {
		if y, ok := ib[k]; !ok {
			return k + " only on the first"
		} else if !proto.Equal(x, y) {
			return fmt.Sprintf("%s: %v vs %v", k, x, y)
		}
	}
	for k := range ib {
		if _, ok := ia[k]; !ok {
			return k + " only on the second"
		}
	}
	return "list metadata"
}

// dumpStore lists every kind on m from its own state (stale), with a plain Connect
// unary call so that one loop serves every kind.
func (e *env) dumpStore(ctx context.Context, m *harness.Master) (map[string]proto.Message, error) {
	out := map[string]proto.Message{}
	req, _ := proto.Marshal(&orchv1.ListRequest{Stale: true})
	for _, k := range api.Kinds {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, _ := http.NewRequestWithContext(rctx, http.MethodPost, m.URL()+"/orch.v1."+k.Name+"Service/List", bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/proto")
		r.Header.Set("Connect-Protocol-Version", "1")
		resp, err := e.http.Do(r)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("list %s on %s: %w", k.Plural, m.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list %s on %s: %s %v: %s", k.Plural, m.Name, resp.Status, err, body)
		}
		l := k.NewList()
		if err := proto.Unmarshal(body, l); err != nil {
			return nil, fmt.Errorf("list %s on %s: %w", k.Plural, m.Name, err)
		}
		out[k.Name] = l
	}
	return out, nil
}

// result classifies a call's error: what the client may conclude about the write.
type result int

const (
	resOK       result = iota
	resAborted         // conflict: the compare failed, nothing written
	resNotSent         // the connection was never made: nothing written
	resUnknown         // anything else without a definite answer
	resDefinite        // another definite refusal (NotFound, AlreadyExists, ...)
)

func classify(err error) (result, connect.Code) {
	if err == nil {
		return resOK, 0
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return resNotSent, connect.CodeUnavailable
	}
	code := connect.CodeOf(err)
	switch code {
	case connect.CodeAborted:
		return resAborted, code
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled, connect.CodeUnknown, connect.CodeInternal:
		return resUnknown, code
	}
	return resDefinite, code
}

func parseRV(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}
