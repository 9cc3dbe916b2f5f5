package harness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Network is a test-created bridge on this machine with worker "hosts" attached: each
// host is a network namespace with a veth into the bridge and no route anywhere else,
// so nothing a test runs can send a packet off the machine.
type Network struct {
	Bridge string // ot-<id>
	HostIP string // the bridge's address: masters and the registry listen here
	prefix string // "10.253.N"
	id     string
	Hosts  []*Host
}

// Host is one worker host: a network namespace on the test network.
type Host struct {
	Name  string
	NetNS string // orch-test-<id>-<name>
	IP    string
	veth  string
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NewNetwork creates the bridge with the subnet 10.253.<octet>.0/24.
func NewNetwork(octet int) (*Network, error) {
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	n := &Network{Bridge: "ot-" + id, prefix: fmt.Sprintf("10.253.%d", octet), id: id}
	n.HostIP = n.prefix + ".1"
	for _, args := range [][]string{
		{"link", "add", n.Bridge, "type", "bridge"},
		{"addr", "add", n.HostIP + "/24", "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	} {
		if err := run("ip", args...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// AddHost creates a host namespace attached to the bridge.
func (n *Network) AddHost(name string) (*Host, error) {
	i := len(n.Hosts)
	h := &Host{Name: name, NetNS: fmt.Sprintf("orch-test-%s-%s", n.id, name), IP: fmt.Sprintf("%s.%d", n.prefix, 10+i),
		veth: fmt.Sprintf("ot-%s%d", n.id, i)}
	n.Hosts = append(n.Hosts, h)
	peer := h.veth + "p"
	for _, args := range [][]string{
		{"netns", "add", h.NetNS},
		{"link", "add", h.veth, "type", "veth", "peer", "name", peer},
		{"link", "set", h.veth, "master", n.Bridge},
		{"link", "set", h.veth, "up"},
		{"link", "set", peer, "netns", h.NetNS},
		{"-n", h.NetNS, "link", "set", peer, "name", "eth0"},
		{"-n", h.NetNS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NetNS, "link", "set", "eth0", "up"},
		{"-n", h.NetNS, "link", "set", "lo", "up"},
	} {
		if err := run("ip", args...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Command runs a program inside the host's network namespace. nsenter switches only the
// network namespace; `ip netns exec` would also remount /sys and hide the cgroup mounts.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.NetNS, "--", name}, args...)...)
}

// Close removes every host namespace (and with it whatever was created inside) and
// the bridge.
func (n *Network) Close() {
	for _, h := range n.Hosts {
		run("ip", "netns", "delete", h.NetNS)
		run("ip", "link", "delete", h.veth)
	}
	run("ip", "link", "delete", n.Bridge)
}

// Registry is Debian's docker-registry serving on the test network.
type Registry struct {
	Addr string // host:port
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRegistry runs docker-registry with its storage in dir, listening on addr.
func StartRegistry(dir, addr string) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	cfg := filepath.Join(dir, "registry.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr, cmd: exec.Command(bin, "serve", cfg), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := httpGet("http://" + addr + "/v2/"); err == nil && resp == 200 {
			return r, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	return nil, fmt.Errorf("docker-registry did not start on %s:\n%s", addr, b)
}

// Close stops the registry.
func (r *Registry) Close() {
	r.cmd.Process.Kill()
	<-r.done
}
