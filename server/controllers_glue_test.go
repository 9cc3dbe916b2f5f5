package server

// The controllers run in the leader of a real master, read its store and write through
// its API: a ReplicaSet gets its pods, scales, and its pods go with it.

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/transport"
)

func workloadTemplate(app string) *orchv1.PodTemplateSpec {
	return &orchv1.PodTemplateSpec{
		Metadata: &orchv1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func activePods(v View, ownerUID string) []*orchv1.Pod {
	var out []*orchv1.Pod
	for _, o := range v.Owned(api.PodKind, ownerUID) {
		p := o.(*orchv1.Pod)
		if p.GetMetadata().GetDeletionTimestamp() == nil && !api.PodTerminal(p) {
			out = append(out, p)
		}
	}
	return out
}

func TestControllersReplicaSet(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs := &orchv1.ReplicaSet{Metadata: &orchv1.ObjectMeta{Name: "web"}, Spec: &orchv1.ReplicaSetSpec{
		Replicas: proto.Int32(3),
		Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: workloadTemplate("web"),
	}}
	o, err := m.api.Create(ctx, api.ReplicaSetKind, rs)
	if err != nil {
		t.Fatal(err)
	}
	uid := o.GetMetadata().GetUid()
	waitFor(t, 10*time.Second, "3 pods of the ReplicaSet", func() bool { return len(activePods(m.store.View(), uid)) == 3 })
	for _, p := range activePods(m.store.View(), uid) {
		if !strings.HasPrefix(p.GetMetadata().GetName(), "web-") || len(p.GetMetadata().GetName()) != len("web-")+5 {
			t.Errorf("pod name %q: want web-<5 random characters>", p.GetMetadata().GetName())
		}
		ref := p.GetMetadata().GetOwnerReferences()
		if len(ref) != 1 || !ref[0].GetController() || !ref[0].GetBlockOwnerDeletion() || ref[0].GetKind() != "ReplicaSet" {
			t.Errorf("pod owner references %v", ref)
		}
	}
	waitFor(t, 10*time.Second, "status.replicas 3", func() bool {
		cur, _ := m.store.View().Get(api.ReplicaSetKind, "default/web")
		st := cur.(*orchv1.ReplicaSet).GetStatus()
		return st.GetReplicas() == 3 && st.GetObservedGeneration() == 1
	})

	// An orphan that matches is adopted, so one more is not created but one is deleted.
	orphan := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "stray", Labels: map[string]string{"app": "web"}}, Spec: workloadTemplate("web").Spec}
	if _, err := m.api.Create(ctx, api.PodKind, orphan); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "3 pods after adopting the orphan", func() bool {
		pods := activePods(m.store.View(), uid)
		return len(pods) == 3
	})

	cur, _ := m.store.View().Get(api.ReplicaSetKind, "default/web")
	next := proto.Clone(cur).(*orchv1.ReplicaSet)
	next.Spec.Replicas = proto.Int32(1)
	if _, err := m.api.Update(ctx, api.ReplicaSetKind, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "1 pod after scaling down", func() bool { return len(activePods(m.store.View(), uid)) == 1 })
	waitFor(t, 10*time.Second, "status.replicas 1 at generation 2", func() bool {
		cur, _ := m.store.View().Get(api.ReplicaSetKind, "default/web")
		st := cur.(*orchv1.ReplicaSet).GetStatus()
		return st.GetReplicas() == 1 && st.GetObservedGeneration() == 2
	})
	resp, err := transport.Client().Get(m.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`orch_controller_syncs_total{controller="replicaset",result="ok"}`, `orch_controller_queue_depth{controller="deployment"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Nothing more happens: the ReplicaSet settled.
	time.Sleep(300 * time.Millisecond)
	if n := len(m.store.View().Owned(api.PodKind, uid)); n != 1 {
		t.Fatalf("%d pods owned after settling, want 1", n)
	}

	// Garbage collection: the ReplicaSet goes, then its pods; a pod whose owner never
	// existed goes too.
	if _, err := m.api.Delete(ctx, api.ReplicaSetKind, &orchv1.DeleteRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	dangling := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: "dangling", OwnerReferences: []*orchv1.OwnerReference{{
		ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "ghost", Uid: "no-such-uid"}}}, Spec: workloadTemplate("x").Spec}
	if _, err := m.api.Create(ctx, api.PodKind, dangling); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the ReplicaSet's pods collected", func() bool {
		_, ok := m.store.View().Get(api.PodKind, "default/dangling")
		return len(m.store.View().Owned(api.PodKind, uid)) == 0 && !ok
	})
}

// markPodsReady plays a node that starts every pod at once, until ctx ends.
func markPodsReady(ctx context.Context, m *Master) {
	for ctx.Err() == nil {
		for _, o := range m.store.View().List(api.PodKind, "") {
			p := o.(*orchv1.Pod)
			if p.GetStatus().GetPhase() == api.PodRunning || p.GetMetadata().GetDeletionTimestamp() != nil {
				continue
			}
			next := proto.Clone(p).(*orchv1.Pod)
			next.Status.Phase = api.PodRunning
			next.Status.Conditions = append(next.Status.Conditions, &orchv1.PodCondition{Type: api.PodReady, Status: api.ConditionTrue,
				LastTransitionTime: p.GetMetadata().GetCreationTimestamp()})
			m.api.UpdateStatus(ctx, api.PodKind, next)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestControllersDeploymentRollsOut(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go markPodsReady(ctx, m)
	d := &orchv1.Deployment{Metadata: &orchv1.ObjectMeta{Name: "web"}, Spec: &orchv1.DeploymentSpec{
		Replicas: proto.Int32(3),
		Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: workloadTemplate("web"),
	}}
	o, err := m.api.Create(ctx, api.DeploymentKind, d)
	if err != nil {
		t.Fatal(err)
	}
	uid := o.GetMetadata().GetUid()
	get := func() *orchv1.Deployment {
		o, _ := m.store.View().Get(api.DeploymentKind, "default/web")
		d, _ := o.(*orchv1.Deployment)
		return d
	}
	complete := func(gen int64) func() bool {
		return func() bool {
			d := get()
			st := d.GetStatus()
			for _, c := range st.GetConditions() {
				if c.GetType() == "Progressing" && c.GetReason() == "NewReplicaSetAvailable" {
					return st.GetObservedGeneration() == gen && st.GetUpdatedReplicas() == 3 && st.GetAvailableReplicas() == 3 && st.GetReplicas() == 3
				}
			}
			return false
		}
	}
	waitFor(t, 20*time.Second, "the first rollout complete", complete(1))
	if rss := m.store.View().Owned(api.ReplicaSetKind, uid); len(rss) != 1 {
		t.Fatalf("%d ReplicaSets, want 1", len(rss))
	}

	next := proto.Clone(get()).(*orchv1.Deployment)
	next.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if _, err := m.api.Update(ctx, api.DeploymentKind, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the second rollout complete", complete(2))
	rss := m.store.View().Owned(api.ReplicaSetKind, uid)
	if len(rss) != 2 {
		t.Fatalf("%d ReplicaSets, want 2", len(rss))
	}
	for _, o := range rss {
		rs := o.(*orchv1.ReplicaSet)
		img := rs.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage()
		want := int32(0)
		if img == "busybox:2" {
			want = 3
		}
		if rs.GetSpec().GetReplicas() != want {
			t.Errorf("ReplicaSet of %s has %d replicas, want %d", img, rs.GetSpec().GetReplicas(), want)
		}
	}
	if r := get().GetMetadata().GetAnnotations()["deployment.kubernetes.io/revision"]; r != "2" {
		t.Fatalf("revision %q, want 2", r)
	}

	if _, err := m.api.Delete(ctx, api.DeploymentKind, &orchv1.DeleteRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the ReplicaSets and pods collected", func() bool {
		v := m.store.View()
		return len(v.List(api.ReplicaSetKind, "default")) == 0 && len(v.List(api.PodKind, "default")) == 0
	})
}

func TestControllersMoveWithLeadership(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	m := c.masters[l]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := &orchv1.ReplicaSet{Metadata: &orchv1.ObjectMeta{Name: "web"}, Spec: &orchv1.ReplicaSetSpec{
		Replicas: proto.Int32(2),
		Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: workloadTemplate("web"),
	}}
	o, err := m.api.Create(ctx, api.ReplicaSetKind, rs)
	if err != nil {
		t.Fatal(err)
	}
	uid := o.GetMetadata().GetUid()
	waitFor(t, 10*time.Second, "2 pods", func() bool { return len(activePods(m.store.View(), uid)) == 2 })

	c.stop(l)
	nl := c.leader()
	n := c.masters[nl]
	cur, err := n.api.Get(ctx, api.ReplicaSetKind, &orchv1.GetRequest{Namespace: "default", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(cur).(*orchv1.ReplicaSet)
	next.Spec.Replicas = proto.Int32(4)
	if _, err := n.api.Update(ctx, api.ReplicaSetKind, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "4 pods made by the new leader", func() bool { return len(activePods(n.store.View(), uid)) == 4 })
	time.Sleep(500 * time.Millisecond)
	if got := len(n.store.View().Owned(api.PodKind, uid)); got != 4 {
		t.Fatalf("%d pods after the failover, want 4", got)
	}
}
