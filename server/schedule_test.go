package server

// The scheduling pass reads only pods waiting for a node and counts each bound pod once:
// over random clusters and several passes, no node's requests exceed its allocatable, no
// pod is bound twice, a pass writes only the bindings it decided, a pod left pending
// fits on no node, and no pod lands on a node its nodeSelector, required node affinity
// or tolerations rule out (checked by a separate, naive reading of Kubernetes' rules).

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
			f.create(api.NodeKind, randomNode(rng, readyNode(fmt.Sprintf("n%d", i), fmt.Sprint(1+rng.IntN(4)), fmt.Sprintf("%dGi", 1+rng.IntN(4)))))
		}
		bindings := map[string]string{}
		pods := 0
		for pass := range 5 {
			for range rng.IntN(25) {
				f.create(api.PodKind, randomPlacement(rng, requestingPod(fmt.Sprintf("p%d", pods), cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))])))
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
			for _, p := range on {
				if why := mayNotRun(p, n); why != "" {
					t.Fatalf("seed %d: pod %s placed on node %s: %s\npod spec: %v\nnode: %v", seed, p.GetMetadata().GetName(), n.GetMetadata().GetName(), why, p.GetSpec(), n)
				}
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

var (
	propZones  = []string{"a", "b", "c"}
	propCores  = []string{"2", "4", "8", "16"}
	propTaints = []string{"dedicated", "spot", "maint"}
	propValues = []string{"", "x", "y"}
	propEffect = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// randomNode labels, taints, cordons or unreadies a node at random.
func randomNode(rng *rand.Rand, n *orchv1.Node) *orchv1.Node {
	if rng.IntN(4) > 0 {
		n.Metadata.Labels["zone"] = pick(rng, propZones)
	}
	if rng.IntN(2) == 0 {
		n.Metadata.Labels["cores"] = pick(rng, propCores)
	}
	if rng.IntN(3) == 0 {
		n.Metadata.Labels["disk"] = "ssd"
	}
	n.Spec = &orchv1.NodeSpec{Unschedulable: rng.IntN(8) == 0}
	for range rng.IntN(3) {
		n.Spec.Taints = append(n.Spec.Taints, &orchv1.Taint{Key: pick(rng, propTaints), Value: pick(rng, propValues), Effect: pick(rng, propEffect)})
	}
	if rng.IntN(8) == 0 {
		n.Status.Conditions[0].Status = pick(rng, []string{"False", "Unknown"})
	}
	return n
}

// randomPlacement gives a pod a random nodeSelector, node affinity and tolerations.
func randomPlacement(rng *rand.Rand, p *orchv1.Pod) *orchv1.Pod {
	s := p.Spec
	if rng.IntN(5) == 0 {
		s.NodeSelector = map[string]string{"zone": pick(rng, propZones)}
	}
	req := func() *orchv1.NodeSelectorRequirement {
		switch rng.IntN(7) {
		case 0:
			return &orchv1.NodeSelectorRequirement{Key: "zone", Operator: "In", Values: []string{pick(rng, propZones), pick(rng, propZones)}}
		case 1:
			return &orchv1.NodeSelectorRequirement{Key: "zone", Operator: "NotIn", Values: []string{pick(rng, propZones)}}
		case 2:
			return &orchv1.NodeSelectorRequirement{Key: "disk", Operator: "Exists"}
		case 3:
			return &orchv1.NodeSelectorRequirement{Key: "disk", Operator: "DoesNotExist"}
		case 4:
			return &orchv1.NodeSelectorRequirement{Key: "cores", Operator: "Gt", Values: []string{pick(rng, propCores)}}
		case 5:
			return &orchv1.NodeSelectorRequirement{Key: "cores", Operator: "Lt", Values: []string{pick(rng, propCores)}}
		}
		return &orchv1.NodeSelectorRequirement{Key: "metadata.name", Operator: pick(rng, []string{"In", "NotIn"}), Values: []string{fmt.Sprintf("n%d", rng.IntN(6))}}
	}
	term := func() *orchv1.NodeSelectorTerm {
		t := &orchv1.NodeSelectorTerm{}
		for range 1 + rng.IntN(2) {
			r := req()
			if r.Key == "metadata.name" {
				t.MatchFields = append(t.MatchFields, r)
			} else {
				t.MatchExpressions = append(t.MatchExpressions, r)
			}
		}
		return t
	}
	if rng.IntN(3) == 0 {
		na := &orchv1.NodeAffinity{}
		if rng.IntN(2) == 0 {
			na.RequiredDuringSchedulingIgnoredDuringExecution = &orchv1.NodeSelector{}
			for range 1 + rng.IntN(2) {
				na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, term())
			}
		}
		for range rng.IntN(3) {
			na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
				&orchv1.PreferredSchedulingTerm{Weight: int32(1 + rng.IntN(100)), Preference: term()})
		}
		s.Affinity = &orchv1.Affinity{NodeAffinity: na}
	}
	for range rng.IntN(3) {
		tol := &orchv1.Toleration{Key: pick(rng, append(propTaints, "node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready")), Effect: pick(rng, append(propEffect, ""))}
		if rng.IntN(2) == 0 {
			tol.Operator = "Exists"
		} else {
			tol.Operator, tol.Value = "Equal", pick(rng, propValues)
		}
		if rng.IntN(10) == 0 {
			tol.Key = "" // with Exists: tolerates everything
			tol.Operator, tol.Value = "Exists", ""
		}
		s.Tolerations = append(s.Tolerations, tol)
	}
	return p
}

// mayNotRun says why Kubernetes would not place p on n, or "". It reads the rules
// directly rather than through api/, to check those functions too.
func mayNotRun(p *orchv1.Pod, n *orchv1.Node) string {
	labels := n.GetMetadata().GetLabels()
	for k, v := range p.GetSpec().GetNodeSelector() {
		if l, ok := labels[k]; !ok || l != v {
			return "nodeSelector " + k + "=" + v
		}
	}
	if req := p.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution(); req != nil {
		any := false
		for _, t := range req.GetNodeSelectorTerms() {
			all := len(t.GetMatchExpressions())+len(t.GetMatchFields()) > 0
			for _, r := range append(append([]*orchv1.NodeSelectorRequirement(nil), t.GetMatchExpressions()...), t.GetMatchFields()...) {
				v, has := labels[r.GetKey()]
				if r.GetKey() == "metadata.name" {
					v, has = n.GetMetadata().GetName(), true
				}
				in := false
				for _, x := range r.GetValues() {
					in = in || (has && x == v)
				}
				num := func() (int, int, bool) {
					var a, b int
					_, e1 := fmt.Sscan(v, &a)
					_, e2 := fmt.Sscan(r.GetValues()[0], &b)
					return a, b, has && e1 == nil && e2 == nil
				}
				ok := false
				switch r.GetOperator() {
				case "In":
					ok = in
				case "NotIn":
					ok = !in
				case "Exists":
					ok = has
				case "DoesNotExist":
					ok = !has
				case "Gt":
					a, b, good := num()
					ok = good && a > b
				case "Lt":
					a, b, good := num()
					ok = good && a < b
				}
				all = all && ok
			}
			any = any || all
		}
		if !any {
			return "required node affinity"
		}
	}
	taints := append([]*orchv1.Taint(nil), n.GetSpec().GetTaints()...)
	if n.GetSpec().GetUnschedulable() {
		taints = append(taints, &orchv1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: "NoSchedule"})
	}
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" && c.GetStatus() == "False" {
			taints = append(taints, &orchv1.Taint{Key: "node.kubernetes.io/not-ready", Effect: "NoSchedule"})
		}
		if c.GetType() == "Ready" && c.GetStatus() == "Unknown" {
			taints = append(taints, &orchv1.Taint{Key: "node.kubernetes.io/unreachable", Effect: "NoSchedule"})
		}
	}
	for _, t := range taints {
		if t.GetEffect() == "PreferNoSchedule" {
			continue
		}
		tolerated := false
		for _, tol := range p.GetSpec().GetTolerations() {
			keyOK := tol.GetKey() == t.GetKey() || (tol.GetKey() == "" && tol.GetOperator() == "Exists")
			valOK := tol.GetOperator() == "Exists" || tol.GetValue() == t.GetValue()
			effOK := tol.GetEffect() == "" || tol.GetEffect() == t.GetEffect()
			tolerated = tolerated || (keyOK && valOK && effOK)
		}
		if !tolerated {
			return "untolerated taint " + t.GetKey() + "=" + t.GetValue() + ":" + t.GetEffect()
		}
	}
	return ""
}
