// Package scheduler decides which node each pending pod runs on. It is pure: Schedule
// takes the pending pods and a snapshot of the nodes and returns bindings; the leader's
// loop in server/ reads the store and commits the bindings. It never writes state.
package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Resources are the amounts the scheduler accounts for.
type Resources struct {
	MilliCPU int64
	Memory   int64
	Pods     int64
}

func (r *Resources) add(o Resources) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.Pods += o.Pods
}

// NodeInfo is one node and what is already placed on it.
type NodeInfo struct {
	Node        *orchv1.Node
	Allocatable Resources
	Requested   Resources
	UsedPorts   map[string]bool // "TCP/0.0.0.0/8080"
}

// NewNodeInfo accounts the given pods (already bound to the node) against it.
func NewNodeInfo(n *orchv1.Node, pods []*orchv1.Pod) *NodeInfo {
	alloc := n.GetStatus().GetAllocatable()
	if len(alloc) == 0 {
		alloc = n.GetStatus().GetCapacity()
	}
	ni := &NodeInfo{Node: n, UsedPorts: map[string]bool{}, Allocatable: Resources{
		MilliCPU: quantity(alloc["cpu"], true), Memory: quantity(alloc["memory"], false), Pods: quantity(alloc["pods"], false),
	}}
	if _, ok := alloc["pods"]; !ok {
		ni.Allocatable.Pods = 110
	}
	for _, p := range pods {
		if Terminal(p) {
			continue
		}
		ni.assume(p)
	}
	return ni
}

func (ni *NodeInfo) assume(p *orchv1.Pod) {
	ni.Requested.add(PodRequests(p))
	for _, port := range hostPorts(p) {
		ni.UsedPorts[port] = true
	}
}

// Terminal reports whether a pod has finished (Succeeded or Failed).
func Terminal(p *orchv1.Pod) bool { return api.PodTerminal(p) }

func quantity(s string, milli bool) int64 {
	if s == "" {
		return 0
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

// PodRequests is what a pod asks for: the sum of its containers' requests, or the largest
// init container's when that is more, as Kubernetes computes it.
func PodRequests(p *orchv1.Pod) Resources {
	var sum Resources
	for _, c := range p.GetSpec().GetContainers() {
		req := c.GetResources().GetRequests()
		sum.MilliCPU += quantity(req["cpu"], true)
		sum.Memory += quantity(req["memory"], false)
	}
	for _, c := range p.GetSpec().GetInitContainers() {
		req := c.GetResources().GetRequests()
		sum.MilliCPU = max(sum.MilliCPU, quantity(req["cpu"], true))
		sum.Memory = max(sum.Memory, quantity(req["memory"], false))
	}
	sum.Pods = 1
	return sum
}

func hostPorts(p *orchv1.Pod) []string {
	var out []string
	for _, c := range p.GetSpec().GetContainers() {
		for _, port := range c.GetPorts() {
			if port.GetHostPort() == 0 {
				continue
			}
			proto := port.GetProtocol()
			if proto == "" {
				proto = "TCP"
			}
			ip := port.GetHostIp()
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, fmt.Sprintf("%s/%s/%d", proto, ip, port.GetHostPort()))
		}
	}
	return out
}

// A FilterPlugin rules a node out for a pod; it returns "" when the pod fits, else why not.
type FilterPlugin interface {
	Name() string
	Filter(p *orchv1.Pod, n *NodeInfo) string
}

// A ScorePlugin ranks the nodes that passed every filter; higher is better, 0..100.
type ScorePlugin interface {
	Name() string
	Score(p *orchv1.Pod, n *NodeInfo) int64
}

// Binding places one pod on one node.
type Binding struct {
	Namespace, Name, UID, Node string
}

// Result is one scheduling pass.
type Result struct {
	Bindings []Binding
	// Unschedulable maps "namespace/name" to why no node fits.
	Unschedulable map[string]string
}

// Scheduler runs filter and score plugins.
type Scheduler struct {
	Filters []FilterPlugin
	Scores  []ScorePlugin
}

// New returns the default scheduler: node ready and schedulable, node selector,
// resources, host ports; scored by least allocated.
func New() *Scheduler {
	return &Scheduler{
		Filters: []FilterPlugin{nodeReady{}, nodeSelector{}, fitResources{}, hostPortsFree{}},
		Scores:  []ScorePlugin{leastAllocated{}},
	}
}

// Schedule places pods (in the order given) on nodes, accounting each placement before the
// next pod. Ties go to the node whose name sorts first, so a pass is deterministic.
func (s *Scheduler) Schedule(pods []*orchv1.Pod, nodes []*NodeInfo) Result {
	res := Result{Unschedulable: map[string]string{}}
	sorted := append([]*NodeInfo(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool {
		return sorted[i].Node.GetMetadata().GetName() < sorted[j].Node.GetMetadata().GetName()
	})
	for _, p := range pods {
		var best *NodeInfo
		bestScore := int64(-1)
		reasons := map[string]int{}
		for _, n := range sorted {
			if why := s.filter(p, n); why != "" {
				reasons[why]++
				continue
			}
			var score int64
			for _, sc := range s.Scores {
				score += sc.Score(p, n)
			}
			if score > bestScore {
				best, bestScore = n, score
			}
		}
		m := p.GetMetadata()
		if best == nil {
			res.Unschedulable[m.GetNamespace()+"/"+m.GetName()] = unschedulableMessage(len(sorted), reasons)
			continue
		}
		best.assume(p)
		res.Bindings = append(res.Bindings, Binding{Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUid(), Node: best.Node.GetMetadata().GetName()})
	}
	return res
}

func (s *Scheduler) filter(p *orchv1.Pod, n *NodeInfo) string {
	for _, f := range s.Filters {
		if why := f.Filter(p, n); why != "" {
			return why
		}
	}
	return ""
}

// unschedulableMessage reads like Kubernetes': "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector."
func unschedulableMessage(total int, reasons map[string]int) string {
	if total == 0 {
		return "0/0 nodes are available: no nodes registered."
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", reasons[k], k)
	}
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

type nodeReady struct{}

func (nodeReady) Name() string { return "NodeReady" }
func (nodeReady) Filter(_ *orchv1.Pod, n *NodeInfo) string {
	if n.Node.GetSpec().GetUnschedulable() {
		return "node(s) were unschedulable"
	}
	if n.Node.GetMetadata().GetDeletionTimestamp() != nil {
		return "node(s) were being deleted"
	}
	for _, c := range n.Node.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			if c.GetStatus() == "True" {
				return ""
			}
			break
		}
	}
	return "node(s) were not ready"
}

type nodeSelector struct{}

func (nodeSelector) Name() string { return "NodeSelector" }
func (nodeSelector) Filter(p *orchv1.Pod, n *NodeInfo) string {
	labels := n.Node.GetMetadata().GetLabels()
	for k, v := range p.GetSpec().GetNodeSelector() {
		if labels[k] != v {
			return "node(s) didn't match Pod's node affinity/selector"
		}
	}
	return ""
}

type fitResources struct{}

func (fitResources) Name() string { return "NodeResourcesFit" }
func (fitResources) Filter(p *orchv1.Pod, n *NodeInfo) string {
	req := PodRequests(p)
	switch {
	case n.Requested.Pods+1 > n.Allocatable.Pods:
		return "Too many pods"
	case req.MilliCPU > 0 && n.Requested.MilliCPU+req.MilliCPU > n.Allocatable.MilliCPU:
		return "Insufficient cpu"
	case req.Memory > 0 && n.Requested.Memory+req.Memory > n.Allocatable.Memory:
		return "Insufficient memory"
	}
	return ""
}

type hostPortsFree struct{}

func (hostPortsFree) Name() string { return "NodePorts" }
func (hostPortsFree) Filter(p *orchv1.Pod, n *NodeInfo) string {
	for _, port := range hostPorts(p) {
		if n.UsedPorts[port] || conflictsWildcard(port, n.UsedPorts) {
			return "node(s) didn't have free ports for the requested pod ports"
		}
	}
	return ""
}

// conflictsWildcard: 0.0.0.0 on a port conflicts with any address on it, and back.
func conflictsWildcard(port string, used map[string]bool) bool {
	parts := strings.SplitN(port, "/", 3)
	for u := range used {
		up := strings.SplitN(u, "/", 3)
		if up[0] == parts[0] && up[2] == parts[2] && (up[1] == "0.0.0.0" || parts[1] == "0.0.0.0") {
			return true
		}
	}
	return false
}

// leastAllocated prefers the node with the most free cpu and memory after placement.
type leastAllocated struct{}

func (leastAllocated) Name() string { return "NodeResourcesLeastAllocated" }
func (leastAllocated) Score(p *orchv1.Pod, n *NodeInfo) int64 {
	req := PodRequests(p)
	free := func(used, alloc int64) int64 {
		if alloc <= 0 {
			return 0
		}
		return max(alloc-used, 0) * 100 / alloc
	}
	cpu := free(n.Requested.MilliCPU+req.MilliCPU, n.Allocatable.MilliCPU)
	mem := free(n.Requested.Memory+req.Memory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}
