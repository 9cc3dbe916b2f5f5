package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func httpGet(url string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Node is one `orchd node` process in a worker host.
type Node struct {
	Name    string
	Host    *Host
	DataDir string
	LogPath string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Running reports whether the agent process is up.
func (n *Node) Running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// AddNode prepares an agent on host h talking to every master; extra flags are appended.
func (c *Cluster) AddNode(h *Host, name string, extra ...string) *Node {
	n := &Node{Name: name, Host: h, DataDir: filepath.Join(c.Dir, "node-"+name), LogPath: filepath.Join(c.Dir, "node-"+name+".log")}
	var urls []string
	for _, m := range c.Masters {
		urls = append(urls, m.URL())
	}
	n.args = append([]string{"node", "--name", name, "--servers", strings.Join(urls, ","), "--data-dir", n.DataDir,
		"--netns-dir", filepath.Join(n.DataDir, "netns")}, extra...)
	c.Nodes = append(c.Nodes, n)
	return n
}

// StartNode starts (or restarts) an agent process inside its host.
func (c *Cluster) StartNode(n *Node) error {
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := n.Host.Command(filepath.Join(c.Bin, "orchd"), n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %s: %w", n.Name, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	return nil
}

// KillNode kills the agent with SIGKILL; its containers keep running.
func (c *Cluster) KillNode(n *Node) { signalNode(n, syscall.SIGKILL) }

// StopNode stops the agent with SIGTERM; its containers keep running.
func (c *Cluster) StopNode(n *Node) { signalNode(n, syscall.SIGTERM) }

func signalNode(n *Node, sig syscall.Signal) {
	if !n.Running() {
		return
	}
	n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// ResetNode stops the agent and removes every container, pod network, mount and volume
// it left on its host (orchd node reset).
func (c *Cluster) ResetNode(n *Node) error {
	c.StopNode(n)
	cmd := n.Host.Command(filepath.Join(c.Bin, "orchd"), "node", "reset", "--data-dir", n.DataDir, "--netns-dir", filepath.Join(n.DataDir, "netns"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("reset node %s: %v\n%s", n.Name, err, out)
	}
	return nil
}

// NodeLogTail returns the last lines of an agent's log.
func (c *Cluster) NodeLogTail(n *Node, lines int) string {
	b, _ := os.ReadFile(n.LogPath)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("--- node %s log (last %d lines)\n%s", n.Name, lines, strings.Join(all, "\n"))
}
