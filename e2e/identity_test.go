package e2e

// A master that lost its data dir must never be counted as its old self: real orchd
// processes, killed with SIGKILL, one of them restarted with its data dir deleted.
// An acknowledged write is then served, or the cluster answers Unavailable; never
// NotFound.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/e2e/harness"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

func configMaps(m *harness.Master) orchv1connect.ConfigMapServiceClient {
	return orchv1connect.NewConfigMapServiceClient(transport.Client(), m.URL())
}

// readE reads the acknowledged write from m. ok is false when the cluster could not
// answer (Unavailable, or no answer in time); any other failure, NotFound above all,
// fails the test.
func readE(t *testing.T, m *harness.Master) (ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := configMaps(m).Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: "default", Name: "e"}))
	switch {
	case err == nil:
		if got := resp.Msg.GetData()["k"]; got != "acknowledged" {
			t.Fatalf("%s serves E with k = %q", m.Name, got)
		}
		return true
	case connect.CodeOf(err) == connect.CodeUnavailable, connect.CodeOf(err) == connect.CodeDeadlineExceeded:
		return false
	default:
		t.Fatalf("%s answered %v for the acknowledged write E: it must serve it or be unavailable", m.Name, err)
		return false
	}
}

func TestWipedMasterNeverLosesAcknowledgedWrite(t *testing.T) {
	c := startMasters(t, 3)
	a, b, down := c.Masters[0], c.Masters[1], c.Masters[2]
	oldB, err := b.ServerID()
	if err != nil {
		t.Fatal(err)
	}

	// E is acknowledged while `down` is down: only a and b hold it.
	c.Kill(down)
	e := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: "e", Namespace: "default"}, Data: map[string]string{"k": "acknowledged"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		_, err := configMaps(a).Create(ctx, connect.NewRequest(e))
		cancel()
		if err == nil || connect.CodeOf(err) == connect.CodeAlreadyExists {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write E: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("E acknowledged with %s down", down.Name)

	c.Kill(a)
	c.Kill(b)
	if err := c.Wipe(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(down); err != nil {
		t.Fatal(err)
	}

	// Only `down` (without E) and the empty b are up: no quorum of intact voters.
	served := 0
	until := time.Now().Add(20 * time.Second)
	for time.Now().Before(until) {
		for _, m := range []*harness.Master{b, down} {
			if readE(t, m) {
				served++
			}
		}
	}
	t.Logf("with %s down and %s wiped: E served %d times, otherwise unavailable", a.Name, b.Name, served)
	newB, err := b.ServerID()
	if err != nil || newB == oldB {
		t.Fatalf("wiped %s has server ID %q (before %q): %v", b.Name, newB, oldB, err)
	}

	// With a back, the cluster serves E, and b is a voter again under its new ID.
	if err := c.Start(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range c.Masters {
		if err := c.WaitReady(ctx, m); err != nil {
			t.Fatal(err)
		}
		if !readE(t, m) {
			t.Fatalf("%s does not serve E with all masters up", m.Name)
		}
	}
	for {
		servers, err := c.RaftServers(ctx, a)
		var ids []string
		for _, s := range servers {
			if s.GetSuffrage() == "Voter" {
				ids = append(ids, s.GetId())
			}
		}
		if err == nil && len(ids) == 3 && slices.Contains(ids, newB) && !slices.Contains(ids, oldB) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("raft configuration %v (err %v): want 3 voters with %s's new ID %s and without its old %s", servers, err, b.Name, newB, oldB)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := orchctl(t, c, a, "cluster", "members"); !containsAll(out, a.Name, b.Name, down.Name) {
		t.Errorf("cluster members:\n%s", out)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
