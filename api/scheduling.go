package api

// Where a pod may run: taints and tolerations, node selectors and node affinity, as
// Kubernetes' component-helpers (scheduling/corev1) and core/v1 helpers define them. One
// set of functions for the scheduler, the DaemonSet controller and the node lifecycle.

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Taint effects.
const (
	TaintEffectNoSchedule       = "NoSchedule"
	TaintEffectPreferNoSchedule = "PreferNoSchedule"
	TaintEffectNoExecute        = "NoExecute"
)

// Toleration operators.
const (
	TolerationOpExists = "Exists"
	TolerationOpEqual  = "Equal"
)

// Well-known taints, as Kubernetes names them (k8s.io/api/core/v1 well_known_taints.go).
const (
	TaintNodeNotReady           = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable        = "node.kubernetes.io/unreachable"
	TaintNodeUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintNodeMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintNodeDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintNodePIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNodeNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// Node condition types that taint a node (besides Ready).
const (
	NodeMemoryPressure     = "MemoryPressure"
	NodeDiskPressure       = "DiskPressure"
	NodePIDPressure        = "PIDPressure"
	NodeNetworkUnavailable = "NetworkUnavailable"
	ConditionUnknown       = "Unknown"
)

// Node selector operators of node affinity, and the one field matchFields may name.
const (
	NodeSelectorOpIn           = "In"
	NodeSelectorOpNotIn        = "NotIn"
	NodeSelectorOpExists       = "Exists"
	NodeSelectorOpDoesNotExist = "DoesNotExist"
	NodeSelectorOpGt           = "Gt"
	NodeSelectorOpLt           = "Lt"
	NodeFieldMetadataName      = "metadata.name"
)

// ToleratesTaint reports whether tol tolerates taint, as Kubernetes'
// Toleration.ToleratesTaint: an empty effect matches every effect, an empty key with
// Exists matches every key, Exists matches any value and Equal (or no operator) the same.
func ToleratesTaint(tol *orchv1.Toleration, taint *orchv1.Taint) bool {
	if tol.GetEffect() != "" && tol.GetEffect() != taint.GetEffect() {
		return false
	}
	if tol.GetKey() != "" && tol.GetKey() != taint.GetKey() {
		return false
	}
	switch tol.GetOperator() {
	case TolerationOpExists:
		return true
	case TolerationOpEqual, "":
		return tol.GetValue() == taint.GetValue()
	}
	return false
}

// TolerationsTolerateTaint reports whether any of tols tolerates taint.
func TolerationsTolerateTaint(tols []*orchv1.Toleration, taint *orchv1.Taint) bool {
	return slices.ContainsFunc(tols, func(t *orchv1.Toleration) bool { return ToleratesTaint(t, taint) })
}

// FindUntoleratedTaint returns the first of taints that filter selects (nil: all) and
// none of tols tolerates, as Kubernetes' FindMatchingUntoleratedTaint.
func FindUntoleratedTaint(taints []*orchv1.Taint, tols []*orchv1.Toleration, filter func(*orchv1.Taint) bool) (*orchv1.Taint, bool) {
	for _, t := range taints {
		if filter != nil && !filter(t) {
			continue
		}
		if !TolerationsTolerateTaint(tols, t) {
			return t, true
		}
	}
	return nil, false
}

// DoNotScheduleTaints selects the taints that keep new pods off a node.
func DoNotScheduleTaints(t *orchv1.Taint) bool {
	return t.GetEffect() == TaintEffectNoSchedule || t.GetEffect() == TaintEffectNoExecute
}

// NoExecuteTaints selects the taints that evict running pods.
func NoExecuteTaints(t *orchv1.Taint) bool { return t.GetEffect() == TaintEffectNoExecute }

// NodeConditionTaints are the NoSchedule taints Kubernetes' node lifecycle controller
// puts on a node for its state (TaintNodesByCondition): not-ready while Ready is False
// or missing, unreachable while it is Unknown, one per pressure condition that is True,
// network-unavailable, and unschedulable for a cordoned node.
func NodeConditionTaints(n *orchv1.Node) []*orchv1.Taint {
	var out []*orchv1.Taint
	add := func(key string) {
		out = append(out, &orchv1.Taint{Key: key, Effect: TaintEffectNoSchedule})
	}
	ready := ""
	for _, c := range n.GetStatus().GetConditions() {
		switch c.GetType() {
		case NodeReady:
			ready = c.GetStatus()
		case NodeMemoryPressure, NodeDiskPressure, NodePIDPressure, NodeNetworkUnavailable:
			if c.GetStatus() == ConditionTrue {
				add(conditionTaint[c.GetType()])
			}
		}
	}
	switch ready {
	case ConditionTrue:
	case ConditionUnknown:
		add(TaintNodeUnreachable)
	default:
		add(TaintNodeNotReady)
	}
	if n.GetSpec().GetUnschedulable() {
		add(TaintNodeUnschedulable)
	}
	slices.SortFunc(out, func(a, b *orchv1.Taint) int {
		if a.GetKey() < b.GetKey() {
			return -1
		}
		if a.GetKey() > b.GetKey() {
			return 1
		}
		return 0
	})
	return out
}

var conditionTaint = map[string]string{
	NodeMemoryPressure:     TaintNodeMemoryPressure,
	NodeDiskPressure:       TaintNodeDiskPressure,
	NodePIDPressure:        TaintNodePIDPressure,
	NodeNetworkUnavailable: TaintNodeNetworkUnavailable,
}

// NodeTaints are a node's taints as the scheduler sees them: spec.taints and, where
// spec.taints lacks one of the same key and effect, NodeConditionTaints. Once the node
// lifecycle writes those taints into spec.taints this adds nothing.
func NodeTaints(n *orchv1.Node) []*orchv1.Taint {
	out := slices.Clone(n.GetSpec().GetTaints())
	for _, t := range NodeConditionTaints(n) {
		if !slices.ContainsFunc(out, func(o *orchv1.Taint) bool { return o.GetKey() == t.GetKey() && o.GetEffect() == t.GetEffect() }) {
			out = append(out, t)
		}
	}
	return out
}

// TaintString is a taint as kubectl prints it: key=value:Effect (key:Effect without a value).
func TaintString(t *orchv1.Taint) string {
	if t.GetValue() == "" {
		return t.GetKey() + ":" + t.GetEffect()
	}
	return t.GetKey() + "=" + t.GetValue() + ":" + t.GetEffect()
}

// NodeSelectorRequirementsAsSelector converts matchExpressions to a labels.Selector, as
// Kubernetes' NodeSelectorRequirementsAsSelector: Gt and Lt compare integers.
func NodeSelectorRequirementsAsSelector(reqs []*orchv1.NodeSelectorRequirement) (labels.Selector, error) {
	if len(reqs) == 0 {
		return labels.Nothing(), nil
	}
	sel := labels.NewSelector()
	for _, r := range reqs {
		var op selection.Operator
		switch r.GetOperator() {
		case NodeSelectorOpIn:
			op = selection.In
		case NodeSelectorOpNotIn:
			op = selection.NotIn
		case NodeSelectorOpExists:
			op = selection.Exists
		case NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case NodeSelectorOpGt:
			op = selection.GreaterThan
		case NodeSelectorOpLt:
			op = selection.LessThan
		default:
			return nil, fmt.Errorf("%q is not a valid node selector operator", r.GetOperator())
		}
		req, err := labels.NewRequirement(r.GetKey(), op, slices.Clone(r.GetValues()))
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

// NodeSelectorTermMatches reports whether a node meets every requirement of a term: its
// matchExpressions against the node's labels, its matchFields against metadata.name. A
// term with no requirements, or one that does not parse, matches no node.
func NodeSelectorTermMatches(term *orchv1.NodeSelectorTerm, n *orchv1.Node) bool {
	exprs, fields := term.GetMatchExpressions(), term.GetMatchFields()
	if len(exprs) == 0 && len(fields) == 0 {
		return false
	}
	if len(exprs) > 0 {
		sel, err := NodeSelectorRequirementsAsSelector(exprs)
		if err != nil || !sel.Matches(labels.Set(n.GetMetadata().GetLabels())) {
			return false
		}
	}
	for _, f := range fields {
		if f.GetKey() != NodeFieldMetadataName {
			return false
		}
		in := slices.Contains(f.GetValues(), n.GetMetadata().GetName())
		switch f.GetOperator() {
		case NodeSelectorOpIn:
			if !in {
				return false
			}
		case NodeSelectorOpNotIn:
			if in {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// NodeMatchesSelectorTerms reports whether any of the terms matches the node (terms are
// ORed, the requirements of one term ANDed).
func NodeMatchesSelectorTerms(n *orchv1.Node, terms []*orchv1.NodeSelectorTerm) bool {
	return slices.ContainsFunc(terms, func(t *orchv1.NodeSelectorTerm) bool { return NodeSelectorTermMatches(t, n) })
}

// PodMatchesNodeSelectorAndAffinity reports whether a node satisfies the pod's
// nodeSelector and its required node affinity, as Kubernetes'
// GetRequiredNodeAffinity(pod).Match(node).
func PodMatchesNodeSelectorAndAffinity(spec *orchv1.PodSpec, n *orchv1.Node) bool {
	if len(spec.GetNodeSelector()) > 0 {
		if !labels.SelectorFromSet(spec.GetNodeSelector()).Matches(labels.Set(n.GetMetadata().GetLabels())) {
			return false
		}
	}
	req := spec.GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution()
	if req == nil {
		return true
	}
	return NodeMatchesSelectorTerms(n, req.GetNodeSelectorTerms())
}

// PreferredNodeAffinityScore is the sum of the weights of the pod's preferred node
// affinity terms that the node matches.
func PreferredNodeAffinityScore(spec *orchv1.PodSpec, n *orchv1.Node) int64 {
	var sum int64
	for _, t := range spec.GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		if t.GetWeight() != 0 && NodeSelectorTermMatches(t.GetPreference(), n) {
			sum += int64(t.GetWeight())
		}
	}
	return sum
}
