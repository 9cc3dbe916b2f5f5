package harness

import (
	"fmt"
	"net/http"
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
	process
	Name    string
	Host    *Host
	DataDir string
	args    []string
}

// AddNode prepares an agent on host h talking to every master; extra flags are appended.
func (c *Cluster) AddNode(h *Host, name string, extra ...string) *Node {
	n := &Node{Name: name, Host: h, DataDir: filepath.Join(c.Dir, "node-"+name), process: process{LogPath: filepath.Join(c.Dir, "node-"+name+".log")}}
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
	if err := n.start(n.Host.Command(filepath.Join(c.Bin, "orchd"), n.args...)); err != nil {
		return fmt.Errorf("start node %s: %w", n.Name, err)
	}
	return nil
}

// KillNode kills the agent with SIGKILL; its containers keep running.
func (c *Cluster) KillNode(n *Node) { n.signal(syscall.SIGKILL) }

// StopNode stops the agent with SIGTERM; its containers keep running.
func (c *Cluster) StopNode(n *Node) { n.signal(syscall.SIGTERM) }

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
func (c *Cluster) NodeLogTail(n *Node, lines int) string { return n.logTail("node "+n.Name, lines) }
