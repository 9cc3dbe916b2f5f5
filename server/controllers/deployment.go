package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// DeploymentController rolls Deployments out through ReplicaSets, as Kubernetes'
// deployment controller: one ReplicaSet per pod template, named <deployment>-<hash>,
// RollingUpdate within maxSurge and maxUnavailable or Recreate, proportional scaling of
// a rollout in flight, revisions, history cleanup, pause, and the Available and
// Progressing conditions with the progress deadline.
type DeploymentController struct {
	deps Deps
	log  *slog.Logger
	q    *Queue
}

// NewDeploymentController returns the Deployment controller.
func NewDeploymentController(deps Deps) *DeploymentController {
	return &DeploymentController{deps: deps, log: deps.Log.With("controller", "deployment")}
}

// Name implements Controller.
func (c *DeploymentController) Name() string { return "deployment" }

// Setup implements Controller: a Deployment is queued when it changes, when one of its
// ReplicaSets (or an orphan it could adopt) changes, and when a pod of its ReplicaSets
// goes (Recreate waits for the old pods to be gone).
func (c *DeploymentController) Setup(inf *Informers, q *Queue) {
	c.q = q
	inf.On(api.DeploymentKind, func(e Event) { q.Add(api.ObjectKey(e.Obj)) })
	inf.On(api.ReplicaSetKind, func(e Event) {
		c.queueOwner(e.Obj)
		if e.Prev != nil {
			c.queueOwner(e.Prev)
		}
	})
	inf.On(api.PodKind, func(e Event) {
		if e.Type != api.Deleted {
			return
		}
		ref := controllerRef(e.Obj)
		if ref == nil || ref.GetKind() != api.ReplicaSetKind.Name {
			return
		}
		if rs, ok := c.deps.Source.View().Get(api.ReplicaSetKind, api.Key(e.Obj.GetMetadata().GetNamespace(), ref.GetName())); ok {
			c.queueOwner(rs)
		}
	})
}

func (c *DeploymentController) queueOwner(rs api.Object) {
	ns := rs.GetMetadata().GetNamespace()
	if ref := controllerRef(rs); ref != nil {
		if ref.GetKind() == api.DeploymentKind.Name {
			c.q.Add(api.Key(ns, ref.GetName()))
		}
		return
	}
	set := labels.Set(rs.GetMetadata().GetLabels())
	for _, d := range c.deps.Source.View().List(api.DeploymentKind, ns) {
		if selectorOf(d.(*orchv1.Deployment).GetSpec().GetSelector()).Matches(set) {
			c.q.Add(api.ObjectKey(d))
		}
	}
}

// Sync implements Controller.
// scaledEvent records a change of a ReplicaSet's size, as Kubernetes words it.
func (c *DeploymentController) scaledEvent(d *orchv1.Deployment, rs string, from, to int32) {
	switch {
	case to > from:
		c.deps.Recorder.Event(d, record.Normal, "ScalingReplicaSet", "Scaled up replica set %s from %d to %d", rs, from, to)
	case to < from:
		c.deps.Recorder.Event(d, record.Normal, "ScalingReplicaSet", "Scaled down replica set %s from %d to %d", rs, from, to)
	}
}

func (c *DeploymentController) Sync(ctx context.Context, key string) (Result, error) {
	v := c.deps.Source.View()
	o, ok := v.Get(api.DeploymentKind, key)
	if !ok {
		return Result{}, nil
	}
	d := o.(*orchv1.Deployment)
	ns := d.GetMetadata().GetNamespace()
	var rss []*orchv1.ReplicaSet
	for _, o := range v.List(api.ReplicaSetKind, ns) {
		rss = append(rss, o.(*orchv1.ReplicaSet))
	}
	plan := planDeployment(deployInput{D: d, RSs: rss, Pods: podsOf(v, ns), Now: c.deps.Now()})
	w := c.deps.Writer
	if plan.Create != nil {
		if _, err := w.Create(ctx, api.ReplicaSetKind, plan.Create); err != nil {
			return Result{}, fmt.Errorf("create replicaset %s: %w", plan.Create.GetMetadata().GetName(), err)
		}
		c.scaledEvent(d, plan.Create.GetMetadata().GetName(), 0, plan.Create.GetSpec().GetReplicas())
	}
	for _, rs := range plan.Updates {
		if _, err := w.Update(ctx, api.ReplicaSetKind, rs); err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("update replicaset %s: %w", rs.GetMetadata().GetName(), err)
		}
		for _, old := range rss {
			if old.GetMetadata().GetUid() == rs.GetMetadata().GetUid() {
				c.scaledEvent(d, rs.GetMetadata().GetName(), old.GetSpec().GetReplicas(), rs.GetSpec().GetReplicas())
			}
		}
	}
	for _, rs := range plan.Deletes {
		m := rs.GetMetadata()
		_, err := w.Delete(ctx, api.ReplicaSetKind, &orchv1.DeleteRequest{Namespace: ns, Name: m.GetName(),
			Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid()), ResourceVersion: proto.String(m.GetResourceVersion())}})
		if err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("delete old replicaset %s: %w", m.GetName(), err)
		}
	}
	cur := d
	if plan.Annotations != nil {
		next := proto.Clone(d).(*orchv1.Deployment)
		api.Meta(next).Annotations = plan.Annotations
		u, err := w.Update(ctx, api.DeploymentKind, next)
		if err != nil {
			return Result{}, fmt.Errorf("update deployment %s: %w", key, err)
		}
		cur = u.(*orchv1.Deployment)
	}
	if plan.Status != nil {
		next := proto.Clone(cur).(*orchv1.Deployment)
		next.Status = plan.Status
		if _, err := w.UpdateStatus(ctx, api.DeploymentKind, next); err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("update status of deployment %s: %w", key, err)
		}
	}
	return Result{RequeueAfter: plan.RequeueAfter}, plan.Err
}

// deployInput is everything a Deployment's reconcile reads.
type deployInput struct {
	D    *orchv1.Deployment
	RSs  []*orchv1.ReplicaSet // the ReplicaSets of its namespace
	Pods []*orchv1.Pod        // the pods of its namespace
	Now  time.Time
}

// deployPlan is the writes a Deployment's reconcile decided, in the order to make them.
type deployPlan struct {
	Create      *orchv1.ReplicaSet   // the new ReplicaSet
	Updates     []*orchv1.ReplicaSet // scaled, annotated, adopted or released ReplicaSets
	Deletes     []*orchv1.ReplicaSet // old ReplicaSets past revisionHistoryLimit
	Annotations map[string]string    // the Deployment's new annotations (revision), nil when unchanged
	Status      *orchv1.DeploymentStatus
	// Err is a condition the sync cannot get past by itself (a hash collision): the
	// plan's writes are made, then the key is retried.
	Err          error
	RequeueAfter time.Duration
}

// deploySim plays Kubernetes' syncDeployment on copies: each step changes the copies as
// the real controller's writes would, and the plan is the difference at the end.
type deploySim struct {
	in      deployInput
	d       *orchv1.Deployment // a copy: annotations and status change
	rss     []*orchv1.ReplicaSet
	nsRSs   []*orchv1.ReplicaSet
	dirty   map[*orchv1.ReplicaSet]bool
	created *orchv1.ReplicaSet
	deletes []*orchv1.ReplicaSet
	release []*orchv1.ReplicaSet
	now     time.Time
	requeue time.Duration
	err     error
}

// planDeployment is the Deployment reconcile.
func planDeployment(in deployInput) deployPlan {
	s := &deploySim{in: in, d: proto.Clone(in.D).(*orchv1.Deployment), dirty: map[*orchv1.ReplicaSet]bool{}, now: in.Now, nsRSs: in.RSs}
	if s.d.Status == nil {
		s.d.Status = &orchv1.DeploymentStatus{}
	}
	s.claim()
	s.syncDeployment()
	return s.plan()
}

func (s *deploySim) claim() {
	d := s.in.D
	sel := selectorOf(d.GetSpec().GetSelector())
	owned, adopt, release := claim(d, sel, s.in.RSs)
	ref := newControllerRef(api.DeploymentKind, d)
	for _, rs := range owned {
		s.rss = append(s.rss, proto.Clone(rs).(*orchv1.ReplicaSet))
	}
	for _, rs := range adopt {
		c := withOwnerRef(rs, ref)
		s.rss = append(s.rss, c)
		s.dirty[c] = true
	}
	for _, rs := range release {
		s.release = append(s.release, withoutOwnerRef(rs, d.GetMetadata().GetUid()))
	}
	byCreation(s.rss)
}

func (s *deploySim) plan() deployPlan {
	p := deployPlan{Err: s.err, RequeueAfter: s.requeue}
	if s.created != nil {
		p.Create = s.created
	}
	for _, rs := range s.rss {
		if s.dirty[rs] && rs != s.created {
			p.Updates = append(p.Updates, rs)
		}
	}
	sort.SliceStable(p.Updates, func(i, j int) bool {
		return p.Updates[i].GetMetadata().GetName() < p.Updates[j].GetMetadata().GetName()
	})
	p.Updates = append(p.Updates, s.release...)
	p.Deletes = s.deletes
	if a := s.d.GetMetadata().GetAnnotations(); !mapsEqual(a, s.in.D.GetMetadata().GetAnnotations()) {
		p.Annotations = a
	}
	if !proto.Equal(s.d.GetStatus(), s.in.D.GetStatus()) {
		p.Status = s.d.GetStatus()
	}
	return p
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (s *deploySim) desired() int32 { return int32Value(s.d.GetSpec().Replicas, 1) }

func (s *deploySim) syncDeployment() {
	d := s.d
	if d.GetMetadata().GetDeletionTimestamp() != nil {
		newRS, old := s.allReplicaSets(false)
		s.syncStatus(append(old, newRS), newRS)
		return
	}
	s.checkPausedConditions()
	if d.GetSpec().GetPaused() {
		s.sync()
		return
	}
	if s.isScalingEvent() {
		s.sync()
		return
	}
	if d.GetSpec().GetStrategy().GetType() == RecreateStrategy {
		s.rolloutRecreate()
		return
	}
	s.rolloutRolling()
}

// allReplicaSets finds the new ReplicaSet (the oldest whose template is the
// Deployment's) and the old ones, moving the new one's revision up, and creates the
// new one when asked and absent.
func (s *deploySim) allReplicaSets(create bool) (*orchv1.ReplicaSet, []*orchv1.ReplicaSet) {
	var newRS *orchv1.ReplicaSet
	var old []*orchv1.ReplicaSet
	for _, rs := range s.rss {
		if newRS == nil && equalIgnoreHash(rs.GetSpec().GetTemplate(), s.d.GetSpec().GetTemplate()) {
			newRS = rs
		} else {
			old = append(old, rs)
		}
	}
	return s.newReplicaSet(newRS, old, create), old
}

func (s *deploySim) newReplicaSet(existing *orchv1.ReplicaSet, old []*orchv1.ReplicaSet, create bool) *orchv1.ReplicaSet {
	d := s.d
	newRevision := maxRevision(old) + 1
	if existing != nil {
		changed := setNewReplicaSetAnnotations(d, existing, newRevision, true)
		if existing.GetSpec().GetMinReadySeconds() != d.GetSpec().GetMinReadySeconds() {
			existing.Spec.MinReadySeconds = d.GetSpec().GetMinReadySeconds()
			changed = true
		}
		if changed {
			s.dirty[existing] = true
		}
		setAnnotation(api.Meta(d), RevisionAnnotation, existing.GetMetadata().GetAnnotations()[RevisionAnnotation])
		if hasProgressDeadline(d) && getCondition(d.Status, DeploymentProgressing) == nil {
			setCondition(d.Status, newCondition(DeploymentProgressing, api.ConditionTrue, FoundNewRSReason,
				fmt.Sprintf("Found new replica set %q", existing.GetMetadata().GetName()), s.now))
		}
		return existing
	}
	if !create {
		return nil
	}
	hash := templateHash(d.GetSpec().GetTemplate(), d.GetStatus().CollisionCount)
	tmpl := proto.Clone(d.GetSpec().GetTemplate()).(*orchv1.PodTemplateSpec)
	tm := api.Meta(tmpl)
	if tm.Labels == nil {
		tm.Labels = map[string]string{}
	}
	tm.Labels[PodTemplateHashLabel] = hash
	sel := proto.Clone(d.GetSpec().GetSelector()).(*orchv1.LabelSelector)
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	name := d.GetMetadata().GetName() + "-" + hash
	for _, rs := range s.nsRSs {
		if rs.GetMetadata().GetName() != name {
			continue
		}
		// A ReplicaSet of that name that is not this template's: bump the collision
		// count so the next sync hashes to another name.
		if ref := controllerRef(rs); ref == nil || ref.GetUid() != d.GetMetadata().GetUid() || !equalIgnoreHash(rs.GetSpec().GetTemplate(), d.GetSpec().GetTemplate()) {
			n := int32Value(d.Status.CollisionCount, 0) + 1
			d.Status.CollisionCount = &n
			s.err = fmt.Errorf("replicaset %q already exists with another template: collision count now %d", name, n)
		}
		return nil
	}
	rs := &orchv1.ReplicaSet{
		Metadata: &orchv1.ObjectMeta{Namespace: d.GetMetadata().GetNamespace(), Name: name,
			Labels:          cloneStringMap(tm.Labels),
			OwnerReferences: []*orchv1.OwnerReference{newControllerRef(api.DeploymentKind, s.in.D)}},
		Spec: &orchv1.ReplicaSetSpec{Replicas: proto.Int32(0), MinReadySeconds: d.GetSpec().GetMinReadySeconds(), Selector: sel, Template: tmpl},
	}
	all := append(append([]*orchv1.ReplicaSet(nil), old...), rs)
	rs.Spec.Replicas = proto.Int32(s.newRSNewReplicas(all, rs))
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	s.created = rs
	s.rss = append(s.rss, rs)
	setAnnotation(api.Meta(d), RevisionAnnotation, fmt.Sprint(newRevision))
	if hasProgressDeadline(d) {
		setCondition(d.Status, newCondition(DeploymentProgressing, api.ConditionTrue, NewReplicaSetReason,
			fmt.Sprintf("Created new replica set %q", name), s.now))
	}
	return rs
}

// newRSNewReplicas is the size the new ReplicaSet may have now: all of it for Recreate;
// for RollingUpdate, as much as maxSurge leaves room for.
func (s *deploySim) newRSNewReplicas(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) int32 {
	desired := s.desired()
	if !isRollingUpdate(s.d) {
		return desired
	}
	maxTotal := desired + int32(maxSurge(s.d))
	current := specReplicas(all)
	if current >= maxTotal {
		return replicas(newRS)
	}
	up := min(maxTotal-current, desired-replicas(newRS))
	return replicas(newRS) + max(up, 0)
}

// scale sets rs's size and its replicas annotations; it reports whether the size moved.
func (s *deploySim) scale(rs *orchv1.ReplicaSet, n int32) bool {
	d := s.desired()
	m := d + int32(maxSurge(s.d))
	sized := replicas(rs) != n
	if sized || replicasAnnotationsNeedUpdate(rs, d, m) {
		rs.Spec.Replicas = proto.Int32(n)
		setReplicasAnnotations(rs, d, m)
		s.dirty[rs] = true
	}
	return sized
}

func (s *deploySim) rolloutRolling() {
	newRS, old := s.allReplicaSets(true)
	if newRS == nil {
		s.syncStatus(old, nil)
		return
	}
	all := append(append([]*orchv1.ReplicaSet(nil), old...), newRS)
	if s.reconcileNewReplicaSet(all, newRS) {
		s.syncRolloutStatus(all, newRS)
		return
	}
	if s.reconcileOldReplicaSets(all, activeReplicaSets(old), newRS) {
		s.syncRolloutStatus(all, newRS)
		return
	}
	if deploymentComplete(s.d, s.d.Status) {
		s.cleanup(old)
	}
	s.syncRolloutStatus(all, newRS)
}

func (s *deploySim) reconcileNewReplicaSet(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) bool {
	desired := s.desired()
	if replicas(newRS) == desired {
		return false
	}
	if replicas(newRS) > desired {
		return s.scale(newRS, desired)
	}
	return s.scale(newRS, s.newRSNewReplicas(all, newRS))
}

func (s *deploySim) reconcileOldReplicaSets(all, old []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) bool {
	if specReplicas(old) == 0 {
		return false
	}
	allPods := specReplicas(all)
	minAvailable := s.desired() - int32(maxUnavailable(s.d))
	newUnavailable := replicas(newRS) - newRS.GetStatus().GetAvailableReplicas()
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	// Unhealthy old replicas go first: they count against nothing.
	cleaned := s.cleanupUnhealthyReplicas(old, maxScaledDown)
	scaled := s.scaleDownOldForRollingUpdate(append(append([]*orchv1.ReplicaSet(nil), old...), newRS), old)
	return cleaned+scaled > 0
}

func (s *deploySim) cleanupUnhealthyReplicas(old []*orchv1.ReplicaSet, maxCleanup int32) int32 {
	old = append([]*orchv1.ReplicaSet(nil), old...)
	byCreation(old)
	var total int32
	for _, rs := range old {
		if total >= maxCleanup {
			break
		}
		r := replicas(rs)
		if r == 0 || r == rs.GetStatus().GetAvailableReplicas() {
			continue
		}
		down := min(maxCleanup-total, r-rs.GetStatus().GetAvailableReplicas())
		s.scale(rs, r-down)
		total += down
	}
	return total
}

func (s *deploySim) scaleDownOldForRollingUpdate(all, old []*orchv1.ReplicaSet) int32 {
	minAvailable := s.desired() - int32(maxUnavailable(s.d))
	_, _, available := statusReplicas(all)
	if available <= minAvailable {
		return 0
	}
	totalDown := available - minAvailable
	old = append([]*orchv1.ReplicaSet(nil), old...)
	byCreation(old)
	var total int32
	for _, rs := range old {
		if total >= totalDown {
			break
		}
		r := replicas(rs)
		if r == 0 {
			continue
		}
		down := min(r, totalDown-total)
		s.scale(rs, r-down)
		total += down
	}
	return total
}

func (s *deploySim) rolloutRecreate() {
	newRS, old := s.allReplicaSets(false)
	all := append(append([]*orchv1.ReplicaSet(nil), old...), newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(old) {
		if s.scale(rs, 0) {
			scaledDown = true
		}
	}
	if scaledDown {
		s.syncRolloutStatus(all, newRS)
		return
	}
	if s.oldPodsRunning(newRS, old) {
		s.syncRolloutStatus(all, newRS)
		return
	}
	if newRS == nil {
		newRS, old = s.allReplicaSets(true)
		all = append(append([]*orchv1.ReplicaSet(nil), old...), newRS)
		if newRS == nil {
			s.syncRolloutStatus(old, nil)
			return
		}
	}
	s.scale(newRS, s.desired())
	if deploymentComplete(s.d, s.d.Status) {
		s.cleanup(old)
	}
	s.syncRolloutStatus(all, newRS)
}

// oldPodsRunning: an old ReplicaSet still has pods, or a pod of one is not finished
// (pods being deleted count: Recreate never runs old and new pods together).
func (s *deploySim) oldPodsRunning(newRS *orchv1.ReplicaSet, old []*orchv1.ReplicaSet) bool {
	if n, _, _ := statusReplicas(old); n > 0 {
		return true
	}
	oldUIDs := map[string]bool{}
	for _, rs := range old {
		oldUIDs[rs.GetMetadata().GetUid()] = true
	}
	for _, p := range s.in.Pods {
		ref := controllerRef(p)
		if ref == nil || !oldUIDs[ref.GetUid()] {
			continue
		}
		if !api.PodTerminal(p) {
			return true
		}
	}
	return false
}

func (s *deploySim) isScalingEvent() bool {
	newRS, old := s.allReplicaSets(false)
	for _, rs := range activeReplicaSets(append(old, newRS)) {
		if n, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && n != s.desired() {
			return true
		}
	}
	return false
}

// sync scales without rolling out: a paused Deployment, or a scaling event.
func (s *deploySim) sync() {
	newRS, old := s.allReplicaSets(false)
	s.scaleAll(newRS, old)
	if s.d.GetSpec().GetPaused() {
		s.cleanup(old)
	}
	all := append(append([]*orchv1.ReplicaSet(nil), old...), newRS)
	s.syncStatus(all, newRS)
}

// scaleAll is Kubernetes' proportional scaling: a new size is shared among the active
// ReplicaSets in proportion to their sizes, so a rollout in flight keeps its ratio.
func (s *deploySim) scaleAll(newRS *orchv1.ReplicaSet, old []*orchv1.ReplicaSet) {
	desired := s.desired()
	if rs := s.activeOrLatest(newRS, old); rs != nil {
		if replicas(rs) != desired {
			s.scale(rs, desired)
		}
		return
	}
	if s.isSaturated(newRS) {
		for _, rs := range activeReplicaSets(old) {
			s.scale(rs, 0)
		}
		return
	}
	if !isRollingUpdate(s.d) {
		return
	}
	all := activeReplicaSets(append(append([]*orchv1.ReplicaSet(nil), old...), newRS))
	current := specReplicas(all)
	var allowed int32
	if desired > 0 {
		allowed = desired + int32(maxSurge(s.d))
	}
	toAdd := allowed - current
	switch {
	case toAdd > 0: // larger first, newer first on a tie
		sort.SliceStable(all, func(i, j int) bool {
			if replicas(all[i]) != replicas(all[j]) {
				return replicas(all[i]) > replicas(all[j])
			}
			return creationTime(all[i]).After(creationTime(all[j]))
		})
	case toAdd < 0: // larger first, older first on a tie
		sort.SliceStable(all, func(i, j int) bool {
			if replicas(all[i]) != replicas(all[j]) {
				return replicas(all[i]) > replicas(all[j])
			}
			return creationTime(all[i]).Before(creationTime(all[j]))
		})
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = replicas(rs)
		if toAdd != 0 {
			p := s.proportion(rs, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if added != toAdd && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		s.scale(rs, sizes[i])
	}
}

func (s *deploySim) activeOrLatest(newRS *orchv1.ReplicaSet, old []*orchv1.ReplicaSet) *orchv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	old = append([]*orchv1.ReplicaSet(nil), old...)
	byCreation(old)
	for i, j := 0, len(old)-1; i < j; i, j = i+1, j-1 {
		old[i], old[j] = old[j], old[i]
	}
	active := activeReplicaSets(append(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[0]
	case 1:
		return active[0]
	}
	return nil
}

func (s *deploySim) isSaturated(rs *orchv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	n, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	d := s.desired()
	return ok && n == d && replicas(rs) == d && rs.GetStatus().GetAvailableReplicas() == d
}

func (s *deploySim) proportion(rs *orchv1.ReplicaSet, toAdd, added int32) int32 {
	if rs == nil || replicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := s.fraction(rs)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

func (s *deploySim) fraction(rs *orchv1.ReplicaSet) int32 {
	if s.desired() == 0 {
		return -replicas(rs)
	}
	total := s.desired() + int32(maxSurge(s.d))
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = s.in.D.GetStatus().GetReplicas()
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicas(rs)*total) / float64(annotated)
	return int32(math.Round(size)) - replicas(rs)
}

// cleanup deletes the old ReplicaSets past revisionHistoryLimit, lowest revision first,
// never one that still has pods or whose status is behind its spec.
func (s *deploySim) cleanup(old []*orchv1.ReplicaSet) {
	limit := s.d.GetSpec().RevisionHistoryLimit
	if limit == nil {
		return
	}
	var cleanable []*orchv1.ReplicaSet
	for _, rs := range old {
		if rs.GetMetadata().GetDeletionTimestamp() == nil && rs != s.created {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*limit)
	if diff <= 0 {
		return
	}
	sort.SliceStable(cleanable, func(i, j int) bool {
		ri, rj := revision(cleanable[i]), revision(cleanable[j])
		if ri != rj {
			return ri < rj
		}
		return creationTime(cleanable[i]).Before(creationTime(cleanable[j]))
	})
	for _, rs := range cleanable[:diff] {
		if rs.GetStatus().GetReplicas() != 0 || replicas(rs) != 0 || rs.GetMetadata().GetGeneration() > rs.GetStatus().GetObservedGeneration() {
			continue
		}
		s.deletes = append(s.deletes, rs)
	}
}

func (s *deploySim) calculateStatus(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) *orchv1.DeploymentStatus {
	actual, ready, available := statusReplicas(all)
	updated, _, _ := statusReplicas([]*orchv1.ReplicaSet{newRS})
	unavailable := max(specReplicas(all)-available, 0)
	st := &orchv1.DeploymentStatus{
		ObservedGeneration: s.d.GetMetadata().GetGeneration(),
		Replicas:           actual, UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available,
		UnavailableReplicas: unavailable, CollisionCount: s.d.GetStatus().CollisionCount,
	}
	for _, c := range s.d.GetStatus().GetConditions() {
		st.Conditions = append(st.Conditions, proto.Clone(c).(*orchv1.DeploymentCondition))
	}
	if available >= s.desired()-int32(maxUnavailable(s.d)) {
		setCondition(st, newCondition(DeploymentAvailable, api.ConditionTrue, MinimumReplicasAvailable, "Deployment has minimum availability.", s.now))
	} else {
		setCondition(st, newCondition(DeploymentAvailable, api.ConditionFalse, MinimumReplicasUnavailable, "Deployment does not have minimum availability.", s.now))
	}
	return st
}

func (s *deploySim) syncStatus(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) {
	s.d.Status = s.calculateStatus(all, newRS)
}

// syncRolloutStatus is the status with the Progressing condition: complete, progressing
// (its update time moves on with each step), or past its deadline.
func (s *deploySim) syncRolloutStatus(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) {
	d := s.d
	st := s.calculateStatus(all, newRS)
	if !hasProgressDeadline(d) {
		removeCondition(st, DeploymentProgressing)
	}
	cur := getCondition(st, DeploymentProgressing)
	complete := st.GetReplicas() == st.GetUpdatedReplicas() && cur != nil && cur.GetReason() == NewRSAvailableReason
	if hasProgressDeadline(d) && !complete {
		rsName := newRS.GetMetadata().GetName()
		switch {
		case deploymentComplete(d, st):
			setCondition(st, newCondition(DeploymentProgressing, api.ConditionTrue, NewRSAvailableReason,
				fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName), s.now))
		case deploymentProgressing(s.in.D, st):
			msg := fmt.Sprintf("ReplicaSet %q is progressing.", rsName)
			if newRS == nil {
				msg = fmt.Sprintf("Deployment %q is progressing.", d.GetMetadata().GetName())
			}
			c := newCondition(DeploymentProgressing, api.ConditionTrue, ReplicaSetUpdatedReason, msg, s.now)
			if cur != nil && cur.GetStatus() == api.ConditionTrue {
				c.LastTransitionTime = cur.GetLastTransitionTime()
			}
			removeCondition(st, DeploymentProgressing)
			setCondition(st, c)
		case deploymentTimedOut(d, st, s.now):
			setCondition(st, newCondition(DeploymentProgressing, api.ConditionFalse, TimedOutReason,
				fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName), s.now))
		}
	}
	if f := replicaFailure(all, newRS); f != nil {
		setCondition(st, f)
	} else {
		removeCondition(st, DeploymentReplicaFailure)
	}
	d.Status = st
	// Nothing triggers the deadline check: look again when it passes.
	if c := getCondition(st, DeploymentProgressing); hasProgressDeadline(d) && c != nil && c.GetStatus() == api.ConditionTrue &&
		c.GetReason() != NewRSAvailableReason && !deploymentComplete(d, st) {
		at := c.GetLastUpdateTime().AsTime().Add(time.Duration(*d.GetSpec().ProgressDeadlineSeconds) * time.Second)
		s.requeue = max(at.Sub(s.now)+time.Second, time.Second)
	}
}

// checkPausedConditions marks Progressing Unknown while paused, and resumed after; a
// rollout past its deadline keeps saying so.
func (s *deploySim) checkPausedConditions() {
	d := s.d
	if !hasProgressDeadline(d) {
		return
	}
	c := getCondition(d.Status, DeploymentProgressing)
	if c != nil && c.GetReason() == TimedOutReason {
		return
	}
	pausedCond := c != nil && c.GetReason() == PausedDeployReason
	switch {
	case d.GetSpec().GetPaused() && !pausedCond:
		setCondition(d.Status, newCondition(DeploymentProgressing, ConditionUnknown, PausedDeployReason, "Deployment is paused", s.now))
	case !d.GetSpec().GetPaused() && pausedCond:
		setCondition(d.Status, newCondition(DeploymentProgressing, ConditionUnknown, ResumedDeployReason, "Deployment is resumed", s.now))
	}
}

// replicaFailure is the ReplicaFailure condition of the new ReplicaSet, else of an old
// one, as a Deployment condition.
func replicaFailure(all []*orchv1.ReplicaSet, newRS *orchv1.ReplicaSet) *orchv1.DeploymentCondition {
	for _, rss := range [][]*orchv1.ReplicaSet{{newRS}, all} {
		for _, rs := range rss {
			for _, c := range rs.GetStatus().GetConditions() {
				if c.GetType() == ReplicaFailure {
					return &orchv1.DeploymentCondition{Type: DeploymentReplicaFailure, Status: c.GetStatus(), Reason: c.GetReason(),
						Message: c.GetMessage(), LastUpdateTime: c.GetLastTransitionTime(), LastTransitionTime: c.GetLastTransitionTime()}
				}
			}
		}
	}
	return nil
}
