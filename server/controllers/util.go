package controllers

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// selectorOf is api.LabelSelector, with a broken selector selecting nothing.
func selectorOf(s *orchv1.LabelSelector) labels.Selector {
	sel, err := api.LabelSelector(s)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// controllerRef is the ownerReference with controller: true, if any.
func controllerRef(o api.Object) *orchv1.OwnerReference {
	for _, r := range o.GetMetadata().GetOwnerReferences() {
		if r.GetController() {
			return r
		}
	}
	return nil
}

// newControllerRef is the ownerReference a controller sets on what it creates or adopts.
func newControllerRef(k *api.Kind, owner api.Object) *orchv1.OwnerReference {
	m := owner.GetMetadata()
	return &orchv1.OwnerReference{ApiVersion: k.APIVersion, Kind: k.Name, Name: m.GetName(), Uid: m.GetUid(),
		Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true)}
}

// withOwnerRef returns a clone of o owned by ref (adoption).
func withOwnerRef[T api.Object](o T, ref *orchv1.OwnerReference) T {
	c := proto.Clone(o).(T)
	m := api.Meta(c)
	m.OwnerReferences = append(m.OwnerReferences, proto.Clone(ref).(*orchv1.OwnerReference))
	return c
}

// withoutOwnerRef returns a clone of o without the ownerReference to uid (release).
func withoutOwnerRef[T api.Object](o T, uid string) T {
	c := proto.Clone(o).(T)
	m := api.Meta(c)
	m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(r *orchv1.OwnerReference) bool { return r.GetUid() == uid })
	return c
}

// claim sorts candidates as Kubernetes' ControllerRefManager does: objects the owner
// controls and its selector matches are kept; those it controls that no longer match are
// released; orphans that match are adopted (unless the owner or the orphan is going).
// Objects controlled by others are left alone.
func claim[T api.Object](owner api.Object, sel labels.Selector, objs []T) (owned, adopt, release []T) {
	uid := owner.GetMetadata().GetUid()
	ownerGoing := owner.GetMetadata().GetDeletionTimestamp() != nil
	for _, o := range objs {
		matches := sel.Matches(labels.Set(o.GetMetadata().GetLabels()))
		ref := controllerRef(o)
		switch {
		case ref != nil && ref.GetUid() == uid:
			if matches || ownerGoing {
				owned = append(owned, o)
			} else {
				release = append(release, o)
			}
		case ref != nil:
		case matches && !ownerGoing && o.GetMetadata().GetDeletionTimestamp() == nil:
			adopt = append(adopt, o)
		}
	}
	return owned, adopt, release
}

// podReady: the pod's Ready condition is True.
func podReady(p *orchv1.Pod) bool {
	c := podReadyCondition(p)
	return c != nil && c.GetStatus() == api.ConditionTrue
}

func podReadyCondition(p *orchv1.Pod) *orchv1.PodCondition {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == api.PodReady {
			return c
		}
	}
	return nil
}

// podAvailable: ready for at least minReadySeconds at now.
func podAvailable(p *orchv1.Pod, minReadySeconds int32, now time.Time) bool {
	if !podReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := podReadyCondition(p)
	t := c.GetLastTransitionTime()
	if t == nil {
		return false
	}
	return !t.AsTime().Add(time.Duration(minReadySeconds) * time.Second).After(now)
}

// podActive: counts toward a controller's replicas (not finished, not being deleted).
func podActive(p *orchv1.Pod) bool {
	return !api.PodTerminal(p) && p.GetMetadata().GetDeletionTimestamp() == nil
}

// scaledValue resolves an int-or-percent against total as Kubernetes'
// GetScaledValueFromIntOrPercent: a percentage rounds up or down as told.
func scaledValue(v *structpb.Value, total int, roundUp bool) (int, error) {
	if v == nil {
		return 0, nil
	}
	n, s, isInt := api.IntOrString(v)
	if isInt {
		return n, nil
	}
	if _, isNull := v.GetKind().(*structpb.Value_NullValue); isNull || v.GetKind() == nil {
		return 0, nil
	}
	if !strings.HasSuffix(s, "%") {
		if n, err := strconv.Atoi(s); err == nil {
			return n, nil
		}
		return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", s)
	}
	p, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", s)
	}
	f := float64(p) * float64(total) / 100
	if roundUp {
		return int(math.Ceil(f)), nil
	}
	return int(math.Floor(f)), nil
}

func int32Value(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func creationTime(o api.Object) time.Time {
	return o.GetMetadata().GetCreationTimestamp().AsTime()
}
