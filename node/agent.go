// Package node is the worker agent (`orchd node`): it registers its Node, heartbeats,
// and turns the pods bound to it into running containers through libcontainer, CNI and
// the volume manager, reporting what it sees as pod status. It never imports server/:
// it talks to the masters through the API like any client.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/client/record"
	"github.com/orchd/orch/node/images"
	"github.com/orchd/orch/node/network"
	"github.com/orchd/orch/node/runtime"
	"github.com/orchd/orch/node/volumes"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Version is reported as the node's kubeletVersion.
var Version = "dev"

// Config configures an agent.
type Config struct {
	Name    string
	Servers []string // master API URLs
	DataDir string

	// Capacity overrides; "" / 0 reads the machine.
	CPU, Memory string
	MaxPods     int
	Labels      map[string]string

	// SystemReserved and KubeReserved (cpu and memory, e.g. {"memory": "512Mi"}) are kept
	// from the pods for the system and for orch itself; EvictionHard (kubelet syntax,
	// default DefaultEvictionHard) is memory kept free on top. Allocatable is capacity
	// less all three; the pods' cgroup is limited to capacity less the reserves.
	SystemReserved, KubeReserved map[string]string
	EvictionHard                 string
	// CgroupRoot is the cgroup holding every pod (default DefaultCgroupRoot), relative to
	// the agent's own cgroups unless absolute. Agents sharing a machine need their own.
	CgroupRoot string

	RegistryMirrors    map[string]string
	InsecureRegistries []string

	// Network.
	CNIConfDir  string // default DataDir/cni/net.d
	CNIBinDirs  []string
	NetNSDir    string // default /run/orch/netns
	BridgeName  string
	NetworkName string
	// NoPodDefaultRoute gives pods a route to their own subnet only (dev clusters and
	// tests, where nothing may leave the machine).
	NoPodDefaultRoute bool

	// NodeIP is the address the node reports and serves its API on (default: the first
	// non-loopback IPv4 address). ListenPort is the agent API's port (default 10250).
	NodeIP     string
	ListenPort int

	// ContainerLogMaxSize rotates a container's log past this many bytes (default
	// 10 MiB; negative: never).
	ContainerLogMaxSize int64

	// ImageGCPeriod is how often unused images are removed (default 5 min).
	ImageGCPeriod time.Duration

	// SeccompDefault (default true, as the kubelet's --seccomp-default) gives containers
	// that ask for no seccomp profile RuntimeDefault; false leaves them Unconfined.
	SeccompDefault *bool
	// SeccompProfileRoot holds the Localhost seccomp profiles (default DataDir/seccomp).
	SeccompProfileRoot string

	// RemoveBridge makes Reset delete the pod bridge too.
	RemoveBridge bool

	// ResyncPeriod is how often every pod is synced without a change (default 10s).
	ResyncPeriod time.Duration
	Logger       *slog.Logger
}

func (c *Config) seccompDefault() bool { return c.SeccompDefault == nil || *c.SeccompDefault }

// Agent is a running worker agent.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	api    *apiClient
	events *record.Recorder
	images *images.Store
	rt     *runtime.Runtime
	net    *network.Manager
	vols   *volumes.Manager

	heartbeat time.Duration
	hostIP    string
	apiPort   int32

	mu      sync.Mutex
	workers map[string]*podWorker // by pod uid
	pullMu  sync.Mutex
	pullErr map[string]pullFailure // by image ref: back-off after failed pulls
	logs    logRotations
	metrics *agentMetrics

	res      nodeResources
	oomFloor int        // the lowest oom_score_adj this agent can give
	qosMu    sync.Mutex // serializes updates of the QoS cgroups
}

// New prepares an agent: directories, image store, runtime and network.
func New(cfg Config) (*Agent, error) {
	if cfg.Name == "" || cfg.DataDir == "" || len(cfg.Servers) == 0 {
		return nil, errors.New("node: name, data dir and at least one server are required")
	}
	return newAgent(cfg)
}

func newAgent(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = 10 * time.Second
	}
	if cfg.ListenPort == 0 {
		cfg.ListenPort = 10250
	}
	if cfg.ContainerLogMaxSize == 0 {
		cfg.ContainerLogMaxSize = 10 << 20
	}
	if cfg.ImageGCPeriod == 0 {
		cfg.ImageGCPeriod = 5 * time.Minute
	}
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = filepath.Join(cfg.DataDir, "cni", "net.d")
	}
	if cfg.SeccompProfileRoot == "" {
		cfg.SeccompProfileRoot = filepath.Join(cfg.DataDir, "seccomp")
	}
	if err := os.MkdirAll(cfg.SeccompProfileRoot, 0o755); err != nil {
		return nil, fmt.Errorf("seccomp profile root: %w", err)
	}
	log := cfg.Logger.With("node", cfg.Name)
	if ok, version := runtime.SeccompSupported(); !ok {
		log.Error("this orchd was built without seccomp support: every container that would get a seccomp profile " +
			"(RuntimeDefault by default) is refused; rebuild with libseccomp-dev installed (make build), or run with --seccomp-default=false")
	} else {
		log.Debug("seccomp", "libseccomp", version, "default", cfg.seccompDefault())
	}
	a := &Agent{cfg: cfg, log: log, api: newAPIClient(cfg.Servers), workers: map[string]*podWorker{},
		pullErr: map[string]pullFailure{}, heartbeat: time.Second} // until the masters say their interval
	a.events = record.New(eventSink{a.api}, "orch-node", cfg.Name, log)
	a.metrics = newAgentMetrics(a)
	cpu, mem := cfg.CPU, cfg.Memory
	if cpu == "" {
		cpu = strconv.Itoa(goruntime.NumCPU())
	}
	if mem == "" {
		mem = machineMemory()
	}
	var err error
	if a.res, err = computeNodeResources(cpu, mem, cfg.SystemReserved, cfg.KubeReserved, cfg.EvictionHard); err != nil {
		return nil, fmt.Errorf("node resources: %w", err)
	}
	if a.oomFloor = runtime.OOMScoreAdjFloor(); a.oomFloor > guaranteedOOMScoreAdj {
		log.Warn("this agent cannot lower oom_score_adj (no CAP_SYS_RESOURCE): containers of Guaranteed pods get "+
			strconv.Itoa(a.oomFloor)+" instead of -997", "oomScoreAdjFloor", a.oomFloor)
	}
	if a.images, err = images.New(images.Config{Root: filepath.Join(cfg.DataDir, "images"), Mirrors: cfg.RegistryMirrors,
		Insecure: cfg.InsecureRegistries, Logger: log.With("component", "images")}); err != nil {
		return nil, err
	}
	if a.rt, err = runtime.New(filepath.Join(cfg.DataDir, "containers"), log.With("component", "runtime")); err != nil {
		return nil, err
	}
	if a.net, err = network.New(network.Config{ConfDir: cfg.CNIConfDir, BinDirs: cfg.CNIBinDirs,
		CacheDir: filepath.Join(cfg.DataDir, "cni", "cache"), NetNSDir: cfg.NetNSDir, BridgeName: cfg.BridgeName,
		NetworkName: cfg.NetworkName, NoDefaultRoute: cfg.NoPodDefaultRoute, Logger: log.With("component", "network")}); err != nil {
		return nil, err
	}
	a.vols = volumes.New(filepath.Join(cfg.DataDir, "pods"), log.With("component", "volumes"))
	return a, nil
}

// Run registers the node and runs its pods until ctx ends. Containers keep running
// when it returns: a restarted agent re-adopts them.
func (a *Agent) Run(ctx context.Context) error {
	a.hostIP = a.cfg.NodeIP
	if a.hostIP == "" {
		a.hostIP = outboundIP()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.hostIP, strconv.Itoa(a.cfg.ListenPort)))
	if err != nil {
		return fmt.Errorf("agent API: %w", err)
	}
	a.apiPort = int32(ln.Addr().(*net.TCPAddr).Port)
	go a.serveAPI(ctx, ln)
	node, err := a.register(ctx)
	if err != nil {
		return err
	}
	if err := a.net.EnsureConfig(node.GetSpec().GetPodCidr()); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	a.log.Info("node registered", "podCIDR", node.GetSpec().GetPodCidr())
	if err := a.ensureQOSCgroups(); err != nil {
		return fmt.Errorf("pod cgroups: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); a.events.Run(ctx) }()
	go func() { defer wg.Done(); a.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); a.watchPods(ctx) }()
	go func() { defer wg.Done(); a.imageGCLoop(ctx) }()
	go func() { defer wg.Done(); a.logRotateLoop(ctx) }()
	wg.Wait()
	a.mu.Lock()
	for _, w := range a.workers {
		w.cancel()
	}
	a.mu.Unlock()
	return nil
}

func (a *Agent) nodeObject() *orchv1.Node {
	pods := a.cfg.MaxPods
	if pods == 0 {
		pods = 110
	}
	labels := map[string]string{
		"kubernetes.io/hostname": a.cfg.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	capacity := map[string]string{"pods": strconv.Itoa(pods)}
	allocatable := map[string]string{"pods": strconv.Itoa(pods)}
	for name, q := range a.res.capacity {
		capacity[name] = q.String()
	}
	for name, q := range a.res.allocatable {
		allocatable[name] = q.String()
	}
	hostname, _ := os.Hostname()
	// User namespaces (hostUsers: false) are refused on this node: see userNamespaceError.
	security := a.securityStatus() + ",userns=unsupported"
	n := &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: a.cfg.Name, Labels: labels,
		Annotations: map[string]string{securityAnnotation: security}}, Status: &orchv1.NodeStatus{
		Capacity: capacity, Allocatable: allocatable,
		NodeInfo: &orchv1.NodeSystemInfo{KubeletVersion: Version, OperatingSystem: "linux", Architecture: goruntime.GOARCH,
			ContainerRuntimeVersion: "orch-libcontainer://" + Version, KernelVersion: kernelVersion()},
	}}
	n.Status.DaemonEndpoints = &orchv1.NodeDaemonEndpoints{KubeletEndpoint: &orchv1.DaemonEndpoint{Port: a.apiPort}}
	if a.hostIP != "" {
		n.Status.Addresses = append(n.Status.Addresses, &orchv1.NodeAddress{Type: "InternalIP", Address: a.hostIP})
	}
	n.Status.Addresses = append(n.Status.Addresses, &orchv1.NodeAddress{Type: "Hostname", Address: hostname})
	return n
}

// register retries until a master takes the registration.
func (a *Agent) register(ctx context.Context) (*orchv1.Node, error) {
	backoff := 200 * time.Millisecond
	for {
		var node *orchv1.Node
		err := a.api.do(ctx, func(c *clients) error {
			resp, err := c.agent.Register(ctx, connect.NewRequest(&orchv1.RegisterNodeRequest{Node: a.nodeObject()}))
			if err == nil {
				node = resp.Msg.GetNode()
			}
			return err
		})
		if err == nil {
			return node, nil
		}
		a.log.Warn("register node", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.heartbeat):
		}
		err := a.api.do(ctx, func(c *clients) error {
			resp, err := c.agent.Heartbeat(ctx, connect.NewRequest(&orchv1.HeartbeatRequest{NodeName: a.cfg.Name}))
			if err == nil && resp.Msg.GetIntervalSeconds() > 0 {
				a.heartbeat = time.Duration(resp.Msg.GetIntervalSeconds()) * time.Second
			}
			return err
		})
		if connect.CodeOf(err) == connect.CodeNotFound {
			// The node object was deleted: register again.
			if _, err := a.register(ctx); err != nil {
				return
			}
		} else if err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat", "err", err)
		}
	}
}

// watchPods lists and watches the pods bound to this node, starting a worker per pod.
// After the first list, whatever the data dir holds for pods that no longer exist is
// cleaned up.
func (a *Agent) watchPods(ctx context.Context) {
	selector := "spec.nodeName=" + a.cfg.Name
	cleaned := false
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		var list *orchv1.PodList
		err := a.api.do(ctx, func(c *clients) error {
			resp, err := c.pods.List(ctx, connect.NewRequest(&orchv1.ListRequest{FieldSelector: selector}))
			if err == nil {
				list = resp.Msg
			}
			return err
		})
		if err != nil {
			a.log.Warn("list pods", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		live := map[string]bool{}
		for _, p := range list.GetItems() {
			live[p.GetMetadata().GetUid()] = true
			a.podChanged(ctx, p)
		}
		a.forgetMissing(live)
		if !cleaned {
			a.cleanupOrphans(ctx, live)
			cleaned = true
		}
		rv := list.GetMetadata().GetResourceVersion()
		for ctx.Err() == nil {
			next, err := a.watchOnce(ctx, selector, rv)
			if err != nil {
				if ctx.Err() == nil {
					a.log.Info("pod watch ended; resuming", "err", err, "resourceVersion", next)
				}
				if connect.CodeOf(err) == connect.CodeOutOfRange {
					break // too old: list again
				}
				sleep(ctx, 200*time.Millisecond)
			}
			rv = next
		}
	}
}

// watchOnce streams pod changes after rv and returns the last resourceVersion seen.
func (a *Agent) watchOnce(ctx context.Context, selector, rv string) (string, error) {
	var err error
	werr := a.api.do(ctx, func(c *clients) error {
		st, serr := c.pods.Watch(ctx, connect.NewRequest(&orchv1.WatchRequest{FieldSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true}))
		if serr != nil {
			return serr
		}
		defer st.Close()
		for st.Receive() {
			e := st.Msg()
			if r := e.GetObject().GetMetadata().GetResourceVersion(); r != "" {
				rv = r
			}
			switch e.GetType() {
			case api.Added, api.Modified:
				a.podChanged(ctx, e.GetObject())
			case api.Deleted:
				a.podDeleted(e.GetObject())
			}
		}
		err = st.Err()
		if err == nil {
			err = errors.New("watch closed")
		}
		return nil
	})
	if werr != nil {
		return rv, werr
	}
	return rv, err
}

func (a *Agent) podChanged(ctx context.Context, p *orchv1.Pod) {
	uid := p.GetMetadata().GetUid()
	defer a.syncBurstableShares() // after the unlock below
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[uid]
	if !ok {
		w = newPodWorker(ctx, a, p)
		a.workers[uid] = w
		go w.run()
		return
	}
	w.update(p)
}

// podDeleted: the pod is gone from the cluster; its worker tears everything down.
func (a *Agent) podDeleted(p *orchv1.Pod) {
	a.mu.Lock()
	w, ok := a.workers[p.GetMetadata().GetUid()]
	a.mu.Unlock()
	if ok {
		w.gone()
	}
}

func (a *Agent) forgetMissing(live map[string]bool) {
	a.mu.Lock()
	var gone []*podWorker
	for uid, w := range a.workers {
		if !live[uid] {
			gone = append(gone, w)
		}
	}
	a.mu.Unlock()
	for _, w := range gone {
		w.gone()
	}
}

func (a *Agent) workerDone(uid string) {
	a.mu.Lock()
	delete(a.workers, uid)
	a.mu.Unlock()
	a.syncBurstableShares()
}

func (a *Agent) syncBurstableShares() {
	if err := a.updateBurstableShares(); err != nil {
		a.log.Warn("update the burstable cgroup", "err", err)
	}
}

// cleanupOrphans removes containers, networks and volumes of pods that no longer exist
// (deleted while the agent was down).
func (a *Agent) cleanupOrphans(ctx context.Context, live map[string]bool) {
	states, err := a.rt.List()
	if err != nil {
		a.log.Warn("list containers", "err", err)
	}
	for _, st := range states {
		uid := podUIDOf(st.ID)
		if uid == "" || live[uid] {
			continue
		}
		a.log.Info("removing container of a deleted pod", "container", st.ID)
		a.removeContainer(ctx, st.ID, 0)
	}
	if uids, err := a.net.List(); err == nil {
		for _, uid := range uids {
			if !live[uid] {
				if err := a.net.Teardown(ctx, uid); err != nil {
					a.log.Warn("teardown network of a deleted pod", "pod", uid, "err", err)
				}
			}
		}
	}
	gone := map[string]bool{}
	for _, st := range states {
		if uid := podUIDOf(st.ID); uid != "" && !live[uid] {
			gone[uid] = true
		}
	}
	if uids, err := a.vols.List(); err == nil {
		for _, uid := range uids {
			if !live[uid] {
				gone[uid] = true
				if err := a.vols.Teardown(uid); err != nil {
					a.log.Warn("remove volumes of a deleted pod", "pod", uid, "err", err)
				}
			}
		}
	}
	// Their containers are gone, and with the last one its pod cgroup; this removes one
	// left without a container (a start that failed before the container existed).
	for uid := range gone {
		a.removePodCgroups(uid)
	}
}

// removeContainer stops (grace) and removes a container and its writable layer.
func (a *Agent) removeContainer(ctx context.Context, id string, grace time.Duration) {
	if err := a.rt.Stop(ctx, id, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		a.log.Warn("stop container", "container", id, "err", err)
	}
	if err := a.rt.Remove(id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		a.log.Warn("remove container", "container", id, "err", err)
	}
	if err := a.images.Unmount(a.rootfsDir(id)); err != nil {
		a.log.Warn("unmount rootfs", "container", id, "err", err)
	}
	if uid, name, attempt, ok := splitContainerID(id); ok {
		if err := a.vols.CleanSubPaths(uid, name, attempt); err != nil {
			a.log.Warn("remove subPath mounts", "container", id, "err", err)
		}
	}
}

// splitContainerID is the inverse of containerID.
func splitContainerID(id string) (uid, name string, attempt int, ok bool) {
	uid = podUIDOf(id)
	i := strings.LastIndexByte(id, '-')
	if uid == "" || i <= len(uid)+1 {
		return "", "", 0, false
	}
	attempt, err := strconv.Atoi(id[i+1:])
	if err != nil || attempt < 0 {
		return "", "", 0, false
	}
	return uid, id[len(uid)+1 : i], attempt, true
}

// imageGCLoop removes images no pod of this node uses any more, every ImageGCPeriod.
func (a *Agent) imageGCLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.ImageGCPeriod):
		}
		inUse := map[string]bool{}
		a.mu.Lock()
		for _, w := range a.workers {
			pod, _ := w.snapshot()
			for _, c := range append(append([]*orchv1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...) {
				inUse[c.GetImage()] = true
			}
		}
		a.mu.Unlock()
		removed, err := a.images.GC(inUse)
		if err != nil {
			a.log.Warn("image garbage collection", "err", err)
		} else if len(removed) > 0 {
			a.log.Info("removed unused images", "removed", removed)
		}
	}
}

func (a *Agent) rootfsDir(id string) string { return filepath.Join(a.cfg.DataDir, "rootfs", id) }

func (a *Agent) podDir(uid string) string { return filepath.Join(a.cfg.DataDir, "pods", uid) }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Reset stops and removes everything the agent with this data dir left on the host:
// containers, their root filesystems, pod networks and volumes (`orchd node reset`).
func Reset(ctx context.Context, cfg Config) error {
	if cfg.Name == "" {
		cfg.Name = "reset"
	}
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	states, err := a.rt.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range states {
		if err := a.rt.Stop(ctx, st.ID, 2*time.Second); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, err)
		}
		if err := a.rt.Remove(st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if dirs, err := os.ReadDir(filepath.Join(cfg.DataDir, "rootfs")); err == nil {
		for _, d := range dirs {
			if err := a.images.Unmount(filepath.Join(cfg.DataDir, "rootfs", d.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if uids, err := a.net.List(); err == nil {
		for _, uid := range uids {
			if err := a.net.Teardown(ctx, uid); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if uids, err := a.vols.List(); err == nil {
		for _, uid := range uids {
			if err := a.vols.Teardown(uid); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.RemoveBridge {
		if err := network.RemoveBridge(a.net.BridgeName()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.removeQOSCgroups(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
