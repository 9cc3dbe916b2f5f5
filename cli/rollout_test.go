package cli

// rollout status prints kubectl's progress lines and fails past the progress deadline;
// undo picks the previous revision or the one asked; set image finds containers by name.

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func statusDeployment(gen, observed int64, replicas, updated, total, available int32, reason string) *orchv1.Deployment {
	d := &orchv1.Deployment{
		Metadata: &orchv1.ObjectMeta{Name: "web", Generation: gen, Annotations: map[string]string{revisionAnnotation: "2"}},
		Spec:     &orchv1.DeploymentSpec{Replicas: proto.Int32(replicas)},
		Status: &orchv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total,
			AvailableReplicas: available},
	}
	if reason != "" {
		d.Status.Conditions = []*orchv1.DeploymentCondition{{Type: progressingCondition, Status: "False", Reason: reason}}
	}
	return d
}

func TestRolloutStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		d      *orchv1.Deployment
		rev    int64
		msg    string
		done   bool
		errHas string
	}{
		{d: statusDeployment(2, 1, 3, 3, 3, 3, ""), msg: "Waiting for deployment spec update to be observed..."},
		{d: statusDeployment(2, 2, 3, 1, 4, 3, ""), msg: `Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...`},
		{d: statusDeployment(2, 2, 3, 3, 4, 3, ""), msg: `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`},
		{d: statusDeployment(2, 2, 3, 3, 3, 1, ""), msg: `Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...`},
		{d: statusDeployment(2, 2, 3, 3, 3, 3, ""), msg: `deployment "web" successfully rolled out`, done: true},
		{d: statusDeployment(2, 2, 3, 1, 4, 3, timedOutReason), errHas: `deployment "web" exceeded its progress deadline`},
		{d: statusDeployment(2, 2, 3, 3, 3, 3, ""), rev: 1, errHas: "desired revision (1) is different from the running revision (2)"},
	}
	for _, tc := range cases {
		msg, done, err := rolloutStatus(tc.d, tc.rev)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%v: error %v, want %q", tc.d.Status, err, tc.errHas)
			}
			continue
		}
		if err != nil || msg != tc.msg || done != tc.done {
			t.Errorf("%v: (%q, %v, %v), want (%q, %v)", tc.d.Status, msg, done, err, tc.msg, tc.done)
		}
	}
}

func rsAt(rev, image string) *orchv1.ReplicaSet {
	return &orchv1.ReplicaSet{
		Metadata: &orchv1.ObjectMeta{Name: "web-" + rev, Annotations: map[string]string{revisionAnnotation: rev}},
		Spec: &orchv1.ReplicaSetSpec{Template: &orchv1.PodTemplateSpec{
			Metadata: &orchv1.ObjectMeta{Labels: map[string]string{"app": "web", podTemplateHashLabel: "h" + rev}},
			Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: image}}},
		}},
	}
}

func TestRollbackTarget(t *testing.T) {
	t.Parallel()
	rss := []*orchv1.ReplicaSet{rsAt("3", "c"), rsAt("1", "a"), rsAt("2", "b")}
	if rs, err := rollbackTarget("web", rss, 0); err != nil || rs.GetMetadata().GetName() != "web-2" {
		t.Fatalf("previous: %v %v, want web-2", rs.GetMetadata().GetName(), err)
	}
	if rs, err := rollbackTarget("web", rss, 1); err != nil || rs.GetMetadata().GetName() != "web-1" {
		t.Fatalf("--to-revision=1: %v %v", rs.GetMetadata().GetName(), err)
	}
	if _, err := rollbackTarget("web", rss, 7); err == nil || !strings.Contains(err.Error(), "unable to find specified revision 7 in history") {
		t.Fatalf("missing revision: %v", err)
	}
	if _, err := rollbackTarget("web", rss[:1], 0); err == nil || !strings.Contains(err.Error(), `no rollout history found for deployment "web"`) {
		t.Fatalf("one revision: %v", err)
	}
	tmpl := templateWithoutHash(rss[0].Spec.Template)
	if _, ok := tmpl.Metadata.Labels[podTemplateHashLabel]; ok || rss[0].Spec.Template.Metadata.Labels[podTemplateHashLabel] == "" {
		t.Fatal("templateWithoutHash must drop the label from a copy only")
	}
}

func TestSetImages(t *testing.T) {
	t.Parallel()
	spec := &orchv1.PodSpec{
		InitContainers: []*orchv1.Container{{Name: "init", Image: "a"}},
		Containers:     []*orchv1.Container{{Name: "web", Image: "a"}, {Name: "side", Image: "a"}},
	}
	if changed, err := setImages(spec, map[string]string{"web": "b"}); !changed || err != nil || spec.Containers[0].Image != "b" || spec.Containers[1].Image != "a" {
		t.Fatalf("web=b: %v %v %v", changed, err, spec)
	}
	if changed, _ := setImages(spec, map[string]string{"web": "b"}); changed {
		t.Fatal("the same image again reported a change")
	}
	if changed, err := setImages(spec, map[string]string{"*": "c"}); !changed || err != nil || spec.InitContainers[0].Image != "c" || spec.Containers[1].Image != "c" {
		t.Fatalf("*=c: %v %v %v", changed, err, spec)
	}
	if _, err := setImages(spec, map[string]string{"nope": "x"}); err == nil || err.Error() != `unable to find container named "nope"` {
		t.Fatalf("unknown container: %v", err)
	}
}

func TestApplyKeepsControllerAnnotations(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, annotations: {team: a}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
`)
	desired := ms[0].Object
	live := proto.Clone(desired).(*orchv1.Deployment)
	live.Metadata.Annotations = map[string]string{"team": "a", revisionAnnotation: "3"}
	preserveAllocated(desired, live)
	if !sameDesiredState(desired, live) {
		t.Fatalf("re-applying reads as a change: the revision annotation is not kept (%v)", desired.GetMetadata().GetAnnotations())
	}
	live.Metadata.Annotations["other.example.com/x"] = "y"
	desired = decodeOK(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, annotations: {team: a}}
`)[0].Object
	preserveAllocated(desired, live)
	if _, kept := desired.GetMetadata().GetAnnotations()["other.example.com/x"]; kept {
		t.Fatal("an annotation the controllers do not own was kept")
	}
}
