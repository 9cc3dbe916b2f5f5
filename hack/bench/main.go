// Command bench measures orch and prints one JSON line per result (`make bench`).
//   - api: ConfigMap creates of 1 KiB through the Connect API against 3 masters (real
//     orchd processes on loopback), with 1, 16 and 128 concurrent clients spread over the
//     masters; then the same writes (1 KiB puts) to a 3-member etcd (Debian's etcd-server)
//     on the same disk, and the ratios orch/etcd.
//   - pods: pod create → Running latency on a real worker with the image cached, at 1
//     and 20 pods/s (root).
//   - container: container start time alone, through the runtime (root).
//   - deploy: a Deployment of -deploy-replicas busybox pods (default 100) on -deploy-nodes
//     real workers (default 2, image cached, capacity never the limit), timed from its
//     Create call to every pod Running, with the Raft entries written per pod (the leader's
//     orch_raft_applied_index before and after, until the Deployment reports every
//     replica available); then deleted and its pods waited for (root).
//   - deploy-sim: the same with -sim-replicas pods (default 10000) on -sim-nodes simulated
//     nodes (default 1000): the benchmark registers them and heartbeats through
//     NodeAgentService as the agent does, and reports every pod bound to them Running
//     without running a container; so it measures the masters alone (controllers,
//     scheduler, Raft, watches); bench "deployment_to_running_simulated". It also gives
//     the ReplicaSet controller's pod creation rate. No root needed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/e2e/harness"
	orchruntime "github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

type result struct {
	Bench     string  `json:"bench"`
	Masters   int     `json:"masters"`
	Clients   int     `json:"clients"`
	Ops       int     `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	CPUs      int     `json:"cpus"`
}

// The container benchmark runs containers through the runtime, whose shim and init are
// this binary re-executed.
func init() { orchruntime.InitIfChild() }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "shim" {
		if err := orchruntime.ShimMain(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	duration := flag.Duration("duration", 5*time.Second, "how long each concurrency level runs")
	clients := flag.String("clients", "1,16,128", "concurrency levels")
	suites := flag.String("suites", "api,pods,container,deploy,deploy-sim", "which benchmarks to run")
	deployReplicas := flag.Int("deploy-replicas", 100, "deploy: replicas of the Deployment")
	deployNodes := flag.Int("deploy-nodes", 2, "deploy: worker agents")
	simReplicas := flag.Int("sim-replicas", 10000, "deploy-sim: replicas of the Deployment")
	simNodes := flag.Int("sim-nodes", 1000, "deploy-sim: simulated nodes")
	simTimeout := flag.Duration("sim-timeout", 10*time.Minute, "deploy-sim: how long the rollout may take")
	flag.Parse()
	// A signal cancels the run; every suite then removes what it started.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for _, s := range strings.Split(*suites, ",") {
		var err error
		switch s {
		case "api":
			err = run(*duration, *clients)
		case "pods":
			err = podBench(ctx)
		case "container":
			err = containerBench()
		case "deploy":
			err = deployBench(ctx, *deployReplicas, *deployNodes)
		case "deploy-sim":
			err = deploySimBench(ctx, *simReplicas, *simNodes, *simTimeout)
		default:
			err = fmt.Errorf("unknown suite %q", s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", s+":", err)
			os.Exit(1)
		}
	}
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func run(duration time.Duration, levels string) error {
	dir, err := os.MkdirTemp("", "orch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.Binaries(dir)
	if err != nil {
		return err
	}
	c, err := harness.StartMasters(dir, bin, 3)
	if err != nil {
		return err
	}
	defer c.Close()
	e, err := startEtcd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: no etcd peer run:", err)
	} else {
		defer e.close()
	}
	value := strings.Repeat("x", 1024)
	for i, l := range strings.Split(levels, ",") {
		var n int
		if _, err := fmt.Sscanf(l, "%d", &n); err != nil || n <= 0 {
			return fmt.Errorf("bad concurrency %q", l)
		}
		o := createBench(c, n, duration, value, fmt.Sprintf("b%d", i))
		emit(o)
		if e != nil {
			et := etcdPutBench(e, n, duration, value, fmt.Sprintf("b%d", i))
			emit(et)
			emit(compare(o, et))
		}
	}
	return nil
}

func createBench(c *harness.Cluster, clients int, d time.Duration, value, prefix string) result {
	hc := transport.Client()
	cls := make([]orchv1connect.ConfigMapServiceClient, clients)
	for w := range cls {
		cls[w] = orchv1connect.NewConfigMapServiceClient(hc, c.Masters[w%len(c.Masters)].URL())
	}
	r := writeLoad(clients, d, func(w, i int) error {
		obj := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: fmt.Sprintf("%s-%d-%d", prefix, w, i)}, Data: map[string]string{"v": value}}
		_, err := cls[w].Create(context.Background(), connect.NewRequest(obj))
		return err
	})
	r.Bench, r.Masters = "api_create_configmap_1k", len(c.Masters)
	return r
}

// writeLoad runs op from clients concurrent workers for d (worker w's i-th call) and
// measures throughput and latency of the calls that succeeded.
func writeLoad(clients int, d time.Duration, op func(w, i int) error) result {
	var lat []time.Duration
	var mu sync.Mutex
	var errs atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{Clients: clients, Ops: len(lat), Errors: errs.Load(), Seconds: elapsed, OpsPerSec: float64(len(lat)) / elapsed,
		P50ms: percentile(lat, 0.50), P99ms: percentile(lat, 0.99), CPUs: runtime.NumCPU()}
}
