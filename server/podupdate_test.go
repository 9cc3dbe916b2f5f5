package server

// This test pins that a pod's node is chosen once: at create or by the scheduler's
// binding, never moved by an update (Kubernetes: `spec.nodeName: field is immutable`).

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestPodNodeNameImmutable(t *testing.T) {
	ta := newTestAPI(t, 0)
	ctx := context.Background()
	pinned := mockPod("pinned", "n1")
	pinned.Metadata.Uid = ""
	created := ta.mustCreate(t, api.PodKind, pinned).(*orchv1.Pod)
	if created.GetSpec().GetNodeName() != "n1" {
		t.Fatalf("nodeName set at create: %q", created.GetSpec().GetNodeName())
	}
	pending := ta.mustCreate(t, api.PodKind, labeledPod("pending", nil)).(*orchv1.Pod)

	for _, tc := range []struct {
		name string
		pod  *orchv1.Pod
		node string
	}{
		{"move a bound pod", created, "n2"},
		{"unbind a bound pod", created, ""},
		{"bind by update", pending, "n1"},
	} {
		next := proto.Clone(tc.pod).(*orchv1.Pod)
		next.Spec.NodeName = tc.node
		_, err := ta.Update(ctx, api.PodKind, next)
		want := `spec.nodeName: Invalid value: "` + tc.node + `": field is immutable`
		if code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want InvalidArgument %s", tc.name, err, want)
		}
		if cur, _ := ta.store.View().Get(api.PodKind, api.ObjectKey(tc.pod)); cur.(*orchv1.Pod).GetSpec().GetNodeName() != tc.pod.GetSpec().GetNodeName() {
			t.Errorf("%s: stored nodeName is now %q", tc.name, cur.(*orchv1.Pod).GetSpec().GetNodeName())
		}
	}

	// The scheduler's binding still places a pending pod, and an update that keeps the
	// node is fine.
	ta.bind(t, pending, "n3")
	bound, _ := ta.store.View().Get(api.PodKind, api.ObjectKey(pending))
	if n := bound.(*orchv1.Pod).GetSpec().GetNodeName(); n != "n3" {
		t.Fatalf("bound to %q, want n3", n)
	}
	relabel := proto.Clone(bound).(*orchv1.Pod)
	relabel.Metadata.Labels = map[string]string{"a": "b"}
	ta.mustUpdate(t, api.PodKind, relabel)
}
