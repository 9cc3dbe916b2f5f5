package e2e

// DaemonSets and node constraints on a real cluster: Kubernetes' fluentd-elasticsearch
// DaemonSet example (only its image changed, to the test busybox image with a command
// that keeps running) in kube-system runs a pod on each worker, a worker that joins later
// gets one, a worker tainted NoExecute loses its pod and gets it back once the taint is
// removed; and a pod whose required node affinity no node meets stays Pending with the
// scheduler's Unschedulable reason in orchctl's output.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/orchd/orch/e2e/harness"
	"github.com/orchd/orch/node/images/imagetest"
)

const fluentdDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  namespace: kube-system
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd-elasticsearch
  template:
    metadata:
      labels:
        name: fluentd-elasticsearch
    spec:
      tolerations:
      # these tolerations are to have the daemonset runnable on control plane nodes
      # remove them if your control plane nodes should not run pods
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: IMAGE
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      # it may be desirable to set a high priority class to ensure that a DaemonSet Pod
      # preempts running Pods
      # priorityClassName: important
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
`

// addWorker starts one more worker agent on a new host of the test network.
func (e *workerEnv) addWorker(t *testing.T, name string) *harness.Node {
	t.Helper()
	h, err := e.net.AddHost(name)
	if err != nil {
		t.Fatal(err)
	}
	n := e.c.AddNode(h, h.Name, "--insecure-registry", e.regAddr, "--cpu", "2", "--memory", "2Gi", "--node-ip", h.IP,
		"--container-log-max-size", "1048576")
	if err := e.c.StartNode(n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ensureNamespace creates ns unless it exists.
// daemonImage is the test busybox image whose command runs until it is told to stop, as
// a log collector's would (the image's own command is a shell that exits at once).
func (e *workerEnv) daemonImage(t *testing.T) string {
	t.Helper()
	entries, err := imagetest.BusyboxEntries()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := imagetest.Layer(entries...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image(v1.Config{Cmd: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}, Env: []string{"PATH=/bin"}}, layer)
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.Push(t, e.regAddr, "orch/fluentd:v2.5.2", img)
}

// runningOn maps node name to the pods Running and ready there, not being deleted.
func runningOn(pods []podView) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		if p.Ready && !p.Going && p.Phase == "Running" {
			out[p.Node]++
		}
	}
	return out
}

func TestDaemonSetFluentd(t *testing.T) {
	e := startWorkers(t, 2)
	const sel = "name=fluentd-elasticsearch"
	image := e.daemonImage(t)
	manifest := strings.ReplaceAll(fluentdDaemonSet, "IMAGE", image)
	if out, errOut, err := e.c.Orchctl(e.m, manifest, "apply", "-f", "-"); err != nil || !strings.Contains(out, "daemonset.apps/fluentd-elasticsearch created") {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	pods := func() []podView { return e.workloadPodsIn(t, "kube-system", sel) }
	e.waitFor(t, 90*time.Second, "a running fluentd pod on w1 and on w2", func() bool {
		on := runningOn(pods())
		return len(on) == 2 && on["w1"] == 1 && on["w2"] == 1 && activeCount(pods()) == 2
	})
	e.waitFor(t, 30*time.Second, "get ds to show 2 desired, 2 ready", func() bool {
		out, _, err := e.c.Orchctl(e.m, "", "get", "ds", "-n", "kube-system", "--no-headers")
		f := strings.Fields(out)
		// NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE ...
		return err == nil && len(f) >= 6 && f[0] == "fluentd-elasticsearch" && strings.Join(f[1:6], " ") == "2 2 2 2 2"
	})
	for _, p := range pods() {
		if !strings.HasPrefix(p.Name, "fluentd-elasticsearch-") {
			t.Errorf("pod name %q: want fluentd-elasticsearch-<suffix>", p.Name)
		}
	}

	// A worker that joins later gets its pod.
	e.addWorker(t, "w3")
	e.waitFor(t, 90*time.Second, "a running fluentd pod on the new worker w3", func() bool {
		on := runningOn(pods())
		return on["w1"] == 1 && on["w2"] == 1 && on["w3"] == 1
	})

	// A NoExecute taint the pod does not tolerate takes w2's pod away, and none comes
	// back while it stays; removing it brings the pod back.
	if out := e.orchctl(t, "taint", "nodes", "w2", "dedicated=experimental:NoExecute"); strings.TrimSpace(out) != "node/w2 tainted" {
		t.Fatalf("taint: %q", out)
	}
	e.waitFor(t, 90*time.Second, "w2's fluentd pod gone", func() bool {
		for _, p := range pods() {
			if p.Node == "w2" {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	if on := runningOn(pods()); on["w2"] != 0 || on["w1"] != 1 || on["w3"] != 1 || activeCount(pods()) != 2 {
		t.Fatalf("pods per node with w2 tainted: %v (%d active)", on, activeCount(pods()))
	}
	desc := e.orchctl(t, "describe", "node", "w2")
	if !strings.Contains(desc, "dedicated=experimental:NoExecute") {
		t.Errorf("describe node w2 does not show its taint:\n%s", desc)
	}
	if out := e.orchctl(t, "taint", "nodes", "w2", "dedicated:NoExecute-"); strings.TrimSpace(out) != "node/w2 untainted" {
		t.Fatalf("untaint: %q", out)
	}
	e.waitFor(t, 90*time.Second, "a fluentd pod on w2 again", func() bool { return runningOn(pods())["w2"] == 1 })

	// A cordoned worker keeps its pod: daemon pods tolerate node.kubernetes.io/unschedulable.
	if out := e.orchctl(t, "cordon", "w1"); strings.TrimSpace(out) != "node/w1 cordoned" {
		t.Fatalf("cordon: %q", out)
	}
	if out, _, _ := e.c.Orchctl(e.m, "", "get", "node", "w1", "--no-headers"); !strings.Contains(out, "SchedulingDisabled") {
		t.Errorf("get node w1 after cordon: %q", out)
	}
	time.Sleep(2 * time.Second)
	if on := runningOn(pods()); on["w1"] != 1 {
		t.Fatalf("cordoned w1 lost its daemon pod: %v", on)
	}
	if out := e.orchctl(t, "uncordon", "w1"); strings.TrimSpace(out) != "node/w1 uncordoned" {
		t.Fatalf("uncordon: %q", out)
	}
}

func TestUnsatisfiableNodeAffinityStaysPending(t *testing.T) {
	e := startWorkers(t, 2)
	e.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: with-node-affinity
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values:
            - antarctica-east1
            - antarctica-west1
  containers:
  - name: with-node-affinity
    image: IMAGE
`)
	want := "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
	var last string
	deadline := time.Now().Add(40 * time.Second)
	for {
		p := e.pod(t, "with-node-affinity")
		conds, _ := path(p, "status", "conditions").([]any)
		found := false
		for _, c := range conds {
			if path(c, "type") == "PodScheduled" && path(c, "status") == "False" && path(c, "reason") == "Unschedulable" {
				last, _ = path(c, "message").(string)
				found = last == want
			}
		}
		if found && path(p, "status", "phase") == "Pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PodScheduled condition message %q, want %q", last, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if out := e.orchctl(t, "get", "pod", "with-node-affinity", "-o", "yaml"); !strings.Contains(out, "reason: Unschedulable") || !strings.Contains(out, "node affinity/selector.") {
		t.Errorf("get -o yaml does not show why the pod waits:\n%s", out)
	}
	if n, _ := path(e.pod(t, "with-node-affinity"), "spec", "nodeName").(string); n != "" {
		t.Fatalf("the pod was bound to %s", n)
	}
	// Labelling a node to match lets it be placed.
	if out := e.orchctl(t, "label", "nodes", "w2", "topology.kubernetes.io/zone=antarctica-west1"); strings.TrimSpace(out) != "node/w2 labeled" {
		t.Fatalf("label: %q", out)
	}
	e.waitFor(t, 30*time.Second, "the pod placed on w2", func() bool {
		n, _ := path(e.pod(t, "with-node-affinity"), "spec", "nodeName").(string)
		return n == "w2"
	})
	_, errOut, err := e.c.Orchctl(e.m, "", "label", "nodes", "w2", "topology.kubernetes.io/zone=antarctica-east1")
	if err == nil || !strings.Contains(errOut, fmt.Sprintf("'%s' already has a value (antarctica-west1), and --overwrite is false", "topology.kubernetes.io/zone")) {
		t.Fatalf("relabel without --overwrite: %v %s", err, errOut)
	}
}
