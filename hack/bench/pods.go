package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/e2e/harness"
	"github.com/orchd/orch/node/images"
	"github.com/orchd/orch/node/images/imagetest"
	orchruntime "github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

type latencyResult struct {
	Bench     string  `json:"bench"`
	Rate      float64 `json:"pods_per_sec,omitempty"`
	N         int     `json:"n"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	CPUs      int     `json:"cpus"`
	Skipped   string  `json:"skipped,omitempty"`
	Failures  int     `json:"failures,omitempty"`
	ImageNote string  `json:"image,omitempty"`
	// Seccomp is the container's seccomp profile, Variant the isolation measured; RatioP50
	// its p50 over the unconfined one.
	Seccomp  string  `json:"seccomp,omitempty"`
	Variant  string  `json:"variant,omitempty"`
	RatioP50 float64 `json:"ratio_p50,omitempty"`
}

func percentiles(lat []time.Duration) (p50, p99, mx float64) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(lat[len(lat)/2]), ms(lat[int(0.99*float64(len(lat)-1))]), ms(lat[len(lat)-1])
}

// podBench: 3 masters and one worker (in its own network namespace), the image cached by
// a first pod; then pods created at a fixed rate, each timed from its Create call to the
// watch event that shows it Running.
func podBench(ctx context.Context) error {
	if os.Geteuid() != 0 {
		emit(latencyResult{Bench: "pod_create_to_running", Skipped: "needs root"})
		return nil
	}
	dir, err := os.MkdirTemp("", "orch-bench-pods-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, err := startWorkerCluster(dir, 1, "--max-pods", "200", "--cpu", "64", "--memory", "64Gi")
	if err != nil {
		return err
	}
	defer w.Close()
	c, n, ref := w.c, w.nodes[0], w.image
	pods := orchv1connect.NewPodServiceClient(transport.Client(), c.Masters[0].URL())
	run := func(prefix string, count int, rate float64) ([]time.Duration, int, error) {
		return podsAtRate(ctx, pods, ref, prefix, count, rate)
	}
	// Warm up: the node registers and the image is pulled once.
	if _, _, err := run("warm", 1, 1); err != nil {
		return fmt.Errorf("warm-up pod never ran: %w\n%s", err, c.NodeLogTail(n, 30))
	}
	for _, rate := range []float64{1, 20} {
		count := 20
		if rate > 1 {
			count = 60
		}
		lat, failures, err := run(fmt.Sprintf("r%d", int(rate)), count, rate)
		if err != nil {
			return err
		}
		p50, p99, mx := percentiles(lat)
		emit(latencyResult{Bench: "pod_create_to_running", Rate: rate, N: len(lat), P50ms: p50, P99ms: p99, MaxMs: mx,
			CPUs: runtime.NumCPU(), Failures: failures, ImageNote: "cached"})
		// Clean up before the next rate so the node is idle again.
		list, err := pods.List(ctx, connect.NewRequest(&orchv1.ListRequest{Namespace: "default"}))
		if err == nil {
			zero := int64(0)
			for _, p := range list.Msg.GetItems() {
				pods.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Name: p.GetMetadata().GetName(), GracePeriodSeconds: &zero}))
			}
		}
	}
	return nil
}

// podsAtRate creates count pods at rate per second and returns each one's latency to Running.
func podsAtRate(ctx context.Context, pods orchv1connect.PodServiceClient, image, prefix string, count int, rate float64) ([]time.Duration, int, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	list, err := pods.List(ctx, connect.NewRequest(&orchv1.ListRequest{Namespace: "default"}))
	if err != nil {
		return nil, 0, err
	}
	st, err := pods.Watch(wctx, connect.NewRequest(&orchv1.WatchRequest{Namespace: "default", ResourceVersion: list.Msg.GetMetadata().GetResourceVersion()}))
	if err != nil {
		return nil, 0, err
	}
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st.Receive() {
			p := st.Msg().GetObject()
			if p.GetStatus().GetPhase() != "Running" {
				continue
			}
			now := time.Now()
			mu.Lock()
			if t0, ok := created[p.GetMetadata().GetName()]; ok {
				if _, seen := running[p.GetMetadata().GetName()]; !seen {
					running[p.GetMetadata().GetName()] = now.Sub(t0)
				}
			}
			n := len(running)
			mu.Unlock()
			if n == count {
				return
			}
		}
	}()
	interval := time.Duration(float64(time.Second) / rate)
	failures := 0
	for i := range count {
		name := fmt.Sprintf("%s-%d", prefix, i)
		p := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Name: name}, Spec: &orchv1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int32(0)),
			Containers:                    []*orchv1.Container{{Name: "c", Image: image, ImagePullPolicy: images.PullIfNotPresent, Command: []string{"sleep", "3600"}}},
		}}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := pods.Create(ctx, connect.NewRequest(p)); err != nil {
			if failures == 0 {
				fmt.Fprintln(os.Stderr, "bench: create pod:", err)
			}
			failures++
		}
		time.Sleep(interval)
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(60 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(running) == 0 {
		return nil, failures, errors.New("no pod reached Running")
	}
	lat := make([]time.Duration, 0, len(running))
	for _, d := range running {
		lat = append(lat, d)
	}
	return lat, failures + count - len(running), nil
}

func ptr[T any](v T) *T { return &v }

// workerCluster is 3 masters listening on a test network's bridge, a registry there
// holding the busybox image, and worker agents each in a network namespace of its own.
type workerCluster struct {
	c       *harness.Cluster
	network *harness.Network
	reg     *harness.Registry
	image   string
	nodes   []*harness.Node
}

// startWorkerCluster starts it in dir with workers agents named w1, w2, ..., each with
// nodeArgs; it does not wait for them to register.
func startWorkerCluster(dir string, workers int, nodeArgs ...string) (_ *workerCluster, err error) {
	w := &workerCluster{}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	bin, err := harness.Binaries(filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	if w.network, err = harness.NewNetwork(100 + rand.IntN(100)); err != nil {
		return nil, err
	}
	regAddr, err := harness.FreeAddrOn(w.network.HostIP)
	if err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(dir, "registry"), 0o755)
	if w.reg, err = harness.StartRegistry(filepath.Join(dir, "registry"), regAddr); err != nil {
		return nil, err
	}
	img, err := imagetest.BusyboxImage()
	if err != nil {
		return nil, err
	}
	w.image = regAddr + "/orch/busybox:latest"
	if _, err := imagetest.PushImage(w.image, img); err != nil {
		return nil, err
	}
	if w.c, err = harness.StartMastersOn(dir, bin, 3, w.network.HostIP); err != nil {
		return nil, err
	}
	for i := range workers {
		name := fmt.Sprintf("w%d", i+1)
		h, err := w.network.AddHost(name)
		if err != nil {
			return nil, err
		}
		n := w.c.AddNode(h, name, append([]string{"--insecure-registry", regAddr, "--node-ip", h.IP}, nodeArgs...)...)
		if err := w.c.StartNode(n); err != nil {
			return nil, err
		}
		w.nodes = append(w.nodes, n)
	}
	return w, nil
}

// Close resets the agents' hosts, stops the masters and the registry and removes the
// test network.
func (w *workerCluster) Close() {
	if w.c != nil {
		w.c.Close()
	}
	if w.reg != nil {
		w.reg.Close()
	}
	if w.network != nil {
		w.network.Close()
	}
}

// containerBench times Runtime.Start of a busybox container on an unpacked rootfs
// (no network setup, no image pull): the cost of the shim and libcontainer alone.
func containerBench() error {
	if os.Geteuid() != 0 {
		emit(latencyResult{Bench: "container_start", Skipped: "needs root"})
		return nil
	}
	dir, err := os.MkdirTemp("", "orch-bench-ctr-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		return err
	}
	bb, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		return err
	}
	for _, a := range []string{"sh", "sleep"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	rt, err := orchruntime.New(filepath.Join(dir, "state"), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	// Without a filter, with the RuntimeDefault profile, and with RuntimeDefault inside a
	// pod cgroup of its own with limits (what the agent does for every pod), interleaved
	// so all see the same machine.
	type variant struct {
		name, seccomp string
		podCgroup     bool
	}
	variants := []variant{{name: "unconfined", seccomp: orchruntime.SeccompUnconfined}}
	if ok, _ := orchruntime.SeccompSupported(); ok {
		variants = append(variants,
			variant{name: "runtime-default", seccomp: orchruntime.SeccompRuntimeDefault},
			variant{name: "runtime-default+pod-cgroup", seccomp: orchruntime.SeccompRuntimeDefault, podCgroup: true})
	} else {
		emit(latencyResult{Bench: "container_start", Seccomp: orchruntime.SeccompRuntimeDefault, Skipped: "built without seccomp support"})
	}
	lat := map[string][]time.Duration{}
	const n = 30
	// One CPU and 64 MiB: a quota small enough to throttle runc init would measure the
	// limit, not the cgroup.
	limits := orchruntime.Resources{CPUShares: 1024, CPUQuota: 100000, MemoryLimit: 64 << 20}
	for i := range n {
		for _, v := range variants {
			id := fmt.Sprintf("orch-test-bench-%d-%s", i, strings.ReplaceAll(v.name, "+", "-"))
			spec := orchruntime.Spec{ID: id, Rootfs: rootfs, Args: []string{"sleep", "60"},
				CgroupParent: "orch-test-bench", LogPath: filepath.Join(dir, id+".log"), Seccomp: v.seccomp}
			if v.podCgroup {
				spec.CgroupParent = "orch-test-bench/pod" + id
				spec.ParentResources = &limits
				spec.Resources = limits
			}
			t0 := time.Now()
			_, err := rt.Start(context.Background(), spec)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("start %s: %w", id, err)
			}
			lat[v.name] = append(lat[v.name], d)
			rt.Stop(context.Background(), id, 0)
			rt.Remove(id)
		}
	}
	orchruntime.RemoveCgroup("orch-test-bench")
	var base float64
	for _, v := range variants {
		p50, p99, mx := percentiles(lat[v.name])
		r := latencyResult{Bench: "container_start", Variant: v.name, N: len(lat[v.name]), P50ms: p50, P99ms: p99, MaxMs: mx, CPUs: runtime.NumCPU(), Seccomp: v.seccomp}
		if v.name == "unconfined" {
			base = p50
		} else if base > 0 {
			r.RatioP50 = p50 / base
		}
		emit(r)
	}
	return nil
}
