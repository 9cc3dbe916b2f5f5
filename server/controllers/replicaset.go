package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// BurstReplicas is the most pods a ReplicaSet creates or deletes in one sync, as
// Kubernetes' --concurrent-... burstReplicas (500).
const BurstReplicas = 500

// PodDeletionCostAnnotation orders the deletion of a ReplicaSet's surplus pods: lower
// cost goes first (Kubernetes' controller.kubernetes.io/pod-deletion-cost).
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// ReplicaSetController keeps spec.replicas pods of each ReplicaSet running.
type ReplicaSetController struct {
	deps Deps
	log  *slog.Logger
	exp  *Expectations
	q    *Queue
}

// NewReplicaSetController returns the ReplicaSet controller.
func NewReplicaSetController(deps Deps) *ReplicaSetController {
	return &ReplicaSetController{deps: deps, log: deps.Log.With("controller", "replicaset"), exp: NewExpectations(deps.Now)}
}

// Name implements Controller.
func (c *ReplicaSetController) Name() string { return "replicaset" }

// Setup implements Controller: a ReplicaSet's key is queued when it changes and when a
// pod it owns, or an orphan it could adopt, changes.
func (c *ReplicaSetController) Setup(inf *Informers, q *Queue) {
	c.q = q
	inf.On(api.ReplicaSetKind, func(e Event) { q.Add(api.ObjectKey(e.Obj)) })
	inf.On(api.PodKind, c.podChanged)
}

func (c *ReplicaSetController) podChanged(e Event) {
	p := e.Obj.(*orchv1.Pod)
	podKey := api.ObjectKey(p)
	going := e.Type == api.Deleted || p.GetMetadata().GetDeletionTimestamp() != nil
	v := c.deps.Source.View()
	owner := func(o api.Object) string {
		ref := controllerRef(o)
		if ref == nil || ref.GetKind() != api.ReplicaSetKind.Name {
			return ""
		}
		return api.Key(o.GetMetadata().GetNamespace(), ref.GetName())
	}
	if key := owner(p); key != "" {
		switch {
		case going:
			c.exp.DeletionObserved(key, podKey)
		case e.Type == api.Added:
			c.exp.CreationObserved(key)
		}
		c.q.Add(key)
	} else if !going {
		c.queueMatching(v, p)
	}
	if e.Prev != nil {
		if key := owner(e.Prev); key != "" && key != owner(p) {
			c.q.Add(key)
		}
		if !maps.Equal(e.Prev.GetMetadata().GetLabels(), p.GetMetadata().GetLabels()) && controllerRef(e.Prev) == nil {
			c.queueMatching(v, e.Prev.(*orchv1.Pod))
		}
	}
}

// queueMatching queues the ReplicaSets whose selector matches an orphan pod.
func (c *ReplicaSetController) queueMatching(v View, p *orchv1.Pod) {
	set := labels.Set(p.GetMetadata().GetLabels())
	for _, o := range v.List(api.ReplicaSetKind, p.GetMetadata().GetNamespace()) {
		if selectorOf(o.(*orchv1.ReplicaSet).GetSpec().GetSelector()).Matches(set) {
			c.q.Add(api.ObjectKey(o))
		}
	}
}

// Sync implements Controller.
func (c *ReplicaSetController) Sync(ctx context.Context, key string) (Result, error) {
	v := c.deps.Source.View()
	o, ok := v.Get(api.ReplicaSetKind, key)
	if !ok {
		c.exp.Delete(key)
		return Result{}, nil
	}
	rs := o.(*orchv1.ReplicaSet)
	pods := podsOf(v, rs.GetMetadata().GetNamespace())
	// A deletion missed while a feed was lost is seen here, in the store itself.
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil {
			c.exp.DeletionObserved(key, api.ObjectKey(p))
		}
	}
	c.exp.observeGone(key, func(podKey string) bool { _, ok := v.Get(api.PodKind, podKey); return !ok })
	plan := planReplicaSet(rsInput{
		RS: rs, Pods: pods, Now: c.deps.Now(),
		NeedsSync: c.exp.Satisfied(key) && rs.GetMetadata().GetDeletionTimestamp() == nil,
	})
	if err := c.claim(ctx, plan); err != nil {
		return Result{}, err
	}
	manageErr := c.manage(ctx, key, rs, plan)
	st, changed := plan.Status, plan.Status != nil
	if st == nil {
		st = proto.Clone(rs.GetStatus()).(*orchv1.ReplicaSetStatus)
		if st == nil {
			st = &orchv1.ReplicaSetStatus{}
		}
	}
	if setReplicaFailure(st, plan, manageErr, c.deps.Now()) {
		changed = true
	}
	if changed {
		next := proto.Clone(rs).(*orchv1.ReplicaSet)
		next.Status = st
		if _, err := c.deps.Writer.UpdateStatus(ctx, api.ReplicaSetKind, next); err != nil && !isNotFound(err) {
			return Result{}, errors.Join(manageErr, fmt.Errorf("update status of replicaset %s: %w", key, err))
		}
	}
	if manageErr != nil {
		return Result{}, manageErr
	}
	return Result{RequeueAfter: plan.RequeueAfter}, nil
}

func (c *ReplicaSetController) claim(ctx context.Context, plan rsPlan) error {
	for _, p := range append(plan.Adopt, plan.Release...) {
		if _, err := c.deps.Writer.Update(ctx, api.PodKind, p); err != nil && !isNotFound(err) {
			return fmt.Errorf("claim pod %s: %w", api.ObjectKey(p), err)
		}
	}
	return nil
}

// manage creates and deletes pods as the plan says, with expectations.
func (c *ReplicaSetController) manage(ctx context.Context, key string, rs *orchv1.ReplicaSet, plan rsPlan) error {
	if plan.Create > 0 {
		c.exp.ExpectCreations(key, plan.Create)
		created, err := slowStartBatch(plan.Create, 1, func() error {
			p, err := c.deps.Writer.Create(ctx, api.PodKind, newPodFromTemplate(rs))
			if err != nil {
				c.deps.Recorder.Event(rs, record.Warning, "FailedCreate", "Error creating: %v", err)
				return err
			}
			c.deps.Recorder.Event(rs, record.Normal, "SuccessfulCreate", "Created pod: %s", p.GetMetadata().GetName())
			return nil
		})
		// The pods whose creation failed or was never tried will not be seen.
		for range plan.Create - created {
			c.exp.CreationObserved(key)
		}
		if err != nil {
			return fmt.Errorf("create pods of replicaset %s: %w", key, err)
		}
	}
	if len(plan.Delete) > 0 {
		keys := make([]string, len(plan.Delete))
		for i, p := range plan.Delete {
			keys[i] = api.ObjectKey(p)
		}
		c.exp.ExpectDeletions(key, keys)
		var wg sync.WaitGroup
		errs := make([]error, len(plan.Delete))
		for i, p := range plan.Delete {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := p.GetMetadata()
				_, err := c.deps.Writer.Delete(ctx, api.PodKind, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
					Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}})
				switch {
				case err == nil:
					c.deps.Recorder.Event(rs, record.Normal, "SuccessfulDelete", "Deleted pod: %s", m.GetName())
				case !isNotFound(err):
					c.exp.DeletionObserved(key, keys[i])
					errs[i] = fmt.Errorf("delete pod %s: %w", keys[i], err)
					c.deps.Recorder.Event(rs, record.Warning, "FailedDelete", "Error deleting: %v", err)
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// ReplicaFailure is the ReplicaSet condition of pods it could not create or delete.
const ReplicaFailure = "ReplicaFailure"

// setReplicaFailure sets the ReplicaFailure condition when creating or deleting pods
// failed, and removes it once that works again, as Kubernetes' calculateStatus.
func setReplicaFailure(st *orchv1.ReplicaSetStatus, plan rsPlan, err error, now time.Time) bool {
	i := slices.IndexFunc(st.GetConditions(), func(c *orchv1.ReplicaSetCondition) bool { return c.GetType() == ReplicaFailure })
	switch {
	case err != nil && i < 0:
		reason := "FailedDelete"
		if plan.Create > 0 {
			reason = "FailedCreate"
		}
		st.Conditions = append(st.Conditions, &orchv1.ReplicaSetCondition{Type: ReplicaFailure, Status: api.ConditionTrue,
			Reason: reason, Message: err.Error(), LastTransitionTime: timestamppb.New(now.UTC().Truncate(time.Second))})
		return true
	case err == nil && i >= 0:
		st.Conditions = slices.Delete(st.Conditions, i, i+1)
		return true
	}
	return false
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... run in parallel, and
// stops after the first batch with an error: a failing create (a quota, a broken
// template) costs one call, not count. It returns how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); count-done > 0; batch = min(2*batch, count-done) {
		var wg sync.WaitGroup
		errs := make([]error, batch)
		for i := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		done += ok
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}

func isNotFound(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeNotFound
}

// isConflict reports a stale resourceVersion or uid (Kubernetes' 409 Conflict).
func isConflict(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeAborted
}

func podsOf(v View, namespace string) []*orchv1.Pod {
	objs := v.List(api.PodKind, namespace)
	out := make([]*orchv1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*orchv1.Pod)
	}
	return out
}

// newPodFromTemplate is a pod of rs's template, owned by rs, named <rs>-<random> by the
// API's generateName admission.
func newPodFromTemplate(rs *orchv1.ReplicaSet) *orchv1.Pod {
	t := rs.GetSpec().GetTemplate()
	m := rs.GetMetadata()
	pm := &orchv1.ObjectMeta{
		Namespace:       m.GetNamespace(),
		GenerateName:    m.GetName() + "-",
		Labels:          maps.Clone(t.GetMetadata().GetLabels()),
		Annotations:     maps.Clone(t.GetMetadata().GetAnnotations()),
		Finalizers:      append([]string(nil), t.GetMetadata().GetFinalizers()...),
		OwnerReferences: []*orchv1.OwnerReference{newControllerRef(api.ReplicaSetKind, rs)},
	}
	spec, _ := proto.Clone(t.GetSpec()).(*orchv1.PodSpec)
	if spec == nil {
		spec = &orchv1.PodSpec{}
	}
	return &orchv1.Pod{Metadata: pm, Spec: spec}
}

// rsInput is everything a ReplicaSet's reconcile reads.
type rsInput struct {
	RS   *orchv1.ReplicaSet
	Pods []*orchv1.Pod // the pods of its namespace
	Now  time.Time
	// NeedsSync: the expectations are satisfied and the ReplicaSet is not being deleted;
	// otherwise only its pods are claimed and its status computed.
	NeedsSync bool
}

// rsPlan is what a ReplicaSet's reconcile decided.
type rsPlan struct {
	Adopt, Release []*orchv1.Pod // the pods to write with their new ownerReferences
	Create         int
	Delete         []*orchv1.Pod
	Status         *orchv1.ReplicaSetStatus // nil when unchanged
	RequeueAfter   time.Duration
}

// planReplicaSet is the ReplicaSet reconcile: claim the pods, count the active ones,
// create or delete the difference (at most BurstReplicas), and compute the status.
func planReplicaSet(in rsInput) rsPlan {
	var plan rsPlan
	rs := in.RS
	sel := selectorOf(rs.GetSpec().GetSelector())
	ref := newControllerRef(api.ReplicaSetKind, rs)
	var active []*orchv1.Pod
	for _, p := range in.Pods {
		if podActive(p) {
			active = append(active, p)
		}
	}
	owned, adopt, release := claim(rs, sel, active)
	for _, p := range adopt {
		plan.Adopt = append(plan.Adopt, withOwnerRef(p, ref))
	}
	for _, p := range release {
		plan.Release = append(plan.Release, withoutOwnerRef(p, rs.GetMetadata().GetUid()))
	}
	pods := append(owned, adopt...)

	if in.NeedsSync {
		diff := len(pods) - int(int32Value(rs.GetSpec().Replicas, 1))
		switch {
		case diff < 0:
			plan.Create = min(-diff, BurstReplicas)
		case diff > 0:
			plan.Delete = podsToDelete(pods, min(diff, BurstReplicas))
		}
	}

	st := replicaSetStatus(rs, pods, in.Now)
	if !proto.Equal(st, rs.GetStatus()) {
		plan.Status = st
	}
	plan.RequeueAfter = nextAvailable(pods, rs.GetSpec().GetMinReadySeconds(), in.Now)
	return plan
}

// replicaSetStatus counts the pods as Kubernetes' calculateStatus.
func replicaSetStatus(rs *orchv1.ReplicaSet, pods []*orchv1.Pod, now time.Time) *orchv1.ReplicaSetStatus {
	st := &orchv1.ReplicaSetStatus{ObservedGeneration: rs.GetMetadata().GetGeneration()}
	if cur := rs.GetStatus(); cur != nil {
		for _, c := range cur.GetConditions() {
			st.Conditions = append(st.Conditions, proto.Clone(c).(*orchv1.ReplicaSetCondition))
		}
	}
	tl := labels.SelectorFromSet(rs.GetSpec().GetTemplate().GetMetadata().GetLabels())
	for _, p := range pods {
		st.Replicas++
		if tl.Matches(labels.Set(p.GetMetadata().GetLabels())) {
			st.FullyLabeledReplicas++
		}
		if podReady(p) {
			st.ReadyReplicas++
			if podAvailable(p, rs.GetSpec().GetMinReadySeconds(), now) {
				st.AvailableReplicas++
			}
		}
	}
	return st
}

// nextAvailable is how long until the first ready pod that is not yet available becomes
// available (0 when none is waiting): the sync that counts it must happen then, with no
// event to trigger it.
func nextAvailable(pods []*orchv1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds == 0 {
		return 0
	}
	var next time.Duration
	for _, p := range pods {
		if !podReady(p) || podAvailable(p, minReadySeconds, now) {
			continue
		}
		t := podReadyCondition(p).GetLastTransitionTime()
		if t == nil {
			continue
		}
		d := t.AsTime().Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		d = max(d, 0) + time.Second // timestamps are whole seconds
		if next == 0 || d < next {
			next = d
		}
	}
	return next
}

// podsToDelete picks the n pods to delete first, in Kubernetes' order: unscheduled
// before scheduled, Pending before Unknown before Running, not ready before ready, lower
// deletion cost first, pods sharing a node with more of their ReplicaSet's pods first,
// ready for less time first, more restarts first, newer first.
func podsToDelete(pods []*orchv1.Pod, n int) []*orchv1.Pod {
	perNode := map[string]int{}
	for _, p := range pods {
		if nn := p.GetSpec().GetNodeName(); nn != "" {
			perNode[nn]++
		}
	}
	ranked := append([]*orchv1.Pod(nil), pods...)
	sort.SliceStable(ranked, func(i, j int) bool { return deleteBefore(ranked[i], ranked[j], perNode) })
	return ranked[:n]
}

var phaseRank = map[string]int{api.PodPending: 0, api.PodUnknown: 1, api.PodRunning: 2}

func deleteBefore(a, b *orchv1.Pod, perNode map[string]int) bool {
	an, bn := a.GetSpec().GetNodeName(), b.GetSpec().GetNodeName()
	if (an == "") != (bn == "") {
		return an == ""
	}
	if pa, pb := phaseRank[a.GetStatus().GetPhase()], phaseRank[b.GetStatus().GetPhase()]; pa != pb {
		return pa < pb
	}
	if ra, rb := podReady(a), podReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if da, db := perNode[an], perNode[bn]; da != db {
		return da > db
	}
	if podReady(a) && podReady(b) {
		ta, tb := podReadyCondition(a).GetLastTransitionTime(), podReadyCondition(b).GetLastTransitionTime()
		if !proto.Equal(ta, tb) {
			if ta == nil || tb == nil {
				return ta == nil
			}
			return ta.AsTime().After(tb.AsTime())
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	ta, tb := a.GetMetadata().GetCreationTimestamp(), b.GetMetadata().GetCreationTimestamp()
	if !proto.Equal(ta, tb) {
		if ta == nil || tb == nil {
			return ta == nil
		}
		return ta.AsTime().After(tb.AsTime())
	}
	return a.GetMetadata().GetName() > b.GetMetadata().GetName()
}

func deletionCost(p *orchv1.Pod) int64 {
	n, err := strconv.ParseInt(p.GetMetadata().GetAnnotations()[PodDeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return n
}

func restarts(p *orchv1.Pod) int32 {
	var n int32
	for _, c := range p.GetStatus().GetContainerStatuses() {
		n = max(n, c.GetRestartCount())
	}
	return n
}
