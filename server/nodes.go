package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	eventrecord "github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/server/scheduler"
)

// NodeConfig tunes the node lifecycle.
type NodeConfig struct {
	// ClusterCIDR is split into one PodCIDRMaskSize block per node.
	ClusterCIDR     string
	PodCIDRMaskSize int
	// HeartbeatInterval is what agents are told; GracePeriod is how long the leader waits
	// for a heartbeat before it marks the node's Ready condition Unknown.
	HeartbeatInterval time.Duration
	GracePeriod       time.Duration
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds are the tolerationSeconds
	// of the NoExecute tolerations every new pod gets for the not-ready and unreachable
	// taints (as kube-apiserver's DefaultTolerationSeconds), unless it has its own: how
	// long its pods stay on a failed node before they are evicted and replaced.
	NotReadyTolerationSeconds, UnreachableTolerationSeconds int64
}

// The node lifecycle defaults: a node is NotReady 6 s after its last heartbeat, and its
// pods are evicted 4 s later, so that their replacements run elsewhere within about 15 s
// of the failure. Kubernetes waits 40 s and 300 s; orch's masters hear from agents often
// (a heartbeat is not a Raft write: only Ready transitions are) and can afford to react
// sooner.
const (
	DefaultHeartbeatInterval     = 2 * time.Second
	DefaultNodeGracePeriod       = 6 * time.Second
	DefaultNodeTolerationSeconds = 4
)

func (c *NodeConfig) defaults() {
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.244.0.0/16"
	}
	if c.PodCIDRMaskSize == 0 {
		c.PodCIDRMaskSize = 24
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultNodeGracePeriod
	}
	if c.NotReadyTolerationSeconds == 0 {
		c.NotReadyTolerationSeconds = DefaultNodeTolerationSeconds
	}
	if c.UnreachableTolerationSeconds == 0 {
		c.UnreachableTolerationSeconds = DefaultNodeTolerationSeconds
	}
}

// heartbeats is the leader's in-memory record of when each node was last heard from.
// Only transitions of the Ready condition are written to Raft.
type heartbeats struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	since time.Time // leadership start: nodes not heard from yet count from here
	reg   sync.Mutex
}

func (h *heartbeats) reset(now time.Time) {
	h.mu.Lock()
	h.seen, h.since = map[string]time.Time{}, now
	h.mu.Unlock()
}

func (h *heartbeats) beat(name string, now time.Time) {
	h.mu.Lock()
	if h.seen == nil {
		h.seen = map[string]time.Time{}
	}
	h.seen[name] = now
	h.mu.Unlock()
}

func (h *heartbeats) last(name string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.seen[name]; ok {
		return t
	}
	return h.since
}

// nodeAgentService serves NodeAgentService; followers forward to the leader.
type nodeAgentService struct{ m *Master }

func (s *nodeAgentService) leaderClient() (orchv1connect.NodeAgentServiceClient, error) {
	l, ok := s.m.node.Leader()
	if !ok || l.APIAddr == "" {
		return nil, connect.NewError(connect.CodeUnavailable, errNoLeader)
	}
	return orchv1connect.NewNodeAgentServiceClient(s.m.api.http, l.APIAddr), nil
}

func (s *nodeAgentService) Register(ctx context.Context, r *connect.Request[orchv1.RegisterNodeRequest]) (*connect.Response[orchv1.RegisterNodeResponse], error) {
	if !s.m.node.IsLeader() {
		c, err := s.leaderClient()
		if err != nil {
			return nil, err
		}
		resp, err := c.Register(ctx, r)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp.Msg), nil
	}
	lctx, ok := s.m.asLeader(ctx)
	if !ok {
		return nil, errNotLeaderHere
	}
	n, err := s.m.registerNode(lctx, r.Msg.GetNode())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orchv1.RegisterNodeResponse{Node: n}), nil
}

func (s *nodeAgentService) Heartbeat(ctx context.Context, r *connect.Request[orchv1.HeartbeatRequest]) (*connect.Response[orchv1.HeartbeatResponse], error) {
	name := r.Msg.GetNodeName()
	if name == "" {
		return nil, invalid("nodeName: Required value")
	}
	if !s.m.node.IsLeader() {
		c, err := s.leaderClient()
		if err != nil {
			return nil, err
		}
		resp, err := c.Heartbeat(ctx, r)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp.Msg), nil
	}
	o, ok := s.m.store.View().Get(api.NodeKind, name)
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("nodes %q not found: register first", name))
	}
	now := s.m.api.now()
	s.m.beats.beat(name, now)
	if readyStatus(o.(*orchv1.Node)) != "True" {
		lctx, ok := s.m.asLeader(ctx)
		if !ok {
			return nil, errNotLeaderHere
		}
		if err := s.m.setNodeReady(lctx, name, "True", "NodeReady", "node agent is posting ready status"); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&orchv1.HeartbeatResponse{IntervalSeconds: int32(s.m.cfg.Nodes.HeartbeatInterval / time.Second)}), nil
}

func readyStatus(n *orchv1.Node) string {
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus()
		}
	}
	return ""
}

// registerNode creates or refreshes a node, keeping what the cluster assigned (pod CIDR,
// taints, unschedulable), and gives it a pod CIDR if it has none. Leader only, one at a
// time, so two nodes never get the same CIDR.
func (m *Master) registerNode(ctx context.Context, in *orchv1.Node) (*orchv1.Node, error) {
	if in == nil || in.GetMetadata().GetName() == "" {
		return nil, invalid("node.metadata.name: Required value")
	}
	m.beats.reg.Lock()
	defer m.beats.reg.Unlock()
	if err := m.api.consistent(ctx, false); err != nil {
		return nil, err
	}
	name := in.GetMetadata().GetName()
	now := timestamppb.New(m.api.now().UTC().Truncate(time.Second))
	status := proto.Clone(in.GetStatus()).(*orchv1.NodeStatus)
	if status == nil {
		status = &orchv1.NodeStatus{}
	}
	status.Conditions = []*orchv1.NodeCondition{{Type: "Ready", Status: "True", Reason: "NodeReady",
		Message: "node agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}}

	cur, exists := m.store.View().Get(api.NodeKind, name)
	var out api.Object
	if !exists {
		n := proto.Clone(in).(*orchv1.Node)
		n.Status = nil
		n.Metadata = &orchv1.ObjectMeta{Name: name, Labels: in.GetMetadata().GetLabels(), Annotations: in.GetMetadata().GetAnnotations()}
		if n.Spec == nil {
			n.Spec = &orchv1.NodeSpec{}
		}
		cidr, err := m.allocatePodCIDR()
		if err != nil {
			return nil, err
		}
		n.Spec.PodCidr, n.Spec.PodCidrs = cidr, []string{cidr}
		created, err := m.api.Create(ctx, api.NodeKind, n)
		if err != nil {
			return nil, err
		}
		out = created
	} else {
		n := proto.Clone(cur).(*orchv1.Node)
		labels := n.GetMetadata().GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range in.GetMetadata().GetLabels() {
			labels[k] = v
		}
		n.Metadata.Labels = labels
		// What the agent reports of itself (e.g. orch.dev/security) follows a restart.
		for k, v := range in.GetMetadata().GetAnnotations() {
			if n.Metadata.Annotations == nil {
				n.Metadata.Annotations = map[string]string{}
			}
			n.Metadata.Annotations[k] = v
		}
		if n.Spec == nil {
			n.Spec = &orchv1.NodeSpec{}
		}
		if n.Spec.PodCidr == "" {
			cidr, err := m.allocatePodCIDR()
			if err != nil {
				return nil, err
			}
			n.Spec.PodCidr, n.Spec.PodCidrs = cidr, []string{cidr}
		}
		updated, err := m.api.Update(ctx, api.NodeKind, n)
		if err != nil {
			return nil, err
		}
		out = updated
	}
	n := proto.Clone(out).(*orchv1.Node)
	n.Status = status
	st, err := m.api.UpdateStatus(ctx, api.NodeKind, n)
	if err != nil {
		return nil, err
	}
	m.beats.beat(name, m.api.now())
	return st.(*orchv1.Node), nil
}

// allocatePodCIDR returns the first block of the cluster CIDR no node holds.
func (m *Master) allocatePodCIDR() (string, error) {
	cluster, err := netip.ParsePrefix(m.cfg.Nodes.ClusterCIDR)
	if err != nil {
		return "", connect.NewError(connect.CodeInternal, fmt.Errorf("cluster CIDR %q: %w", m.cfg.Nodes.ClusterCIDR, err))
	}
	used := map[string]bool{}
	for _, o := range m.store.View().List(api.NodeKind, "") {
		used[o.(*orchv1.Node).GetSpec().GetPodCidr()] = true
	}
	size := m.cfg.Nodes.PodCIDRMaskSize
	step := uint64(1) << (32 - size)
	base := cluster.Masked().Addr().As4()
	start := uint64(base[0])<<24 | uint64(base[1])<<16 | uint64(base[2])<<8 | uint64(base[3])
	blocks := uint64(1) << (size - cluster.Bits())
	for i := range blocks {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), size).String()
		if !used[p] {
			return p, nil
		}
	}
	return "", connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("cluster CIDR %s has no free /%d for another node", cluster, size))
}

// setNodeReady writes a transition of the node's Ready condition.
func (m *Master) setNodeReady(ctx context.Context, name, status, reason, msg string) error {
	o, ok := m.store.View().Get(api.NodeKind, name)
	if !ok {
		return nil
	}
	n := proto.Clone(o).(*orchv1.Node)
	if n.Status == nil {
		n.Status = &orchv1.NodeStatus{}
	}
	now := timestamppb.New(m.api.now().UTC().Truncate(time.Second))
	cond := &orchv1.NodeCondition{Type: "Ready", Status: status, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	replaced := false
	for i, c := range n.Status.Conditions {
		if c.GetType() == "Ready" {
			n.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		n.Status.Conditions = append(n.Status.Conditions, cond)
	}
	_, err := m.api.UpdateStatus(ctx, api.NodeKind, n)
	return err
}

// monitorNodes marks nodes whose heartbeats stopped NotReady (Ready=Unknown). Leader only.
func (m *Master) monitorNodes(ctx context.Context) {
	m.beats.reset(m.api.now())
	t := time.NewTicker(max(m.cfg.Nodes.GracePeriod/8, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := m.api.now()
		for _, o := range m.store.View().List(api.NodeKind, "") {
			n := o.(*orchv1.Node)
			name := n.GetMetadata().GetName()
			if readyStatus(n) != "True" || now.Sub(m.beats.last(name)) <= m.cfg.Nodes.GracePeriod {
				continue
			}
			m.log.Warn("node stopped posting status", "node", name, "last", m.beats.last(name))
			if err := m.setNodeReady(ctx, name, "Unknown", "NodeStatusUnknown", "Node agent stopped posting node status."); err != nil && ctx.Err() == nil {
				m.log.Warn("mark node not ready", "node", name, "err", err)
			}
		}
	}
}

// runScheduler places pending pods whenever pods or nodes change. Leader only.
func (m *Master) runScheduler(ctx context.Context) {
	sched := scheduler.New()
	events := eventrecord.New(eventSink{m.api}, "default-scheduler", m.cfg.Name, m.log)
	go events.Run(ctx)
	for ctx.Err() == nil {
		pods := m.hub.SubscribeNow(api.PodKind)
		nodes := m.hub.SubscribeNow(api.NodeKind)
		m.scheduleLoop(ctx, sched, events, pods, nodes)
		m.hub.Unsubscribe(pods)
		m.hub.Unsubscribe(nodes)
	}
}

func (m *Master) scheduleLoop(ctx context.Context, sched *scheduler.Scheduler, events *eventrecord.Recorder, pods, nodes *Sub) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if err := m.schedulePass(ctx, sched, events); err != nil && ctx.Err() == nil {
			m.log.Warn("scheduling pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-pods.Done():
			return
		case <-nodes.Done():
			return
		case <-pods.C:
		case <-nodes.C:
		case <-tick.C:
		}
		drain(pods.C)
		drain(nodes.C)
	}
}

func drain(c chan Event) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// schedulePass binds what it can of the pending pods and records why the others wait,
// with Kubernetes' Scheduled and FailedScheduling events (the latter only when the
// reason changes, not at every pass).
func (m *Master) schedulePass(ctx context.Context, sched *scheduler.Scheduler, events *eventrecord.Recorder) error {
	pending, infos := schedulingInput(m.store.View())
	m.metrics.pending.Set(float64(len(pending)))
	if len(pending) == 0 {
		return nil
	}
	res := sched.Schedule(pending, infos)
	if len(res.Bindings) > 0 {
		c := &orchv1.BindCommand{Now: timestamppb.New(m.api.now().UTC().Truncate(time.Second))}
		for _, b := range res.Bindings {
			c.Bindings = append(c.Bindings, &orchv1.Binding{Namespace: b.Namespace, Name: b.Name, Uid: b.UID, NodeName: b.Node})
		}
		cmd, err := encodeCommand(BindCommandType, c)
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := m.api.propose(ctx, cmd); err != nil {
			return fmt.Errorf("bind %d pods: %w", len(c.Bindings), err)
		}
		m.metrics.bindLatency.Observe(time.Since(start).Seconds())
		reportBindings(events, pending, res.Bindings)
	}
	for _, p := range pending {
		key := p.GetMetadata().GetNamespace() + "/" + p.GetMetadata().GetName()
		msg, ok := res.Unschedulable[key]
		if !ok {
			continue
		}
		changed, err := m.markUnschedulable(ctx, p, msg)
		if err != nil && !errors.Is(err, context.Canceled) {
			m.log.Debug("mark unschedulable", "pod", key, "err", err)
		}
		if changed {
			events.Event(p, eventrecord.Warning, "FailedScheduling", "%s", msg)
		}
	}
	return nil
}

// schedulingInput reads what one scheduling pass decides on: the pods waiting for a node
// (no spec.nodeName, not being deleted, not finished, for this scheduler), oldest first,
// and every node with the bound, non-terminal pods already on it.
func schedulingInput(v View) ([]*orchv1.Pod, []*scheduler.NodeInfo) {
	var pending []*orchv1.Pod
	for _, o := range v.PodsOnNode("") {
		p := o.(*orchv1.Pod)
		if p.GetMetadata().GetDeletionTimestamp() != nil || scheduler.Terminal(p) {
			continue
		}
		if sn := p.GetSpec().GetSchedulerName(); sn != "" && sn != "default-scheduler" {
			continue
		}
		pending = append(pending, p)
	}
	if len(pending) == 0 {
		return nil, nil
	}
	sort.SliceStable(pending, func(i, j int) bool {
		a, b := pending[i].GetMetadata().GetCreationTimestamp().AsTime(), pending[j].GetMetadata().GetCreationTimestamp().AsTime()
		return a.Before(b)
	})
	var infos []*scheduler.NodeInfo
	for _, o := range v.List(api.NodeKind, "") {
		n := o.(*orchv1.Node)
		var on []*orchv1.Pod
		for _, p := range v.PodsOnNode(n.GetMetadata().GetName()) {
			on = append(on, p.(*orchv1.Pod))
		}
		infos = append(infos, scheduler.NewNodeInfo(n, on))
	}
	return pending, infos
}

// reportBindings records a Scheduled event on each pod just bound, and a Warning on
// those whose spec asks for placement rules the scheduler does not apply, so that they
// are not ignored silently.
func reportBindings(events *eventrecord.Recorder, pods []*orchv1.Pod, bindings []scheduler.Binding) {
	byUID := make(map[string]*orchv1.Pod, len(pods))
	for _, p := range pods {
		byUID[p.GetMetadata().GetUid()] = p
	}
	for _, b := range bindings {
		p := byUID[b.UID]
		events.Event(p, eventrecord.Normal, "Scheduled", "Successfully assigned %s/%s to %s", b.Namespace, b.Name, b.Node)
		if fields := scheduler.Unhonoured(p.GetSpec()); len(fields) > 0 {
			events.Event(p, eventrecord.Warning, SchedulingConstraintsIgnored,
				"Placed on %s without applying %s: the orch scheduler does not support them yet (see docs/scheduling.md)", b.Node, strings.Join(fields, ", "))
		}
	}
}

// SchedulingConstraintsIgnored is the reason of the event on a pod placed without the
// pod affinity, anti-affinity or topology spread constraints it asked for.
const SchedulingConstraintsIgnored = "SchedulingConstraintsIgnored"

// markUnschedulable records why a pod waits, once per distinct reason; it reports
// whether it wrote a new one.
func (m *Master) markUnschedulable(ctx context.Context, p *orchv1.Pod, msg string) (bool, error) {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "PodScheduled" && c.GetStatus() == "False" && c.GetMessage() == msg {
			return false, nil
		}
	}
	next := proto.Clone(p).(*orchv1.Pod)
	if next.Status == nil {
		next.Status = &orchv1.PodStatus{}
	}
	now := timestamppb.New(m.api.now().UTC().Truncate(time.Second))
	setPodCondition(next.Status, &orchv1.PodCondition{Type: "PodScheduled", Status: "False", Reason: "Unschedulable", Message: msg, LastTransitionTime: now})
	_, err := m.api.UpdateStatus(ctx, api.PodKind, next)
	return err == nil, err
}
