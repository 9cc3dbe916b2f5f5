package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// NamespaceController empties namespaces being deleted, as Kubernetes' namespace
// controller does: the delete made the namespace Terminating (and the FSM refuses new
// content in it); the controller deletes everything in it with normal deletes (pods
// gracefully, finalizers honoured), reports progress in the namespace's conditions, and
// once nothing is left removes the kubernetes finalizer from spec.finalizers, which lets
// the namespace go.
type NamespaceController struct {
	deps  Deps
	log   *slog.Logger
	kinds []*api.Kind // the namespaced kinds
}

// namespaceResync looks at a terminating namespace again while content remains, in case
// an event was missed: the deletions drive it otherwise.
const namespaceResync = 10 * time.Second

// NewNamespaceController returns the namespace controller.
func NewNamespaceController(deps Deps) *NamespaceController {
	c := &NamespaceController{deps: deps, log: deps.Log.With("controller", "namespace")}
	for _, k := range api.Kinds {
		if k.Namespaced {
			c.kinds = append(c.kinds, k)
		}
	}
	return c
}

// Name implements Controller.
func (c *NamespaceController) Name() string { return "namespace" }

// Setup implements Controller: a namespace is queued when it changes while being
// deleted, and when an object in it goes or changes while it terminates.
func (c *NamespaceController) Setup(inf *Informers, q *Queue) {
	inf.On(api.NamespaceKind, func(e Event) {
		if e.Type != api.Deleted && e.Obj.GetMetadata().GetDeletionTimestamp() != nil {
			q.Add(e.Obj.GetMetadata().GetName())
		}
	})
	for _, k := range c.kinds {
		inf.On(k, func(e Event) {
			if e.Type == api.Added {
				return
			}
			ns := e.Obj.GetMetadata().GetNamespace()
			if o, ok := c.deps.Source.View().Get(api.NamespaceKind, ns); ok && o.GetMetadata().GetDeletionTimestamp() != nil {
				q.Add(ns)
			}
		})
	}
}

// namespaceContent is what is left in a terminating namespace.
type namespaceContent struct {
	// resources: how many objects of each kind remain ("pods", "replicasets.apps").
	resources map[string]int
	// finalizers: how many remaining objects carry each finalizer.
	finalizers map[string]int
	// toDelete: the objects not being deleted yet.
	toDelete []kindObject
}

func (n namespaceContent) empty() bool { return len(n.resources) == 0 }

// contentOf reads what is in namespace ns.
func contentOf(v View, kinds []*api.Kind, ns string) namespaceContent {
	n := namespaceContent{resources: map[string]int{}, finalizers: map[string]int{}}
	for _, k := range kinds {
		for _, o := range v.List(k, ns) {
			n.resources[groupResource(k)]++
			for _, f := range o.GetMetadata().GetFinalizers() {
				n.finalizers[f]++
			}
			if o.GetMetadata().GetDeletionTimestamp() == nil {
				n.toDelete = append(n.toDelete, kindObject{k, o})
			}
		}
	}
	return n
}

// groupResource names a kind as Kubernetes' GroupResource prints: "pods", "replicasets.apps".
func groupResource(k *api.Kind) string {
	if g := k.Group(); g != "" {
		return k.Plural + "." + g
	}
	return k.Plural
}

// namespaceConditions are the conditions of a terminating namespace, as Kubernetes'
// namespace controller writes them, keeping each one's transition time while its status
// stays.
func namespaceConditions(old []*orchv1.NamespaceCondition, n namespaceContent, deleteErrs []string, now time.Time) []*orchv1.NamespaceCondition {
	cond := func(typ string, status bool, reason, msg string) *orchv1.NamespaceCondition {
		s := api.ConditionFalse
		if status {
			s = api.ConditionTrue
		}
		return &orchv1.NamespaceCondition{Type: typ, Status: s, Reason: reason, Message: msg}
	}
	next := []*orchv1.NamespaceCondition{
		cond(api.NamespaceDeletionDiscoveryFailure, false, api.NamespaceReasonResourcesDiscovered, api.NamespaceMessageResourcesDiscovered),
		cond(api.NamespaceDeletionGVParsingFailure, false, api.NamespaceReasonParsedGroupVersions, api.NamespaceMessageParsedGroupVersions),
	}
	if len(deleteErrs) > 0 {
		next = append(next, cond(api.NamespaceDeletionContentFailure, true, api.NamespaceReasonContentDeletionFailed,
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(deleteErrs), strings.Join(deleteErrs, ", "))))
	} else {
		next = append(next, cond(api.NamespaceDeletionContentFailure, false, api.NamespaceReasonContentDeleted, api.NamespaceMessageContentDeleted))
	}
	if n.empty() {
		next = append(next, cond(api.NamespaceContentRemaining, false, api.NamespaceReasonContentRemoved, api.NamespaceMessageContentRemoved))
	} else {
		var parts []string
		for _, r := range sortedKeys(n.resources) {
			parts = append(parts, fmt.Sprintf("%s has %d resource instances", r, n.resources[r]))
		}
		next = append(next, cond(api.NamespaceContentRemaining, true, api.NamespaceReasonSomeResourcesRemain,
			"Some resources are remaining: "+strings.Join(parts, ", ")))
	}
	if len(n.finalizers) == 0 {
		next = append(next, cond(api.NamespaceFinalizersRemaining, false, api.NamespaceReasonContentHasNoFinalizers, api.NamespaceMessageContentHasNoFinalizers))
	} else {
		var parts []string
		for _, f := range sortedKeys(n.finalizers) {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n.finalizers[f]))
		}
		next = append(next, cond(api.NamespaceFinalizersRemaining, true, api.NamespaceReasonSomeFinalizersRemain,
			"Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", ")))
	}
	for _, c := range next {
		c.LastTransitionTime = timestamppb.New(now)
		for _, o := range old {
			if o.GetType() == c.GetType() && o.GetStatus() == c.GetStatus() {
				c.LastTransitionTime = o.GetLastTransitionTime()
			}
		}
	}
	// Conditions of other types (someone else's) stay.
	for _, o := range old {
		if !slices.ContainsFunc(next, func(c *orchv1.NamespaceCondition) bool { return c.GetType() == o.GetType() }) {
			next = append(next, o)
		}
	}
	return next
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Sync implements Controller.
func (c *NamespaceController) Sync(ctx context.Context, name string) (Result, error) {
	o, ok := c.deps.Source.View().Get(api.NamespaceKind, name)
	if !ok || o.GetMetadata().GetDeletionTimestamp() == nil {
		return Result{}, nil
	}
	ns := o.(*orchv1.Namespace)
	if !slices.Contains(ns.GetSpec().GetFinalizers(), api.FinalizerKubernetes) {
		return Result{}, nil // emptied already: other finalizers hold it
	}
	var errs []string
	for _, d := range contentOf(c.deps.Source.View(), c.kinds, name).toDelete {
		m := d.obj.GetMetadata()
		_, err := c.deps.Writer.Delete(ctx, d.kind, &orchv1.DeleteRequest{Namespace: name, Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}, PropagationPolicy: api.DeletePropagationBackground})
		if err != nil && !isNotFound(err) {
			if ctx.Err() != nil {
				return Result{}, err
			}
			errs = append(errs, fmt.Sprintf("%s %q: %v", d.kind.Plural, m.GetName(), err))
		}
	}
	// The deletes are committed on this master when they return: the view after them
	// shows what they left.
	v := c.deps.Source.View()
	left := contentOf(v, c.kinds, name)
	if cur, ok := v.Get(api.NamespaceKind, name); ok {
		ns = cur.(*orchv1.Namespace)
	}
	next := proto.Clone(ns).(*orchv1.Namespace)
	if next.Status == nil {
		next.Status = &orchv1.NamespaceStatus{}
	}
	next.Status.Conditions = namespaceConditions(ns.GetStatus().GetConditions(), left, errs, c.deps.Now().UTC().Truncate(time.Second))
	if !proto.Equal(next.Status, ns.GetStatus()) {
		out, err := c.deps.Writer.UpdateStatus(ctx, api.NamespaceKind, next)
		if err != nil {
			return Result{}, fmt.Errorf("namespace %s status: %w", name, err)
		}
		next = proto.Clone(out).(*orchv1.Namespace)
	}
	if len(errs) > 0 {
		return Result{}, fmt.Errorf("namespace %s: %s", name, strings.Join(errs, "; "))
	}
	if !left.empty() {
		return Result{RequeueAfter: namespaceResync}, nil
	}
	c.log.Debug("namespace empty: removing its finalizer", "namespace", name)
	next.Spec.Finalizers = slices.DeleteFunc(next.Spec.Finalizers, func(f string) bool { return f == api.FinalizerKubernetes })
	if _, err := c.deps.Writer.Finalize(ctx, next); err != nil && !isNotFound(err) {
		return Result{}, fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	return Result{}, nil
}
