package controllers

// The DaemonSet reconcile runs one pod on each node that may run it and none elsewhere:
// tables for node eligibility (selector, affinity, taints, the daemon tolerations), for
// the pods a sync creates and deletes and the status it counts, and a simulated cluster
// in which rolling updates stay within maxUnavailable and maxSurge and OnDelete waits.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func testDS(name string) *orchv1.DaemonSet {
	return &orchv1.DaemonSet{
		Metadata: &orchv1.ObjectMeta{Namespace: "kube-system", Name: name, Uid: "uid-" + name, Generation: 1},
		Spec: &orchv1.DaemonSetSpec{
			Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"name": name}},
			Template: &orchv1.PodTemplateSpec{
				Metadata: &orchv1.ObjectMeta{Labels: map[string]string{"name": name}},
				Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}},
			},
			UpdateStrategy: &orchv1.DaemonSetUpdateStrategy{Type: RollingUpdateStrategy, RollingUpdate: &orchv1.RollingUpdateDaemonSet{
				MaxUnavailable: structpb.NewNumberValue(1), MaxSurge: structpb.NewNumberValue(0)}},
		},
	}
}

type nodeOpt func(*orchv1.Node)

func testNode(name string, opts ...nodeOpt) *orchv1.Node {
	n := &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:   &orchv1.NodeSpec{},
		Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{{Type: "Ready", Status: "True"}}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeLabel(k, v string) nodeOpt { return func(n *orchv1.Node) { n.Metadata.Labels[k] = v } }
func taint(key, value, effect string) nodeOpt {
	return func(n *orchv1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, &orchv1.Taint{Key: key, Value: value, Effect: effect})
	}
}
func cordoned(n *orchv1.Node)      { n.Spec.Unschedulable = true }
func readyStatus(s string) nodeOpt { return func(n *orchv1.Node) { n.Status.Conditions[0].Status = s } }
func nodeDeleting(n *orchv1.Node)  { n.Metadata.DeletionTimestamp = timestamppb.New(t0) }
func requireZone(ds *orchv1.DaemonSet, z string) {
	ds.Spec.Template.Spec.Affinity = &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{
		NodeSelectorTerms: []*orchv1.NodeSelectorTerm{{MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{z}}}}}}}}
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	t.Parallel()
	plain := testDS("d")
	selecting := testDS("d")
	selecting.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	zoned := testDS("d")
	requireZone(zoned, "a")
	tolerant := testDS("d")
	tolerant.Spec.Template.Spec.Tolerations = []*orchv1.Toleration{{Key: "dedicated", Operator: "Exists"}}
	cases := []struct {
		name                      string
		ds                        *orchv1.DaemonSet
		node                      *orchv1.Node
		shouldRun, shouldContinue bool
	}{
		{"plain node", plain, testNode("n"), true, true},
		{"nodeSelector matches", selecting, testNode("n", nodeLabel("disk", "ssd")), true, true},
		{"nodeSelector does not match", selecting, testNode("n"), false, false},
		{"affinity matches", zoned, testNode("n", nodeLabel("zone", "a")), true, true},
		{"affinity does not match", zoned, testNode("n", nodeLabel("zone", "b")), false, false},
		{"untolerated NoSchedule: keep running pods", plain, testNode("n", taint("dedicated", "x", "NoSchedule")), false, true},
		{"untolerated NoExecute: none", plain, testNode("n", taint("dedicated", "x", "NoExecute")), false, false},
		{"PreferNoSchedule does not matter", plain, testNode("n", taint("dedicated", "x", "PreferNoSchedule")), true, true},
		{"tolerated taint", tolerant, testNode("n", taint("dedicated", "x", "NoExecute")), true, true},
		{"cordoned: daemon pods tolerate it", plain, testNode("n", cordoned), true, true},
		{"not ready: no new pod, the old one stays", plain, testNode("n", readyStatus("False")), false, true},
		{"not-ready NoExecute taint is tolerated", plain, testNode("n", taint(api.TaintNodeNotReady, "", "NoExecute")), true, true},
		{"unreachable NoExecute taint is tolerated", plain, testNode("n", taint(api.TaintNodeUnreachable, "", "NoExecute")), true, true},
		{"memory pressure is tolerated", plain, testNode("n", taint(api.TaintNodeMemoryPressure, "", "NoSchedule")), true, true},
		{"network-unavailable only with hostNetwork", plain, testNode("n", taint(api.TaintNodeNetworkUnavailable, "", "NoSchedule")), false, true},
		{"node being deleted", plain, testNode("n", nodeDeleting), false, true},
	}
	for _, c := range cases {
		run, cont := nodeShouldRunDaemonPod(c.node, c.ds)
		if run != c.shouldRun || cont != c.shouldContinue {
			t.Errorf("%s: shouldRun %v shouldContinue %v, want %v %v", c.name, run, cont, c.shouldRun, c.shouldContinue)
		}
	}
	hn := testDS("d")
	hn.Spec.Template.Spec.HostNetwork = true
	if run, _ := nodeShouldRunDaemonPod(testNode("n", taint(api.TaintNodeNetworkUnavailable, "", "NoSchedule")), hn); !run {
		t.Errorf("a hostNetwork daemon pod tolerates network-unavailable")
	}
}

// dsPod is a pod of ds on node (bound unless unbound), of the template with hash.
func dsPod(name string, ds *orchv1.DaemonSet, nodeName, hash string, opts ...podOpt) *orchv1.Pod {
	p := newDaemonPod(ds, nodeName, hash)
	p.Metadata.Name, p.Metadata.Uid, p.Metadata.CreationTimestamp = name, "uid-"+name, timestamppb.New(t0)
	p.Metadata.Labels[ControllerRevisionHashLabel] = hash
	p.Spec.NodeName = nodeName
	p.Status = &orchv1.PodStatus{Phase: api.PodRunning}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podNames(pods []*orchv1.Pod) string {
	var s []string
	for _, p := range pods {
		if p.GetMetadata().GetName() != "" {
			s = append(s, p.GetMetadata().GetName())
		} else {
			s = append(s, "new@"+daemonPodNode(p))
		}
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func TestPlanDaemonSet(t *testing.T) {
	t.Parallel()
	ds := testDS("fluentd")
	h := templateHash(ds.Spec.Template, nil)
	ready := readySince(-time.Minute)
	cases := []struct {
		name           string
		ds             *orchv1.DaemonSet
		nodes          []*orchv1.Node
		pods           []*orchv1.Pod
		create, delete string
		status         string // desired/current/ready/available/updated/misscheduled
	}{
		{"a pod per node", ds, []*orchv1.Node{testNode("n1"), testNode("n2"), testNode("n3")}, nil,
			"new@n1,new@n2,new@n3", "", "3/0/0/0/0/0"},
		{"a node added later", ds, []*orchv1.Node{testNode("n1"), testNode("n2")}, []*orchv1.Pod{dsPod("a", ds, "n1", h, ready)},
			"new@n2", "", "2/1/1/1/1/0"},
		{"steady", ds, []*orchv1.Node{testNode("n1"), testNode("n2")}, []*orchv1.Pod{dsPod("a", ds, "n1", h, ready), dsPod("b", ds, "n2", h, ready)},
			"", "", "2/2/2/2/2/0"},
		{"tainted node gets none", ds, []*orchv1.Node{testNode("n1"), testNode("n2", taint("dedicated", "x", "NoSchedule"))}, nil,
			"new@n1", "", "1/0/0/0/0/0"},
		{"NoSchedule taint added: the pod stays, misscheduled", ds, []*orchv1.Node{testNode("n1", taint("dedicated", "x", "NoSchedule"))},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, ready)}, "", "", "0/0/0/0/0/1"},
		{"NoExecute taint added: the pod goes", ds, []*orchv1.Node{testNode("n1", taint("dedicated", "x", "NoExecute"))},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, ready)}, "", "a", "0/0/0/0/0/1"},
		{"node removed: its pod goes", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, ready), dsPod("b", ds, "gone", h, ready)}, "", "b", "1/1/1/1/1/0"},
		{"unbound pod for a node that is gone goes", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, ready), dsPod("b", ds, "gone", h, func(p *orchv1.Pod) { p.Spec.NodeName = ""; p.Status.Phase = api.PodPending })}, "", "b", "1/1/1/1/1/0"},
		{"an unbound pod counts for its node", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, func(p *orchv1.Pod) { p.Spec.NodeName = ""; p.Status.Phase = api.PodPending })}, "", "", "1/1/0/0/1/0"},
		{"extra pods: the oldest stays", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, ready, created(time.Second)), dsPod("b", ds, "n1", h, ready), dsPod("c", ds, "n1", h, ready, created(2*time.Second))},
			"", "a,c", "1/1/1/1/1/0"},
		{"failed pod is deleted, replaced once gone", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, phase(api.PodFailed))}, "", "a", "1/1/0/0/1/0"},
		{"a terminating pod holds its node", ds, []*orchv1.Node{testNode("n1")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", h, deleting)}, "", "", "1/1/0/0/1/0"},
		{"cordoned node still gets one", ds, []*orchv1.Node{testNode("n1", cordoned)}, nil, "new@n1", "", "1/0/0/0/0/0"},
		{"not ready node: none yet", ds, []*orchv1.Node{testNode("n1", readyStatus("Unknown"))}, nil, "", "", "0/0/0/0/0/0"},
		{"old template: one replaced at a time", ds, []*orchv1.Node{testNode("n1"), testNode("n2")},
			[]*orchv1.Pod{dsPod("a", ds, "n1", "old", ready), dsPod("b", ds, "n2", "old", ready)}, "", "a", "2/2/2/2/0/0"},
	}
	for _, c := range cases {
		plan := planDaemonSet(dsInput{DS: c.ds, Nodes: c.nodes, Pods: c.pods, Now: t0, NeedsSync: true})
		if got := podNames(plan.Create); got != c.create {
			t.Errorf("%s: creates %q, want %q", c.name, got, c.create)
		}
		if got := podNames(plan.Delete); got != c.delete {
			t.Errorf("%s: deletes %q, want %q", c.name, got, c.delete)
		}
		st := plan.Status
		if st == nil {
			st = c.ds.GetStatus()
		}
		got := fmt.Sprintf("%d/%d/%d/%d/%d/%d", st.GetDesiredNumberScheduled(), st.GetCurrentNumberScheduled(), st.GetNumberReady(),
			st.GetNumberAvailable(), st.GetUpdatedNumberScheduled(), st.GetNumberMisscheduled())
		if got != c.status {
			t.Errorf("%s: status %s, want %s", c.name, got, c.status)
		}
		if st.GetObservedGeneration() != 1 || st.GetNumberUnavailable() != st.GetDesiredNumberScheduled()-st.GetNumberAvailable() {
			t.Errorf("%s: status %v", c.name, st)
		}
	}
}

func TestNewDaemonPod(t *testing.T) {
	t.Parallel()
	ds := testDS("fluentd")
	requireZone(ds, "a")
	ds.Spec.Template.Spec.Tolerations = []*orchv1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: "Exists", Effect: "NoSchedule"},
		{Key: api.TaintNodeUnschedulable, Operator: "Exists", Effect: "NoSchedule"}}
	before := proto.Clone(ds)
	p := newDaemonPod(ds, "n2", "abc")
	if !proto.Equal(before, ds) {
		t.Fatal("newDaemonPod changed the DaemonSet")
	}
	m := p.GetMetadata()
	if m.GetGenerateName() != "fluentd-" || m.GetNamespace() != "kube-system" || m.GetLabels()["name"] != "fluentd" ||
		m.GetLabels()[ControllerRevisionHashLabel] != "abc" || m.GetLabels()[PodTemplateGenerationLabel] != "1" {
		t.Errorf("metadata %v", m)
	}
	if ref := controllerRef(p); ref.GetKind() != "DaemonSet" || ref.GetUid() != "uid-fluentd" {
		t.Errorf("owner %v", ref)
	}
	terms := p.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution().GetNodeSelectorTerms()
	if len(terms) != 1 || len(terms[0].GetMatchExpressions()) != 0 || len(terms[0].GetMatchFields()) != 1 ||
		!proto.Equal(terms[0].GetMatchFields()[0], &orchv1.NodeSelectorRequirement{Key: "metadata.name", Operator: "In", Values: []string{"n2"}}) {
		t.Errorf("node affinity %v: want only matchFields metadata.name In [n2]", terms)
	}
	var tols []string
	for _, tol := range p.GetSpec().GetTolerations() {
		tols = append(tols, tol.GetKey()+":"+tol.GetEffect())
	}
	want := "node-role.kubernetes.io/control-plane:NoSchedule,node.kubernetes.io/unschedulable:NoSchedule,node.kubernetes.io/not-ready:NoExecute," +
		"node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/disk-pressure:NoSchedule,node.kubernetes.io/memory-pressure:NoSchedule,node.kubernetes.io/pid-pressure:NoSchedule"
	if strings.Join(tols, ",") != want {
		t.Errorf("tolerations\n%s\nwant\n%s", strings.Join(tols, ","), want)
	}
}

// dsWorld applies DaemonSet plans: a created pod is bound at once and ready one step
// later; a deleted pod is gone at the next step.
type dsWorld struct {
	t     *testing.T
	ds    *orchv1.DaemonSet
	nodes []*orchv1.Node
	pods  []*orchv1.Pod
	now   time.Time
	seq   int
}

func (w *dsWorld) step() dsPlan {
	w.t.Helper()
	w.now = w.now.Add(time.Second)
	var kept []*orchv1.Pod
	for _, p := range w.pods {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			if !podReady(p) {
				p.Status.Conditions = []*orchv1.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: timestamppb.New(w.now)}}
			}
			kept = append(kept, p)
		}
	}
	w.pods = kept
	plan := planDaemonSet(dsInput{DS: w.ds, Nodes: w.nodes, Pods: w.pods, Now: w.now, NeedsSync: true})
	for _, p := range plan.Create {
		p = proto.Clone(p).(*orchv1.Pod)
		w.seq++
		p.Metadata.Name, p.Metadata.Uid, p.Metadata.CreationTimestamp = fmt.Sprintf("p%d", w.seq), fmt.Sprintf("uid-p%d", w.seq), timestamppb.New(w.now)
		p.Spec.NodeName = daemonPodNode(p)
		p.Status = &orchv1.PodStatus{Phase: api.PodRunning}
		w.pods = append(w.pods, p)
	}
	for _, d := range plan.Delete {
		for _, p := range w.pods {
			if p.GetMetadata().GetUid() == d.GetMetadata().GetUid() {
				p.Metadata.DeletionTimestamp = timestamppb.New(w.now)
			}
		}
	}
	if plan.Status != nil {
		w.ds.Status = plan.Status
	}
	return plan
}

func (w *dsWorld) settle(maxSteps int, check func()) {
	w.t.Helper()
	for range maxSteps {
		plan := w.step()
		if check != nil {
			check()
		}
		if len(plan.Create)+len(plan.Delete) == 0 && plan.Status == nil {
			return
		}
	}
	w.t.Fatalf("no steady state after %d steps", maxSteps)
}

// perNode counts, per node, the pods not being deleted and those available.
func (w *dsWorld) perNode() (pods, available map[string]int) {
	pods, available = map[string]int{}, map[string]int{}
	for _, p := range w.pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		pods[p.Spec.NodeName]++
		if podAvailable(p, w.ds.GetSpec().GetMinReadySeconds(), w.now) {
			available[p.Spec.NodeName]++
		}
	}
	return pods, available
}

func TestDaemonSetRollingUpdateStaysWithinBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		nodes              int
		unavailable, surge string
	}{
		{3, "1", "0"}, {5, "2", "0"}, {4, "50%", "0"}, {5, "10%", "0"}, {3, "0", "1"}, {5, "0", "40%"}, {4, "0", "100%"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s-%s", tc.nodes, tc.unavailable, tc.surge), func(t *testing.T) {
			t.Parallel()
			ds := testDS("d")
			ds.Spec.UpdateStrategy.RollingUpdate = &orchv1.RollingUpdateDaemonSet{MaxUnavailable: intOrPercent(tc.unavailable), MaxSurge: intOrPercent(tc.surge)}
			w := &dsWorld{t: t, ds: ds, now: t0}
			for i := range tc.nodes {
				w.nodes = append(w.nodes, testNode(fmt.Sprintf("n%d", i)))
			}
			w.settle(20, nil)
			if st := w.ds.Status; st.GetNumberAvailable() != int32(tc.nodes) || st.GetUpdatedNumberScheduled() != int32(tc.nodes) {
				t.Fatalf("first rollout: status %v", st)
			}
			surge, unavailable := daemonSetFenceposts(ds, w.nodes)
			ds.Spec.Template.Spec.Containers[0].Image = "b"
			ds.Metadata.Generation++
			newHash := templateHash(ds.Spec.Template, nil)
			w.settle(100, func() {
				pods, avail := w.perNode()
				down, surged := 0, 0
				for _, n := range w.nodes {
					name := n.GetMetadata().GetName()
					if avail[name] == 0 {
						down++
					}
					if pods[name] > 2 {
						t.Fatalf("%d pods on %s", pods[name], name)
					}
					if pods[name] == 2 {
						surged++
					}
				}
				if surge == 0 && down > unavailable {
					t.Fatalf("%d nodes without an available pod, maxUnavailable %d", down, unavailable)
				}
				if surge > 0 && (surged > surge || down > 0) {
					t.Fatalf("%d nodes with two pods (maxSurge %d), %d without an available one", surged, surge, down)
				}
			})
			for _, p := range w.pods {
				if p.Metadata.Labels[ControllerRevisionHashLabel] != newHash || p.Spec.Containers[0].Image != "b" {
					t.Fatalf("pod %s of an old template left after the rollout", p.Metadata.Name)
				}
			}
			if st := w.ds.Status; len(w.pods) != tc.nodes || st.GetUpdatedNumberScheduled() != int32(tc.nodes) || st.GetNumberAvailable() != int32(tc.nodes) || st.GetObservedGeneration() != 2 {
				t.Fatalf("after the rollout: %d pods, status %v", len(w.pods), st)
			}
		})
	}
}

func TestDaemonSetOnDeleteWaitsForDeletion(t *testing.T) {
	t.Parallel()
	ds := testDS("d")
	ds.Spec.UpdateStrategy = &orchv1.DaemonSetUpdateStrategy{Type: OnDeleteStrategy}
	w := &dsWorld{t: t, ds: ds, now: t0, nodes: []*orchv1.Node{testNode("n1"), testNode("n2")}}
	w.settle(20, nil)
	ds.Spec.Template.Spec.Containers[0].Image = "b"
	ds.Metadata.Generation++
	w.settle(20, nil)
	if st := w.ds.Status; st.GetUpdatedNumberScheduled() != 0 || st.GetNumberAvailable() != 2 {
		t.Fatalf("OnDelete replaced pods by itself: status %v", st)
	}
	w.pods[0].Metadata.DeletionTimestamp = timestamppb.New(w.now)
	w.settle(20, nil)
	if st := w.ds.Status; st.GetUpdatedNumberScheduled() != 1 || st.GetNumberAvailable() != 2 || len(w.pods) != 2 {
		t.Fatalf("after deleting one pod: %d pods, status %v; want one pod of the new template", len(w.pods), st)
	}
}

func TestDaemonSetFollowsNodes(t *testing.T) {
	t.Parallel()
	ds := testDS("d")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"logging": "on"}
	w := &dsWorld{t: t, ds: ds, now: t0, nodes: []*orchv1.Node{testNode("n1", nodeLabel("logging", "on")), testNode("n2")}}
	w.settle(20, nil)
	if pods, _ := w.perNode(); pods["n1"] != 1 || pods["n2"] != 0 {
		t.Fatalf("pods per node %v", pods)
	}
	w.nodes[1].Metadata.Labels["logging"] = "on"
	w.nodes = append(w.nodes, testNode("n3", nodeLabel("logging", "on")))
	w.settle(20, nil)
	if pods, _ := w.perNode(); pods["n1"] != 1 || pods["n2"] != 1 || pods["n3"] != 1 {
		t.Fatalf("after labelling n2 and adding n3: %v", pods)
	}
	delete(w.nodes[0].Metadata.Labels, "logging")
	w.nodes = w.nodes[1:2]
	w.settle(20, nil)
	if pods, _ := w.perNode(); pods["n1"] != 0 || pods["n2"] != 1 || pods["n3"] != 0 || len(w.pods) != 1 {
		t.Fatalf("after n1 stopped matching and n3 went: %v", pods)
	}
	if st := w.ds.Status; st.GetDesiredNumberScheduled() != 1 || st.GetNumberAvailable() != 1 {
		t.Fatalf("status %v", st)
	}
}
