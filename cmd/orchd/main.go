// Command orchd is the orch daemon: `orchd server` runs a master, `orchd dev` a
// single-master cluster on loopback for trying orch out.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/cli"
	"github.com/orchd/orch/node"
	"github.com/orchd/orch/node/runtime"
	"github.com/orchd/orch/server"
	"github.com/orchd/orch/server/controllers"
)

// A container's init is this binary run as `orchd init` (libcontainer re-executes
// /proc/self/exe): become it before anything else happens.
func init() { runtime.InitIfChild() }

func main() {
	if err := rootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{Use: "orchd", Short: "The orch daemon: masters and worker agents", SilenceUsage: true}
	root.AddCommand(runtime.ShimCommand())
	root.AddCommand(serverCommand(), nodeCommand(), devCommand(), &cobra.Command{
		Use: "version", Short: "Print the version",
		Run: func(*cobra.Command, []string) { fmt.Println("orchd", server.Version) },
	})
	return root
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func serverCommand() *cobra.Command {
	var cfg server.Config
	var join, level string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a master",
		Long: `Run a master. Masters replicate the cluster state through Raft and find each other
by gossip. Start the first masters with --bootstrap-expect N (the first N that see each
other form the cluster, once); start later ones with --join.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if join != "" {
				cfg.Join = strings.Split(join, ",")
			}
			if cfg.Name == "" {
				return fmt.Errorf("--name is required")
			}
			if cfg.DataDir == "" {
				return fmt.Errorf("--data-dir is required")
			}
			if cfg.HistoryBytes <= 0 {
				return fmt.Errorf("--watch-history-bytes must be positive")
			}
			m, err := server.Start(cfg)
			if err != nil {
				return err
			}
			return runUntilSignal(m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", hostname(), "unique name of this master")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, snapshots and state")
	f.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:7000", "host:port of the API (Connect, gRPC, gRPC-Web)")
	f.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:7001", "host:port of the internal port: Raft and the master-to-master RPCs, for masters only (advertised to the other masters)")
	f.StringVar(&cfg.GossipAddr, "gossip-addr", "127.0.0.1:7002", "host:port for gossip among masters")
	f.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "form a new cluster once this many masters see each other")
	f.StringVar(&join, "join", "", "comma-separated gossip addresses of masters to join")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.Int64Var(&cfg.HistoryBytes, "watch-history-bytes", server.DefaultHistoryBytes, "bytes of objects the watch history keeps (older changes: watches from them relist)")
	f.StringVar(&cfg.Nodes.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod addresses; each node gets a block of it")
	f.IntVar(&cfg.Nodes.PodCIDRMaskSize, "node-cidr-mask-size", 24, "size of each node's pod CIDR block")
	f.DurationVar(&cfg.Nodes.HeartbeatInterval, "node-heartbeat-interval", server.DefaultHeartbeatInterval, "how often node agents send heartbeats")
	f.DurationVar(&cfg.Nodes.GracePeriod, "node-grace-period", server.DefaultNodeGracePeriod, "how long without a heartbeat before a node is NotReady (tainted unreachable)")
	f.DurationVar(&cfg.EventTTL, "event-ttl", controllers.DefaultEventTTL, "how long Events are kept after they last happened")
	f.Int64Var(&cfg.Nodes.NotReadyTolerationSeconds, "default-not-ready-toleration-seconds", server.DefaultNodeTolerationSeconds,
		"tolerationSeconds of the not-ready:NoExecute toleration given to every pod without one: how long its pods stay on a NotReady node")
	f.Int64Var(&cfg.Nodes.UnreachableTolerationSeconds, "default-unreachable-toleration-seconds", server.DefaultNodeTolerationSeconds,
		"tolerationSeconds of the unreachable:NoExecute toleration given to every pod without one: how long its pods stay on an unreachable node")
	return cmd
}

func devCommand() *cobra.Command {
	var dataDir, apiAddr, level string
	var mirrors, insecure []string
	var worker bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a one-machine cluster on 127.0.0.1 for development",
		Long: `Run a one-master cluster on 127.0.0.1 with its data in --data-dir, and point orchctl
at it (a "dev" context in the orchctl config), so that 'orchctl get ns' works right away.
As root it also runs a worker agent in the same process, so pods run on this machine;
pods get no default route (they reach this machine and each other, nothing beyond).
On SIGTERM the worker's containers and pod networks are removed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			host, port, err := splitPort(apiAddr)
			if err != nil {
				return err
			}
			m, err := server.Start(server.Config{
				Name: "dev", DataDir: filepath.Join(dataDir, "master"), APIAddr: apiAddr,
				RaftAddr: fmt.Sprintf("%s:%d", host, port+1), GossipAddr: fmt.Sprintf("%s:%d", host, port+2),
				BootstrapExpect: 1, Logger: log, GossipLocal: true,
			})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := m.WaitReady(ctx); err != nil {
				m.Close()
				return fmt.Errorf("dev cluster did not become ready: %w", err)
			}
			path := cli.DefaultConfigPath()
			if err := cli.SaveContext(path, "dev", m.URL(), true); err != nil {
				m.Close()
				return fmt.Errorf("write orchctl config: %w", err)
			}
			sig, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var agentDone chan struct{}
			var ncfg node.Config
			if worker && os.Geteuid() == 0 {
				// The CNI bridge plugin turns IP forwarding on; put it back as it was.
				const fwd = "/proc/sys/net/ipv4/ip_forward"
				if was, err := os.ReadFile(fwd); err == nil {
					defer os.WriteFile(fwd, was, 0o644)
				}
				ncfg = node.Config{Name: "dev", Servers: []string{m.URL()}, DataDir: filepath.Join(dataDir, "node"),
					NodeIP: host, NetNSDir: filepath.Join(dataDir, "netns"), NoPodDefaultRoute: true, RemoveBridge: true,
					Logger: log.With("component", "node"), CNIBinDirs: []string{"/usr/lib/cni", "/opt/cni/bin"}}
				if ncfg.RegistryMirrors, err = keyValues(mirrors, "--registry-mirror"); err != nil {
					return err
				}
				ncfg.InsecureRegistries = insecure
				a, err := node.New(ncfg)
				if err != nil {
					m.Close()
					return err
				}
				agentDone = make(chan struct{})
				go func() {
					defer close(agentDone)
					if err := a.Run(sig); err != nil && sig.Err() == nil {
						log.Error("worker agent stopped", "err", err)
					}
				}()
			} else if worker {
				log.Warn("not root: running without a worker (pods will stay Pending)")
			}
			log.Info("orch dev cluster ready; try: orchctl get ns", "api", m.URL(), "orchctl-config", path)
			<-sig.Done()
			if agentDone != nil {
				<-agentDone
				rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := node.Reset(rctx, ncfg); err != nil {
					log.Warn("clean up the worker", "err", err)
				}
				rcancel()
			}
			return m.Close()
		},
	}
	home, _ := os.UserHomeDir()
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", filepath.Join(home, ".orch", "dev"), "directory for the dev cluster's state")
	f.StringVar(&apiAddr, "api-addr", "127.0.0.1:7000", "host:port of the API; Raft and gossip use the next two ports")
	f.BoolVar(&worker, "worker", true, "run a worker agent in the same process (needs root)")
	f.StringSliceVar(&mirrors, "registry-mirror", nil, "registry mirror for the worker, host=URL")
	f.StringSliceVar(&insecure, "insecure-registry", nil, "registry host:port the worker reaches over plain HTTP")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	var port int
	if i < 0 {
		return "", 0, fmt.Errorf("address %q: want host:port", addr)
	}
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil || port <= 0 || port > 65533 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return addr[:i], port, nil
}

// runUntilSignal serves until SIGINT or SIGTERM, then shuts down gracefully.
func runUntilSignal(m *server.Master) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return m.Close()
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func nodeCommand() *cobra.Command {
	var cfg node.Config
	var servers, level string
	var labels, mirrors, systemReserved, kubeReserved []string
	seccompDefault := true
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a worker agent",
		Long: `Run a worker agent: register this machine as a Node with the masters, heartbeat, and run
the pods the scheduler binds to it as containers (libcontainer), with CNI networking.
Needs root. Containers keep running when the agent stops; a restarted agent adopts them.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			cfg.Logger = log
			cfg.Servers = splitList(servers)
			if cfg.Labels, err = keyValues(labels, "--labels"); err != nil {
				return err
			}
			if cfg.RegistryMirrors, err = keyValues(mirrors, "--registry-mirror"); err != nil {
				return err
			}
			if cfg.SystemReserved, err = keyValues(systemReserved, "--system-reserved"); err != nil {
				return err
			}
			if cfg.KubeReserved, err = keyValues(kubeReserved, "--kube-reserved"); err != nil {
				return err
			}
			cfg.SeccompDefault = &seccompDefault
			a, err := node.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.Run(ctx)
		},
	}
	cmd.AddCommand(nodeResetCommand())
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", hostname(), "node name")
	f.StringVar(&servers, "servers", "http://127.0.0.1:7000", "comma-separated master API URLs")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/orch/node", "directory for images, containers, pod volumes and logs")
	f.StringVar(&cfg.CPU, "cpu", "", "cpu capacity to report (default: the machine's)")
	f.StringVar(&cfg.Memory, "memory", "", "memory capacity to report (default: the machine's)")
	f.IntVar(&cfg.MaxPods, "max-pods", 110, "most pods this node runs")
	f.StringSliceVar(&systemReserved, "system-reserved", nil, "cpu and memory kept from pods for the system, e.g. cpu=500m,memory=512Mi")
	f.StringSliceVar(&kubeReserved, "kube-reserved", nil, "cpu and memory kept from pods for orch itself, e.g. cpu=100m,memory=256Mi")
	f.StringVar(&cfg.EvictionHard, "eviction-hard", node.DefaultEvictionHard, "memory kept free on top of the reserves (memory.available<QUANTITY or <PERCENT%); allocatable leaves it out")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", node.DefaultCgroupRoot, "cgroup holding every pod, limited to capacity minus the reserves (relative to the agent's own cgroup unless absolute)")
	f.StringSliceVar(&labels, "labels", nil, "extra node labels, key=value")
	f.StringSliceVar(&mirrors, "registry-mirror", nil, "registry mirror, host=URL (e.g. docker.io=http://127.0.0.1:5000)")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry host:port reachable over plain HTTP")
	f.StringVar(&cfg.CNIConfDir, "cni-conf-dir", "", "CNI config dir (default DATA_DIR/cni/net.d; orch writes a default conflist when empty)")
	f.StringSliceVar(&cfg.CNIBinDirs, "cni-bin-dir", []string{"/usr/lib/cni", "/opt/cni/bin"}, "CNI plugin dirs")
	f.StringVar(&cfg.NetNSDir, "netns-dir", "/run/orch/netns", "where pod network namespaces are kept")
	f.StringVar(&cfg.BridgeName, "bridge", "orch0", "pod bridge name")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "address to report and serve the agent API on (default: first non-loopback IPv4)")
	f.IntVar(&cfg.ListenPort, "port", 10250, "port of the agent API (logs, exec)")
	f.Int64Var(&cfg.ContainerLogMaxSize, "container-log-max-size", 10<<20, "rotate a container's log past this many bytes (-1: never)")
	f.BoolVar(&seccompDefault, "seccomp-default", true, "give containers that ask for no seccomp profile RuntimeDefault (false: Unconfined)")
	f.StringVar(&cfg.SeccompProfileRoot, "seccomp-profile-root", "", "directory of Localhost seccomp profiles (default DATA_DIR/seccomp)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func keyValues(items []string, flag string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range items {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func nodeResetCommand() *cobra.Command {
	var cfg node.Config
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Stop and remove every container, pod network and volume a node agent left",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			return node.Reset(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/orch/node", "the agent's data dir")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", node.DefaultCgroupRoot, "the agent's --cgroup-root")
	f.StringVar(&cfg.NetNSDir, "netns-dir", "/run/orch/netns", "where pod network namespaces are kept")
	f.StringSliceVar(&cfg.CNIBinDirs, "cni-bin-dir", []string{"/usr/lib/cni", "/opt/cni/bin"}, "CNI plugin dirs")
	return cmd
}
