package main

// The deploy-sim suite: the benchmark process plays every node. It registers them and
// heartbeats through NodeAgentService as the agent does, and stands in for the agent's
// runtime by reporting each pod bound to one of its nodes Running and ready at once. No
// container runs anywhere: this measures the masters alone (API, Raft, controllers,
// scheduler, watches) at a size this machine could never run for real.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/e2e/harness"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// simNode is one simulated node. Node i's agent talks to master i mod 3.
type simNode struct {
	name   string
	ip     string
	master int
	cidr   netip.Prefix
	pods   atomic.Uint32 // pod IPs handed out
}

type simCluster struct {
	c      *harness.Cluster
	nodes  []*simNode
	byName map[string]*simNode
	agents []orchv1connect.NodeAgentServiceClient // one per master
	pods   []orchv1connect.PodServiceClient

	registered atomic.Int32 // nodes[:registered] are registered
	interval   atomic.Int64 // heartbeat interval the masters ask for
	beatErrs   atomic.Int64
	statusErrs atomic.Int64
}

func newSimCluster(c *harness.Cluster, n int) *simCluster {
	s := &simCluster{c: c, byName: map[string]*simNode{}}
	hc := transport.Client()
	for _, m := range c.Masters {
		s.agents = append(s.agents, orchv1connect.NewNodeAgentServiceClient(hc, m.URL()))
		s.pods = append(s.pods, orchv1connect.NewPodServiceClient(hc, m.URL()))
	}
	for i := range n {
		// 198.18.0.0/15 is the range set aside for benchmarks (RFC 2544); nothing is sent.
		sn := &simNode{name: fmt.Sprintf("sim-%04d", i), ip: fmt.Sprintf("198.18.%d.%d", i/250, 1+i%250), master: i % len(c.Masters)}
		s.nodes = append(s.nodes, sn)
		s.byName[sn.name] = sn
	}
	s.interval.Store(int64(10 * time.Second))
	return s
}

// nodeObject is what an agent with 32 CPUs, 64 GiB and the default 110 pods registers.
func (n *simNode) nodeObject() *orchv1.Node {
	res := map[string]string{"cpu": "32", "memory": "64Gi", "pods": "110"}
	return &orchv1.Node{
		Metadata: &orchv1.ObjectMeta{Name: n.name, Labels: map[string]string{
			"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
		Status: &orchv1.NodeStatus{Capacity: res, Allocatable: res,
			NodeInfo: &orchv1.NodeSystemInfo{KubeletVersion: "sim", OperatingSystem: "linux", Architecture: "amd64",
				ContainerRuntimeVersion: "orch-sim://0"},
			DaemonEndpoints: &orchv1.NodeDaemonEndpoints{KubeletEndpoint: &orchv1.DaemonEndpoint{Port: 10250}},
			Addresses:       []*orchv1.NodeAddress{{Type: "InternalIP", Address: n.ip}, {Type: "Hostname", Address: n.name}}},
	}
}

// register registers every node, a few at a time (the leader takes registrations one by
// one anyway).
func (s *simCluster) register(ctx context.Context) error {
	const parallel = 8
	errs := make(chan error, parallel)
	var next atomic.Int32
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := make([]bool, len(s.nodes))
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(s.nodes) || ctx.Err() != nil {
					return
				}
				n := s.nodes[i]
				var err error
				for attempt := range 5 {
					var resp *connect.Response[orchv1.RegisterNodeResponse]
					resp, err = s.agents[n.master].Register(ctx, connect.NewRequest(&orchv1.RegisterNodeRequest{Node: n.nodeObject()}))
					if err == nil {
						n.cidr, err = netip.ParsePrefix(resp.Msg.GetNode().GetSpec().GetPodCidr())
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					errs <- fmt.Errorf("register %s: %w", n.name, err)
					return
				}
				// Heartbeats go to nodes[:registered]: advance it over the done prefix.
				mu.Lock()
				done[i] = true
				k := int(s.registered.Load())
				for k < len(done) && done[k] {
					k++
				}
				s.registered.Store(int32(k))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// heartbeat keeps the registered nodes Ready: one heartbeat every interval/len(nodes),
// round the nodes, so the masters see a steady trickle rather than a wave.
func (s *simCluster) heartbeat(ctx context.Context) {
	sem := make(chan struct{}, 32)
	for k := 0; ctx.Err() == nil; k++ {
		period := time.Duration(s.interval.Load()) / time.Duration(len(s.nodes))
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
		i := k % len(s.nodes)
		if i >= int(s.registered.Load()) {
			continue
		}
		n := s.nodes[i]
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			resp, err := s.agents[n.master].Heartbeat(ctx, connect.NewRequest(&orchv1.HeartbeatRequest{NodeName: n.name}))
			if err != nil {
				if ctx.Err() == nil && s.beatErrs.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "bench: heartbeat:", n.name, err)
				}
				return
			}
			if sec := resp.Msg.GetIntervalSeconds(); sec > 0 {
				s.interval.Store(int64(time.Duration(sec) * time.Second))
			}
		}()
	}
}

// runPods is the fake runtime: every pod bound to a simulated node is reported Running
// with its containers started and ready, as the agent would once they run; a pod being
// deleted is confirmed gone, as the agent does once its containers are stopped.
func (s *simCluster) runPods(ctx context.Context) error {
	type job struct {
		pod    *orchv1.Pod
		node   *simNode
		delete bool
	}
	jobs := make(chan job, 1<<16)
	var mu sync.Mutex
	handled := map[string]bool{} // uid, or "-"+uid once its deletion is confirmed
	observe := func(typ string, p *orchv1.Pod) {
		if typ == "DELETED" {
			return
		}
		n := s.byName[p.GetSpec().GetNodeName()]
		if n == nil {
			return
		}
		uid := p.GetMetadata().GetUid()
		del := p.GetMetadata().GetDeletionTimestamp() != nil
		key := uid
		if del {
			key = "-" + uid
		} else if p.GetStatus().GetPhase() == "Running" {
			return
		}
		mu.Lock()
		seen := handled[key]
		handled[key] = true
		mu.Unlock()
		if !seen {
			jobs <- job{pod: p, node: n, delete: del}
		}
	}
	// As many writers as nodes: each agent posts its own pods' status, so with real agents
	// the writes in flight grow with the cluster; a small fixed pool would measure the
	// pool instead (each write waits a Raft commit).
	for range len(s.nodes) {
		go func() {
			for {
				var j job
				select {
				case <-ctx.Done():
					return
				case j = <-jobs:
				}
				pods := s.pods[j.node.master]
				var err error
				for attempt := range 5 {
					if j.delete {
						zero, uid := int64(0), j.pod.GetMetadata().GetUid()
						_, err = pods.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Namespace: j.pod.GetMetadata().GetNamespace(),
							Name: j.pod.GetMetadata().GetName(), GracePeriodSeconds: &zero, Preconditions: &orchv1.Preconditions{Uid: &uid}}))
					} else {
						_, err = pods.UpdateStatus(ctx, connect.NewRequest(s.runningPod(j.pod, j.node)))
					}
					if c := connect.CodeOf(err); err == nil || c == connect.CodeNotFound || c == connect.CodeAborted || ctx.Err() != nil {
						err = nil
						break
					}
					time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
				}
				if err != nil && s.statusErrs.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "bench: simulated node", j.node.name, "pod", j.pod.GetMetadata().GetName()+":", err)
				}
			}
		}()
	}
	return followPods(ctx, s.pods[len(s.pods)-1], "", observe)
}

// runningPod is the status the agent writes for a pod whose containers all run and, having
// no probes, are ready.
func (s *simCluster) runningPod(p *orchv1.Pod, n *simNode) *orchv1.Pod {
	now := timestamppb.New(time.Now().UTC().Truncate(time.Second))
	k := n.pods.Add(1)
	a := n.cidr.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + 1 + k%250
	ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
	st := &orchv1.PodStatus{Phase: "Running", HostIp: n.ip, HostIps: []*orchv1.HostIP{{Ip: n.ip}}, PodIp: ip,
		PodIps: []*orchv1.PodIP{{Ip: ip}}, StartTime: now, QosClass: p.GetStatus().GetQosClass()}
	for _, t := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
		st.Conditions = append(st.Conditions, &orchv1.PodCondition{Type: t, Status: "True", LastTransitionTime: now})
	}
	for _, c := range p.GetSpec().GetContainers() {
		st.ContainerStatuses = append(st.ContainerStatuses, &orchv1.ContainerStatus{Name: c.GetName(), Image: c.GetImage(),
			ImageId: "sim://" + c.GetImage(), ContainerId: "sim://" + p.GetMetadata().GetUid() + "/" + c.GetName(),
			Ready: true, Started: proto.Bool(true), State: &orchv1.ContainerState{Running: &orchv1.ContainerStateRunning{StartedAt: now}}})
	}
	return &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: p.GetMetadata().GetNamespace(), Name: p.GetMetadata().GetName()}, Status: st}
}

// deploySimBench: 3 masters on loopback, nodes simulated nodes, and one Deployment of
// replicas pods timed from its Create call to every pod Running.
func deploySimBench(ctx context.Context, replicas, nodes int, timeout time.Duration) error {
	setup := time.Now()
	dir, err := os.MkdirTemp("", "orch-bench-sim-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.Binaries(filepath.Join(dir, "bin"))
	if err != nil {
		return err
	}
	// A /24 per node: the default 10.244.0.0/16 holds only 256 of them.
	c, err := harness.StartMastersOn(dir, bin, 3, "127.0.0.1", "--cluster-cidr", "10.0.0.0/8")
	if err != nil {
		return err
	}
	defer c.Close()
	s := newSimCluster(c, nodes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.heartbeat(ctx)
	if err := s.register(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %d simulated nodes registered in %.1fs\n", nodes, time.Since(setup).Seconds())
	if err := waitNodesReady(ctx, c.Masters[0], nodes, time.Minute); err != nil {
		return err
	}
	if err := s.runPods(ctx); err != nil {
		return err
	}
	setupTook := time.Since(setup)
	res, err := measureRollout(ctx, c, c.Masters[0], benchDeployment("bench-sim", "registry.invalid/busybox:latest", int32(replicas)), timeout)
	if err != nil {
		for _, m := range c.Masters {
			fmt.Fprintln(os.Stderr, c.LogTail(m, 10))
		}
		return err
	}
	res.Bench, res.Runtime, res.SetupSeconds = "deployment_to_running_simulated", "simulated", setupTook.Seconds()
	emit(res)
	if n := s.beatErrs.Load() + s.statusErrs.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench: simulated nodes: %d heartbeat and %d status errors\n", s.beatErrs.Load(), s.statusErrs.Load())
	}
	// The masters and everything in them go with the cluster: no deletion to wait for.
	return nil
}
