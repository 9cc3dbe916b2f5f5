package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/e2e/harness"
	"github.com/orchd/orch/node/images"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// deployResult is one Deployment's rollout from its Create call to every replica Running.
type deployResult struct {
	Bench    string  `json:"bench"`
	Replicas int     `json:"replicas"`
	Nodes    int     `json:"nodes"`
	Seconds  float64 `json:"seconds"`
	// RaftEntries is how far the leader's applied index moved from just before the Create
	// to the Deployment reporting every replica available; per pod, over replicas.
	RaftEntriesPerPod float64 `json:"raft_entries_per_pod"`
	RaftEntries       uint64  `json:"raft_entries"`
	// The ReplicaSet controller: its first pod, its last, and the rate in between.
	FirstPodSeconds   float64 `json:"first_pod_seconds"`
	AllCreatedSeconds float64 `json:"all_created_seconds"`
	PodsCreatedPerSec float64 `json:"pods_created_per_sec"`
	AllBoundSeconds   float64 `json:"all_bound_seconds"`
	// CommitMsMean: the leader's mean time from proposal to applied over the rollout.
	CommitMsMean float64 `json:"commit_ms_mean"`
	// AvailableSeconds: until the Deployment's status says every replica is available.
	AvailableSeconds float64 `json:"available_seconds"`
	PodsPerNodeMin   int     `json:"pods_per_node_min"`
	PodsPerNodeMax   int     `json:"pods_per_node_max"`
	Runtime          string  `json:"runtime"`
	// SetupSeconds is what it took to get the nodes ready before the clock started.
	SetupSeconds float64 `json:"setup_seconds,omitempty"`
	CPUs         int     `json:"cpus"`
	Skipped      string  `json:"skipped,omitempty"`
}

// benchDeployment is a Deployment of busybox sleeping. Its requests are about what
// Kubernetes' scheduler assumes of a pod without any (100m, 200Mi) so that the
// least-allocated score, in whole percent, spreads the replicas over the nodes: with
// requests of a few millicores every node scores the same and the one whose name sorts
// first takes pods until it is full.
func benchDeployment(name, image string, replicas int32) *orchv1.Deployment {
	labels := map[string]string{"app": name}
	return &orchv1.Deployment{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default"}, Spec: &orchv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &orchv1.LabelSelector{MatchLabels: labels},
		Template: &orchv1.PodTemplateSpec{Metadata: &orchv1.ObjectMeta{Labels: labels}, Spec: &orchv1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int32(0)),
			Containers: []*orchv1.Container{{Name: "c", Image: image, ImagePullPolicy: images.PullIfNotPresent,
				Command:   []string{"sleep", "3600"},
				Resources: &orchv1.ResourceRequirements{Requests: map[string]string{"cpu": "100m", "memory": "128Mi"}}}},
		}},
	}}
}

// leaderSample is what the benchmarks read of the leader's /metrics.
type leaderSample struct {
	applied                uint64
	commitSum, commitCount float64 // orch_raft_commit_duration_seconds
}

// sampleMetrics reads orch_raft_applied_index and the commit latency histogram's sum and
// count from a master's /metrics.
func sampleMetrics(ctx context.Context, m *harness.Master) (leaderSample, error) {
	var out leaderSample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/metrics", nil)
	if err != nil {
		return out, err
	}
	resp, err := transport.Client().Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "orch_raft_applied_index":
			out.applied, found = uint64(f), true
		case "orch_raft_commit_duration_seconds_sum":
			out.commitSum = f
		case "orch_raft_commit_duration_seconds_count":
			out.commitCount = f
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if !found {
		return out, errors.New("no orch_raft_applied_index in /metrics")
	}
	return out, nil
}

// sampleLeader samples the current leader's metrics.
func sampleLeader(ctx context.Context, c *harness.Cluster) (leaderSample, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := c.Leader(lctx)
	if err != nil {
		return leaderSample{}, err
	}
	return sampleMetrics(ctx, l)
}

// followPods lists the pods matching selector, hands each to fn, then follows their
// changes from the list's resourceVersion; when the watch ends early it lists again. It
// returns when ctx ends. The list is done before it returns to the caller's goroutine:
// fn runs on a goroutine of its own afterwards.
func followPods(ctx context.Context, pods orchv1connect.PodServiceClient, selector string, fn func(typ string, p *orchv1.Pod)) error {
	list := func() (string, error) {
		resp, err := pods.List(ctx, connect.NewRequest(&orchv1.ListRequest{LabelSelector: selector}))
		if err != nil {
			return "", err
		}
		for _, p := range resp.Msg.GetItems() {
			fn("ADDED", p)
		}
		return resp.Msg.GetMetadata().GetResourceVersion(), nil
	}
	rv, err := list()
	if err != nil {
		return err
	}
	go func() {
		for ctx.Err() == nil {
			st, err := pods.Watch(ctx, connect.NewRequest(&orchv1.WatchRequest{LabelSelector: selector, ResourceVersion: rv}))
			if err == nil {
				for st.Receive() {
					ev := st.Msg()
					if p := ev.GetObject(); p != nil {
						if v := p.GetMetadata().GetResourceVersion(); v != "" {
							rv = v
						}
						if ev.GetType() != "BOOKMARK" {
							fn(ev.GetType(), p)
						}
					}
				}
				err = st.Err()
				st.Close()
			}
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintln(os.Stderr, "bench: pod watch ended, listing again:", err)
			time.Sleep(200 * time.Millisecond)
			if v, err := list(); err == nil {
				rv = v
			}
		}
	}()
	return nil
}

// rollout watches one Deployment's pods come up: created, bound, Running.
type rollout struct {
	mu        sync.Mutex
	replicas  int
	created   map[string]time.Time
	bound     map[string]string
	running   map[string]bool
	first     time.Time
	lastNew   time.Time
	lastBound time.Time
	done      chan struct{}
	doneAt    time.Time
}

func (r *rollout) observe(typ string, p *orchv1.Pod) {
	if typ == "DELETED" {
		return
	}
	now := time.Now()
	name := p.GetMetadata().GetName()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.created[name]; !ok {
		r.created[name] = now
		if r.first.IsZero() {
			r.first = now
		}
		r.lastNew = now
	}
	if n := p.GetSpec().GetNodeName(); n != "" {
		if _, ok := r.bound[name]; !ok {
			r.bound[name] = n
			r.lastBound = now
		}
	}
	if p.GetStatus().GetPhase() == "Running" && !r.running[name] {
		r.running[name] = true
		if len(r.running) == r.replicas {
			r.doneAt = now
			close(r.done)
		}
	}
}

// measureRollout creates d through master m and times it until every replica runs and
// the Deployment reports them available, reading the Raft entries it took from the
// leader. The Deployment is left in place.
func measureRollout(ctx context.Context, c *harness.Cluster, m *harness.Master, d *orchv1.Deployment, timeout time.Duration) (deployResult, error) {
	hc := transport.Client()
	pods := orchv1connect.NewPodServiceClient(hc, m.URL())
	deps := orchv1connect.NewDeploymentServiceClient(hc, m.URL())
	replicas := int(d.GetSpec().GetReplicas())
	r := &rollout{replicas: replicas, created: map[string]time.Time{}, bound: map[string]string{}, running: map[string]bool{}, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	before, err := sampleLeader(ctx, c)
	if err != nil {
		return deployResult{}, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := followPods(wctx, pods, "app="+d.GetSpec().GetSelector().GetMatchLabels()["app"], r.observe); err != nil {
		return deployResult{}, err
	}
	start := time.Now()
	if _, err := deps.Create(ctx, connect.NewRequest(d)); err != nil {
		return deployResult{}, fmt.Errorf("create deployment: %w", err)
	}
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
wait:
	for {
		select {
		case <-r.done:
			break wait
		case <-progress.C:
			r.mu.Lock()
			fmt.Fprintf(os.Stderr, "bench: %s after %.0fs: %d created, %d bound, %d running\n", d.GetMetadata().GetName(),
				time.Since(start).Seconds(), len(r.created), len(r.bound), len(r.running))
			r.mu.Unlock()
		case <-ctx.Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			return deployResult{}, fmt.Errorf("after %v: %d of %d pods created, %d bound, %d running", timeout,
				len(r.created), replicas, len(r.bound), len(r.running))
		}
	}
	stopWatch()
	// The rollout's writes end when the Deployment's status catches up.
	var available time.Time
	for available.IsZero() {
		got, err := deps.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: "default", Name: d.GetMetadata().GetName()}))
		if err == nil && int(got.Msg.GetStatus().GetAvailableReplicas()) == replicas && int(got.Msg.GetStatus().GetUpdatedReplicas()) == replicas {
			available = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			return deployResult{}, errors.New("every pod runs but the Deployment never reported them available")
		case <-time.After(100 * time.Millisecond):
		}
	}
	after, err := sampleLeader(ctx, c)
	if err != nil {
		return deployResult{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	perNode := map[string]int{}
	for _, n := range r.bound {
		perNode[n]++
	}
	res := deployResult{Bench: "deployment_to_running", Replicas: replicas, Nodes: len(perNode),
		Seconds: r.doneAt.Sub(start).Seconds(), RaftEntries: after.applied - before.applied, RaftEntriesPerPod: float64(after.applied-before.applied) / float64(replicas),
		FirstPodSeconds: r.first.Sub(start).Seconds(), AllCreatedSeconds: r.lastNew.Sub(start).Seconds(),
		AllBoundSeconds: r.lastBound.Sub(start).Seconds(), AvailableSeconds: available.Sub(start).Seconds(), CPUs: runtime.NumCPU()}
	if n := after.commitCount - before.commitCount; n > 0 {
		res.CommitMsMean = 1000 * (after.commitSum - before.commitSum) / n
	}
	if span := r.lastNew.Sub(r.first).Seconds(); span > 0 {
		res.PodsCreatedPerSec = float64(replicas-1) / span
	}
	first := true
	for _, k := range perNode {
		if first || k < res.PodsPerNodeMin {
			res.PodsPerNodeMin = k
		}
		if first || k > res.PodsPerNodeMax {
			res.PodsPerNodeMax = k
		}
		first = false
	}
	return res, nil
}

// waitNodesReady waits until want nodes report Ready.
func waitNodesReady(ctx context.Context, m *harness.Master, want int, timeout time.Duration) error {
	nodes := orchv1connect.NewNodeServiceClient(transport.Client(), m.URL())
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		list, err := nodes.List(ctx, connect.NewRequest(&orchv1.ListRequest{}))
		if err == nil {
			for _, n := range list.Msg.GetItems() {
				for _, c := range n.GetStatus().GetConditions() {
					if c.GetType() == "Ready" && c.GetStatus() == "True" {
						ready++
					}
				}
			}
		}
		if ready >= want {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d nodes Ready (last error: %v)", ready, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// deleteDeployment deletes a Deployment and waits until the garbage collector and the
// nodes have removed every one of its pods.
func deleteDeployment(ctx context.Context, m *harness.Master, name string, timeout time.Duration) error {
	hc := transport.Client()
	deps := orchv1connect.NewDeploymentServiceClient(hc, m.URL())
	pods := orchv1connect.NewPodServiceClient(hc, m.URL())
	if _, err := deps.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Namespace: "default", Name: name})); err != nil {
		return fmt.Errorf("delete deployment %s: %w", name, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		list, err := pods.List(ctx, connect.NewRequest(&orchv1.ListRequest{Namespace: "default", LabelSelector: "app=" + name}))
		if err == nil && len(list.Msg.GetItems()) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n := -1
			if err == nil {
				n = len(list.Msg.GetItems())
			}
			return fmt.Errorf("deployment %s deleted, %d pods still there after %v (%v)", name, n, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// warmNodes runs one pod pinned to each node and removes it, so that every node has the
// image cached and its pod network set up before the clock starts.
func warmNodes(ctx context.Context, w *workerCluster) error {
	pods := orchv1connect.NewPodServiceClient(transport.Client(), w.c.Masters[0].URL())
	for _, n := range w.nodes {
		name := "warm-" + n.Name
		p := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default"}, Spec: &orchv1.PodSpec{
			NodeName: n.Name, TerminationGracePeriodSeconds: ptr(int32(0)),
			Containers: []*orchv1.Container{{Name: "c", Image: w.image, ImagePullPolicy: images.PullIfNotPresent, Command: []string{"sleep", "3600"}}},
		}}
		if _, err := pods.Create(ctx, connect.NewRequest(p)); err != nil {
			return fmt.Errorf("warm-up pod on %s: %w", n.Name, err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, n := range w.nodes {
		for {
			got, err := pods.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: "default", Name: "warm-" + n.Name}))
			if err == nil && got.Msg.GetStatus().GetPhase() == "Running" {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("warm-up pod on %s never ran\n%s", n.Name, w.c.NodeLogTail(n, 30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	zero := int64(0)
	for _, n := range w.nodes {
		pods.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Namespace: "default", Name: "warm-" + n.Name, GracePeriodSeconds: &zero}))
	}
	for _, n := range w.nodes {
		for {
			_, err := pods.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: "default", Name: "warm-" + n.Name}))
			if connect.CodeOf(err) == connect.CodeNotFound {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("warm-up pod on %s never went away", n.Name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// deployBench: 3 masters and workers real agents (each in its own network namespace,
// the image cached), then one Deployment of replicas busybox pods timed from its Create
// call to every pod Running; then it is deleted and its pods waited for.
func deployBench(ctx context.Context, replicas, workers int) error {
	if os.Geteuid() != 0 {
		emit(deployResult{Bench: "deployment_to_running", Replicas: replicas, Nodes: workers, Runtime: "runc", Skipped: "needs root"})
		return nil
	}
	setup := time.Now()
	dir, err := os.MkdirTemp("", "orch-bench-deploy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Capacity is never the limit: every node could take every replica.
	w, err := startWorkerCluster(dir, workers, "--max-pods", strconv.Itoa(replicas+10), "--cpu", "32", "--memory", "64Gi")
	if err != nil {
		return err
	}
	defer w.Close()
	m := w.c.Masters[0]
	if err := waitNodesReady(ctx, m, workers, 60*time.Second); err != nil {
		return err
	}
	if err := warmNodes(ctx, w); err != nil {
		return err
	}
	const name = "bench-deploy"
	setupTook := time.Since(setup)
	res, err := measureRollout(ctx, w.c, m, benchDeployment(name, w.image, int32(replicas)), 5*time.Minute)
	if err != nil {
		for _, n := range w.nodes {
			fmt.Fprintln(os.Stderr, w.c.NodeLogTail(n, 20))
		}
		return err
	}
	res.Runtime, res.SetupSeconds = "runc", setupTook.Seconds()
	emit(res)
	t0 := time.Now()
	err = deleteDeployment(ctx, m, name, 3*time.Minute)
	fmt.Fprintf(os.Stderr, "bench: deployment deleted, pods gone in %.1fs\n", time.Since(t0).Seconds())
	return err
}
