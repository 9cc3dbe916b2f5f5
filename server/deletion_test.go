package server

// Deletion through a real master's API with its controllers running: the propagation
// policies of garbage collection, and the termination of a namespace, as Kubernetes does
// them.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

const holdFinalizer = "example.com/hold"

// testDeployment is a deployment of 2 pods in ns whose pods carry the hold finalizer
// when hold is set, so that they stay, being deleted, until the test lets them go.
func testDeployment(ns, name string, hold bool) *orchv1.Deployment {
	tmpl := workloadTemplate(name)
	if hold {
		tmpl.Metadata.Finalizers = []string{holdFinalizer}
	}
	return &orchv1.Deployment{Metadata: &orchv1.ObjectMeta{Namespace: ns, Name: name}, Spec: &orchv1.DeploymentSpec{
		Replicas: proto.Int32(2),
		Selector: &orchv1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: tmpl,
	}}
}

// releasePods removes the hold finalizer from every pod in ns.
func releasePods(t *testing.T, ctx context.Context, m *Master, ns string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the pods released", func() bool {
		done := true
		for _, o := range m.store.View().List(api.PodKind, ns) {
			if !api.HasFinalizer(o, holdFinalizer) {
				continue
			}
			next := proto.Clone(o).(*orchv1.Pod)
			next.Metadata.Finalizers = slices.DeleteFunc(next.Metadata.Finalizers, func(f string) bool { return f == holdFinalizer })
			if _, err := m.api.Update(ctx, api.PodKind, next); err != nil {
				done = false
			}
		}
		return done
	})
}

func getObj(m *Master, k *api.Kind, key string) api.Object {
	o, _ := m.store.View().Get(k, key)
	return o
}

// deploymentTree waits for the deployment's ReplicaSet and its 2 pods.
func deploymentTree(t *testing.T, m *Master, d api.Object) (rs api.Object, pods []api.Object) {
	t.Helper()
	waitFor(t, 10*time.Second, "the deployment's ReplicaSet and 2 pods", func() bool {
		rss := m.store.View().Owned(api.ReplicaSetKind, d.GetMetadata().GetUid())
		if len(rss) != 1 {
			return false
		}
		rs = rss[0]
		pods = m.store.View().Owned(api.PodKind, rs.GetMetadata().GetUid())
		return len(pods) == 2
	})
	return rs, pods
}

func TestDeleteForegroundWaitsForDependents(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := m.api.Create(ctx, api.DeploymentKind, testDeployment("default", "web", true))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := deploymentTree(t, m, d)
	rsKey := api.ObjectKey(rs)

	out, err := m.api.Delete(ctx, api.DeploymentKind, &orchv1.DeleteRequest{Name: "web", PropagationPolicy: api.DeletePropagationForeground})
	if err != nil {
		t.Fatal(err)
	}
	if out.GetMetadata().GetDeletionTimestamp() == nil || !api.HasFinalizer(out, api.FinalizerDeleteDependents) {
		t.Fatalf("foreground delete returned %v, want deletionTimestamp and the foregroundDeletion finalizer", out.GetMetadata())
	}
	// The ReplicaSet, which has dependents, goes in the foreground too; the pods are
	// deleted and stay while their finalizer holds them.
	waitFor(t, 10*time.Second, "the ReplicaSet and pods being deleted", func() bool {
		r := getObj(m, api.ReplicaSetKind, rsKey)
		if r == nil || r.GetMetadata().GetDeletionTimestamp() == nil || !api.HasFinalizer(r, api.FinalizerDeleteDependents) {
			return false
		}
		pods := m.store.View().Owned(api.PodKind, r.GetMetadata().GetUid())
		return len(pods) == 2 && pods[0].GetMetadata().GetDeletionTimestamp() != nil && pods[1].GetMetadata().GetDeletionTimestamp() != nil
	})
	time.Sleep(300 * time.Millisecond)
	if getObj(m, api.DeploymentKind, "default/web") == nil {
		t.Fatal("deployment gone while its pods remain")
	}
	if n := len(m.store.View().List(api.PodKind, "default")); n != 2 {
		t.Fatalf("%d pods while the owners are being deleted, want 2 (no replacements)", n)
	}
	releasePods(t, ctx, m, "default")
	waitFor(t, 10*time.Second, "the deployment, ReplicaSet and pods gone", func() bool {
		return getObj(m, api.DeploymentKind, "default/web") == nil && getObj(m, api.ReplicaSetKind, rsKey) == nil &&
			len(m.store.View().List(api.PodKind, "default")) == 0
	})
}

func TestDeleteOrphanKeepsDependents(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := m.api.Create(ctx, api.DeploymentKind, testDeployment("default", "web", false))
	if err != nil {
		t.Fatal(err)
	}
	rs, pods := deploymentTree(t, m, d)
	if _, err := m.api.Delete(ctx, api.DeploymentKind, &orchv1.DeleteRequest{Name: "web", PropagationPolicy: api.DeletePropagationOrphan}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deployment gone, its ReplicaSet orphaned", func() bool {
		r := getObj(m, api.ReplicaSetKind, api.ObjectKey(rs))
		return getObj(m, api.DeploymentKind, "default/web") == nil && r != nil && len(r.GetMetadata().GetOwnerReferences()) == 0
	})
	time.Sleep(300 * time.Millisecond)
	r := getObj(m, api.ReplicaSetKind, api.ObjectKey(rs))
	if r == nil || r.GetMetadata().GetDeletionTimestamp() != nil {
		t.Fatalf("orphaned ReplicaSet: %v, want it kept", r)
	}
	for _, p := range pods {
		cur := getObj(m, api.PodKind, api.ObjectKey(p))
		if cur == nil || cur.GetMetadata().GetDeletionTimestamp() != nil || cur.GetMetadata().GetOwnerReferences()[0].GetUid() != rs.GetMetadata().GetUid() {
			t.Fatalf("pod %s: %v, want it kept, still owned by its ReplicaSet", p.GetMetadata().GetName(), cur)
		}
	}

	// A policy Kubernetes does not know is refused.
	_, err = m.api.Delete(ctx, api.ReplicaSetKind, &orchv1.DeleteRequest{Name: rs.GetMetadata().GetName(), PropagationPolicy: "Later"})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), `propagationPolicy: Unsupported value: "Later"`) {
		t.Fatalf("unknown policy: %v, want InvalidArgument", err)
	}
}

func TestNamespaceTermination(t *testing.T) {
	c := startCluster(t, 1)
	m := c.masters[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, ns := range clusterNamespaces {
		if getObj(m, api.NamespaceKind, ns) == nil {
			t.Errorf("namespace %s does not exist from cluster birth", ns)
		}
	}
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		_, err := m.api.Delete(ctx, api.NamespaceKind, &orchv1.DeleteRequest{Name: ns})
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "this namespace may not be deleted") {
			t.Errorf("delete namespace %s: %v, want Forbidden", ns, err)
		}
	}

	nso, err := m.api.Create(ctx, api.NamespaceKind, &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	if f := nso.(*orchv1.Namespace).GetSpec().GetFinalizers(); !slices.Equal(f, []string{api.FinalizerKubernetes}) {
		t.Fatalf("new namespace spec.finalizers %v, want [kubernetes]", f)
	}
	d, err := m.api.Create(ctx, api.DeploymentKind, testDeployment("team", "web", false))
	if err != nil {
		t.Fatal(err)
	}
	deploymentTree(t, m, d)
	held := cm("held", nil)
	held.Metadata.Namespace, held.Metadata.Finalizers = "team", []string{holdFinalizer}
	if _, err := m.api.Create(ctx, api.ConfigMapKind, held); err != nil {
		t.Fatal(err)
	}

	out, err := m.api.Delete(ctx, api.NamespaceKind, &orchv1.DeleteRequest{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if ph := out.(*orchv1.Namespace).GetStatus().GetPhase(); ph != api.NamespaceTerminating || out.GetMetadata().GetDeletionTimestamp() == nil {
		t.Fatalf("deleted namespace: phase %q, deletionTimestamp %v; want Terminating", ph, out.GetMetadata().GetDeletionTimestamp())
	}
	late := cm("late", nil)
	late.Metadata.Namespace = "team"
	_, err = m.api.Create(ctx, api.ConfigMapKind, late)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "unable to create new content in namespace team because it is being terminated") {
		t.Fatalf("create in a terminating namespace: %v, want Forbidden", err)
	}
	// Everything but the held config map goes; the namespace says what holds it.
	waitFor(t, 10*time.Second, "the namespace emptied but for the held config map", func() bool {
		v := m.store.View()
		o, ok := v.Get(api.NamespaceKind, "team")
		if !ok || len(v.List(api.DeploymentKind, "team")) > 0 || len(v.List(api.ReplicaSetKind, "team")) > 0 || len(v.List(api.PodKind, "team")) > 0 {
			return false
		}
		for _, c := range o.(*orchv1.Namespace).GetStatus().GetConditions() {
			if c.GetType() == api.NamespaceFinalizersRemaining && c.GetStatus() == api.ConditionTrue &&
				c.GetMessage() == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances" {
				return true
			}
		}
		return false
	})
	next := proto.Clone(getObj(m, api.ConfigMapKind, "team/held")).(*orchv1.ConfigMap)
	next.Metadata.Finalizers = nil
	if _, err := m.api.Update(ctx, api.ConfigMapKind, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the namespace gone", func() bool { return getObj(m, api.NamespaceKind, "team") == nil })
	if _, err := m.api.Create(ctx, api.NamespaceKind, &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatalf("namespace cannot be created again after its deletion: %v", err)
	}
}
