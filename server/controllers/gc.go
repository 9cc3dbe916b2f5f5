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

// GarbageCollector deletes the dependents whose owners are gone, by ownerReferences, as
// Kubernetes' garbage collector does with background propagation: the owner goes at
// once, its dependents after it, theirs after them. A dependent with several owners goes
// when the last one goes; the references to the gone ones are removed meanwhile.
//
// DeleteRequest has no propagationPolicy yet, so Orphan and Foreground are not offered.
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

// gcKey names a dependent: "Kind/namespace/name".
func gcKey(k *api.Kind, o api.Object) string { return k.Name + "/" + api.ObjectKey(o) }

func parseGCKey(key string) (*api.Kind, string, error) {
	kind, objKey, ok := strings.Cut(key, "/")
	if !ok {
		return nil, "", fmt.Errorf("bad key %q", key)
	}
	k, err := api.LookupAPI("", kind)
	return k, objKey, err
}

// Setup implements Controller: an object with owners is queued when it changes, and
// every dependent of an object is queued when the object goes.
func (g *GarbageCollector) Setup(inf *Informers, q *Queue) {
	g.q = q
	for _, k := range g.kinds {
		inf.On(k, func(e Event) {
			if len(e.Obj.GetMetadata().GetOwnerReferences()) > 0 {
				q.Add(gcKey(k, e.Obj))
			}
			if e.Type == api.Deleted {
				g.queueDependents(e.Obj.GetMetadata().GetUid())
			}
		})
	}
}

func (g *GarbageCollector) queueDependents(uid string) {
	v := g.deps.Source.View()
	for _, k := range g.kinds {
		for _, d := range v.Owned(k, uid) {
			g.q.Add(gcKey(k, d))
		}
	}
}

// gcAction is what the collector does with one dependent.
type gcAction int

const (
	gcKeep   gcAction = iota
	gcDelete          // every owner is gone
	gcUnlink          // some owners are gone: drop the references to them
)

// planGC decides about one dependent: an owner exists when an object of its kind with
// its name (in the dependent's namespace, for a namespaced kind) has its uid. An owner of
// a kind orch does not know is taken to exist: nothing is deleted on a guess.
func planGC(v View, dep api.Object) (gcAction, []*orchv1.OwnerReference) {
	refs := dep.GetMetadata().GetOwnerReferences()
	if len(refs) == 0 {
		return gcKeep, nil
	}
	var alive []*orchv1.OwnerReference
	for _, r := range refs {
		if ownerExists(v, dep, r) {
			alive = append(alive, r)
		}
	}
	switch {
	case len(alive) == len(refs):
		return gcKeep, nil
	case len(alive) == 0:
		return gcDelete, nil
	}
	return gcUnlink, alive
}

func ownerExists(v View, dep api.Object, r *orchv1.OwnerReference) bool {
	k, err := api.LookupAPI("", r.GetKind())
	if err != nil {
		return true
	}
	ns := ""
	if k.Namespaced {
		ns = dep.GetMetadata().GetNamespace()
	}
	o, ok := v.Get(k, api.Key(ns, r.GetName()))
	return ok && o.GetMetadata().GetUid() == r.GetUid()
}

// Sync implements Controller.
func (g *GarbageCollector) Sync(ctx context.Context, key string) (Result, error) {
	k, objKey, err := parseGCKey(key)
	if err != nil {
		return Result{}, nil // not retried: it never parses
	}
	v := g.deps.Source.View()
	dep, ok := v.Get(k, objKey)
	if !ok {
		return Result{}, nil
	}
	action, alive := planGC(v, dep)
	m := dep.GetMetadata()
	switch action {
	case gcDelete:
		if m.GetDeletionTimestamp() != nil {
			return Result{}, nil // already going
		}
		g.log.Debug("deleting dependent whose owners are gone", "kind", k.Name, "key", objKey)
		_, err := g.deps.Writer.Delete(ctx, k, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}})
		if err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("delete %s %s: %w", k.Plural, objKey, err)
		}
	case gcUnlink:
		next := proto.Clone(dep).(api.Object)
		api.Meta(next).OwnerReferences = slices.Clone(alive)
		if _, err := g.deps.Writer.Update(ctx, k, next); err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("remove gone owners of %s %s: %w", k.Plural, objKey, err)
		}
	}
	return Result{}, nil
}
