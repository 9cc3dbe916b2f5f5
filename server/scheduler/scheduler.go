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
	// NonZeroRequested counts containers without requests as DefaultMilliCPURequest and
	// DefaultMemoryRequest, for scoring only.
	NonZeroRequested Resources
	UsedPorts        map[string]bool // "TCP/0.0.0.0/8080"
	byController     map[string]int  // pods on the node by their controller's uid

	taintsCache []*orchv1.Taint
	taintsDone  bool
}

// taints are the node's taints with those its conditions imply, computed once.
func (ni *NodeInfo) taints() []*orchv1.Taint {
	if !ni.taintsDone {
		ni.taintsCache, ni.taintsDone = api.NodeTaints(ni.Node), true
	}
	return ni.taintsCache
}

// NewNodeInfo accounts the given pods (already bound to the node) against it.
func NewNodeInfo(n *orchv1.Node, pods []*orchv1.Pod) *NodeInfo {
	alloc := n.GetStatus().GetAllocatable()
	if len(alloc) == 0 {
		alloc = n.GetStatus().GetCapacity()
	}
	ni := &NodeInfo{Node: n, UsedPorts: map[string]bool{}, byController: map[string]int{}, Allocatable: Resources{
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

func (ni *NodeInfo) assume(p *orchv1.Pod) { ni.assumeInfo(NewPodInfo(p)) }

func (ni *NodeInfo) assumeInfo(p *PodInfo) {
	ni.Requested.add(p.Requests)
	ni.NonZeroRequested.add(p.NonZero)
	for _, port := range p.hostPorts {
		ni.UsedPorts[port] = true
	}
	if p.controller != "" {
		ni.byController[p.controller]++
	}
}

// PodInfo is a pod with what the plugins need of it, computed once per pod and pass.
type PodInfo struct {
	Pod      *orchv1.Pod
	Requests Resources
	// NonZero is Requests with DefaultMilliCPURequest and DefaultMemoryRequest for each
	// container that asks for none, as Kubernetes scores.
	NonZero    Resources
	hostPorts  []string
	controller string // the uid of the pod's controller, if any
}

// The requests Kubernetes' scoring assumes for a container that sets none.
const (
	DefaultMilliCPURequest = 100
	DefaultMemoryRequest   = 200 << 20
)

// NewPodInfo reads a pod's requests, host ports and controller.
func NewPodInfo(p *orchv1.Pod) *PodInfo {
	pi := &PodInfo{Pod: p, Requests: PodRequests(p), hostPorts: hostPorts(p)}
	nonZero := func(c *orchv1.Container) (int64, int64) {
		req := c.GetResources().GetRequests()
		cpu, mem := quantity(req["cpu"], true), quantity(req["memory"], false)
		if _, ok := req["cpu"]; !ok {
			cpu = DefaultMilliCPURequest
		}
		if _, ok := req["memory"]; !ok {
			mem = DefaultMemoryRequest
		}
		return cpu, mem
	}
	for _, c := range p.GetSpec().GetContainers() {
		cpu, mem := nonZero(c)
		pi.NonZero.MilliCPU += cpu
		pi.NonZero.Memory += mem
	}
	for _, c := range p.GetSpec().GetInitContainers() {
		cpu, mem := nonZero(c)
		pi.NonZero.MilliCPU = max(pi.NonZero.MilliCPU, cpu)
		pi.NonZero.Memory = max(pi.NonZero.Memory, mem)
	}
	pi.NonZero.Pods = 1
	for _, r := range p.GetMetadata().GetOwnerReferences() {
		if r.GetController() {
			pi.controller = r.GetUid()
		}
	}
	return pi
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
	Filter(p *PodInfo, n *NodeInfo) string
}

// A ScorePlugin ranks the nodes that passed every filter; higher is better.
type ScorePlugin interface {
	Name() string
	Score(p *PodInfo, n *NodeInfo) int64
}

// A ScoreNormalizer brings a plugin's raw scores of the feasible nodes to 0..100 in place,
// as Kubernetes' NormalizeScore extension point.
type ScoreNormalizer interface {
	Normalize(scores []int64)
}

// WeightedScore is a score plugin and its weight in the sum.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
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
	Scores  []WeightedScore
}

// New returns the default scheduler, with Kubernetes' default plugins and weights where
// orch has them: filtered by NodeUnschedulable, TaintToleration, NodeAffinity (node
// selector and required node affinity), NodeResourcesFit and NodePorts; scored by
// TaintToleration (3), NodeAffinity (2), the spread of a controller's pods over nodes
// (2, as Kubernetes' default PodTopologySpread) and least allocated resources (1).
func New() *Scheduler {
	return &Scheduler{
		Filters: []FilterPlugin{nodeUnschedulable{}, taintToleration{}, nodeAffinity{}, fitResources{}, hostPortsFree{}},
		Scores: []WeightedScore{
			{Plugin: taintToleration{}, Weight: 3},
			{Plugin: nodeAffinity{}, Weight: 2},
			{Plugin: controllerSpread{}, Weight: 2},
			{Plugin: leastAllocated{}, Weight: 1},
		},
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
	for _, pod := range pods {
		p := NewPodInfo(pod)
		reasons := map[string]int{}
		var feasible []*NodeInfo
		for _, n := range sorted {
			if why := s.filter(p, n); why != "" {
				reasons[why]++
				continue
			}
			feasible = append(feasible, n)
		}
		m := pod.GetMetadata()
		if len(feasible) == 0 {
			res.Unschedulable[m.GetNamespace()+"/"+m.GetName()] = unschedulableMessage(len(sorted), reasons)
			continue
		}
		best := feasible[s.best(p, feasible)]
		best.assumeInfo(p)
		res.Bindings = append(res.Bindings, Binding{Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUid(), Node: best.Node.GetMetadata().GetName()})
	}
	return res
}

// best is the index of the feasible node with the highest weighted sum of scores, the
// first one on a tie.
func (s *Scheduler) best(p *PodInfo, feasible []*NodeInfo) int {
	total := make([]int64, len(feasible))
	scores := make([]int64, len(feasible))
	for _, ws := range s.Scores {
		for i, n := range feasible {
			scores[i] = ws.Plugin.Score(p, n)
		}
		if nz, ok := ws.Plugin.(ScoreNormalizer); ok {
			nz.Normalize(scores)
		}
		for i := range total {
			total[i] += ws.Weight * scores[i]
		}
	}
	best := 0
	for i := range total {
		if total[i] > total[best] {
			best = i
		}
	}
	return best
}

func (s *Scheduler) filter(p *PodInfo, n *NodeInfo) string {
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
	// Sorted with their counts, as Kubernetes' FitError sorts them.
	parts := make([]string, 0, len(reasons))
	for k, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

// Reasons a node is ruled out, as Kubernetes' plugins word them.
const (
	ReasonUnschedulable   = "node(s) were unschedulable"
	ReasonDeleting        = "node(s) were being deleted"
	ReasonNodeAffinity    = "node(s) didn't match Pod's node affinity/selector"
	reasonUntoleratedTmpl = "node(s) had untolerated taint {%s: %s}"
)

// nodeUnschedulable keeps pods off cordoned nodes unless they tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint (Kubernetes' NodeUnschedulable), and
// off nodes being deleted.
type nodeUnschedulable struct{}

var unschedulableTaint = &orchv1.Taint{Key: api.TaintNodeUnschedulable, Effect: api.TaintEffectNoSchedule}

func (nodeUnschedulable) Name() string { return "NodeUnschedulable" }
func (nodeUnschedulable) Filter(p *PodInfo, n *NodeInfo) string {
	if n.Node.GetMetadata().GetDeletionTimestamp() != nil {
		return ReasonDeleting
	}
	if n.Node.GetSpec().GetUnschedulable() && !api.TolerationsTolerateTaint(p.Pod.GetSpec().GetTolerations(), unschedulableTaint) {
		return ReasonUnschedulable
	}
	return ""
}

// taintToleration filters out the nodes with a NoSchedule or NoExecute taint the pod does
// not tolerate, and scores down those with PreferNoSchedule taints it does not tolerate.
// A node's taints include those its conditions imply (api.NodeTaints): a node that is
// not Ready is tainted node.kubernetes.io/not-ready:NoSchedule, as in Kubernetes.
type taintToleration struct{}

func (taintToleration) Name() string { return "TaintToleration" }
func (taintToleration) Filter(p *PodInfo, n *NodeInfo) string {
	if t, ok := api.FindUntoleratedTaint(n.taints(), p.Pod.GetSpec().GetTolerations(), api.DoNotScheduleTaints); ok {
		return fmt.Sprintf(reasonUntoleratedTmpl, t.GetKey(), t.GetValue())
	}
	return ""
}

// Score counts the PreferNoSchedule taints the pod does not tolerate; Normalize turns
// fewer into more.
func (taintToleration) Score(p *PodInfo, n *NodeInfo) int64 {
	var tols []*orchv1.Toleration
	for _, t := range p.Pod.GetSpec().GetTolerations() {
		if t.GetEffect() == "" || t.GetEffect() == api.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	var count int64
	for _, t := range n.taints() {
		if t.GetEffect() == api.TaintEffectPreferNoSchedule && !api.TolerationsTolerateTaint(tols, t) {
			count++
		}
	}
	return count
}

func (taintToleration) Normalize(scores []int64) { normalize(scores, true) }

// nodeAffinity filters by nodeSelector and required node affinity, and scores by the
// weights of the preferred node affinity terms a node matches.
type nodeAffinity struct{}

func (nodeAffinity) Name() string { return "NodeAffinity" }
func (nodeAffinity) Filter(p *PodInfo, n *NodeInfo) string {
	if !api.PodMatchesNodeSelectorAndAffinity(p.Pod.GetSpec(), n.Node) {
		return ReasonNodeAffinity
	}
	return ""
}

func (nodeAffinity) Score(p *PodInfo, n *NodeInfo) int64 {
	return api.PreferredNodeAffinityScore(p.Pod.GetSpec(), n.Node)
}

func (nodeAffinity) Normalize(scores []int64) { normalize(scores, false) }

// normalize scales scores to 0..100 by the highest, as Kubernetes' DefaultNormalizeScore;
// reverse turns the highest into 0 (and all into 100 when every score is 0).
func normalize(scores []int64, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	for i, s := range scores {
		switch {
		case hi == 0 && reverse:
			scores[i] = 100
		case hi == 0:
			scores[i] = 0
		case reverse:
			scores[i] = 100 - s*100/hi
		default:
			scores[i] = s * 100 / hi
		}
	}
}

type fitResources struct{}

func (fitResources) Name() string { return "NodeResourcesFit" }
func (fitResources) Filter(p *PodInfo, n *NodeInfo) string {
	req := p.Requests
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
func (hostPortsFree) Filter(p *PodInfo, n *NodeInfo) string {
	for _, port := range p.hostPorts {
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

// leastAllocated prefers the node with the most free cpu and memory after placement,
// counting a container without requests as 100m and 200Mi, as Kubernetes scores (so
// pods without requests spread too).
type leastAllocated struct{}

func (leastAllocated) Name() string { return "NodeResourcesLeastAllocated" }
func (leastAllocated) Score(p *PodInfo, n *NodeInfo) int64 {
	req := p.NonZero
	free := func(used, alloc int64) int64 {
		if alloc <= 0 {
			return 0
		}
		return max(alloc-used, 0) * 100 / alloc
	}
	cpu := free(n.NonZeroRequested.MilliCPU+req.MilliCPU, n.Allocatable.MilliCPU)
	mem := free(n.NonZeroRequested.Memory+req.Memory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

// controllerSpread prefers the nodes with fewer pods of the pod's controller (the
// owner with controller: true), so that a ReplicaSet's or StatefulSet's replicas land on
// different nodes: what Kubernetes' default topology spread over hostnames does for
// the pods of one workload. A pod without a controller scores the same everywhere.
type controllerSpread struct{}

func (controllerSpread) Name() string { return "DefaultPodTopologySpread" }
func (controllerSpread) Score(p *PodInfo, n *NodeInfo) int64 {
	if p.controller == "" {
		return 0
	}
	return int64(n.byController[p.controller])
}

func (controllerSpread) Normalize(scores []int64) { normalize(scores, true) }

// Unhonoured lists the fields of a pod spec that ask for placement rules this scheduler
// does not apply (pod affinity and anti-affinity, topology spread constraints), as field
// paths. The pod is placed without them; the caller reports them on the pod.
func Unhonoured(spec *orchv1.PodSpec) []string {
	var out []string
	a := spec.GetAffinity()
	if pa := a.GetPodAffinity(); len(pa.GetRequiredDuringSchedulingIgnoredDuringExecution())+len(pa.GetPreferredDuringSchedulingIgnoredDuringExecution()) > 0 {
		out = append(out, "spec.affinity.podAffinity")
	}
	if pa := a.GetPodAntiAffinity(); len(pa.GetRequiredDuringSchedulingIgnoredDuringExecution())+len(pa.GetPreferredDuringSchedulingIgnoredDuringExecution()) > 0 {
		out = append(out, "spec.affinity.podAntiAffinity")
	}
	if len(spec.GetTopologySpreadConstraints()) > 0 {
		out = append(out, "spec.topologySpreadConstraints")
	}
	return out
}
