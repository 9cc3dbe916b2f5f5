package harness

// Fault injection for the chaos tests: masters that each run in a host (a network
// namespace on the test bridge), so that a partition between two of them is real;
// SIGSTOP and SIGCONT; a wiped data dir; and partitions as nftables rules inside the
// hosts, in a table that dies with the namespace.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Ports a master uses inside its own host: every host has its own port space.
const (
	HostAPIPort    = 7000
	HostRaftPort   = 7001
	HostGossipPort = 7002
)

// partitionTable is the nftables table (family inet) that holds a host's partition rules.
const partitionTable = "orch-test-partition"

// StartMastersInHosts starts one master in each host, listening on the host's address,
// formed into one cluster as StartMasters does (--bootstrap-expect len(hosts), all
// joining the first), and waits until every one serves a linearizable read.
func StartMastersInHosts(dir, bin string, hosts []*Host, extra ...string) (*Cluster, error) {
	c := &Cluster{Dir: dir, Bin: bin}
	for i, h := range hosts {
		m := c.NewMasterInHost(h, h.Name, extra...)
		m.args = append(m.args, "--bootstrap-expect", fmt.Sprint(len(hosts)))
		if i > 0 {
			m.args = append(m.args, "--join", c.Masters[0].Gossip)
		}
	}
	for _, m := range c.Masters {
		if err := c.Start(m); err != nil {
			c.KillAll()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range c.Masters {
		if err := c.WaitReady(ctx, m); err != nil {
			c.KillAll()
			return nil, err
		}
	}
	return c, nil
}

// NewMasterInHost adds a master that runs in host h (not started yet; see Start). A
// master added to a running cluster needs "--join" among extra.
func (c *Cluster) NewMasterInHost(h *Host, name string, extra ...string) *Master {
	m := &Master{Name: name, Host: h, DataDir: filepath.Join(c.Dir, name),
		process: process{LogPath: filepath.Join(c.Dir, name+".log")},
		APIAddr: net.JoinHostPort(h.IP, fmt.Sprint(HostAPIPort)), RaftAddr: net.JoinHostPort(h.IP, fmt.Sprint(HostRaftPort)),
		Gossip: net.JoinHostPort(h.IP, fmt.Sprint(HostGossipPort))}
	m.args = append([]string{"server", "--name", name, "--data-dir", m.DataDir, "--api-addr", m.APIAddr,
		"--raft-addr", m.RaftAddr, "--gossip-addr", m.Gossip}, extra...)
	c.Masters = append(c.Masters, m)
	return m
}

// KillAll kills every master with SIGKILL (a paused one too: SIGKILL ends a stopped
// process). Teardown of a throwaway cluster needs nothing gentler.
func (c *Cluster) KillAll() {
	for _, m := range c.Masters {
		c.Kill(m)
	}
}

// Pause stops a master with SIGSTOP: it holds its sockets but answers nothing.
func (c *Cluster) Pause(m *Master) error { return m.sendSignal(syscall.SIGSTOP) }

// Resume continues a paused master with SIGCONT.
func (c *Cluster) Resume(m *Master) error { return m.sendSignal(syscall.SIGCONT) }

func (p *process) sendSignal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("signal %v: process not running", sig)
	}
	return p.cmd.Process.Signal(sig)
}

// Wipe deletes a stopped master's data dir: restarted, it is a new server with the old
// name and addresses.
func (c *Cluster) Wipe(m *Master) error {
	if m.Running() {
		return fmt.Errorf("wipe %s: still running", m.Name)
	}
	return os.RemoveAll(m.DataDir)
}

// Partition replaces the network's partition with one that drops every packet between
// the hosts of each pair in cuts (both directions); hosts not named talk freely. The
// root namespace (the test's clients) still reaches every host. Partition(nil) heals.
func (n *Network) Partition(cuts [][2]*Host) error {
	blocked := map[*Host][]string{}
	for _, c := range cuts {
		blocked[c[0]] = append(blocked[c[0]], c[1].IP)
		blocked[c[1]] = append(blocked[c[1]], c[0].IP)
	}
	var errs []string
	for _, h := range n.Hosts {
		ips := blocked[h]
		if len(ips) == 0 {
			// Declaring the table first makes the delete succeed when there is none.
			if err := h.nft(fmt.Sprintf("table inet %[1]s\ndelete table inet %[1]s\n", partitionTable)); err != nil {
				errs = append(errs, err.Error())
			}
			continue
		}
		slices.Sort(ips)
		set := strings.Join(slices.Compact(ips), ", ")
		// "table; delete table; table {...}" replaces the table in one transaction.
		rules := fmt.Sprintf(`table inet %[1]s
delete table inet %[1]s
table inet %[1]s {
	chain input {
		type filter hook input priority filter - 10; policy accept;
		ip saddr { %[2]s } drop
	}
	chain output {
		type filter hook output priority filter - 10; policy accept;
		ip daddr { %[2]s } drop
	}
}
`, partitionTable, set)
		if err := h.nft(rules); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("partition: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Heal removes every partition rule.
func (n *Network) Heal() error { return n.Partition(nil) }

// Isolate returns the cuts that separate group from every other host of the network.
func (n *Network) Isolate(group ...*Host) [][2]*Host {
	var cuts [][2]*Host
	for _, a := range group {
		for _, b := range n.Hosts {
			if !slices.Contains(group, b) {
				cuts = append(cuts, [2]*Host{a, b})
			}
		}
	}
	return cuts
}

// nft runs an nft script inside the host's network namespace.
func (h *Host) nft(script string) error {
	cmd := h.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", h.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// HaveNft reports whether the nft binary is installed.
func HaveNft() bool {
	_, err := exec.LookPath("nft")
	return err == nil
}
