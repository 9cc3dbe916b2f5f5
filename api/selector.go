package api

import (
	"fmt"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// LabelSelector converts a LabelSelector to a labels.Selector as Kubernetes'
// metav1.LabelSelectorAsSelector does: nil selects nothing, an empty selector everything.
// One conversion for validation, the controllers and the scheduler.
func LabelSelector(s *orchv1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Nothing(), nil
	}
	if len(s.GetMatchLabels())+len(s.GetMatchExpressions()) == 0 {
		return labels.Everything(), nil
	}
	sel := labels.NewSelector()
	keys := make([]string, 0, len(s.GetMatchLabels()))
	for k := range s.GetMatchLabels() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r, err := labels.NewRequirement(k, selection.Equals, []string{s.GetMatchLabels()[k]})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*r)
	}
	for _, e := range s.GetMatchExpressions() {
		var op selection.Operator
		switch e.GetOperator() {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator", e.GetOperator())
		}
		r, err := labels.NewRequirement(e.GetKey(), op, slices.Clone(e.GetValues()))
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*r)
	}
	return sel, nil
}
