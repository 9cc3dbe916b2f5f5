package e2e

// Deletion on a real cluster, as Kubernetes does it: the system namespaces exist from
// birth (a kube-system manifest applies on a fresh cluster, and it cannot be deleted);
// a deployment deleted with --cascade=orphan leaves its ReplicaSet and pods running
// without their owner; with --cascade=foreground it stays, with a deletionTimestamp,
// until its pods are gone; a deleted namespace is Terminating, refuses new content, and
// goes once the controller has deleted everything in it.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const gcDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
  namespace: NS
spec:
  replicas: 2
  selector:
    matchLabels:
      app: NAME
  template:
    metadata:
      labels:
        app: NAME
    spec:
      terminationGracePeriodSeconds: 3
      containers:
      - name: c
        image: IMAGE
        command: ["httpd", "-f", "-p", "80"]
        resources:
          requests:
            cpu: 10m
            memory: 8Mi
`

// objMeta is what the test reads of an object's metadata.
type objMeta struct {
	Name              string   `json:"name"`
	Namespace         string   `json:"namespace"`
	UID               string   `json:"uid"`
	DeletionTimestamp string   `json:"deletionTimestamp"`
	Finalizers        []string `json:"finalizers"`
	OwnerReferences   []struct {
		Kind string `json:"kind"`
		UID  string `json:"uid"`
	} `json:"ownerReferences"`
}

// metas lists the metadata of the objects orchctl get prints for args, nil on error
// (NotFound included).
func (e *workerEnv) metas(t *testing.T, args ...string) []objMeta {
	t.Helper()
	out, _, err := e.c.Orchctl(e.m, "", append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return nil
	}
	var l struct {
		Kind     string  `json:"kind"`
		Metadata objMeta `json:"metadata"`
		Items    []struct {
			Metadata objMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("decode %v: %v\n%s", args, err, out)
	}
	if !strings.HasSuffix(l.Kind, "List") {
		return []objMeta{l.Metadata}
	}
	var ms []objMeta
	for _, it := range l.Items {
		ms = append(ms, it.Metadata)
	}
	return ms
}

func (e *workerEnv) applyDeployment(t *testing.T, ns, name string) {
	t.Helper()
	e.apply(t, strings.NewReplacer("NAME", name, "NS", ns).Replace(gcDeployment))
	e.waitFor(t, 90*time.Second, "2 pods of "+name+" running", func() bool { return e.runningPods(t, ns, name) == 2 })
}

// runningPods counts the pods of app in ns that run and are not being deleted.
func (e *workerEnv) runningPods(t *testing.T, ns, app string) int {
	t.Helper()
	out, _, err := e.c.Orchctl(e.m, "", "get", "pods", "-n", ns, "-l", "app="+app, "-o", "json")
	if err != nil {
		return 0
	}
	var l struct {
		Items []struct {
			Metadata objMeta `json:"metadata"`
			Status   struct {
				Phase string `json:"phase"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("decode pods: %v\n%s", err, out)
	}
	n := 0
	for _, p := range l.Items {
		if p.Status.Phase == "Running" && p.Metadata.DeletionTimestamp == "" {
			n++
		}
	}
	return n
}

func TestDeletionPropagationAndNamespaces(t *testing.T) {
	e := startWorkers(t, 1)

	// A fresh cluster has the system namespaces, and kube-system takes a manifest.
	out := e.orchctl(t, "get", "ns")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !strings.Contains(out, ns+" ") {
			t.Errorf("get ns lacks %s:\n%s", ns, out)
		}
	}
	out, errOut, err := e.c.Orchctl(e.m, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: kube-system\ndata:\n  k: v\n", "apply", "-f", "-")
	if err != nil || !strings.Contains(out, "configmap/cluster-settings created") {
		t.Fatalf("apply to kube-system: %v\n%s%s", err, out, errOut)
	}
	_, errOut, err = e.c.Orchctl(e.m, "", "delete", "ns", "kube-system")
	if err == nil || !strings.Contains(errOut, `Error from server (Forbidden): namespaces "kube-system" is forbidden: this namespace may not be deleted`) {
		t.Fatalf("delete ns kube-system: %v\n%s", err, errOut)
	}

	t.Run("orphan", func(t *testing.T) {
		e.applyDeployment(t, "default", "orphaned")
		rss := e.metas(t, "rs", "-l", "app=orphaned")
		pods := e.metas(t, "pods", "-l", "app=orphaned")
		if len(rss) != 1 || len(pods) != 2 {
			t.Fatalf("%d ReplicaSets and %d pods, want 1 and 2", len(rss), len(pods))
		}
		if out := e.orchctl(t, "delete", "deployment", "orphaned", "--cascade=orphan"); !strings.Contains(out, `deployment.apps "orphaned" deleted`) {
			t.Fatalf("delete --cascade=orphan: %s", out)
		}
		if e.metas(t, "deployment", "orphaned") != nil {
			t.Fatal("deployment still there after delete --cascade=orphan returned (it waits)")
		}
		// Give the collector time to do what it must not.
		time.Sleep(3 * time.Second)
		now := e.metas(t, "rs", "-l", "app=orphaned")
		if len(now) != 1 || now[0].UID != rss[0].UID || len(now[0].OwnerReferences) != 0 || now[0].DeletionTimestamp != "" {
			t.Fatalf("ReplicaSet after the orphaning delete: %+v, want the same one, kept, without ownerReferences", now)
		}
		running := e.runningPods(t, "default", "orphaned")
		if got := e.metas(t, "pods", "-l", "app=orphaned"); running != 2 || len(got) != 2 || got[0].UID != pods[0].UID || got[1].UID != pods[1].UID {
			t.Fatalf("pods after the orphaning delete: %d running of %+v, want the same 2 running", running, got)
		}
		e.orchctl(t, "delete", "rs", rss[0].Name)
		e.waitFor(t, 60*time.Second, "the orphaned ReplicaSet's pods collected", func() bool {
			return len(e.metas(t, "pods", "-l", "app=orphaned")) == 0
		})
	})

	t.Run("foreground", func(t *testing.T) {
		e.applyDeployment(t, "default", "fg")
		if out := e.orchctl(t, "delete", "deployment", "fg", "--cascade=foreground", "--wait=false"); !strings.Contains(out, `deployment.apps "fg" deleted`) {
			t.Fatalf("delete --cascade=foreground: %s", out)
		}
		// The deployment stays, marked, while its pods stop (3s grace, httpd ignores
		// SIGTERM as PID 1), and it is never gone while a pod remains.
		sawWaiting := false
		e.waitFor(t, 60*time.Second, "the deployment gone", func() bool {
			d := e.metas(t, "deployment", "fg")
			pods := len(e.metas(t, "pods", "-l", "app=fg"))
			if d == nil {
				if pods > 0 {
					t.Fatalf("deployment gone while %d of its pods remain", pods)
				}
				return true
			}
			if d[0].DeletionTimestamp == "" || !strings.Contains(strings.Join(d[0].Finalizers, ","), "foregroundDeletion") {
				t.Fatalf("deployment being deleted in the foreground: %+v, want deletionTimestamp and foregroundDeletion", d[0])
			}
			if pods > 0 {
				sawWaiting = true
			}
			return false
		})
		if !sawWaiting {
			t.Error("never saw the deployment waiting for its pods")
		}
		if rs := e.metas(t, "rs", "-l", "app=fg"); len(rs) != 0 {
			t.Errorf("ReplicaSets left after the foreground delete: %+v", rs)
		}
	})

	t.Run("namespace", func(t *testing.T) {
		e.orchctl(t, "create", "namespace", "shop")
		e.applyDeployment(t, "shop", "web")
		e.orchctl(t, "delete", "ns", "shop", "--wait=false")
		if out := e.orchctl(t, "get", "ns", "shop"); !strings.Contains(out, "Terminating") {
			t.Fatalf("get ns shop after delete:\n%s", out)
		}
		_, errOut, err := e.c.Orchctl(e.m, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: shop\n", "apply", "-f", "-")
		if err == nil || !strings.Contains(errOut, "Forbidden") || !strings.Contains(errOut, "unable to create new content in namespace shop because it is being terminated") {
			t.Fatalf("create in a terminating namespace: %v\n%s", err, errOut)
		}
		e.waitFor(t, 60*time.Second, "namespace shop and everything in it gone", func() bool {
			return e.metas(t, "ns", "shop") == nil
		})
		for _, kind := range []string{"deployments", "rs", "pods", "cm"} {
			if left := e.metas(t, kind, "-n", "shop"); len(left) != 0 {
				t.Errorf("%s left in the deleted namespace: %+v", kind, left)
			}
		}
	})
}
