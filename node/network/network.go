// Package network gives each pod on a worker its own network namespace and one IP through
// CNI (libcni driving Debian's bridge + host-local + portmap plugins by default).
//
// It owns three things on the node: the pod netns files under NetNSDir, the default conflist
// it writes into ConfDir (never an operator's own), and the libcni result cache. Every call
// is idempotent so the agent can crash at any point and converge on the next sync.
//
// It must never touch host interfaces, routes or firewall rules itself: all of that is left
// to the CNI plugins named in the conflist, and the conflist it writes never asks for ipMasq.
package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

const (
	// NetNSPrefix starts the name of every pod netns file: "orch-" + pod UID.
	NetNSPrefix = "orch-"
	// PodInterface is the interface name CNI creates inside every pod netns.
	PodInterface = "eth0"

	cniVersion   = "1.0.0" // the newest version Debian 12's plugins (1.1.1) speak
	markerSuffix = ".orch-managed"
)

// Config says where the network state of a node lives. Zero fields take the defaults.
type Config struct {
	ConfDir     string   // CNI config dir (e.g. DATA/cni/net.d); required
	BinDirs     []string // plugin dirs; default ["/usr/lib/cni", "/opt/cni/bin"]
	CacheDir    string   // libcni result cache (e.g. DATA/cni/cache); required
	IPAMDir     string   // host-local allocation dir; default <CacheDir>/../ipam
	NetNSDir    string   // pod netns bind mounts; default /run/orch/netns
	BridgeName  string   // default "orch0"
	NetworkName string   // default "orch"
	// NoDefaultRoute leaves the 0.0.0.0/0 route out of the default conflist, so pods reach
	// only their own subnet. Tests use it so that no pod can send a packet off the machine.
	NoDefaultRoute bool
	Logger         *slog.Logger
}

// PortMapping is a hostPort: traffic to HostIP:HostPort goes to the pod's ContainerPort.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // "TCP" (default), "UDP" or "SCTP"; any case
	HostIP        string // empty: all host addresses
}

// Result is what a pod got from the network.
type Result struct {
	NetNS   string // path of the pod's netns file, for the runtime to join
	IP      net.IP
	Gateway net.IP // nil when the network has no gateway
}

// Manager sets up and tears down pod networks. It is safe for concurrent use; calls for
// the same pod are serialised.
type Manager struct {
	cfg Config
	cni *libcni.CNIConfig
	log *slog.Logger

	mu    sync.Mutex
	locks map[string]*podLock
}

type podLock struct {
	mu   sync.Mutex
	refs int
}

// New checks cfg, fills in defaults and creates the directories it needs.
func New(cfg Config) (*Manager, error) {
	if cfg.ConfDir == "" || cfg.CacheDir == "" {
		return nil, errors.New("network: ConfDir and CacheDir are required")
	}
	if len(cfg.BinDirs) == 0 {
		cfg.BinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.IPAMDir == "" {
		cfg.IPAMDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.CacheDir)), "ipam")
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = "/run/orch/netns"
	}
	if cfg.BridgeName == "" {
		cfg.BridgeName = "orch0"
	}
	if cfg.NetworkName == "" {
		cfg.NetworkName = "orch"
	}
	if len(cfg.BridgeName) > 15 {
		return nil, fmt.Errorf("network: bridge name %q is longer than the kernel's 15 characters", cfg.BridgeName)
	}
	if strings.ContainsAny(cfg.NetworkName, "/ \t\n") {
		return nil, fmt.Errorf("network: network name %q must not contain '/' or spaces", cfg.NetworkName)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []string{cfg.ConfDir, cfg.CacheDir, cfg.NetNSDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	return &Manager{
		cfg:   cfg,
		cni:   libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, nil),
		log:   cfg.Logger.With("component", "network"),
		locks: map[string]*podLock{},
	}, nil
}

// NetNSPath is where the netns of a pod is (or would be) bind-mounted.
func (m *Manager) NetNSPath(podUID string) string {
	return filepath.Join(m.cfg.NetNSDir, NetNSPrefix+podUID)
}

// Setup gives the pod its netns and IP, or returns what an earlier Setup gave it.
func (m *Manager) Setup(ctx context.Context, podUID, namespace, name string, ports []PortMapping) (Result, error) {
	if err := checkUID(podUID); err != nil {
		return Result{}, err
	}
	capArgs, err := portMappingArgs(ports)
	if err != nil {
		return Result{}, fmt.Errorf("setup network of pod %s/%s: %w", namespace, name, err)
	}
	unlock := m.lockPod(podUID)
	defer unlock()

	nsPath := m.NetNSPath(podUID)
	nsExists := isNetNS(nsPath)
	cached, err := m.cachedEntry(podUID)
	if err != nil {
		return Result{}, err
	}
	if cached != nil && nsExists {
		if res, err := m.cachedResult(cached, podUID); err == nil && res.IP != nil {
			return res, nil
		} else if err != nil {
			m.log.Warn("unreadable cached CNI result; adding the pod again", "pod", podUID, "err", err)
		}
	}
	if cached != nil {
		// The netns is gone (node reboot) or the result is unusable: release what the
		// plugins still hold for this pod before adding it again.
		if err := m.delCached(ctx, cached, podUID, nsPathIf(nsExists, nsPath)); err != nil {
			return Result{}, fmt.Errorf("setup network of pod %s/%s: release stale attachment: %w", namespace, name, err)
		}
	}

	list, err := m.loadNetwork()
	if err != nil {
		return Result{}, err
	}
	created := false
	if !nsExists {
		if err := createNetNS(nsPath); err != nil {
			return Result{}, fmt.Errorf("setup network of pod %s/%s: %w", namespace, name, err)
		}
		created = true
	} else if cached == nil {
		// A netns without a cached result: an ADD that crashed half-way. DEL is how CNI
		// cleans that up; it may fail when there is nothing to clean.
		if err := m.cni.DelNetworkList(ctx, list, m.runtimeConf(podUID, nsPath, namespace, name, nil)); err != nil {
			m.log.Debug("clean-up DEL before re-add failed", "pod", podUID, "err", err)
		}
	}
	fail := func(err error) (Result, error) {
		if created {
			if rerr := removeNetNS(nsPath); rerr != nil {
				m.log.Warn("remove netns after failed setup", "pod", podUID, "err", rerr)
			}
		}
		return Result{}, fmt.Errorf("setup network of pod %s/%s: %w", namespace, name, err)
	}

	if err := loopbackUp(nsPath); err != nil {
		return fail(err)
	}
	rt := m.runtimeConf(podUID, nsPath, namespace, name, capArgs)
	raw, err := m.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		// ADD is not atomic: undo what the plugins that ran may have done (IP, veth).
		if derr := m.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt); derr != nil {
			m.log.Warn("DEL after failed ADD", "pod", podUID, "err", derr)
		}
		return fail(fmt.Errorf("CNI ADD to network %q: %w", list.Name, err))
	}
	res, err := toResult(raw, nsPath)
	if err != nil {
		return fail(err)
	}
	m.log.Info("pod network set up", "pod", podUID, "namespace", namespace, "name", name, "ip", res.IP, "network", list.Name)
	return res, nil
}

// Teardown releases the pod's IP and removes its netns. Nothing to tear down is no error.
func (m *Manager) Teardown(ctx context.Context, podUID string) error {
	if err := checkUID(podUID); err != nil {
		return err
	}
	unlock := m.lockPod(podUID)
	defer unlock()

	nsPath := m.NetNSPath(podUID)
	nsExists := isNetNS(nsPath)
	cached, err := m.cachedEntry(podUID)
	if err != nil {
		return err
	}
	switch {
	case cached != nil:
		if err := m.delCached(ctx, cached, podUID, nsPathIf(nsExists, nsPath)); err != nil {
			return fmt.Errorf("teardown network of pod %s: %w", podUID, err)
		}
	case nsExists:
		// No cached result but a netns: an ADD that never finished. Best effort with the
		// current config; host-local releases by container ID.
		if list, err := m.loadNetwork(); err == nil {
			if err := m.cni.DelNetworkList(ctx, list, m.runtimeConf(podUID, nsPath, "", "", nil)); err != nil {
				m.log.Warn("DEL without a cached result failed", "pod", podUID, "err", err)
			}
		}
	}
	if err := removeNetNS(nsPath); err != nil {
		return fmt.Errorf("teardown network of pod %s: %w", podUID, err)
	}
	if cached != nil || nsExists {
		m.log.Info("pod network torn down", "pod", podUID)
	}
	return nil
}

// Status returns the network of a pod that is set up: it has a netns and a cached result.
func (m *Manager) Status(podUID string) (Result, bool) {
	if checkUID(podUID) != nil {
		return Result{}, false
	}
	nsPath := m.NetNSPath(podUID)
	if !isNetNS(nsPath) {
		return Result{}, false
	}
	cached, err := m.cachedEntry(podUID)
	if err != nil || cached == nil {
		return Result{}, false
	}
	res, err := m.cachedResult(cached, podUID)
	if err != nil || res.IP == nil {
		return Result{}, false
	}
	return res, true
}

// List returns, sorted, the UIDs of pods that hold network state on this node: a netns, or
// a cached CNI result (whose netns vanished with a reboot but whose IP is still allocated).
// The agent tears down the ones that no longer belong to a pod.
func (m *Manager) List() ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(m.cfg.NetNSDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list pod netns: %w", err)
	}
	for _, e := range entries {
		if uid, ok := strings.CutPrefix(e.Name(), NetNSPrefix); ok && checkUID(uid) == nil {
			seen[uid] = true
		}
	}
	cached, err := m.cachedEntries("*")
	if err != nil {
		return nil, err
	}
	for _, c := range cached {
		seen[c.ContainerID] = true
	}
	uids := make([]string, 0, len(seen))
	for uid := range seen {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	return uids, nil
}

func (m *Manager) runtimeConf(podUID, nsPath, namespace, name string, capArgs map[string]any) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: podUID,
		NetNS:       nsPath,
		IfName:      PodInterface,
		Args: [][2]string{
			// host-local refuses CNI_ARGS it does not know unless told to ignore them.
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", namespace},
			{"K8S_POD_NAME", name},
			{"K8S_POD_INFRA_CONTAINER_ID", podUID},
			{"K8S_POD_UID", podUID},
		},
		CapabilityArgs: capArgs,
	}
}

// delCached runs DEL with the config and arguments the pod was added with, so a changed
// conflist (new CIDR, other network) still releases the old attachment.
func (m *Manager) delCached(ctx context.Context, c *cacheEntry, podUID, nsPath string) error {
	list, err := libcni.NetworkConfFromBytes(c.Config)
	if err != nil {
		return fmt.Errorf("cached config of network %q: %w", c.NetworkName, err)
	}
	_, rt, err := m.cni.GetNetworkListCachedConfig(list, &libcni.RuntimeConf{ContainerID: podUID, IfName: PodInterface})
	if err != nil {
		return err
	}
	if rt == nil { // the cache file vanished under us
		rt = &libcni.RuntimeConf{ContainerID: podUID, IfName: PodInterface}
	}
	rt.NetNS = nsPath
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CNI DEL from network %q: %w", list.Name, err)
	}
	return nil
}

func (m *Manager) cachedResult(c *cacheEntry, podUID string) (Result, error) {
	list, err := libcni.NetworkConfFromBytes(c.Config)
	if err != nil {
		return Result{}, fmt.Errorf("cached config of network %q: %w", c.NetworkName, err)
	}
	raw, err := m.cni.GetNetworkListCachedResult(list, &libcni.RuntimeConf{ContainerID: podUID, IfName: PodInterface})
	if err != nil {
		return Result{}, err
	}
	if raw == nil {
		return Result{}, errors.New("no cached result")
	}
	return toResult(raw, m.NetNSPath(podUID))
}

// toResult picks the pod's IPv4 address (the first address if it has none).
func toResult(raw types.Result, nsPath string) (Result, error) {
	r, err := types100.NewResultFromResult(raw)
	if err != nil {
		return Result{}, fmt.Errorf("CNI result: %w", err)
	}
	var pick *types100.IPConfig
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			pick = ip
			break
		}
	}
	if pick == nil && len(r.IPs) > 0 {
		pick = r.IPs[0]
	}
	if pick == nil {
		return Result{}, errors.New("CNI result has no IP address")
	}
	res := Result{NetNS: nsPath, IP: pick.Address.IP}
	if pick.Gateway != nil {
		res.Gateway = pick.Gateway
	}
	return res, nil
}

var protocols = map[string]bool{"tcp": true, "udp": true, "sctp": true}

// portMappingArgs turns hostPorts into the portmap plugin's runtimeConfig.
func portMappingArgs(ports []PortMapping) (map[string]any, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	maps := make([]map[string]any, 0, len(ports))
	for _, p := range ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if !protocols[proto] {
			return nil, fmt.Errorf("port mapping %d->%d: protocol %q: want TCP, UDP or SCTP", p.HostPort, p.ContainerPort, p.Protocol)
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d->%d: ports must be in 1-65535", p.HostPort, p.ContainerPort)
		}
		pm := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": proto}
		if p.HostIP != "" {
			if net.ParseIP(p.HostIP) == nil {
				return nil, fmt.Errorf("port mapping %d->%d: hostIP %q is not an IP address", p.HostPort, p.ContainerPort, p.HostIP)
			}
			pm["hostIP"] = p.HostIP
		}
		maps = append(maps, pm)
	}
	return map[string]any{"portMappings": maps}, nil
}

// checkUID keeps pod UIDs usable as file names and CNI container IDs.
func checkUID(uid string) error {
	if uid == "" {
		return errors.New("network: empty pod UID")
	}
	for _, r := range uid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("network: pod UID %q: only letters, digits, '-', '_' and '.' are allowed", uid)
		}
	}
	if uid == "." || uid == ".." {
		return fmt.Errorf("network: pod UID %q", uid)
	}
	return nil
}

func nsPathIf(ok bool, path string) string {
	if ok {
		return path
	}
	return ""
}

func (m *Manager) lockPod(uid string) (unlock func()) {
	m.mu.Lock()
	l := m.locks[uid]
	if l == nil {
		l = &podLock{}
		m.locks[uid] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.locks, uid)
		}
		m.mu.Unlock()
	}
}
