package server

// The scheduling pass reads only pods waiting for a node and counts each bound pod once:
// over random clusters and several passes, no node's requests exceed its allocatable, no
// pod is bound twice, a pass writes only the bindings it decided, and a pod left pending
// fits on no node.

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/server/scheduler"
)

func readyNode(name, cpu, mem string) *orchv1.Node {
	n := testNode(name, cpu, mem)
	n.Status.Conditions = []*orchv1.NodeCondition{{Type: "Ready", Status: "True"}}
	return n
}

func requestingPod(name, cpu, mem string) *orchv1.Pod {
	p := mockPod(name, "")
	req := map[string]string{}
	if cpu != "" {
		req["cpu"] = cpu
	}
	if mem != "" {
		req["memory"] = mem
	}
	p.Spec.Containers[0].Resources = &orchv1.ResourceRequirements{Requests: req}
	return p
}

// schedulePassFSM runs one pass against the FSM as the leader does and returns what it
// decided and how many bindings the FSM applied.
func schedulePassFSM(t *testing.T, f *testFSM) (scheduler.Result, int) {
	t.Helper()
	pending, infos := schedulingInput(f.store.View())
	res := scheduler.New().Schedule(pending, infos)
	c := &orchv1.BindCommand{}
	for _, b := range res.Bindings {
		c.Bindings = append(c.Bindings, &orchv1.Binding{Namespace: b.Namespace, Name: b.Name, Uid: b.UID, NodeName: b.Node})
	}
	return res, f.apply(BindCommandType, c).bound
}

func TestSchedulerCountsBoundPodsOnce(t *testing.T) {
	f := newTestFSM(t)
	f.create(api.NodeKind, readyNode("n1", "1", "1Gi"))
	f.create(api.PodKind, requestingPod("first", "400m", ""))
	if res, bound := schedulePassFSM(t, f); bound != 1 || len(res.Bindings) != 1 {
		t.Fatalf("first pass: %d bindings, %d bound, unschedulable %v", len(res.Bindings), bound, res.Unschedulable)
	}
	f.create(api.PodKind, requestingPod("second", "400m", ""))
	res, bound := schedulePassFSM(t, f)
	if bound != 1 || len(res.Bindings) != 1 || res.Bindings[0].Name != "second" {
		t.Fatalf("second pass: bindings %v (bound %d), unschedulable %v; want only pod second bound", res.Bindings, bound, res.Unschedulable)
	}
	f.create(api.PodKind, requestingPod("third", "400m", ""))
	res, _ = schedulePassFSM(t, f)
	if len(res.Bindings) != 0 || res.Unschedulable["default/third"] == "" {
		t.Fatalf("third 400m pod on a 1-CPU node holding 800m: bindings %v, unschedulable %v", res.Bindings, res.Unschedulable)
	}
	if got := len(f.store.View().PodsOnNode("")); got != 1 {
		t.Errorf("PodsOnNode(\"\") lists %d pods, want the 1 unbound", got)
	}
}

func TestSchedulerPropertyRandomClusters(t *testing.T) {
	t.Parallel()
	cpus := []string{"", "100m", "250m", "500m", "1", "1500m"}
	mems := []string{"", "64Mi", "128Mi", "512Mi", "1Gi"}
	for seed := uint64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7919))
		f := newTestFSM(t)
		for i := range 1 + rng.IntN(6) {
			f.create(api.NodeKind, readyNode(fmt.Sprintf("n%d", i), fmt.Sprint(1+rng.IntN(4)), fmt.Sprintf("%dGi", 1+rng.IntN(4))))
		}
		bindings := map[string]string{}
		pods := 0
		for pass := range 5 {
			for range rng.IntN(25) {
				f.create(api.PodKind, requestingPod(fmt.Sprintf("p%d", pods), cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]))
				pods++
			}
			res, bound := schedulePassFSM(t, f)
			if bound != len(res.Bindings) {
				t.Fatalf("seed %d pass %d: decided %d bindings, FSM applied %d (a binding for a pod already bound)", seed, pass, len(res.Bindings), bound)
			}
			for _, b := range res.Bindings {
				if prev, ok := bindings[b.Name]; ok {
					t.Fatalf("seed %d pass %d: pod %s bound twice (%s, then %s)", seed, pass, b.Name, prev, b.Node)
				}
				bindings[b.Name] = b.Node
			}
		}
		v := f.store.View()
		for _, o := range v.List(api.NodeKind, "") {
			n := o.(*orchv1.Node)
			var on []*orchv1.Pod
			for _, p := range v.PodsOnNode(n.GetMetadata().GetName()) {
				on = append(on, p.(*orchv1.Pod))
			}
			ni := scheduler.NewNodeInfo(n, on)
			if ni.Requested.MilliCPU > ni.Allocatable.MilliCPU || ni.Requested.Memory > ni.Allocatable.Memory || ni.Requested.Pods > ni.Allocatable.Pods {
				t.Fatalf("seed %d: node %s over-committed: requested %+v, allocatable %+v", seed, n.GetMetadata().GetName(), ni.Requested, ni.Allocatable)
			}
		}
		pending, infos := schedulingInput(v)
		for _, p := range pending {
			if res := scheduler.New().Schedule([]*orchv1.Pod{p}, infos); len(res.Bindings) != 0 {
				t.Fatalf("seed %d: pod %s left pending but fits on %s", seed, p.GetMetadata().GetName(), res.Bindings[0].Node)
			}
		}
		if len(bindings)+len(pending) != pods {
			t.Fatalf("seed %d: %d pods, %d bound, %d pending", seed, pods, len(bindings), len(pending))
		}
	}
}
