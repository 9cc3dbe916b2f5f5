package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// NodeLifecycleController keeps a node's NoExecute taints in step with its Ready
// condition, as Kubernetes' node lifecycle controller does (Ready False: not-ready;
// Unknown, the agent stopped posting: unreachable; True: neither), and evicts the pods
// that do not tolerate a node's NoExecute taints, at once or when their
// tolerationSeconds run out, counted from the taint's timeAdded. Evicting is a graceful
// delete: the pod's controller replaces it elsewhere while it terminates.
type NodeLifecycleController struct {
	deps Deps
	log  *slog.Logger
}

// NewNodeLifecycleController returns the node lifecycle controller.
func NewNodeLifecycleController(deps Deps) *NodeLifecycleController {
	return &NodeLifecycleController{deps: deps, log: deps.Log.With("controller", "nodelifecycle")}
}

// Name implements Controller.
func (c *NodeLifecycleController) Name() string { return "nodelifecycle" }

// Setup implements Controller: keys are node names. A node is looked at when it changes
// and when a pod is bound to it or its tolerations change.
func (c *NodeLifecycleController) Setup(inf *Informers, q *Queue) {
	inf.On(api.NodeKind, func(e Event) {
		if e.Type != api.Deleted {
			q.Add(e.Obj.GetMetadata().GetName())
		}
	})
	inf.On(api.PodKind, func(e Event) {
		p := e.Obj.(*orchv1.Pod)
		node := p.GetSpec().GetNodeName()
		if node == "" || e.Type == api.Deleted {
			return
		}
		if prev, ok := e.Prev.(*orchv1.Pod); ok && prev.GetSpec().GetNodeName() == node &&
			proto.Equal(&orchv1.PodSpec{Tolerations: prev.GetSpec().GetTolerations()}, &orchv1.PodSpec{Tolerations: p.GetSpec().GetTolerations()}) {
			return
		}
		q.Add(node)
	})
}

// Sync implements Controller.
func (c *NodeLifecycleController) Sync(ctx context.Context, name string) (Result, error) {
	v := c.deps.Source.View()
	o, ok := v.Get(api.NodeKind, name)
	if !ok {
		return Result{}, nil
	}
	node := o.(*orchv1.Node)
	now := c.deps.Now()
	if taints, changed := planNodeTaints(node, now); changed {
		next := proto.Clone(node).(*orchv1.Node)
		if next.Spec == nil {
			next.Spec = &orchv1.NodeSpec{}
		}
		next.Spec.Taints = taints
		c.log.Info("node taints follow its Ready condition", "node", name, "ready", readyCondition(node), "taints", taintKeys(taints))
		if readyCondition(node) != api.ConditionTrue {
			c.deps.Recorder.Event(node, record.Normal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
		}
		if _, err := c.deps.Writer.Update(ctx, api.NodeKind, next); err != nil {
			if isNotFound(err) {
				return Result{}, nil
			}
			return Result{}, fmt.Errorf("taint node %s: %w", name, err)
		}
		return Result{}, nil // the update's event brings the node back with its taints
	}
	var pods []*orchv1.Pod
	for _, o := range v.PodsOnNode(name) {
		pods = append(pods, o.(*orchv1.Pod))
	}
	evict, wait := planEvictions(node.GetSpec().GetTaints(), pods, now)
	for _, p := range evict {
		m := p.GetMetadata()
		c.log.Info("evicting pod that does not tolerate the node's NoExecute taints", "node", name, "pod", m.GetNamespace()+"/"+m.GetName())
		c.deps.Recorder.Event(p, record.Normal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", m.GetNamespace(), m.GetName())
		_, err := c.deps.Writer.Delete(ctx, api.PodKind, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}})
		if err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("evict pod %s/%s: %w", m.GetNamespace(), m.GetName(), err)
		}
	}
	return Result{RequeueAfter: wait}, nil
}

// readyCondition is the status of a node's Ready condition: "True", "False" or
// "Unknown" (also when the node has none yet).
func readyCondition(n *orchv1.Node) string {
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus()
		}
	}
	return "Unknown"
}

// planNodeTaints returns the node's taints with the lifecycle taints its Ready
// condition calls for, and whether they differ from its current ones. A lifecycle taint
// the node keeps keeps its timeAdded; other taints are left as they are. A node that has
// not reported a Ready condition yet is not tainted: it is still registering.
func planNodeTaints(n *orchv1.Node, now time.Time) ([]*orchv1.Taint, bool) {
	want := ""
	switch {
	case len(n.GetStatus().GetConditions()) == 0:
	case readyCondition(n) == "False":
		want = api.TaintNodeNotReady
	case readyCondition(n) == "Unknown":
		want = api.TaintNodeUnreachable
	}
	var out []*orchv1.Taint
	changed, have := false, false
	for _, t := range n.GetSpec().GetTaints() {
		lifecycle := (t.GetKey() == api.TaintNodeNotReady || t.GetKey() == api.TaintNodeUnreachable) && t.GetEffect() == "NoExecute"
		switch {
		case lifecycle && t.GetKey() == want && !have:
			have = true
			out = append(out, t)
		case lifecycle:
			changed = true
		default:
			out = append(out, t)
		}
	}
	if want != "" && !have {
		changed = true
		out = append(out, &orchv1.Taint{Key: want, Effect: "NoExecute", TimeAdded: timestamppb.New(now.UTC().Truncate(time.Second))})
	}
	return out, changed
}

// planEvictions decides about the pods bound to a node with the given taints: the ones
// to evict now, and how long until the next of the others' tolerations runs out (0 when
// none will). A pod that is already terminating or has finished is left alone.
func planEvictions(taints []*orchv1.Taint, pods []*orchv1.Pod, now time.Time) ([]*orchv1.Pod, time.Duration) {
	var noExecute []*orchv1.Taint
	for _, t := range taints {
		if t.GetEffect() == "NoExecute" {
			noExecute = append(noExecute, t)
		}
	}
	if len(noExecute) == 0 {
		return nil, 0
	}
	var evict []*orchv1.Pod
	var next time.Duration
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil || api.PodTerminal(p) {
			continue
		}
		deadline, forever := evictionDeadline(noExecute, p.GetSpec().GetTolerations(), now)
		switch {
		case forever:
		case !deadline.After(now):
			evict = append(evict, p)
		case next == 0 || deadline.Sub(now) < next:
			next = deadline.Sub(now)
		}
	}
	return evict, next
}

// evictionDeadline is when a pod with tolerations must leave a node with the given
// NoExecute taints: now when a taint is not tolerated; otherwise the earliest
// timeAdded + tolerationSeconds over the taints, forever when every matching toleration
// has no tolerationSeconds. A negative tolerationSeconds counts as 0, as in Kubernetes.
func evictionDeadline(taints []*orchv1.Taint, tols []*orchv1.Toleration, now time.Time) (time.Time, bool) {
	deadline, forever := time.Time{}, true
	for _, t := range taints {
		added := now
		if t.GetTimeAdded() != nil {
			added = t.GetTimeAdded().AsTime()
		}
		var taintDeadline time.Time
		tolerated, unbounded := false, false
		for _, tol := range tols {
			if !api.ToleratesTaint(tol, t) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				unbounded = true
				break
			}
			d := added.Add(time.Duration(max(tol.GetTolerationSeconds(), 0)) * time.Second)
			if taintDeadline.IsZero() || d.Before(taintDeadline) {
				taintDeadline = d
			}
		}
		switch {
		case !tolerated:
			return now, false
		case unbounded:
			continue
		}
		if forever || taintDeadline.Before(deadline) {
			deadline, forever = taintDeadline, false
		}
	}
	return deadline, forever
}

func taintKeys(ts []*orchv1.Taint) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.GetKey()+":"+t.GetEffect())
	}
	return slices.Sorted(slices.Values(out))
}
