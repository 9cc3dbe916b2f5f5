package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// GarbageCollector deletes dependents by their ownerReferences, as Kubernetes' garbage
// collector does, for the three propagation policies a delete may ask for:
//
//   - Background: the owner is gone at once; its dependents go after it, theirs after
//     them. A dependent with several owners goes when the last one goes; the references
//     to the gone ones are removed meanwhile.
//   - Foreground: the owner stays, with a deletionTimestamp and the foregroundDeletion
//     finalizer; the collector deletes its dependents (those with dependents of their own
//     in the foreground too) and removes the finalizer once no dependent with
//     blockOwnerDeletion is left, which lets the owner go.
//   - Orphan: the owner stays with the orphan finalizer until the collector has removed
//     every dependent's ownerReference to it, then the finalizer.
type GarbageCollector struct {
	deps  Deps
	log   *slog.Logger
	q     *Queue
	kinds []*api.Kind
}

// NewGarbageCollector returns the garbage collector.
func NewGarbageCollector(deps Deps) *GarbageCollector {
	g := &GarbageCollector{deps: deps, log: deps.Log.With("controller", "garbagecollector")}
	for _, k := range api.Kinds {
		if k != api.EventKind {
			g.kinds = append(g.kinds, k)
		}
	}
	return g
}

// Name implements Controller.
func (g *GarbageCollector) Name() string { return "garbagecollector" }

// gcKey names an object: "Kind/namespace/name".
func gcKey(k *api.Kind, o api.Object) string { return k.Name + "/" + api.ObjectKey(o) }

func parseGCKey(key string) (*api.Kind, string, error) {
	kind, objKey, ok := strings.Cut(key, "/")
	if !ok {
		return nil, "", fmt.Errorf("bad key %q", key)
	}
	k, err := api.LookupAPI("", kind)
	return k, objKey, err
}

// Setup implements Controller. An object is queued when it changes if it has owners or
// waits for the collector's finalizer; the dependents of an object are queued when it
// goes; the owners of an object are queued when it goes or its references change, so
// that an owner deleted in the foreground sees its last blocking dependent go.
func (g *GarbageCollector) Setup(inf *Informers, q *Queue) {
	g.q = q
	for _, k := range g.kinds {
		inf.On(k, func(e Event) {
			m := e.Obj.GetMetadata()
			if len(m.GetOwnerReferences()) > 0 || waitsForGC(e.Obj) {
				q.Add(gcKey(k, e.Obj))
			}
			if e.Type == api.Deleted {
				g.queueDependents(m.GetUid())
			}
			if e.Type == api.Deleted || (e.Prev != nil && !refsEqual(e.Prev, e.Obj)) {
				g.queueOwners(e.Obj)
				if e.Prev != nil {
					g.queueOwners(e.Prev)
				}
			}
		})
	}
}

func refsEqual(a, b api.Object) bool {
	return slices.EqualFunc(a.GetMetadata().GetOwnerReferences(), b.GetMetadata().GetOwnerReferences(),
		func(x, y *orchv1.OwnerReference) bool { return proto.Equal(x, y) })
}

// waitsForGC: being deleted, with a finalizer the collector removes.
func waitsForGC(o api.Object) bool {
	return o.GetMetadata().GetDeletionTimestamp() != nil &&
		(api.HasFinalizer(o, api.FinalizerOrphanDependents) || api.HasFinalizer(o, api.FinalizerDeleteDependents))
}

func (g *GarbageCollector) queueDependents(uid string) {
	for _, d := range dependentsOf(g.deps.Source.View(), g.kinds, uid) {
		g.q.Add(gcKey(d.kind, d.obj))
	}
}

func (g *GarbageCollector) queueOwners(o api.Object) {
	for _, r := range o.GetMetadata().GetOwnerReferences() {
		k, err := api.LookupAPI("", r.GetKind())
		if err != nil {
			continue
		}
		ns := ""
		if k.Namespaced {
			ns = o.GetMetadata().GetNamespace()
		}
		g.q.Add(k.Name + "/" + api.Key(ns, r.GetName()))
	}
}

// kindObject is an object with its kind.
type kindObject struct {
	kind *api.Kind
	obj  api.Object
}

// dependentsOf lists the objects with an ownerReference to uid, of every kind.
func dependentsOf(v View, kinds []*api.Kind, uid string) []kindObject {
	var out []kindObject
	for _, k := range kinds {
		for _, d := range v.Owned(k, uid) {
			out = append(out, kindObject{k, d})
		}
	}
	return out
}

// gcAction is what the collector does with one dependent.
type gcAction int

const (
	gcKeep   gcAction = iota
	gcDelete          // no owner is left to keep it
	gcUnlink          // some owners are gone or going: drop the references to them
)

// gcPlan is the decision about one dependent.
type gcPlan struct {
	action gcAction
	policy string                   // gcDelete: the propagation policy of the deletion
	keep   []*orchv1.OwnerReference // gcUnlink: the references that stay
}

// ownerState is what a dependent's reference finds, as Kubernetes classifies it.
type ownerState int

const (
	ownerSolid    ownerState = iota // exists and is not deleting its dependents
	ownerDangling                   // gone, or replaced by an object with another uid
	ownerWaiting                    // being deleted in the foreground: its dependents go first
)

// classifyOwner: an owner exists when an object of its kind with its name (in the
// dependent's namespace, for a namespaced kind) has its uid. An owner of a kind orch does
// not know is taken to exist: nothing is deleted on a guess.
func classifyOwner(v View, dep api.Object, r *orchv1.OwnerReference) ownerState {
	k, err := api.LookupAPI("", r.GetKind())
	if err != nil {
		return ownerSolid
	}
	ns := ""
	if k.Namespaced {
		ns = dep.GetMetadata().GetNamespace()
	}
	o, ok := v.Get(k, api.Key(ns, r.GetName()))
	switch {
	case !ok || o.GetMetadata().GetUid() != r.GetUid():
		return ownerDangling
	case o.GetMetadata().GetDeletionTimestamp() != nil && api.HasFinalizer(o, api.FinalizerDeleteDependents):
		return ownerWaiting
	}
	return ownerSolid
}

// planGC decides about one dependent that is not being deleted itself, as Kubernetes'
// attemptToDeleteItem: with a solid owner left it only drops the references to the
// others; with none it is deleted, in the foreground when an owner waits for it and it
// has dependents of its own, otherwise by the policy its own finalizers name.
func planGC(v View, kinds []*api.Kind, dep api.Object) gcPlan {
	refs := dep.GetMetadata().GetOwnerReferences()
	if len(refs) == 0 {
		return gcPlan{action: gcKeep}
	}
	var solid []*orchv1.OwnerReference
	waiting := false
	for _, r := range refs {
		switch classifyOwner(v, dep, r) {
		case ownerSolid:
			solid = append(solid, r)
		case ownerWaiting:
			waiting = true
		}
	}
	switch {
	case len(solid) == len(refs):
		return gcPlan{action: gcKeep}
	case len(solid) > 0:
		return gcPlan{action: gcUnlink, keep: solid}
	case waiting && len(dependentsOf(v, kinds, dep.GetMetadata().GetUid())) > 0:
		return gcPlan{action: gcDelete, policy: api.DeletePropagationForeground}
	case api.HasFinalizer(dep, api.FinalizerOrphanDependents):
		return gcPlan{action: gcDelete, policy: api.DeletePropagationOrphan}
	case api.HasFinalizer(dep, api.FinalizerDeleteDependents):
		return gcPlan{action: gcDelete, policy: api.DeletePropagationForeground}
	}
	return gcPlan{action: gcDelete, policy: api.DeletePropagationBackground}
}

// ownerPlan is what the collector does for an owner being deleted with its finalizers.
type ownerPlan struct {
	// orphan: the dependents whose reference to the owner is to be removed (Orphan).
	orphan []kindObject
	// remove: the dependents to delete before the owner (Foreground); queued, each
	// decided by planGC.
	remove []kindObject
	// finalizers to remove from the owner once the above is done.
	finalizers []string
}

// planOwner decides for an owner that is being deleted: with the orphan finalizer every
// dependent loses its reference to it, then the finalizer goes; with foregroundDeletion
// its dependents are deleted, and the finalizer goes once no dependent that blocks the
// owner's deletion (blockOwnerDeletion) is left.
func planOwner(v View, kinds []*api.Kind, owner api.Object) ownerPlan {
	var p ownerPlan
	m := owner.GetMetadata()
	if m.GetDeletionTimestamp() == nil {
		return p
	}
	deps := validDependents(v, kinds, owner)
	if api.HasFinalizer(owner, api.FinalizerOrphanDependents) {
		p.orphan = deps
		p.finalizers = append(p.finalizers, api.FinalizerOrphanDependents)
		deps = nil // orphaned: none is left to wait for
	}
	if api.HasFinalizer(owner, api.FinalizerDeleteDependents) {
		p.remove = deps
		blocked := slices.ContainsFunc(deps, func(d kindObject) bool { return blocks(d.obj, m.GetUid()) })
		if !blocked {
			p.finalizers = append(p.finalizers, api.FinalizerDeleteDependents)
		}
	}
	return p
}

// validDependents are the dependents a reference to owner can name: for a namespaced
// owner, only those in its namespace.
func validDependents(v View, kinds []*api.Kind, owner api.Object) []kindObject {
	ns := owner.GetMetadata().GetNamespace()
	var out []kindObject
	for _, d := range dependentsOf(v, kinds, owner.GetMetadata().GetUid()) {
		if ns == "" || d.obj.GetMetadata().GetNamespace() == ns {
			out = append(out, d)
		}
	}
	return out
}

// blocks: dep's reference to the owner has blockOwnerDeletion.
func blocks(dep api.Object, ownerUID string) bool {
	for _, r := range dep.GetMetadata().GetOwnerReferences() {
		if r.GetUid() == ownerUID && r.GetBlockOwnerDeletion() {
			return true
		}
	}
	return false
}

// Sync implements Controller.
func (g *GarbageCollector) Sync(ctx context.Context, key string) (Result, error) {
	k, objKey, err := parseGCKey(key)
	if err != nil {
		return Result{}, nil // not retried: it never parses
	}
	v := g.deps.Source.View()
	o, ok := v.Get(k, objKey)
	if !ok {
		return Result{}, nil
	}
	if o.GetMetadata().GetDeletionTimestamp() != nil {
		// Already going: what is left is the collector's finalizers, if it has any.
		return Result{}, g.finalize(ctx, v, k, o)
	}
	p := planGC(v, g.kinds, o)
	m := o.GetMetadata()
	switch p.action {
	case gcDelete:
		g.log.Debug("deleting dependent", "kind", k.Name, "key", objKey, "propagationPolicy", p.policy)
		_, err := g.deps.Writer.Delete(ctx, k, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}, PropagationPolicy: p.policy})
		if err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("delete %s %s: %w", k.Plural, objKey, err)
		}
	case gcUnlink:
		next := proto.Clone(o).(api.Object)
		api.Meta(next).OwnerReferences = slices.Clone(p.keep)
		if _, err := g.deps.Writer.Update(ctx, k, next); err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("remove gone owners of %s %s: %w", k.Plural, objKey, err)
		}
	}
	return Result{}, nil
}

// finalize carries out planOwner for an owner being deleted.
func (g *GarbageCollector) finalize(ctx context.Context, v View, k *api.Kind, owner api.Object) error {
	p := planOwner(v, g.kinds, owner)
	uid := owner.GetMetadata().GetUid()
	for _, d := range p.orphan {
		if _, err := g.deps.Writer.Update(ctx, d.kind, withoutOwnerRef(d.obj, uid)); err != nil && !isNotFound(err) {
			return fmt.Errorf("orphan %s %s: %w", d.kind.Plural, api.ObjectKey(d.obj), err)
		}
	}
	for _, d := range p.remove {
		g.q.Add(gcKey(d.kind, d.obj))
	}
	if len(p.finalizers) == 0 {
		return nil
	}
	next := proto.Clone(owner).(api.Object)
	m := api.Meta(next)
	m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool { return slices.Contains(p.finalizers, f) })
	g.log.Debug("removing finalizers", "kind", k.Name, "key", api.ObjectKey(owner), "finalizers", p.finalizers)
	if _, err := g.deps.Writer.Update(ctx, k, next); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove finalizers %v of %s %s: %w", p.finalizers, k.Plural, api.ObjectKey(owner), err)
	}
	return nil
}
