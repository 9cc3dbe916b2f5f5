package controllers

// The Deployment reconcile rolls a template out through ReplicaSets as Kubernetes does:
// within maxSurge and maxUnavailable at every step, Recreate only after the old pods are
// gone, proportional scaling mid-rollout, revisions, history cleanup, pause, and the
// Progressing condition with its deadline.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func testDeployment(replicas int32, image string) *orchv1.Deployment {
	return &orchv1.Deployment{
		Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "web", Uid: "uid-deploy", Generation: 1,
			CreationTimestamp: timestamppb.New(t0)},
		Spec: &orchv1.DeploymentSpec{
			Replicas: proto.Int32(replicas),
			Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: &orchv1.PodTemplateSpec{
				Metadata: &orchv1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: image}}},
			},
			Strategy: &orchv1.DeploymentStrategy{Type: RollingUpdateStrategy, RollingUpdate: &orchv1.RollingUpdateDeployment{
				MaxSurge: structpb.NewStringValue("25%"), MaxUnavailable: structpb.NewStringValue("25%")}},
			RevisionHistoryLimit:    proto.Int32(10),
			ProgressDeadlineSeconds: proto.Int32(600),
		},
		Status: &orchv1.DeploymentStatus{},
	}
}

func intOrPercent(v string) *structpb.Value {
	if strings.HasSuffix(v, "%") {
		return structpb.NewStringValue(v)
	}
	var n int
	fmt.Sscan(v, &n)
	return structpb.NewNumberValue(float64(n))
}

// world is a namespace the plans are applied to, with a ReplicaSet controller stand-in:
// each step, a ReplicaSet has spec.replicas pods, and pods created in the previous step
// become available (those it lost go at once).
type world struct {
	t     *testing.T
	d     *orchv1.Deployment
	rss   []*orchv1.ReplicaSet
	pods  []*orchv1.Pod
	now   time.Time
	seq   int
	plans []deployPlan
}

func (w *world) step() deployPlan {
	w.t.Helper()
	w.now = w.now.Add(time.Second)
	plan := planDeployment(deployInput{D: w.d, RSs: w.rss, Pods: w.pods, Now: w.now})
	w.plans = append(w.plans, plan)
	if plan.Create != nil {
		rs := proto.Clone(plan.Create).(*orchv1.ReplicaSet)
		w.seq++
		m := api.Meta(rs)
		m.Uid, m.CreationTimestamp, m.Generation = fmt.Sprintf("uid-rs-%d", w.seq), timestamppb.New(w.now), 1
		rs.Status = &orchv1.ReplicaSetStatus{}
		w.rss = append(w.rss, rs)
	}
	for _, u := range plan.Updates {
		for i, rs := range w.rss {
			if rs.GetMetadata().GetName() == u.GetMetadata().GetName() {
				n := proto.Clone(u).(*orchv1.ReplicaSet)
				n.Status = rs.Status
				if !proto.Equal(n.Spec, rs.Spec) {
					n.Metadata.Generation++
				}
				w.rss[i] = n
			}
		}
	}
	for _, del := range plan.Deletes {
		for i, rs := range w.rss {
			if rs.GetMetadata().GetName() == del.GetMetadata().GetName() {
				w.rss = append(w.rss[:i], w.rss[i+1:]...)
				break
			}
		}
	}
	if plan.Annotations != nil {
		w.d.Metadata.Annotations = plan.Annotations
	}
	if plan.Status != nil {
		w.d.Status = plan.Status
	}
	// Lost pods go at once; new ones are available one step later.
	for _, rs := range w.rss {
		st := rs.Status
		r := replicas(rs)
		st.AvailableReplicas = min(st.GetReplicas(), r)
		st.ReadyReplicas = st.AvailableReplicas
		st.Replicas = r
		st.ObservedGeneration = rs.GetMetadata().GetGeneration()
	}
	return plan
}

func (w *world) sizes() map[string]int32 {
	out := map[string]int32{}
	for _, rs := range w.rss {
		out[rs.GetMetadata().GetName()] = replicas(rs)
	}
	return out
}

func (w *world) available() int32 {
	_, _, a := statusReplicas(w.rss)
	return a
}

// settle steps until a plan writes nothing.
func (w *world) settle(maxSteps int, check func()) {
	w.t.Helper()
	for range maxSteps {
		plan := w.step()
		if check != nil {
			check()
		}
		if plan.Create == nil && len(plan.Updates) == 0 && len(plan.Deletes) == 0 && plan.Status == nil && plan.Annotations == nil {
			return
		}
	}
	w.t.Fatalf("no steady state after %d steps: sizes %v", maxSteps, w.sizes())
}

func newWorld(t *testing.T, d *orchv1.Deployment) *world {
	return &world{t: t, d: d, now: t0}
}

func TestFenceposts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		replicas                   int32
		surge, unavailable         string
		wantSurge, wantUnavailable int
		wantMaxUnavailableResolved int
	}{
		{10, "25%", "25%", 3, 2, 2},
		{3, "25%", "25%", 1, 0, 0},
		{1, "0", "0", 0, 1, 1},
		{5, "50%", "1", 3, 1, 1},
		{4, "0", "100%", 0, 4, 4},
		{2, "1", "5", 1, 5, 2},
		{0, "25%", "25%", 0, 1, 0},
	}
	for _, tc := range cases {
		d := testDeployment(tc.replicas, "a")
		d.Spec.Strategy.RollingUpdate = &orchv1.RollingUpdateDeployment{MaxSurge: intOrPercent(tc.surge), MaxUnavailable: intOrPercent(tc.unavailable)}
		s, u := fenceposts(d)
		if s != tc.wantSurge || u != tc.wantUnavailable {
			t.Errorf("replicas %d surge %s unavailable %s: got (%d, %d), want (%d, %d)", tc.replicas, tc.surge, tc.unavailable, s, u, tc.wantSurge, tc.wantUnavailable)
		}
		if mu := maxUnavailable(d); mu != tc.wantMaxUnavailableResolved {
			t.Errorf("replicas %d: maxUnavailable %d, want %d", tc.replicas, mu, tc.wantMaxUnavailableResolved)
		}
	}
}

func TestDeploymentCreatesFirstReplicaSet(t *testing.T) {
	t.Parallel()
	d := testDeployment(3, "a")
	plan := planDeployment(deployInput{D: d, Now: t0})
	rs := plan.Create
	if rs == nil {
		t.Fatal("no ReplicaSet created")
	}
	hash := templateHash(d.Spec.Template, nil)
	m := rs.GetMetadata()
	if m.GetName() != "web-"+hash || m.GetLabels()[PodTemplateHashLabel] != hash ||
		rs.GetSpec().GetTemplate().GetMetadata().GetLabels()[PodTemplateHashLabel] != hash ||
		rs.GetSpec().GetSelector().GetMatchLabels()[PodTemplateHashLabel] != hash || rs.GetSpec().GetSelector().GetMatchLabels()["app"] != "web" {
		t.Fatalf("ReplicaSet %v: want name, labels, template labels and selector with the hash %s", rs, hash)
	}
	if replicas(rs) != 3 {
		t.Fatalf("replicas %d, want 3", replicas(rs))
	}
	a := m.GetAnnotations()
	if a[RevisionAnnotation] != "1" || a[DesiredReplicasAnnotation] != "3" || a[MaxReplicasAnnotation] != "4" {
		t.Fatalf("annotations %v", a)
	}
	if r := controllerRef(rs); r == nil || r.GetKind() != "Deployment" || r.GetUid() != "uid-deploy" {
		t.Fatalf("owner %v", r)
	}
	if plan.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("deployment annotations %v: want revision 1", plan.Annotations)
	}
	c := getCondition(plan.Status, DeploymentProgressing)
	if c == nil || c.GetReason() != NewReplicaSetReason || c.GetStatus() != api.ConditionTrue {
		t.Fatalf("Progressing %v, want True NewReplicaSetCreated", c)
	}
	if hash == templateHash(testDeployment(3, "b").Spec.Template, nil) || hash == templateHash(d.Spec.Template, proto.Int32(1)) {
		t.Fatal("the hash does not depend on the template and the collision count")
	}
	if len(hash) < 6 || strings.ContainsAny(hash, "aeiou013") {
		t.Fatalf("hash %q is not safely encoded", hash)
	}
}

func TestRollingUpdateStaysWithinBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		replicas           int32
		surge, unavailable string
	}{
		{3, "25%", "25%"}, {3, "1", "0"}, {3, "0", "1"}, {10, "25%", "25%"}, {5, "100%", "0"}, {4, "0", "100%"}, {1, "25%", "25%"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s-%s", tc.replicas, tc.surge, tc.unavailable), func(t *testing.T) {
			t.Parallel()
			d := testDeployment(tc.replicas, "a")
			d.Spec.Strategy.RollingUpdate = &orchv1.RollingUpdateDeployment{MaxSurge: intOrPercent(tc.surge), MaxUnavailable: intOrPercent(tc.unavailable)}
			w := newWorld(t, d)
			w.settle(50, nil)
			if w.available() != tc.replicas || len(w.rss) != 1 {
				t.Fatalf("first rollout: %d available in %v", w.available(), w.sizes())
			}
			surge, _ := fenceposts(d)
			minAvailable := tc.replicas - int32(maxUnavailable(d))
			w.d.Spec.Template.Spec.Containers[0].Image = "b"
			w.d.Metadata.Generation++
			w.settle(100, func() {
				if n := specReplicas(w.rss); n > tc.replicas+int32(surge) {
					t.Fatalf("%d replicas in %v: more than %d + maxSurge %d", n, w.sizes(), tc.replicas, surge)
				}
				if a := w.available(); a < minAvailable {
					t.Fatalf("%d available in %v: fewer than %d", a, w.sizes(), minAvailable)
				}
			})
			newRS := w.rss[len(w.rss)-1]
			if replicas(newRS) != tc.replicas || newRS.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() != "b" {
				t.Fatalf("after the rollout: %v", w.sizes())
			}
			if specReplicas(w.rss) != tc.replicas {
				t.Fatalf("old pods left: %v", w.sizes())
			}
			st := w.d.Status
			if st.GetUpdatedReplicas() != tc.replicas || st.GetAvailableReplicas() != tc.replicas || st.GetObservedGeneration() != 2 {
				t.Fatalf("status %v", st)
			}
			if c := getCondition(st, DeploymentProgressing); c.GetReason() != NewRSAvailableReason {
				t.Fatalf("Progressing %v, want NewReplicaSetAvailable", c)
			}
			if c := getCondition(st, DeploymentAvailable); c.GetStatus() != api.ConditionTrue {
				t.Fatalf("Available %v", c)
			}
			if revision(newRS) != 2 || w.d.Metadata.Annotations[RevisionAnnotation] != "2" {
				t.Fatalf("revision of the new ReplicaSet %d, of the deployment %q; want 2", revision(newRS), w.d.Metadata.Annotations[RevisionAnnotation])
			}
		})
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	t.Parallel()
	// 3 replicas, 25%/25%: maxSurge rounds up to 1, maxUnavailable down to 0.
	w := newWorld(t, testDeployment(3, "a"))
	w.settle(20, nil)
	old := w.rss[0].GetMetadata().GetName()
	w.d.Spec.Template.Spec.Containers[0].Image = "b"
	w.d.Metadata.Generation++
	newName := "web-" + templateHash(w.d.Spec.Template, nil)
	want := []map[string]int32{
		{old: 3, newName: 1}, // surge one new pod
		{old: 2, newName: 1}, // it is available: one old goes
		{old: 2, newName: 2},
		{old: 1, newName: 2},
		{old: 1, newName: 3},
		{old: 0, newName: 3},
	}
	// The distinct states the sizes go through (a step may only wait for pods).
	var states []map[string]int32
	for range 30 {
		w.step()
		got := w.sizes()
		if len(states) == 0 || fmt.Sprint(states[len(states)-1]) != fmt.Sprint(got) {
			states = append(states, got)
		}
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("sizes went through\n%v\nwant\n%v", states, want)
	}
}

func TestRecreateWaitsForOldPods(t *testing.T) {
	t.Parallel()
	d := testDeployment(2, "a")
	d.Spec.Strategy = &orchv1.DeploymentStrategy{Type: RecreateStrategy}
	w := newWorld(t, d)
	w.settle(20, nil)
	oldRS := w.rss[0]
	w.d.Spec.Template.Spec.Containers[0].Image = "b"
	w.d.Metadata.Generation++
	plan := w.step()
	if plan.Create != nil || replicas(w.rss[0]) != 0 {
		t.Fatalf("first step: create %v, old size %d; want the old scaled to 0 and nothing created", plan.Create, replicas(w.rss[0]))
	}
	// A pod of the old ReplicaSet is still stopping: nothing new yet.
	w.pods = []*orchv1.Pod{testPod("old-1", oldRS, deleting)}
	w.pods[0].Metadata.OwnerReferences[0].Uid = oldRS.GetMetadata().GetUid()
	w.pods[0].Metadata.OwnerReferences[0].Name = oldRS.GetMetadata().GetName()
	if plan := w.step(); plan.Create != nil {
		t.Fatal("created the new ReplicaSet while an old pod still runs")
	}
	w.pods = nil
	plan = w.step()
	if plan.Create == nil || replicas(plan.Create) != 2 {
		t.Fatalf("after the old pods went: create %v, want the new ReplicaSet at 2", plan.Create)
	}
}

func TestProportionalScalingMidRollout(t *testing.T) {
	t.Parallel()
	d := testDeployment(10, "b")
	d.Spec.Strategy.RollingUpdate = &orchv1.RollingUpdateDeployment{MaxSurge: intOrPercent("3"), MaxUnavailable: intOrPercent("2")}
	d.Status = &orchv1.DeploymentStatus{Replicas: 13}
	rsOf := func(name, image string, size int32, created time.Duration, rev string) *orchv1.ReplicaSet {
		tmpl := proto.Clone(d.Spec.Template).(*orchv1.PodTemplateSpec)
		tmpl.Spec.Containers[0].Image = image
		return &orchv1.ReplicaSet{
			Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, CreationTimestamp: timestamppb.New(t0.Add(created)),
				Labels:          map[string]string{"app": "web"},
				Annotations:     map[string]string{RevisionAnnotation: rev, DesiredReplicasAnnotation: "10", MaxReplicasAnnotation: "13"},
				OwnerReferences: []*orchv1.OwnerReference{newControllerRef(api.DeploymentKind, d)}},
			Spec:   &orchv1.ReplicaSetSpec{Replicas: proto.Int32(size), Selector: d.Spec.Selector, Template: tmpl},
			Status: &orchv1.ReplicaSetStatus{Replicas: size, AvailableReplicas: size, ReadyReplicas: size},
		}
	}
	old := rsOf("web-old", "a", 8, 0, "1")
	cur := rsOf("web-new", "b", 5, time.Minute, "2")
	d.Spec.Replicas = proto.Int32(15)
	plan := planDeployment(deployInput{D: d, RSs: []*orchv1.ReplicaSet{old, cur}, Now: t0.Add(time.Hour)})
	got := map[string]int32{}
	for _, rs := range plan.Updates {
		got[rs.GetMetadata().GetName()] = replicas(rs)
		if a := rs.GetMetadata().GetAnnotations(); a[DesiredReplicasAnnotation] != "15" || a[MaxReplicasAnnotation] != "18" {
			t.Errorf("%s annotations %v: want desired 15, max 18", rs.GetMetadata().GetName(), a)
		}
	}
	// 18 allowed, 13 running: 5 more shared 8:5 → +3 and +2.
	if got["web-old"] != 11 || got["web-new"] != 7 {
		t.Fatalf("sizes %v, want web-old 11 and web-new 7", got)
	}
}

func TestPausedDeploymentDoesNotRollOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testDeployment(2, "a"))
	w.settle(20, nil)
	w.d.Spec.Paused = true
	w.d.Spec.Template.Spec.Containers[0].Image = "b"
	w.d.Metadata.Generation++
	w.settle(10, nil)
	if len(w.rss) != 1 {
		t.Fatalf("a paused deployment rolled out: %v", w.sizes())
	}
	if c := getCondition(w.d.Status, DeploymentProgressing); c.GetReason() != PausedDeployReason || c.GetStatus() != ConditionUnknown {
		t.Fatalf("Progressing %v, want Unknown DeploymentPaused", c)
	}
	// Scaling still works while paused.
	w.d.Spec.Replicas = proto.Int32(4)
	w.settle(10, nil)
	if replicas(w.rss[0]) != 4 {
		t.Fatalf("paused scale: %v", w.sizes())
	}
	w.d.Spec.Paused = false
	w.settle(30, nil)
	if len(w.rss) != 2 || replicas(w.rss[1]) != 4 || replicas(w.rss[0]) != 0 {
		t.Fatalf("resumed: %v", w.sizes())
	}
}

func TestProgressDeadline(t *testing.T) {
	t.Parallel()
	d := testDeployment(1, "a")
	d.Spec.ProgressDeadlineSeconds = proto.Int32(10)
	w := newWorld(t, d)
	w.settle(20, nil)
	w.d.Spec.Template.Spec.Containers[0].Image = "broken"
	w.d.Metadata.Generation++
	plan := w.step()
	if plan.RequeueAfter <= 0 || plan.RequeueAfter > 11*time.Second {
		t.Fatalf("requeue after %v: want a look again when the deadline passes", plan.RequeueAfter)
	}
	// The new pods never become available.
	stuck := func() {
		for _, rs := range w.rss {
			if rs.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() == "broken" {
				rs.Status.AvailableReplicas, rs.Status.ReadyReplicas = 0, 0
			}
		}
	}
	stuck()
	for range 3 {
		w.step()
		stuck()
	}
	if c := getCondition(w.d.Status, DeploymentProgressing); c.GetStatus() != api.ConditionTrue {
		t.Fatalf("before the deadline: Progressing %v", c)
	}
	w.now = w.now.Add(15 * time.Second)
	w.step()
	c := getCondition(w.d.Status, DeploymentProgressing)
	if c.GetStatus() != api.ConditionFalse || c.GetReason() != TimedOutReason {
		t.Fatalf("after the deadline: Progressing %v, want False ProgressDeadlineExceeded", c)
	}
	if !strings.Contains(c.GetMessage(), "has timed out progressing") {
		t.Fatalf("message %q", c.GetMessage())
	}
}

func TestRevisionHistoryLimitAndRollback(t *testing.T) {
	t.Parallel()
	d := testDeployment(1, "v1")
	d.Spec.RevisionHistoryLimit = proto.Int32(1)
	w := newWorld(t, d)
	w.settle(20, nil)
	for _, img := range []string{"v2", "v3"} {
		w.d.Spec.Template.Spec.Containers[0].Image = img
		w.d.Metadata.Generation++
		w.settle(30, nil)
	}
	// v1 went past the limit; v2 stays as the one old revision.
	if len(w.rss) != 2 {
		t.Fatalf("ReplicaSets %v: want the current and one old", w.sizes())
	}
	var v2 *orchv1.ReplicaSet
	for _, rs := range w.rss {
		if rs.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() == "v2" {
			v2 = rs
		}
	}
	if v2 == nil || revision(v2) != 2 {
		t.Fatalf("old ReplicaSet %v", v2)
	}
	// Rollback: the old template comes back (as orchctl rollout undo writes it); the
	// old ReplicaSet becomes the new one at the next revision, keeping its old number.
	w.d.Spec.Template = proto.Clone(v2.Spec.Template).(*orchv1.PodTemplateSpec)
	delete(w.d.Spec.Template.Metadata.Labels, PodTemplateHashLabel)
	w.d.Metadata.Generation++
	w.settle(30, nil)
	for _, rs := range w.rss {
		if rs.GetMetadata().GetName() == v2.GetMetadata().GetName() {
			if replicas(rs) != 1 || revision(rs) != 4 || rs.GetMetadata().GetAnnotations()[RevisionHistoryAnnotation] != "2" {
				t.Fatalf("rolled back ReplicaSet: size %d revision %d annotations %v", replicas(rs), revision(rs), rs.GetMetadata().GetAnnotations())
			}
			return
		}
	}
	t.Fatal("the old ReplicaSet is gone")
}

func TestHashCollisionBumpsCount(t *testing.T) {
	t.Parallel()
	d := testDeployment(1, "a")
	squatter := &orchv1.ReplicaSet{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "web-" + templateHash(d.Spec.Template, nil), Uid: "x",
		Labels: map[string]string{"other": "1"}}, Spec: &orchv1.ReplicaSetSpec{Template: &orchv1.PodTemplateSpec{}}}
	plan := planDeployment(deployInput{D: d, RSs: []*orchv1.ReplicaSet{squatter}, Now: t0})
	if plan.Create != nil || plan.Err == nil || plan.Status.GetCollisionCount() != 1 {
		t.Fatalf("create %v err %v collisionCount %d: want no create, an error and count 1", plan.Create, plan.Err, plan.Status.GetCollisionCount())
	}
	d.Status = plan.Status
	plan = planDeployment(deployInput{D: d, RSs: []*orchv1.ReplicaSet{squatter}, Now: t0})
	if plan.Create == nil || plan.Create.GetMetadata().GetName() == squatter.GetMetadata().GetName() {
		t.Fatalf("after the collision: create %v", plan.Create)
	}
}

func TestDeploymentAdoptsAndReleasesReplicaSets(t *testing.T) {
	t.Parallel()
	d := testDeployment(1, "a")
	orphan := &orchv1.ReplicaSet{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "orphan", Uid: "o", Labels: map[string]string{"app": "web"}},
		Spec: &orchv1.ReplicaSetSpec{Replicas: proto.Int32(0), Template: proto.Clone(d.Spec.Template).(*orchv1.PodTemplateSpec)}}
	gone := &orchv1.ReplicaSet{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: "moved", Uid: "m", Labels: map[string]string{"app": "other"},
		OwnerReferences: []*orchv1.OwnerReference{newControllerRef(api.DeploymentKind, d)}}, Spec: &orchv1.ReplicaSetSpec{Replicas: proto.Int32(0)}}
	plan := planDeployment(deployInput{D: d, RSs: []*orchv1.ReplicaSet{orphan, gone}, Now: t0})
	var adopted, released bool
	for _, rs := range plan.Updates {
		switch rs.GetMetadata().GetName() {
		case "orphan":
			adopted = controllerRef(rs).GetUid() == "uid-deploy"
		case "moved":
			released = len(rs.GetMetadata().GetOwnerReferences()) == 0
		}
	}
	if !adopted || !released {
		t.Fatalf("updates %v: want orphan adopted and moved released", plan.Updates)
	}
	if plan.Create != nil {
		t.Fatal("created a ReplicaSet although the adopted one has the template")
	}
}

func TestDeploymentReportsReplicaFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testDeployment(2, "a"))
	w.step()
	w.rss[0].Status.Conditions = []*orchv1.ReplicaSetCondition{{Type: ReplicaFailure, Status: api.ConditionTrue, Reason: "FailedCreate",
		Message: "pods \"x\" is forbidden", LastTransitionTime: timestamppb.New(t0)}}
	w.step()
	c := getCondition(w.d.Status, DeploymentReplicaFailure)
	if c == nil || c.GetReason() != "FailedCreate" || c.GetStatus() != api.ConditionTrue {
		t.Fatalf("ReplicaFailure %v: want the ReplicaSet's FailedCreate", c)
	}
	w.rss[0].Status.Conditions = nil
	w.step()
	if c := getCondition(w.d.Status, DeploymentReplicaFailure); c != nil {
		t.Fatalf("ReplicaFailure %v stays after the ReplicaSet recovered", c)
	}
}
