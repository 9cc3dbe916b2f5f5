package server

// DaemonSets and scheduling constraints in the leader of a real master: the DaemonSet
// controller creates one pod per eligible node, the scheduler binds each to its node, a
// NoExecute taint takes a node's pod away and a cordon does not; a pod no node may run
// stays Pending with Kubernetes' Unschedulable condition; a pod asking for pod
// anti-affinity gets a Warning event when placed.

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func updateNode(t *testing.T, ctx context.Context, m *Master, name string, change func(*orchv1.Node)) {
	t.Helper()
	cur, _ := m.store.View().Get(api.NodeKind, name)
	next := proto.Clone(cur).(*orchv1.Node)
	change(next)
	if _, err := m.api.Update(ctx, api.NodeKind, next); err != nil {
		t.Fatal(err)
	}
}

func podsByNodeName(v View, uid string) map[string]int {
	out := map[string]int{}
	for _, p := range activePods(v, uid) {
		out[p.GetSpec().GetNodeName()]++
	}
	return out
}

func TestControllersDaemonSet(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range []string{"w1", "w2"} {
		if _, err := m.registerNode(ctx, testNode(n, "2", "2Gi")); err != nil {
			t.Fatal(err)
		}
	}
	// kube-system exists from cluster birth.
	ds := &orchv1.DaemonSet{Metadata: &orchv1.ObjectMeta{Name: "agent", Namespace: "kube-system"}, Spec: &orchv1.DaemonSetSpec{
		Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: workloadTemplate("agent"),
	}}
	o, err := m.api.Create(ctx, api.DaemonSetKind, ds)
	if err != nil {
		t.Fatal(err)
	}
	uid := o.GetMetadata().GetUid()
	waitFor(t, 10*time.Second, "one bound pod on each of w1 and w2", func() bool {
		got := podsByNodeName(m.store.View(), uid)
		return len(got) == 2 && got["w1"] == 1 && got["w2"] == 1
	})
	waitFor(t, 10*time.Second, "status: 2 desired, 2 scheduled", func() bool {
		cur, _ := m.store.View().Get(api.DaemonSetKind, "kube-system/agent")
		st := cur.(*orchv1.DaemonSet).GetStatus()
		return st.GetDesiredNumberScheduled() == 2 && st.GetCurrentNumberScheduled() == 2 && st.GetUpdatedNumberScheduled() == 2 && st.GetObservedGeneration() == 1
	})

	// A node joining later gets its pod; a cordoned one keeps its pod.
	if _, err := m.registerNode(ctx, testNode("w3", "2", "2Gi")); err != nil {
		t.Fatal(err)
	}
	updateNode(t, ctx, m, "w1", func(n *orchv1.Node) { n.Spec.Unschedulable = true })
	waitFor(t, 10*time.Second, "a pod on w3", func() bool { return podsByNodeName(m.store.View(), uid)["w3"] == 1 })

	// A NoExecute taint takes the pod away; a NoSchedule one keeps none from coming back.
	updateNode(t, ctx, m, "w2", func(n *orchv1.Node) {
		n.Spec.Taints = []*orchv1.Taint{{Key: "maintenance", Effect: "NoExecute"}}
	})
	waitFor(t, 10*time.Second, "w2's pod deleted", func() bool { return podsByNodeName(m.store.View(), uid)["w2"] == 0 })
	time.Sleep(300 * time.Millisecond)
	if got := podsByNodeName(m.store.View(), uid); got["w1"] != 1 || got["w2"] != 0 || got["w3"] != 1 {
		t.Fatalf("pods per node %v, want w1 (cordoned) and w3", got)
	}
}

func TestSchedulerReportsUnschedulableAndIgnoredConstraints(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []string{"w1", "w2", "w3"} {
		if _, err := m.registerNode(ctx, testNode(n, "2", "2Gi")); err != nil {
			t.Fatal(err)
		}
	}
	updateNode(t, ctx, m, "w1", func(n *orchv1.Node) {
		n.Spec.Taints = []*orchv1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}}
	})
	p := mockPod("picky", "")
	p.Spec.Affinity = &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{
		NodeSelectorTerms: []*orchv1.NodeSelectorTerm{{MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"mars"}}}}}}}}
	if _, err := m.api.Create(ctx, api.PodKind, p); err != nil {
		t.Fatal(err)
	}
	const want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector."
	waitFor(t, 10*time.Second, "PodScheduled=False Unschedulable", func() bool {
		o, _ := m.store.View().Get(api.PodKind, "default/picky")
		for _, c := range o.(*orchv1.Pod).GetStatus().GetConditions() {
			if c.GetType() == api.PodScheduled && c.GetStatus() == "False" && c.GetReason() == "Unschedulable" && c.GetMessage() == want {
				return true
			}
		}
		return false
	})
	if o, _ := m.store.View().Get(api.PodKind, "default/picky"); o.(*orchv1.Pod).GetSpec().GetNodeName() != "" {
		t.Fatal("the pod was bound")
	}

	anti := mockPod("spread", "")
	anti.Spec.Affinity = &orchv1.Affinity{PodAntiAffinity: &orchv1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*orchv1.PodAffinityTerm{{
		LabelSelector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, TopologyKey: "kubernetes.io/hostname"}}}}
	if _, err := m.api.Create(ctx, api.PodKind, anti); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a Warning event on the pod placed without its anti-affinity", func() bool {
		for _, o := range m.store.View().List(api.EventKind, "default") {
			e := o.(*orchv1.Event)
			if e.GetInvolvedObject().GetName() == "spread" && e.GetReason() == SchedulingConstraintsIgnored && e.GetType() == "Warning" &&
				strings.Contains(e.GetMessage(), "spec.affinity.podAntiAffinity") {
				return true
			}
		}
		return false
	})
}
