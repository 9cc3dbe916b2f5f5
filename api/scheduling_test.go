package api

// Taint toleration and node selection follow Kubernetes' helpers: these tables pin
// effects, operators, empty keys and values, ORed terms of ANDed requirements, Gt/Lt,
// matchFields and the taints a node's conditions imply.

import (
	"testing"

	"google.golang.org/protobuf/proto"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestToleratesTaint(t *testing.T) {
	t.Parallel()
	taint := &orchv1.Taint{Key: "dedicated", Value: "gpu", Effect: TaintEffectNoSchedule}
	cases := []struct {
		name string
		tol  *orchv1.Toleration
		want bool
	}{
		{"equal key value effect", &orchv1.Toleration{Key: "dedicated", Operator: "Equal", Value: "gpu", Effect: "NoSchedule"}, true},
		{"no operator means Equal", &orchv1.Toleration{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}, true},
		{"other value", &orchv1.Toleration{Key: "dedicated", Operator: "Equal", Value: "cpu", Effect: "NoSchedule"}, false},
		{"Equal with no value against a value", &orchv1.Toleration{Key: "dedicated", Operator: "Equal", Effect: "NoSchedule"}, false},
		{"exists any value", &orchv1.Toleration{Key: "dedicated", Operator: "Exists", Effect: "NoSchedule"}, true},
		{"empty effect matches every effect", &orchv1.Toleration{Key: "dedicated", Operator: "Exists"}, true},
		{"other effect", &orchv1.Toleration{Key: "dedicated", Operator: "Exists", Effect: "NoExecute"}, false},
		{"empty key with Exists tolerates everything", &orchv1.Toleration{Operator: "Exists"}, true},
		{"empty key with Exists and an effect", &orchv1.Toleration{Operator: "Exists", Effect: "PreferNoSchedule"}, false},
		{"other key", &orchv1.Toleration{Key: "zone", Operator: "Exists"}, false},
		{"unknown operator", &orchv1.Toleration{Key: "dedicated", Operator: "Matches", Value: "gpu"}, false},
	}
	for _, c := range cases {
		if got := ToleratesTaint(c.tol, taint); got != c.want {
			t.Errorf("%s: ToleratesTaint(%v) = %v, want %v", c.name, c.tol, got, c.want)
		}
	}
}

func TestFindUntoleratedTaint(t *testing.T) {
	t.Parallel()
	taints := []*orchv1.Taint{
		{Key: "soft", Effect: TaintEffectPreferNoSchedule},
		{Key: "a", Value: "1", Effect: TaintEffectNoSchedule},
		{Key: "b", Effect: TaintEffectNoExecute},
	}
	cases := []struct {
		name   string
		tols   []*orchv1.Toleration
		filter func(*orchv1.Taint) bool
		want   string // key of the untolerated taint, "" for none
	}{
		{"no tolerations: first hard taint", nil, DoNotScheduleTaints, "a"},
		{"every taint without a filter", nil, nil, "soft"},
		{"a tolerated: b", []*orchv1.Toleration{{Key: "a", Value: "1"}}, DoNotScheduleTaints, "b"},
		{"all tolerated", []*orchv1.Toleration{{Key: "a", Value: "1"}, {Key: "b", Operator: "Exists", Effect: "NoExecute"}}, DoNotScheduleTaints, ""},
		{"NoExecute only", []*orchv1.Toleration{{Key: "b", Operator: "Exists"}}, NoExecuteTaints, ""},
		{"tolerate all", []*orchv1.Toleration{{Operator: "Exists"}}, nil, ""},
	}
	for _, c := range cases {
		got, ok := FindUntoleratedTaint(taints, c.tols, c.filter)
		if (c.want == "") == ok || (ok && got.GetKey() != c.want) {
			t.Errorf("%s: got %v %v, want %q", c.name, got, ok, c.want)
		}
	}
}

func affinityNode(name string, labels map[string]string) *orchv1.Node {
	return &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: name, Labels: labels}}
}

func req(key, op string, values ...string) *orchv1.NodeSelectorRequirement {
	return &orchv1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestNodeMatchesSelectorTerms(t *testing.T) {
	t.Parallel()
	n := affinityNode("n1", map[string]string{"zone": "a", "disk": "ssd", "cores": "8"})
	term := func(exprs ...*orchv1.NodeSelectorRequirement) *orchv1.NodeSelectorTerm {
		return &orchv1.NodeSelectorTerm{MatchExpressions: exprs}
	}
	fields := func(fs ...*orchv1.NodeSelectorRequirement) *orchv1.NodeSelectorTerm {
		return &orchv1.NodeSelectorTerm{MatchFields: fs}
	}
	cases := []struct {
		name  string
		terms []*orchv1.NodeSelectorTerm
		want  bool
	}{
		{"In", []*orchv1.NodeSelectorTerm{term(req("zone", "In", "a", "b"))}, true},
		{"In other", []*orchv1.NodeSelectorTerm{term(req("zone", "In", "b"))}, false},
		{"NotIn", []*orchv1.NodeSelectorTerm{term(req("zone", "NotIn", "b"))}, true},
		{"NotIn own", []*orchv1.NodeSelectorTerm{term(req("zone", "NotIn", "a"))}, false},
		{"NotIn missing label", []*orchv1.NodeSelectorTerm{term(req("gpu", "NotIn", "yes"))}, true},
		{"Exists", []*orchv1.NodeSelectorTerm{term(req("disk", "Exists"))}, true},
		{"Exists missing", []*orchv1.NodeSelectorTerm{term(req("gpu", "Exists"))}, false},
		{"DoesNotExist", []*orchv1.NodeSelectorTerm{term(req("gpu", "DoesNotExist"))}, true},
		{"DoesNotExist present", []*orchv1.NodeSelectorTerm{term(req("disk", "DoesNotExist"))}, false},
		{"Gt", []*orchv1.NodeSelectorTerm{term(req("cores", "Gt", "4"))}, true},
		{"Gt equal", []*orchv1.NodeSelectorTerm{term(req("cores", "Gt", "8"))}, false},
		{"Lt", []*orchv1.NodeSelectorTerm{term(req("cores", "Lt", "16"))}, true},
		{"Lt smaller", []*orchv1.NodeSelectorTerm{term(req("cores", "Lt", "8"))}, false},
		{"Gt on a non-integer label", []*orchv1.NodeSelectorTerm{term(req("zone", "Gt", "1"))}, false},
		{"Gt on a missing label", []*orchv1.NodeSelectorTerm{term(req("mem", "Gt", "1"))}, false},
		{"expressions are ANDed", []*orchv1.NodeSelectorTerm{term(req("zone", "In", "a"), req("disk", "In", "hdd"))}, false},
		{"terms are ORed", []*orchv1.NodeSelectorTerm{term(req("zone", "In", "b")), term(req("disk", "In", "ssd"))}, true},
		{"no terms", nil, false},
		{"an empty term matches nothing", []*orchv1.NodeSelectorTerm{{}}, false},
		{"matchFields name In", []*orchv1.NodeSelectorTerm{fields(req("metadata.name", "In", "n1"))}, true},
		{"matchFields name In other", []*orchv1.NodeSelectorTerm{fields(req("metadata.name", "In", "n2"))}, false},
		{"matchFields name NotIn", []*orchv1.NodeSelectorTerm{fields(req("metadata.name", "NotIn", "n2"))}, true},
		{"matchFields other field", []*orchv1.NodeSelectorTerm{fields(req("spec.podCIDR", "In", "x"))}, false},
		{"fields and expressions ANDed", []*orchv1.NodeSelectorTerm{{MatchFields: []*orchv1.NodeSelectorRequirement{req("metadata.name", "In", "n1")},
			MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "b")}}}, false},
		{"unknown operator", []*orchv1.NodeSelectorTerm{term(req("zone", "Matches", "a"))}, false},
	}
	for _, c := range cases {
		if got := NodeMatchesSelectorTerms(n, c.terms); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPodMatchesNodeSelectorAndAffinity(t *testing.T) {
	t.Parallel()
	n := affinityNode("n1", map[string]string{"zone": "a", "disk": "ssd"})
	required := func(terms ...*orchv1.NodeSelectorTerm) *orchv1.Affinity {
		return &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	cases := []struct {
		name string
		spec *orchv1.PodSpec
		want bool
	}{
		{"nothing asked", &orchv1.PodSpec{}, true},
		{"nodeSelector matches", &orchv1.PodSpec{NodeSelector: map[string]string{"zone": "a"}}, true},
		{"nodeSelector mismatch", &orchv1.PodSpec{NodeSelector: map[string]string{"zone": "a", "disk": "hdd"}}, false},
		{"affinity matches", &orchv1.PodSpec{Affinity: required(&orchv1.NodeSelectorTerm{MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "a")}})}, true},
		{"selector and affinity both needed", &orchv1.PodSpec{NodeSelector: map[string]string{"disk": "hdd"},
			Affinity: required(&orchv1.NodeSelectorTerm{MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "a")}})}, false},
		{"required with no terms", &orchv1.PodSpec{Affinity: required()}, false},
		{"preferred only does not filter", &orchv1.PodSpec{Affinity: &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.PreferredSchedulingTerm{{Weight: 1, Preference: &orchv1.NodeSelectorTerm{
				MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "b")}}}}}}}, true},
	}
	for _, c := range cases {
		if got := PodMatchesNodeSelectorAndAffinity(c.spec, n); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	pref := &orchv1.PodSpec{Affinity: &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.PreferredSchedulingTerm{
		{Weight: 10, Preference: &orchv1.NodeSelectorTerm{MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "a")}}},
		{Weight: 5, Preference: &orchv1.NodeSelectorTerm{MatchExpressions: []*orchv1.NodeSelectorRequirement{req("disk", "In", "ssd")}}},
		{Weight: 40, Preference: &orchv1.NodeSelectorTerm{MatchExpressions: []*orchv1.NodeSelectorRequirement{req("zone", "In", "b")}}},
	}}}}
	if got := PreferredNodeAffinityScore(pref, n); got != 15 {
		t.Errorf("PreferredNodeAffinityScore = %d, want 15", got)
	}
}

func TestNodeTaints(t *testing.T) {
	t.Parallel()
	cond := func(typ, status string) *orchv1.NodeCondition {
		return &orchv1.NodeCondition{Type: typ, Status: status}
	}
	cases := []struct {
		name string
		node *orchv1.Node
		want []string
	}{
		{"ready", &orchv1.Node{Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{cond("Ready", "True")}}}, nil},
		{"no Ready condition", &orchv1.Node{}, []string{"node.kubernetes.io/not-ready:NoSchedule"}},
		{"not ready", &orchv1.Node{Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{cond("Ready", "False")}}},
			[]string{"node.kubernetes.io/not-ready:NoSchedule"}},
		{"unknown", &orchv1.Node{Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{cond("Ready", "Unknown")}}},
			[]string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{"cordoned under pressure, with a taint of its own", &orchv1.Node{Spec: &orchv1.NodeSpec{Unschedulable: true,
			Taints: []*orchv1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoExecute"}}},
			Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{cond("Ready", "True"), cond("MemoryPressure", "True"), cond("DiskPressure", "False")}}},
			[]string{"dedicated=gpu:NoExecute", "node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}},
		{"a condition taint already in spec.taints is not doubled", &orchv1.Node{Spec: &orchv1.NodeSpec{Unschedulable: true,
			Taints: []*orchv1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: "NoSchedule"}}},
			Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{cond("Ready", "True")}}},
			[]string{"node.kubernetes.io/unschedulable:NoSchedule"}},
	}
	for _, c := range cases {
		before := proto.Clone(c.node)
		var got []string
		for _, tt := range NodeTaints(c.node) {
			got = append(got, TaintString(tt))
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
		if !proto.Equal(before, c.node) {
			t.Errorf("%s: NodeTaints changed the node", c.name)
		}
	}
}
