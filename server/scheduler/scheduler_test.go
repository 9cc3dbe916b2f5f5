package scheduler

// Schedule is a pure function of pods and nodes: these table tests pin its filters,
// its scoring and its accounting of placements within one pass.

import (
	"strings"
	"testing"

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
