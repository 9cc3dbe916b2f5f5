package controllers

// A dependent goes when every owner it names is gone (same kind, name and uid); with some
// owners left, only the references to the gone ones are removed.

import (
	"testing"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestPlanGC(t *testing.T) {
	t.Parallel()
	live := testRS("live", 1)
	gone := testRS("gone", 1)
	recreated := testRS("recreated", 1)
	recreatedNow := testRS("recreated", 1)
	recreatedNow.Metadata.Uid = "uid-new"
	otherNS := testRS("elsewhere", 1)
	otherNS.Metadata.Namespace = "other"
	v := memView{objs: []api.Object{live, recreatedNow, otherNS}}
	ref := func(rs *orchv1.ReplicaSet) *orchv1.OwnerReference { return newControllerRef(api.ReplicaSetKind, rs) }
	cases := []struct {
		name  string
		refs  []*orchv1.OwnerReference
		want  gcAction
		alive []string
	}{
		{name: "no owners", want: gcKeep},
		{name: "owner exists", refs: []*orchv1.OwnerReference{ref(live)}, want: gcKeep},
		{name: "owner gone", refs: []*orchv1.OwnerReference{ref(gone)}, want: gcDelete},
		{name: "owner recreated with another uid", refs: []*orchv1.OwnerReference{ref(recreated)}, want: gcDelete},
		{name: "owner in another namespace does not count", refs: []*orchv1.OwnerReference{ref(otherNS)}, want: gcDelete},
		{name: "one of two owners gone", refs: []*orchv1.OwnerReference{ref(gone), ref(live)}, want: gcUnlink, alive: []string{"live"}},
		{name: "unknown owner kind is kept", refs: []*orchv1.OwnerReference{{ApiVersion: "example.com/v1", Kind: "Widget", Name: "w", Uid: "u"}}, want: gcKeep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dep := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "p", OwnerReferences: tc.refs}}
			got, alive := planGC(v, dep)
			if got != tc.want {
				t.Fatalf("action %d, want %d", got, tc.want)
			}
			var an []string
			for _, r := range alive {
				an = append(an, r.GetName())
			}
			if !equalStrings(an, tc.alive) {
				t.Fatalf("alive owners %v, want %v", an, tc.alive)
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
