package scheduler

// Schedule is a pure function of pods and nodes: these table tests pin its filters,
// its scoring and its accounting of placements within one pass.

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func node(name, cpu, mem string, ready bool, labels map[string]string) *orchv1.Node {
	status := "False"
	if ready {
		status = "True"
	}
	return &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: name, Labels: labels}, Status: &orchv1.NodeStatus{
		Allocatable: map[string]string{"cpu": cpu, "memory": mem, "pods": "110"},
		Conditions:  []*orchv1.NodeCondition{{Type: "Ready", Status: status}},
	}}
}

func pod(name, cpu, mem string) *orchv1.Pod {
	return &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default", Uid: "u-" + name}, Spec: &orchv1.PodSpec{
		Containers: []*orchv1.Container{{Name: "c", Image: "i", Resources: &orchv1.ResourceRequirements{Requests: map[string]string{"cpu": cpu, "memory": mem}}}},
	}}
}

func infos(nodes ...*orchv1.Node) []*NodeInfo {
	out := make([]*NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = NewNodeInfo(n, nil)
	}
	return out
}

func TestSchedule(t *testing.T) {
	withPort := pod("web", "100m", "10Mi")
	withPort.Spec.Containers[0].Ports = []*orchv1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	selecting := pod("gpu", "100m", "10Mi")
	selecting.Spec.NodeSelector = map[string]string{"gpu": "yes"}

	cases := []struct {
		name   string
		pods   []*orchv1.Pod
		nodes  []*NodeInfo
		want   map[string]string // pod -> node
		reason map[string]string // pod -> part of the unschedulable message
	}{
		{"least allocated wins", []*orchv1.Pod{pod("a", "500m", "100Mi")},
			infos(node("n1", "1", "1Gi", true, nil), node("n2", "4", "4Gi", true, nil)), map[string]string{"a": "n2"}, nil},
		{"placements in one pass are accounted", []*orchv1.Pod{pod("a", "600m", "10Mi"), pod("b", "600m", "10Mi")},
			infos(node("n1", "1", "1Gi", true, nil), node("n2", "1", "1Gi", true, nil)), map[string]string{"a": "n1", "b": "n2"}, nil},
		{"insufficient cpu", []*orchv1.Pod{pod("a", "2", "10Mi")},
			infos(node("n1", "1", "1Gi", true, nil)), nil, map[string]string{"a": "0/1 nodes are available: 1 Insufficient cpu."}},
		{"not ready nodes are skipped", []*orchv1.Pod{pod("a", "100m", "10Mi")},
			infos(node("n1", "8", "8Gi", false, nil), node("n2", "1", "1Gi", true, nil)), map[string]string{"a": "n2"}, nil},
		{"node selector", []*orchv1.Pod{selecting},
			infos(node("n1", "8", "8Gi", true, nil), node("n2", "1", "1Gi", true, map[string]string{"gpu": "yes"})), map[string]string{"gpu": "n2"}, nil},
		{"no nodes", []*orchv1.Pod{pod("a", "1", "1")}, nil, nil, map[string]string{"a": "no nodes registered"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := New().Schedule(tc.pods, tc.nodes)
			got := map[string]string{}
			for _, b := range res.Bindings {
				got[b.Name] = b.Node
			}
			for p, n := range tc.want {
				if got[p] != n {
					t.Errorf("pod %s on %q, want %q", p, got[p], n)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("bindings %v, want %v", got, tc.want)
			}
			for p, why := range tc.reason {
				if msg := res.Unschedulable["default/"+p]; !strings.Contains(msg, why) {
					t.Errorf("pod %s: unschedulable %q, want it to say %q", p, msg, why)
				}
			}
		})
	}
}

func TestHostPortConflicts(t *testing.T) {
	a := pod("a", "", "")
	a.Spec.Containers[0].Ports = []*orchv1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	b := pod("b", "", "")
	b.Spec.Containers[0].Ports = []*orchv1.ContainerPort{{ContainerPort: 81, HostPort: 8080, HostIp: "127.0.0.1"}}
	n1 := node("n1", "4", "4Gi", true, nil)
	res := New().Schedule([]*orchv1.Pod{a, b}, []*NodeInfo{NewNodeInfo(n1, nil)})
	if len(res.Bindings) != 1 || res.Bindings[0].Name != "a" {
		t.Fatalf("bindings %v: want only a (b's host port conflicts with a's wildcard)", res.Bindings)
	}
	if !strings.Contains(res.Unschedulable["default/b"], "free ports") {
		t.Errorf("b: %q", res.Unschedulable["default/b"])
	}
}

func TestExistingPodsCount(t *testing.T) {
	bound := pod("old", "900m", "10Mi")
	done := pod("done", "900m", "10Mi")
	done.Status = &orchv1.PodStatus{Phase: "Succeeded"}
	ni := NewNodeInfo(node("n1", "1", "1Gi", true, nil), []*orchv1.Pod{bound, done})
	if ni.Requested.MilliCPU != 900 {
		t.Fatalf("requested cpu %d, want 900 (terminal pods free their requests)", ni.Requested.MilliCPU)
	}
	res := New().Schedule([]*orchv1.Pod{pod("new", "200m", "1Mi")}, []*NodeInfo{ni})
	if len(res.Bindings) != 0 {
		t.Errorf("pod placed on a full node: %v", res.Bindings)
	}
}

func tainted(n *orchv1.Node, taints ...*orchv1.Taint) *orchv1.Node {
	n.Spec = &orchv1.NodeSpec{Taints: taints}
	return n
}

func tolerating(p *orchv1.Pod, tols ...*orchv1.Toleration) *orchv1.Pod {
	p.Spec.Tolerations = tols
	return p
}

func withAffinity(p *orchv1.Pod, na *orchv1.NodeAffinity) *orchv1.Pod {
	p.Spec.Affinity = &orchv1.Affinity{NodeAffinity: na}
	return p
}

func requiredTerm(key, op string, values ...string) *orchv1.NodeAffinity {
	return &orchv1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{NodeSelectorTerms: []*orchv1.NodeSelectorTerm{{
		MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}}}}
}

func preferred(weight int32, key, value string) *orchv1.PreferredSchedulingTerm {
	return &orchv1.PreferredSchedulingTerm{Weight: weight, Preference: &orchv1.NodeSelectorTerm{
		MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: key, Operator: "In", Values: []string{value}}}}}
}

func TestScheduleTaintsAndAffinity(t *testing.T) {
	gpu := &orchv1.Taint{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}
	evict := &orchv1.Taint{Key: "maintenance", Effect: "NoExecute"}
	soft := &orchv1.Taint{Key: "spot", Value: "true", Effect: "PreferNoSchedule"}
	cordoned := node("n1", "8", "8Gi", true, nil)
	cordoned.Spec = &orchv1.NodeSpec{Unschedulable: true}
	deleting := node("n1", "8", "8Gi", true, nil)
	deleting.Metadata.DeletionTimestamp = timestamppb.Now()
	zoned := func(name, zone string) *orchv1.Node {
		return node(name, "4", "4Gi", true, map[string]string{"zone": zone, "kubernetes.io/hostname": name})
	}
	cases := []struct {
		name   string
		pod    *orchv1.Pod
		nodes  []*NodeInfo
		want   string // node, "" for unschedulable
		reason string // the whole unschedulable message
	}{
		{"untolerated NoSchedule taint", pod("a", "", ""),
			infos(tainted(node("n1", "8", "8Gi", true, nil), gpu), node("n2", "1", "1Gi", true, nil)), "n2", ""},
		{"tolerated taint", tolerating(pod("a", "", ""), &orchv1.Toleration{Key: "dedicated", Operator: "Equal", Value: "gpu", Effect: "NoSchedule"}),
			infos(tainted(node("n1", "8", "8Gi", true, nil), gpu), node("n2", "1", "1Gi", true, nil)), "n1", ""},
		{"untolerated NoExecute taint", tolerating(pod("a", "", ""), &orchv1.Toleration{Key: "maintenance", Operator: "Exists", Effect: "NoSchedule"}),
			infos(tainted(node("n1", "8", "8Gi", true, nil), evict)), "", "0/1 nodes are available: 1 node(s) had untolerated taint {maintenance: }."},
		{"every node ruled out, reasons counted", withAffinity(pod("a", "", ""), requiredTerm("zone", "In", "c")),
			infos(tainted(zoned("n1", "a"), gpu), zoned("n2", "a"), zoned("n3", "b")), "",
			"0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector."},
		{"PreferNoSchedule only scores", pod("a", "", ""),
			infos(tainted(node("n1", "8", "8Gi", true, nil), soft), node("n2", "1", "1Gi", true, nil)), "n2", ""},
		{"PreferNoSchedule alone still schedules", pod("a", "", ""),
			infos(tainted(node("n1", "8", "8Gi", true, nil), soft)), "n1", ""},
		{"PreferNoSchedule tolerated", tolerating(pod("a", "", ""), &orchv1.Toleration{Key: "spot", Operator: "Exists"}),
			infos(tainted(node("n1", "8", "8Gi", true, nil), soft), node("n2", "1", "1Gi", true, nil)), "n1", ""},
		{"cordoned node", pod("a", "", ""), infos(cordoned), "", "0/1 nodes are available: 1 node(s) were unschedulable."},
		{"cordoned node tolerated", tolerating(pod("a", "", ""), &orchv1.Toleration{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: "NoSchedule"}),
			infos(cordoned), "n1", ""},
		{"node being deleted", tolerating(pod("a", "", ""), &orchv1.Toleration{Operator: "Exists"}), infos(deleting), "", "0/1 nodes are available: 1 node(s) were being deleted."},
		{"not ready node", pod("a", "", ""), infos(node("n1", "8", "8Gi", false, nil)), "",
			"0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."},
		{"not ready node tolerated", tolerating(pod("a", "", ""), &orchv1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists"}),
			infos(node("n1", "8", "8Gi", false, nil)), "n1", ""},
		{"required affinity In", withAffinity(pod("a", "", ""), requiredTerm("zone", "In", "b")),
			infos(zoned("n1", "a"), zoned("n2", "b"), zoned("n3", "a")), "n2", ""},
		{"required affinity NotIn", withAffinity(pod("a", "", ""), requiredTerm("zone", "NotIn", "a")),
			infos(zoned("n1", "a"), zoned("n3", "b")), "n3", ""},
		{"matchFields metadata.name", withAffinity(pod("a", "", ""), &orchv1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{
			NodeSelectorTerms: []*orchv1.NodeSelectorTerm{{MatchFields: []*orchv1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n3"}}}}}}}),
			infos(zoned("n1", "a"), zoned("n2", "a"), zoned("n3", "a")), "n3", ""},
		{"preferred affinity outweighs free resources", withAffinity(pod("a", "500m", "100Mi"), &orchv1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.PreferredSchedulingTerm{preferred(10, "zone", "a")}}),
			infos(node("n1", "1", "1Gi", true, map[string]string{"zone": "a"}), node("n2", "16", "16Gi", true, map[string]string{"zone": "b"})), "n1", ""},
		{"heavier preference wins", withAffinity(pod("a", "", ""), &orchv1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.PreferredSchedulingTerm{preferred(10, "zone", "a"), preferred(60, "zone", "b")}}),
			infos(zoned("n1", "a"), zoned("n2", "b")), "n2", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := New().Schedule([]*orchv1.Pod{tc.pod}, tc.nodes)
			got := ""
			if len(res.Bindings) == 1 {
				got = res.Bindings[0].Node
			}
			if got != tc.want {
				t.Errorf("placed on %q, want %q (unschedulable: %q)", got, tc.want, res.Unschedulable["default/a"])
			}
			if tc.want == "" && res.Unschedulable["default/a"] != tc.reason {
				t.Errorf("message %q,\nwant    %q", res.Unschedulable["default/a"], tc.reason)
			}
		})
	}
}

func TestUnhonoured(t *testing.T) {
	term := &orchv1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname"}
	cases := []struct {
		name string
		spec *orchv1.PodSpec
		want string
	}{
		{"none", &orchv1.PodSpec{}, ""},
		{"node affinity is honoured", &orchv1.PodSpec{Affinity: &orchv1.Affinity{NodeAffinity: requiredTerm("zone", "In", "a")}}, ""},
		{"empty pod affinity asks nothing", &orchv1.PodSpec{Affinity: &orchv1.Affinity{PodAffinity: &orchv1.PodAffinity{}}}, ""},
		{"pod affinity", &orchv1.PodSpec{Affinity: &orchv1.Affinity{PodAffinity: &orchv1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*orchv1.PodAffinityTerm{term}}}}, "spec.affinity.podAffinity"},
		{"preferred anti-affinity", &orchv1.PodSpec{Affinity: &orchv1.Affinity{PodAntiAffinity: &orchv1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: term}}}}}, "spec.affinity.podAntiAffinity"},
		{"topology spread", &orchv1.PodSpec{TopologySpreadConstraints: []*orchv1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone"}}}, "spec.topologySpreadConstraints"},
	}
	for _, c := range cases {
		if got := strings.Join(Unhonoured(c.spec), ","); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Replicas of one controller spread over equal nodes, with or without requests, and the
// pods already bound count: a workload is not piled onto the node whose name sorts first.
func TestControllerPodsSpread(t *testing.T) {
	owned := func(name, owner string, requests bool) *orchv1.Pod {
		p := pod(name, "10m", "8Mi")
		if !requests {
			p.Spec.Containers[0].Resources = nil
		}
		p.Metadata.OwnerReferences = []*orchv1.OwnerReference{{Kind: "ReplicaSet", Name: owner, Uid: "rs-" + owner, Controller: new(true)}}
		return p
	}
	for _, requests := range []bool{true, false} {
		nodes := infos(node("n1", "32", "64Gi", true, nil), node("n2", "32", "64Gi", true, nil), node("n3", "32", "64Gi", true, nil))
		var pods []*orchv1.Pod
		for i := range 9 {
			pods = append(pods, owned("web-"+string(rune('a'+i)), "web", requests))
		}
		res := New().Schedule(pods, nodes)
		per := map[string]int{}
		for _, b := range res.Bindings {
			per[b.Node]++
		}
		if per["n1"] != 3 || per["n2"] != 3 || per["n3"] != 3 {
			t.Errorf("requests %v: 9 replicas over 3 nodes placed %v, want 3 each", requests, per)
		}
	}
	// Pods already on a node count against it.
	busy := NewNodeInfo(node("n1", "32", "64Gi", true, nil), []*orchv1.Pod{owned("old-1", "web", true), owned("old-2", "web", true)})
	res := New().Schedule([]*orchv1.Pod{owned("new", "web", true)}, []*NodeInfo{busy, NewNodeInfo(node("n2", "32", "64Gi", true, nil), nil)})
	if len(res.Bindings) != 1 || res.Bindings[0].Node != "n2" {
		t.Errorf("a third replica went to %v, want n2 (n1 holds two already)", res.Bindings)
	}
	// Another controller's pods do not repel it.
	res = New().Schedule([]*orchv1.Pod{owned("db-1", "db", true)}, []*NodeInfo{
		NewNodeInfo(node("n1", "32", "64Gi", true, nil), []*orchv1.Pod{owned("x", "web", true)}),
		NewNodeInfo(node("n2", "32", "64Gi", true, nil), []*orchv1.Pod{owned("y", "web", true)}),
	})
	if len(res.Bindings) != 1 {
		t.Errorf("db-1 not placed: %v", res.Unschedulable)
	}
}
