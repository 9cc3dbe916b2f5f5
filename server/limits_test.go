package server

// Requests and objects have size limits that agree with the snapshot format: a request
// over 3 MiB is refused by the RPC layer, an object over 1.5 MiB before proposal and
// inside the FSM, and the largest object accepted survives a snapshot and restore.

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// sizedPod is a pod of about n bytes (an environment variable's value: Kubernetes bounds
// config map data and annotations well below the object limit, but not env values).
func sizedPod(name string, n int) *orchv1.Pod {
	p := mockPod(name, "")
	p.Metadata.Namespace = ""
	p.Spec.Containers[0].Env = []*orchv1.EnvVar{{Name: "BLOB", Value: strings.Repeat("x", n)}}
	return p
}

func TestRequestAndObjectSizeLimits(t *testing.T) {
	c := startCluster(t, 1)
	ctx := context.Background()
	hc, url := transport.Client(), c.masters[0].URL()
	pods := orchv1connect.NewPodServiceClient(hc, url)

	before := c.masters[0].node.AppliedIndex()
	if _, err := pods.Create(ctx, connect.NewRequest(sizedPod("huge", 5<<20))); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("5 MiB request: %v, want ResourceExhausted", err)
	}
	_, err := pods.Create(ctx, connect.NewRequest(sizedPod("big", 2<<20)))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "1.5 MiB") {
		t.Errorf("2 MiB object: %v, want InvalidArgument naming the 1.5 MiB limit", err)
	}
	if after := c.masters[0].node.AppliedIndex(); after != before {
		t.Errorf("refused requests wrote to the log: index %d -> %d", before, after)
	}
	if _, err := pods.Create(ctx, connect.NewRequest(sizedPod("fits", MaxObjectBytes-4<<10))); err != nil {
		t.Fatalf("object just under the limit: %v", err)
	}

	// A status update whose merge with the stored spec would pass the limit is refused in
	// the FSM, even though the request alone is under it.
	p := sizedPod("fat", 1<<20)
	if _, err := pods.Create(ctx, connect.NewRequest(p)); err != nil {
		t.Fatal(err)
	}
	st := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "fat"}, Status: &orchv1.PodStatus{Phase: "Pending", Message: strings.Repeat("m", 1<<20)}}
	_, err = pods.UpdateStatus(ctx, connect.NewRequest(st))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "1.5 MiB") {
		t.Errorf("status update growing the pod past the limit: %v, want InvalidArgument", err)
	}
}

func TestLargestObjectSurvivesSnapshot(t *testing.T) {
	f := newTestFSM(t)
	p := sizedPod("fits", MaxObjectBytes-200)
	p.Metadata.Namespace = "default"
	f.create(api.PodKind, p)
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, f.store.memdb().Txn(false)); err != nil {
		t.Fatal(err)
	}
	db, _, err := readSnapshot(&buf)
	if err != nil {
		t.Fatalf("a snapshot holding the largest accepted object does not restore: %v", err)
	}
	if _, ok := (View{db.Txn(false)}).Get(api.PodKind, "default/fits"); !ok {
		t.Fatal("restored snapshot lost the object")
	}
}
