package controllers

// A dependent goes when no owner it names is left to keep it (same kind, name and uid,
// and not deleting its dependents in the foreground); with some solid owners left, only
// the references to the others are removed. An owner being deleted in the foreground
// waits for its blocking dependents; one being deleted with Orphan unlinks them first.

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// markedDeleting marks o as being deleted with finalizers.
func markedDeleting[T api.Object](o T, finalizers ...string) T {
	c := proto.Clone(o).(T)
	m := api.Meta(c)
	m.DeletionTimestamp = timestamppb.New(t0)
	m.Finalizers = finalizers
	return c
}

func TestPlanGC(t *testing.T) {
	t.Parallel()
	live := testRS("live", 1)
	gone := testRS("gone", 1)
	recreated := testRS("recreated", 1)
	recreatedNow := testRS("recreated", 1)
	recreatedNow.Metadata.Uid = "uid-new"
	otherNS := testRS("elsewhere", 1)
	otherNS.Metadata.Namespace = "other"
	fg := markedDeleting(testRS("fg", 1), api.FinalizerDeleteDependents)
	orphaning := markedDeleting(testRS("orphaning", 1), api.FinalizerOrphanDependents)
	background := markedDeleting(testRS("terminating", 1), "example.com/hold")
	// p-parent has a dependent of its own.
	child := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "child", Uid: "uid-child",
		OwnerReferences: []*orchv1.OwnerReference{{ApiVersion: "v1", Kind: "Pod", Name: "p-parent", Uid: "uid-p-parent"}}}}
	v := memView{objs: []api.Object{live, recreatedNow, otherNS, fg, orphaning, background, child}}
	ref := func(rs *orchv1.ReplicaSet) *orchv1.OwnerReference { return newControllerRef(api.ReplicaSetKind, rs) }
	refs := func(r ...*orchv1.OwnerReference) []*orchv1.OwnerReference { return r }
	bg, fore, orph := api.DeletePropagationBackground, api.DeletePropagationForeground, api.DeletePropagationOrphan
	cases := []struct {
		name       string
		dep        string // the dependent's name: "p-parent" has a dependent
		finalizers []string
		refs       []*orchv1.OwnerReference
		want       gcAction
		policy     string
		keep       []string
	}{
		{name: "no owners", want: gcKeep},
		{name: "owner exists", refs: refs(ref(live)), want: gcKeep},
		{name: "owner gone", refs: refs(ref(gone)), want: gcDelete, policy: bg},
		{name: "owner recreated with another uid", refs: refs(ref(recreated)), want: gcDelete, policy: bg},
		{name: "owner in another namespace does not count", refs: refs(ref(otherNS)), want: gcDelete, policy: bg},
		{name: "one of two owners gone", refs: refs(ref(gone), ref(live)), want: gcUnlink, keep: []string{"live"}},
		{name: "unknown owner kind is kept", refs: refs(&orchv1.OwnerReference{ApiVersion: "example.com/v1", Kind: "Widget", Name: "w", Uid: "u"}), want: gcKeep},
		{name: "owner deleting in the foreground", refs: refs(ref(fg)), want: gcDelete, policy: bg},
		{name: "owner deleting in the foreground, dependent has dependents", dep: "p-parent", refs: refs(ref(fg)), want: gcDelete, policy: fore},
		{name: "foreground owner and a solid one: only the reference goes", refs: refs(ref(fg), ref(live)), want: gcUnlink, keep: []string{"live"}},
		{name: "owner orphaning its dependents is solid", refs: refs(ref(orphaning)), want: gcKeep},
		{name: "owner terminating for another finalizer is solid", refs: refs(ref(background)), want: gcKeep},
		{name: "own orphan finalizer is honoured", finalizers: []string{api.FinalizerOrphanDependents}, refs: refs(ref(gone)), want: gcDelete, policy: orph},
		{name: "own foreground finalizer is honoured", finalizers: []string{api.FinalizerDeleteDependents}, refs: refs(ref(gone)), want: gcDelete, policy: fore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := tc.dep
			if name == "" {
				name = "p"
			}
			dep := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name,
				OwnerReferences: tc.refs, Finalizers: tc.finalizers}}
			got := planGC(v, []*api.Kind{api.PodKind, api.ReplicaSetKind}, dep)
			if got.action != tc.want || got.policy != tc.policy {
				t.Fatalf("action %d policy %q, want %d %q", got.action, got.policy, tc.want, tc.policy)
			}
			var kept []string
			for _, r := range got.keep {
				kept = append(kept, r.GetName())
			}
			if !equalStrings(kept, tc.keep) {
				t.Fatalf("kept owners %v, want %v", kept, tc.keep)
			}
		})
	}
}

func TestPlanOwner(t *testing.T) {
	t.Parallel()
	rs := testRS("web", 1)
	blocking := testPod("blocking", rs)
	nonBlocking := testPod("loose", rs)
	nonBlocking.Metadata.OwnerReferences[0].BlockOwnerDeletion = proto.Bool(false)
	goingBlocking := testPod("going", rs, deleting)
	elsewhere := testPod("elsewhere", rs)
	elsewhere.Metadata.Namespace = "other"
	kinds := []*api.Kind{api.PodKind, api.ReplicaSetKind}
	cases := []struct {
		name       string
		owner      *orchv1.ReplicaSet
		deps       []api.Object
		orphan     []string
		remove     []string
		finalizers []string
	}{
		{name: "not being deleted", owner: rs, deps: []api.Object{blocking}},
		{name: "being deleted for another finalizer", owner: markedDeleting(rs, "example.com/hold"), deps: []api.Object{blocking}},
		{name: "orphan: unlink every dependent, then drop the finalizer", owner: markedDeleting(rs, api.FinalizerOrphanDependents),
			deps: []api.Object{blocking, nonBlocking}, orphan: []string{"blocking", "loose"}, finalizers: []string{api.FinalizerOrphanDependents}},
		{name: "orphan with no dependents", owner: markedDeleting(rs, api.FinalizerOrphanDependents), finalizers: []string{api.FinalizerOrphanDependents}},
		{name: "foreground waits for a blocking dependent", owner: markedDeleting(rs, api.FinalizerDeleteDependents),
			deps: []api.Object{blocking, nonBlocking}, remove: []string{"blocking", "loose"}},
		{name: "foreground waits for a blocking dependent that is going", owner: markedDeleting(rs, api.FinalizerDeleteDependents),
			deps: []api.Object{goingBlocking}, remove: []string{"going"}},
		{name: "foreground with only non-blocking dependents is done", owner: markedDeleting(rs, api.FinalizerDeleteDependents),
			deps: []api.Object{nonBlocking}, remove: []string{"loose"}, finalizers: []string{api.FinalizerDeleteDependents}},
		{name: "foreground ignores a dependent in another namespace", owner: markedDeleting(rs, api.FinalizerDeleteDependents),
			deps: []api.Object{elsewhere}, finalizers: []string{api.FinalizerDeleteDependents}},
		{name: "foreground with nothing left", owner: markedDeleting(rs, api.FinalizerDeleteDependents, "example.com/hold"),
			finalizers: []string{api.FinalizerDeleteDependents}},
	}
	depNames := func(ds []kindObject) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.obj.GetMetadata().GetName())
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := memView{objs: append([]api.Object{tc.owner}, tc.deps...)}
			p := planOwner(v, kinds, tc.owner)
			if got := depNames(p.orphan); !equalStrings(got, tc.orphan) {
				t.Errorf("orphan %v, want %v", got, tc.orphan)
			}
			if got := depNames(p.remove); !equalStrings(got, tc.remove) {
				t.Errorf("remove %v, want %v", got, tc.remove)
			}
			if !equalStrings(p.finalizers, tc.finalizers) {
				t.Errorf("finalizers to remove %v, want %v", p.finalizers, tc.finalizers)
			}
		})
	}
}

func TestGCKeyRoundTrip(t *testing.T) {
	t.Parallel()
	p := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "p"}}
	k, key, err := parseGCKey(gcKey(api.PodKind, p))
	if err != nil || k != api.PodKind || key != "default/p" {
		t.Fatalf("parse: %v %q %v", k, key, err)
	}
	n := &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: "n1"}}
	if k, key, err := parseGCKey(gcKey(api.NodeKind, n)); err != nil || k != api.NodeKind || key != "n1" {
		t.Fatalf("parse cluster-scoped: %v %q %v", k, key, err)
	}
}
