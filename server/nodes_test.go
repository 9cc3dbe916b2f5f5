package server

// Node lifecycle and scheduling on a real master: registration allocates distinct pod
// CIDRs, pods are bound to ready nodes that fit, unschedulable pods say why, and a node
// whose heartbeats stop turns NotReady and back.

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

func testNode(name, cpu, mem string) *orchv1.Node {
	return &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: &orchv1.NodeStatus{Capacity: map[string]string{"cpu": cpu, "memory": mem, "pods": "110"},
			Allocatable: map[string]string{"cpu": cpu, "memory": mem, "pods": "110"}}}
}

func TestNodeRegistrationSchedulingAndHeartbeats(t *testing.T) {
	c := &testCluster{t: t, dir: t.TempDir()}
	cfg := c.config(0, 1, nil)
	cfg.Nodes = NodeConfig{HeartbeatInterval: 200 * time.Millisecond, GracePeriod: time.Second}
	c.cfgs = append(c.cfgs, cfg)
	c.start(0)
	t.Cleanup(func() { c.masters[0].Close() })
	ctx := context.Background()
	if err := c.masters[0].WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	hc, url := transport.Client(), c.masters[0].URL()
	agent := orchv1connect.NewNodeAgentServiceClient(hc, url)
	pods := orchv1connect.NewPodServiceClient(hc, url)

	cidrs := map[string]bool{}
	for _, n := range []*orchv1.Node{testNode("n1", "2", "2Gi"), testNode("n2", "1", "1Gi")} {
		resp, err := agent.Register(ctx, connect.NewRequest(&orchv1.RegisterNodeRequest{Node: n}))
		if err != nil {
			t.Fatal(err)
		}
		cidr := resp.Msg.GetNode().GetSpec().GetPodCidr()
		if cidr == "" || cidrs[cidr] {
			t.Fatalf("node %s got pod CIDR %q (taken: %v)", n.GetMetadata().GetName(), cidr, cidrs)
		}
		cidrs[cidr] = true
		if readyStatus(resp.Msg.GetNode()) != "True" {
			t.Errorf("registered node not Ready: %v", resp.Msg.GetNode().GetStatus())
		}
	}
	// Registering again keeps the CIDR.
	again, err := agent.Register(ctx, connect.NewRequest(&orchv1.RegisterNodeRequest{Node: testNode("n1", "2", "2Gi")}))
	if err != nil || !cidrs[again.Msg.GetNode().GetSpec().GetPodCidr()] {
		t.Fatalf("re-register: %v %v", again, err)
	}

	// A pod that fits only n1 lands there.
	p := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "big"}, Spec: &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox",
		Resources: &orchv1.ResourceRequirements{Requests: map[string]string{"cpu": "1500m"}}}}}}
	if _, err := pods.Create(ctx, connect.NewRequest(p)); err != nil {
		t.Fatal(err)
	}
	// One that fits nowhere says why.
	huge := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "huge"}, Spec: &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox",
		Resources: &orchv1.ResourceRequirements{Requests: map[string]string{"cpu": "64"}}}}}}
	if _, err := pods.Create(ctx, connect.NewRequest(huge)); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *orchv1.Pod {
		o, err := c.masters[0].api.Get(ctx, api.PodKind, &orchv1.GetRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return o.(*orchv1.Pod)
	}
	waitFor(t, 10*time.Second, "big to be bound", func() bool { return get("big").GetSpec().GetNodeName() != "" })
	if n := get("big").GetSpec().GetNodeName(); n != "n1" {
		t.Errorf("big bound to %s, want n1", n)
	}
	waitFor(t, 10*time.Second, "huge to be marked unschedulable", func() bool {
		for _, c := range get("huge").GetStatus().GetConditions() {
			if c.GetType() == "PodScheduled" && c.GetStatus() == "False" && strings.Contains(c.GetMessage(), "Insufficient cpu") {
				return true
			}
		}
		return false
	})

	// n2 keeps beating, n1 stops: n1 turns Unknown, then Ready again when it beats.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				agent.Heartbeat(ctx, connect.NewRequest(&orchv1.HeartbeatRequest{NodeName: "n2"}))
			}
		}
	}()
	defer close(stop)
	node := func(name string) *orchv1.Node {
		o, _ := c.masters[0].store.View().Get(api.NodeKind, name)
		return o.(*orchv1.Node)
	}
	waitFor(t, 10*time.Second, "n1 NotReady", func() bool { return readyStatus(node("n1")) == "Unknown" })
	if readyStatus(node("n2")) != "True" {
		t.Errorf("n2 (beating) is %s", readyStatus(node("n2")))
	}
	if _, err := agent.Heartbeat(ctx, connect.NewRequest(&orchv1.HeartbeatRequest{NodeName: "n1"})); err != nil {
		t.Fatal(err)
	}
	if readyStatus(node("n1")) != "True" {
		t.Errorf("n1 after a heartbeat is %s", readyStatus(node("n1")))
	}
	if _, err := agent.Heartbeat(ctx, connect.NewRequest(&orchv1.HeartbeatRequest{NodeName: "ghost"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("heartbeat of an unregistered node: %v", err)
	}
}
