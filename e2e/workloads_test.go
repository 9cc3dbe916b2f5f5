package e2e

// Workload controllers on a real cluster: Kubernetes' nginx-deployment example (with the
// test image serving httpd on port 80) applied with orchctl, scaled, rolled out with
// readiness sampled all through, stalled on a broken image past its progress deadline,
// rolled back, and deleted with its ReplicaSets and pods.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/node/images/imagetest"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

const nginxDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  minReadySeconds: 2
  progressDeadlineSeconds: 15
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 1
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: nginx
        image: IMAGE
        command: ["httpd", "-f", "-p", "80"]
        ports:
        - containerPort: 80
        readinessProbe:
          tcpSocket:
            port: 80
          periodSeconds: 1
        resources:
          requests:
            cpu: 50m
            memory: 16Mi
`

// podView is what the test reads of a pod.
type podView struct {
	Name    string
	Image   string
	Phase   string
	Ready   bool
	Going   bool
	Node    string
	Created string
}

func (e *workerEnv) workloadPods(t *testing.T, selector string) []podView {
	t.Helper()
	return e.workloadPodsIn(t, "default", selector)
}

// workloadPodsIn is workloadPods in namespace ns.
func (e *workerEnv) workloadPodsIn(t *testing.T, ns, selector string) []podView {
	t.Helper()
	out, errOut, err := e.c.Orchctl(e.m, "", "get", "pods", "-n", ns, "-l", selector, "-o", "json")
	if err != nil {
		t.Logf("get pods: %v %s", err, errOut)
		return nil
	}
	var l struct {
		Items []struct {
			Metadata struct {
				Name              string `json:"name"`
				DeletionTimestamp string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				NodeName   string `json:"nodeName"`
				Containers []struct {
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase      string `json:"phase"`
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("decode pods: %v\n%s", err, out)
	}
	var pods []podView
	for _, it := range l.Items {
		p := podView{Name: it.Metadata.Name, Phase: it.Status.Phase, Going: it.Metadata.DeletionTimestamp != "", Node: it.Spec.NodeName}
		if len(it.Spec.Containers) > 0 {
			p.Image = it.Spec.Containers[0].Image
		}
		for _, c := range it.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				p.Ready = true
			}
		}
		pods = append(pods, p)
	}
	return pods
}

// readyPods counts the ready pods not being deleted, of image when set.
func readyPods(pods []podView, image string) int {
	n := 0
	for _, p := range pods {
		if p.Ready && !p.Going && (image == "" || p.Image == image) {
			n++
		}
	}
	return n
}

func activeCount(pods []podView) int {
	n := 0
	for _, p := range pods {
		if !p.Going && p.Phase != "Succeeded" && p.Phase != "Failed" {
			n++
		}
	}
	return n
}

func (e *workerEnv) orchctl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := e.c.Orchctl(e.m, "", args...)
	if err != nil {
		t.Fatalf("orchctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func TestWorkloadsDeployment(t *testing.T) {
	e := startWorkers(t, 2)
	const sel = "app=nginx"
	v1 := e.image
	// The same image under a second tag: a template change to roll out.
	img, err := imagetest.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.TrimSuffix(v1, ":latest") + ":v2"
	if _, err := imagetest.PushImage(v2, img); err != nil {
		t.Fatal(err)
	}

	e.apply(t, nginxDeployment)
	e.waitFor(t, 90*time.Second, "3 nginx pods Running and ready", func() bool {
		pods := e.workloadPods(t, sel)
		return activeCount(pods) == 3 && readyPods(pods, v1) == 3
	})
	if out := e.orchctl(t, "rollout", "status", "deployment/nginx-deployment", "--timeout", "30s"); !strings.Contains(out, `deployment "nginx-deployment" successfully rolled out`) {
		t.Fatalf("rollout status:\n%s", out)
	}
	out := e.orchctl(t, "get", "deployments")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "READY") || !strings.Contains(out, "UP-TO-DATE") || !strings.Contains(out, "3/3") {
		t.Fatalf("get deployments:\n%s", out)
	}
	nodes := map[string]bool{}
	for _, p := range e.workloadPods(t, sel) {
		nodes[p.Node] = true
		if !strings.HasPrefix(p.Name, "nginx-deployment-") {
			t.Errorf("pod name %q: want nginx-deployment-<hash>-<suffix>", p.Name)
		}
	}
	t.Logf("3 pods on nodes %v", nodes)

	// Scale up and down.
	if out := e.orchctl(t, "scale", "deployment", "nginx-deployment", "--replicas", "5"); !strings.Contains(out, "deployment.apps/nginx-deployment scaled") {
		t.Fatalf("scale: %s", out)
	}
	e.waitFor(t, 60*time.Second, "5 ready pods", func() bool { return readyPods(e.workloadPods(t, sel), "") == 5 })
	e.orchctl(t, "scale", "deployment/nginx-deployment", "--replicas=1")
	e.waitFor(t, 60*time.Second, "1 pod", func() bool {
		pods := e.workloadPods(t, sel)
		return activeCount(pods) == 1 && readyPods(pods, "") == 1
	})
	if out := e.orchctl(t, "get", "rs"); !strings.Contains(out, "DESIRED") || !strings.Contains(out, "CURRENT") {
		t.Fatalf("get rs:\n%s", out)
	}
	e.orchctl(t, "scale", "deployment", "nginx-deployment", "--replicas", "3")
	e.waitFor(t, 60*time.Second, "3 ready pods again", func() bool { return readyPods(e.workloadPods(t, sel), "") == 3 })

	// A rolling update never has fewer than replicas - maxUnavailable = 2 ready pods.
	e.orchctl(t, "set", "image", "deployment/nginx-deployment", "nginx="+v2)
	var mu sync.Mutex
	var samples, minReady int
	minReady = 3
	stop := make(chan struct{})
	sampled := make(chan struct{})
	pods := orchv1connect.NewPodServiceClient(transport.Client(), e.m.URL())
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			l, err := pods.List(context.Background(), connect.NewRequest(&orchv1.ListRequest{Namespace: "default", LabelSelector: sel}))
			if err == nil {
				n := 0
				for _, p := range l.Msg.GetItems() {
					if p.GetMetadata().GetDeletionTimestamp() != nil {
						continue
					}
					for _, c := range p.GetStatus().GetConditions() {
						if c.GetType() == "Ready" && c.GetStatus() == "True" {
							n++
						}
					}
				}
				mu.Lock()
				samples++
				minReady = min(minReady, n)
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	status := exec.Command(filepath.Join(e.c.Bin, "orchctl"), "--server", e.m.URL(), "rollout", "status", "deployment/nginx-deployment", "--timeout", "120s")
	status.Env = append(os.Environ(), "ORCH_CONFIG="+filepath.Join(e.c.Dir, "orchctl-config"))
	statusOut, err := status.CombinedOutput()
	close(stop)
	<-sampled
	if err != nil {
		t.Fatalf("rollout status: %v\n%s", err, statusOut)
	}
	t.Logf("rollout status printed:\n%s", statusOut)
	if !strings.Contains(string(statusOut), "Waiting for deployment \"nginx-deployment\" rollout to finish") ||
		!strings.Contains(string(statusOut), "successfully rolled out") {
		t.Errorf("rollout status printed:\n%s", statusOut)
	}
	mu.Lock()
	t.Logf("rollout: %d readiness samples, at least %d ready throughout", samples, minReady)
	if minReady < 2 {
		t.Errorf("only %d pods were ready at one point of the rollout; maxUnavailable 1 allows no fewer than 2", minReady)
	}
	mu.Unlock()
	if n := readyPods(e.workloadPods(t, sel), v2); n != 3 {
		t.Fatalf("%d ready pods of the new image after the rollout, want 3", n)
	}

	// A broken image stalls: rollout status fails after progressDeadlineSeconds (15).
	broken := strings.TrimSuffix(v1, ":latest") + ":does-not-exist"
	e.orchctl(t, "set", "image", "deployment/nginx-deployment", "nginx="+broken)
	start := time.Now()
	out, errOut, err := e.c.Orchctl(e.m, "", "rollout", "status", "deployment/nginx-deployment", "--timeout", "90s")
	if err == nil || !strings.Contains(errOut, `deployment "nginx-deployment" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a broken image: err %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Logf("rollout status failed after %v: %s", time.Since(start).Round(time.Second), strings.TrimSpace(errOut))
	if n := readyPods(e.workloadPods(t, sel), v2); n < 2 {
		t.Errorf("the stalled rollout left %d ready pods of the old image, want at least 2", n)
	}

	// Undo goes back to the v2 template and completes.
	if out := e.orchctl(t, "rollout", "undo", "deployment/nginx-deployment"); !strings.Contains(out, "deployment.apps/nginx-deployment rolled back") {
		t.Fatalf("undo: %s", out)
	}
	e.waitFor(t, 90*time.Second, "3 ready v2 pods and no others after undo", func() bool {
		pods := e.workloadPods(t, sel)
		return readyPods(pods, v2) == 3 && activeCount(pods) == 3
	})
	e.waitFor(t, 30*time.Second, "rollout status to succeed after undo", func() bool {
		out, _, err := e.c.Orchctl(e.m, "", "rollout", "status", "deployment/nginx-deployment", "--timeout", "20s")
		return err == nil && strings.Contains(out, "successfully rolled out")
	})
	hist := e.orchctl(t, "rollout", "history", "deployment/nginx-deployment")
	if !strings.Contains(hist, "REVISION") || !strings.Contains(hist, "CHANGE-CAUSE") || !strings.Contains(hist, "4 ") {
		t.Errorf("rollout history:\n%s", hist)
	}

	// Deleting the deployment deletes its ReplicaSets and their pods.
	e.orchctl(t, "delete", "deployment", "nginx-deployment")
	e.waitFor(t, 60*time.Second, "ReplicaSets and pods collected", func() bool {
		rs, _, err := e.c.Orchctl(e.m, "", "get", "rs", "-o", "name")
		return err == nil && strings.TrimSpace(rs) == "" && len(e.workloadPods(t, sel)) == 0
	})
}
