package e2e

// A node's failure as an operator sees it: its agent dies, the node turns NotReady and
// gets the unreachable NoExecute taint, its pods are evicted once their default
// tolerationSeconds run out and their Deployment runs replacements on the other node;
// when the agent comes back the taint goes and the evicted pods' containers are stopped.

import (
	"strings"
	"testing"
	"time"
)

func TestNodeFailureReplacesPods(t *testing.T) {
	t.Parallel()
	e := startWorkers(t, 2)
	e.apply(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: failover}
spec:
  replicas: 4
  selector: {matchLabels: {app: failover}}
  template:
    metadata: {labels: {app: failover}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sleep", "3600"]
`)
	const sel = "app=failover"
	e.waitFor(t, 90*time.Second, "4 pods ready", func() bool { return readyPods(e.workloadPods(t, sel), "") == 4 })
	perNode := map[string][]string{}
	for _, p := range e.workloadPods(t, sel) {
		perNode[p.Node] = append(perNode[p.Node], p.Name)
	}
	// Fail the node with the most pods.
	failed := e.c.Nodes[0]
	if len(perNode[e.c.Nodes[1].Name]) > len(perNode[failed.Name]) {
		failed = e.c.Nodes[1]
	}
	doomed := perNode[failed.Name]
	if len(doomed) == 0 {
		t.Fatalf("no pod on either node: %v", perNode)
	}
	tols, _ := path(e.pod(t, doomed[0]), "spec", "tolerations").([]any)
	defaulted := false
	for _, tol := range tols {
		m, _ := tol.(map[string]any)
		if m["key"] == "node.kubernetes.io/unreachable" && m["operator"] == "Exists" && m["effect"] == "NoExecute" && m["tolerationSeconds"] == 4.0 {
			defaulted = true
		}
	}
	if !defaulted {
		t.Errorf("pod tolerations %v: want the default unreachable toleration of 4 s", tols)
	}
	before := containerPIDs(t, failed)

	killed := time.Now()
	e.c.KillNode(failed)
	e.waitFor(t, 60*time.Second, "4 ready replacements off the failed node", func() bool {
		n := 0
		for _, p := range e.workloadPods(t, sel) {
			if p.Ready && !p.Going && p.Node != failed.Name {
				n++
			}
		}
		return n == 4
	})
	took := time.Since(killed)
	// 5 s without heartbeats (this suite's grace period), 4 s of toleration, then a
	// replacement to schedule and start.
	t.Logf("4 replicas ready elsewhere %.1f s after the node's agent died", took.Seconds())
	if took > 20*time.Second {
		t.Errorf("replacements took %v, want well within 20 s", took)
	}
	if node := e.orchctl(t, "get", "node", failed.Name, "-o", "json"); !strings.Contains(node, "node.kubernetes.io/unreachable") {
		t.Errorf("failed node has no unreachable taint:\n%s", node)
	}
	// The evicted pods wait, terminating, for their node.
	for _, p := range e.workloadPods(t, sel) {
		if p.Node == failed.Name && !p.Going {
			t.Errorf("pod %s on the failed node is not being deleted", p.Name)
		}
	}
	if got := activeCount(e.workloadPods(t, sel)); got != 4 {
		t.Errorf("%d active pods, want exactly the 4 replicas", got)
	}
	// What happened is in the events, as kubectl shows them.
	events := e.orchctl(t, "get", "events")
	for _, want := range []string{"TaintManagerEviction", "Marking for deletion Pod default/" + doomed[0], "NodeNotReady",
		"SuccessfulCreate", "ScalingReplicaSet", "Scaled up replica set failover-"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
	if d := e.orchctl(t, "describe", "deployment", "failover"); !strings.Contains(d, "ScalingReplicaSet") {
		t.Errorf("describe deployment shows no ScalingReplicaSet event:\n%s", d)
	}

	if err := e.c.StartNode(failed); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, 60*time.Second, "the evicted pods gone", func() bool {
		for _, p := range e.workloadPods(t, sel) {
			if p.Node == failed.Name {
				return false
			}
		}
		return true
	})
	e.waitFor(t, 30*time.Second, "the unreachable taint removed", func() bool {
		out, _, _ := e.c.Orchctl(e.m, "", "get", "node", failed.Name, "-o", "json")
		return out != "" && !strings.Contains(out, "node.kubernetes.io/unreachable")
	})
	e.waitFor(t, 30*time.Second, "the evicted pods' containers stopped", func() bool {
		after := containerStates(failed)
		for id := range before {
			if _, ok := after[id]; ok {
				return false
			}
		}
		return true
	})
	if got := activeCount(e.workloadPods(t, sel)); got != 4 {
		t.Errorf("%d active pods after the node came back, want 4", got)
	}
}
