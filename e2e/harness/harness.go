// Package harness starts real orch processes for the end-to-end tests and benchmarks:
// masters as `orchd server` processes on loopback ports, each with its own data dir and
// log file, and runs `orchctl` against them as a user would.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// Binaries returns the directory holding orchd and orchctl: $ORCH_BIN, or a fresh build
// into dir.
func Binaries(dir string) (string, error) {
	if b := os.Getenv("ORCH_BIN"); b != "" {
		return b, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	for _, c := range []string{"orchd", "orchctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "./cmd/"+c)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", c, err, out)
		}
	}
	return dir, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// Master is one `orchd server` process.
type Master struct {
	process
	Name                      string
	APIAddr, RaftAddr, Gossip string
	DataDir                   string
	Host                      *Host // the network namespace it runs in; nil: this one
	args                      []string
}

// URL is the master's API base URL.
func (m *Master) URL() string { return "http://" + m.APIAddr }

// Cluster is a set of masters started by the harness.
type Cluster struct {
	Dir     string
	Bin     string
	Masters []*Master
	Nodes   []*Node
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) { return FreeAddrOn("127.0.0.1") }

// FreeAddrOn returns host:port with a port free on host right now, for TCP and UDP
// (gossip binds both). Ports come from below the kernel's ephemeral range
// (32768-60999), where an outgoing connection's source port or another test's port-0
// listener could take the port between this check and the process's bind.
func FreeAddrOn(host string) (string, error) {
	for range 200 {
		addr := net.JoinHostPort(host, strconv.Itoa(20000+mathrand.IntN(12000)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port on %s", host)
}

// StartMasters starts n masters that form one cluster (--bootstrap-expect n, all joining
// the first by gossip) and waits until every one serves a linearizable read.
func StartMasters(dir, bin string, n int) (*Cluster, error) {
	return StartMastersOn(dir, bin, n, "127.0.0.1")
}

// StartMastersOn is StartMasters with the API listening on apiHost (a test network's
// bridge address, for worker hosts to reach).
func StartMastersOn(dir, bin string, n int, apiHost string, extra ...string) (*Cluster, error) {
	c := &Cluster{Dir: dir, Bin: bin}
	for i := range n {
		m, err := c.newMaster(fmt.Sprintf("m%d", i), apiHost)
		if err != nil {
			return nil, err
		}
		m.args = append(m.args, extra...)
		m.args = append(m.args, "--bootstrap-expect", fmt.Sprint(n))
		if i > 0 {
			m.args = append(m.args, "--join", c.Masters[0].Gossip)
		}
	}
	for _, m := range c.Masters {
		if err := c.Start(m); err != nil {
			c.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range c.Masters {
		if err := c.WaitReady(ctx, m); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) newMaster(name, apiHost string) (*Master, error) {
	m := &Master{Name: name, DataDir: filepath.Join(c.Dir, name), process: process{LogPath: filepath.Join(c.Dir, name+".log")}}
	var err error
	if m.APIAddr, err = FreeAddrOn(apiHost); err != nil {
		return nil, err
	}
	for _, p := range []*string{&m.RaftAddr, &m.Gossip} {
		if *p, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	m.args = []string{"server", "--name", name, "--data-dir", m.DataDir, "--api-addr", m.APIAddr,
		"--raft-addr", m.RaftAddr, "--gossip-addr", m.Gossip}
	c.Masters = append(c.Masters, m)
	return m, nil
}

// Start starts (or restarts, with the same data dir and addresses) a master process.
func (c *Cluster) Start(m *Master) error {
	cmd := exec.Command(filepath.Join(c.Bin, "orchd"), m.args...)
	if m.Host != nil {
		cmd = m.Host.Command(filepath.Join(c.Bin, "orchd"), m.args...)
	}
	if err := m.start(cmd); err != nil {
		return fmt.Errorf("start %s: %w", m.Name, err)
	}
	return nil
}

// WaitReady waits until m serves a linearizable read.
func (c *Cluster) WaitReady(ctx context.Context, m *Master) error {
	ns := orchv1connect.NewNamespaceServiceClient(transport.Client(), m.URL())
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := ns.Get(rctx, connect.NewRequest(&orchv1.GetRequest{Name: "default"}))
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if !m.Running() {
			return fmt.Errorf("%s exited:\n%s", m.Name, c.LogTail(m, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v\n%s", m.Name, last, c.LogTail(m, 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Cluster) Kill(m *Master) { m.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the process to be gone.
func (c *Cluster) Stop(m *Master) { m.signal(syscall.SIGTERM) }

// Close resets every node and stops every master.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		c.ResetNode(n)
	}
	for _, m := range c.Masters {
		c.Stop(m)
	}
}

// Leader asks the running masters which one leads.
func (c *Cluster) Leader(ctx context.Context) (*Master, error) {
	for {
		for _, m := range c.Masters {
			if !m.Running() {
				continue
			}
			cl := orchv1connect.NewClusterServiceClient(transport.Client(), m.URL())
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			resp, err := cl.Leader(rctx, connect.NewRequest(&orchv1.LeaderRequest{}))
			cancel()
			if err != nil {
				continue
			}
			for _, x := range c.Masters {
				if x.Name == resp.Msg.GetLeader().GetName() && x.Running() {
					return x, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("no leader")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Orchctl runs orchctl against master m with stdin, returning stdout and stderr.
func (c *Cluster) Orchctl(m *Master, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(c.Bin, "orchctl"), append([]string{"--server", m.URL()}, args...)...)
	cmd.Env = append(os.Environ(), "ORCH_CONFIG="+filepath.Join(c.Dir, "orchctl-config"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// LogTail returns the last n lines of a master's log.
func (c *Cluster) LogTail(m *Master, n int) string { return m.logTail(m.Name, n) }
