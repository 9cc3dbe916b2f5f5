package controllers

// A terminating namespace reports what is left in it as Kubernetes' namespace controller
// does: what remains by resource, which finalizers hold it, and whether deletes failed;
// a condition keeps its transition time while its status stays.

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestContentOf(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 1)
	held := testPod("held", rs, deleting)
	held.Metadata.Finalizers = []string{"example.com/hold"}
	live := testPod("live", rs)
	other := testPod("other", rs)
	other.Metadata.Namespace = "elsewhere"
	v := memView{objs: []api.Object{rs, held, live, other}}
	n := contentOf(v, []*api.Kind{api.PodKind, api.ReplicaSetKind}, "default")
	if n.resources["pods"] != 2 || n.resources["replicasets.apps"] != 1 || len(n.resources) != 2 {
		t.Errorf("resources %v, want pods 2, replicasets.apps 1", n.resources)
	}
	if n.finalizers["example.com/hold"] != 1 || len(n.finalizers) != 1 {
		t.Errorf("finalizers %v", n.finalizers)
	}
	var del []string
	for _, d := range n.toDelete {
		del = append(del, d.obj.GetMetadata().GetName())
	}
	if !equalStrings(del, []string{"live", "web"}) {
		t.Errorf("to delete %v, want [live web]: a pod already going is not deleted again", del)
	}
	if !contentOf(v, []*api.Kind{api.PodKind}, "empty").empty() {
		t.Error("a namespace with nothing in it is not empty")
	}
}

func TestNamespaceConditions(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Minute)
	some := namespaceContent{resources: map[string]int{"pods": 2, "replicasets.apps": 1}, finalizers: map[string]int{"example.com/hold": 1}}
	none := namespaceContent{resources: map[string]int{}, finalizers: map[string]int{}}
	find := func(cs []*orchv1.NamespaceCondition, typ string) *orchv1.NamespaceCondition {
		for _, c := range cs {
			if c.GetType() == typ {
				return c
			}
		}
		t.Fatalf("no %s condition", typ)
		return nil
	}
	cases := []struct {
		name   string
		n      namespaceContent
		errs   []string
		typ    string
		status string
		reason string
		msg    string
	}{
		{"remaining", some, nil, api.NamespaceContentRemaining, api.ConditionTrue, "SomeResourcesRemain",
			"Some resources are remaining: pods has 2 resource instances, replicasets.apps has 1 resource instances"},
		{"finalizers remaining", some, nil, api.NamespaceFinalizersRemaining, api.ConditionTrue, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
		{"removed", none, nil, api.NamespaceContentRemaining, api.ConditionFalse, "ContentRemoved", "All content successfully removed"},
		{"no finalizers", none, nil, api.NamespaceFinalizersRemaining, api.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
		{"deleted", some, nil, api.NamespaceDeletionContentFailure, api.ConditionFalse, "ContentDeleted",
			"All content successfully deleted, may be waiting on finalization"},
		{"delete failed", some, []string{`pods "a": boom`}, api.NamespaceDeletionContentFailure, api.ConditionTrue, "ContentDeletionFailed",
			`Failed to delete all resource types, 1 remaining: pods "a": boom`},
		{"discovery", none, nil, api.NamespaceDeletionDiscoveryFailure, api.ConditionFalse, "ResourcesDiscovered", "All resources successfully discovered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := find(namespaceConditions(nil, tc.n, tc.errs, now), tc.typ)
			if c.GetStatus() != tc.status || c.GetReason() != tc.reason || c.GetMessage() != tc.msg {
				t.Errorf("%s = %s %s %q, want %s %s %q", tc.typ, c.GetStatus(), c.GetReason(), c.GetMessage(), tc.status, tc.reason, tc.msg)
			}
			if !c.GetLastTransitionTime().AsTime().Equal(now) {
				t.Errorf("transition time %v, want now", c.GetLastTransitionTime().AsTime())
			}
		})
	}

	t.Run("transition time kept while the status stays", func(t *testing.T) {
		t.Parallel()
		old := []*orchv1.NamespaceCondition{
			{Type: api.NamespaceContentRemaining, Status: api.ConditionTrue, Reason: "SomeResourcesRemain", Message: "x", LastTransitionTime: timestamppb.New(t0)},
			{Type: api.NamespaceFinalizersRemaining, Status: api.ConditionFalse, LastTransitionTime: timestamppb.New(t0)},
			{Type: "example.com/Other", Status: api.ConditionTrue},
		}
		cs := namespaceConditions(old, namespaceContent{resources: map[string]int{"pods": 1}, finalizers: map[string]int{"f": 1}}, nil, now)
		if got := find(cs, api.NamespaceContentRemaining).GetLastTransitionTime().AsTime(); !got.Equal(t0) {
			t.Errorf("unchanged status: transition time %v, want %v", got, t0)
		}
		if got := find(cs, api.NamespaceFinalizersRemaining).GetLastTransitionTime().AsTime(); !got.Equal(now) {
			t.Errorf("changed status: transition time %v, want %v", got, now)
		}
		find(cs, "example.com/Other")
	})
}
