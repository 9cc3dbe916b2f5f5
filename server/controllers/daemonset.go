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

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Labels a DaemonSet puts on its pods, as Kubernetes names them.
const (
	ControllerRevisionHashLabel = "controller-revision-hash"
	PodTemplateGenerationLabel  = "pod-template-generation"

	OnDeleteStrategy = "OnDelete"
)

// DaemonSetController runs one pod of each DaemonSet on every node that may run it, as
// Kubernetes' daemon controller: a node is eligible when it matches the template's
// nodeSelector and required node affinity and has no NoSchedule or NoExecute taint the
// pod does not tolerate. Pods are created with a required node affinity to their node
// (matchFields metadata.name) and the scheduler binds them; a node that stops being
// eligible loses its pod unless only a NoSchedule taint changed. Template changes roll
// out with RollingUpdate (maxUnavailable, maxSurge) or wait for OnDelete.
type DaemonSetController struct {
	deps Deps
	log  *slog.Logger
	exp  *Expectations
	q    *Queue
}

// NewDaemonSetController returns the DaemonSet controller.
func NewDaemonSetController(deps Deps) *DaemonSetController {
	return &DaemonSetController{deps: deps, log: deps.Log.With("controller", "daemonset"), exp: NewExpectations(deps.Now)}
}

// Name implements Controller.
func (c *DaemonSetController) Name() string { return "daemonset" }

// Setup implements Controller: a DaemonSet is queued when it changes, when one of its
// pods (or an orphan it could adopt) changes, and when a node comes, goes or changes
// what decides where daemon pods run (labels, taints, cordon, conditions).
func (c *DaemonSetController) Setup(inf *Informers, q *Queue) {
	c.q = q
	inf.On(api.DaemonSetKind, func(e Event) { q.Add(api.ObjectKey(e.Obj)) })
	inf.On(api.PodKind, c.podChanged)
	inf.On(api.NodeKind, c.nodeChanged)
}

func (c *DaemonSetController) podChanged(e Event) {
	p := e.Obj.(*orchv1.Pod)
	podKey := api.ObjectKey(p)
	going := e.Type == api.Deleted || p.GetMetadata().GetDeletionTimestamp() != nil
	owner := func(o api.Object) string {
		ref := controllerRef(o)
		if ref == nil || ref.GetKind() != api.DaemonSetKind.Name {
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
		c.queueMatching(p)
	}
	if e.Prev != nil {
		if key := owner(e.Prev); key != "" && key != owner(p) {
			c.q.Add(key)
		}
		if !maps.Equal(e.Prev.GetMetadata().GetLabels(), p.GetMetadata().GetLabels()) && controllerRef(e.Prev) == nil {
			c.queueMatching(e.Prev.(*orchv1.Pod))
		}
	}
}

func (c *DaemonSetController) queueMatching(p *orchv1.Pod) {
	set := labels.Set(p.GetMetadata().GetLabels())
	for _, o := range c.deps.Source.View().List(api.DaemonSetKind, p.GetMetadata().GetNamespace()) {
		if selectorOf(o.(*orchv1.DaemonSet).GetSpec().GetSelector()).Matches(set) {
			c.q.Add(api.ObjectKey(o))
		}
	}
}

func (c *DaemonSetController) nodeChanged(e Event) {
	if e.Type == api.Modified && e.Prev != nil && !nodeSchedulingChanged(e.Prev.(*orchv1.Node), e.Obj.(*orchv1.Node)) {
		return
	}
	for _, o := range c.deps.Source.View().List(api.DaemonSetKind, "") {
		c.q.Add(api.ObjectKey(o))
	}
}

// nodeSchedulingChanged: what decides whether a node runs daemon pods changed.
func nodeSchedulingChanged(a, b *orchv1.Node) bool {
	return !maps.Equal(a.GetMetadata().GetLabels(), b.GetMetadata().GetLabels()) ||
		!slices.EqualFunc(api.NodeTaints(a), api.NodeTaints(b), func(x, y *orchv1.Taint) bool { return proto.Equal(x, y) }) ||
		(a.GetMetadata().GetDeletionTimestamp() == nil) != (b.GetMetadata().GetDeletionTimestamp() == nil)
}

// Sync implements Controller.
func (c *DaemonSetController) Sync(ctx context.Context, key string) (Result, error) {
	v := c.deps.Source.View()
	o, ok := v.Get(api.DaemonSetKind, key)
	if !ok {
		c.exp.Delete(key)
		return Result{}, nil
	}
	ds := o.(*orchv1.DaemonSet)
	pods := podsOf(v, ds.GetMetadata().GetNamespace())
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil {
			c.exp.DeletionObserved(key, api.ObjectKey(p))
		}
	}
	c.exp.observeGone(key, func(podKey string) bool { _, ok := v.Get(api.PodKind, podKey); return !ok })
	var nodes []*orchv1.Node
	for _, n := range v.List(api.NodeKind, "") {
		nodes = append(nodes, n.(*orchv1.Node))
	}
	plan := planDaemonSet(dsInput{DS: ds, Nodes: nodes, Pods: pods, Now: c.deps.Now(),
		NeedsSync: c.exp.Satisfied(key) && ds.GetMetadata().GetDeletionTimestamp() == nil})
	for _, p := range append(plan.Adopt, plan.Release...) {
		if _, err := c.deps.Writer.Update(ctx, api.PodKind, p); err != nil && !isNotFound(err) {
			return Result{}, fmt.Errorf("claim pod %s: %w", api.ObjectKey(p), err)
		}
	}
	manageErr := c.manage(ctx, key, plan)
	if plan.Status != nil {
		next := proto.Clone(ds).(*orchv1.DaemonSet)
		next.Status = plan.Status
		if _, err := c.deps.Writer.UpdateStatus(ctx, api.DaemonSetKind, next); err != nil && !isNotFound(err) {
			return Result{}, errors.Join(manageErr, fmt.Errorf("update status of daemonset %s: %w", key, err))
		}
	}
	if manageErr != nil {
		return Result{}, manageErr
	}
	return Result{RequeueAfter: plan.RequeueAfter}, nil
}

// manage makes the plan's creations and deletions, with expectations.
func (c *DaemonSetController) manage(ctx context.Context, key string, plan dsPlan) error {
	if len(plan.Create)+len(plan.Delete) == 0 {
		return nil
	}
	delKeys := make([]string, len(plan.Delete))
	for i, p := range plan.Delete {
		delKeys[i] = api.ObjectKey(p)
	}
	c.exp.Expect(key, len(plan.Create), delKeys)
	var mu sync.Mutex
	var errs []error
	next := 0
	created, err := slowStartBatch(len(plan.Create), 1, func() error {
		mu.Lock()
		p := plan.Create[next]
		next++
		mu.Unlock()
		_, err := c.deps.Writer.Create(ctx, api.PodKind, p)
		return err
	})
	for range len(plan.Create) - created {
		c.exp.CreationObserved(key)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("create pods of daemonset %s: %w", key, err))
	}
	var wg sync.WaitGroup
	for i, p := range plan.Delete {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := p.GetMetadata()
			_, err := c.deps.Writer.Delete(ctx, api.PodKind, &orchv1.DeleteRequest{Namespace: m.GetNamespace(), Name: m.GetName(),
				Preconditions: &orchv1.Preconditions{Uid: proto.String(m.GetUid())}})
			if err != nil && !isNotFound(err) {
				c.exp.DeletionObserved(key, delKeys[i])
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete pod %s: %w", delKeys[i], err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dsInput is everything a DaemonSet's reconcile reads.
type dsInput struct {
	DS    *orchv1.DaemonSet
	Nodes []*orchv1.Node
	Pods  []*orchv1.Pod // the pods of its namespace
	Now   time.Time
	// NeedsSync: the expectations are satisfied and the DaemonSet is not being deleted;
	// otherwise only its pods are claimed and its status computed.
	NeedsSync bool
}

// dsPlan is what a DaemonSet's reconcile decided.
type dsPlan struct {
	Adopt, Release []*orchv1.Pod
	Create         []*orchv1.Pod // new pods, each with its node affinity
	Delete         []*orchv1.Pod
	Status         *orchv1.DaemonSetStatus // nil when unchanged
	RequeueAfter   time.Duration
}

// planDaemonSet is the DaemonSet reconcile, after Kubernetes' syncDaemonSet: claim the
// pods, create and delete so that each eligible node has one (manage), then, when manage
// had nothing to do, roll the template out; and compute the status.
func planDaemonSet(in dsInput) dsPlan {
	var plan dsPlan
	ds := in.DS
	uid := ds.GetMetadata().GetUid()
	owned, adopt, release := claim(ds, selectorOf(ds.GetSpec().GetSelector()), in.Pods)
	ref := newControllerRef(api.DaemonSetKind, ds)
	for _, p := range adopt {
		plan.Adopt = append(plan.Adopt, withOwnerRef(p, ref))
	}
	for _, p := range release {
		plan.Release = append(plan.Release, withoutOwnerRef(p, uid))
	}
	pods := append(owned, adopt...)
	hash := templateHash(ds.GetSpec().GetTemplate(), collisionCount(ds))
	byNode := podsByNode(pods)
	nodes := slices.Clone(in.Nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].GetMetadata().GetName() < nodes[j].GetMetadata().GetName() })

	if in.NeedsSync {
		plan.Create, plan.Delete = manageDaemonSet(ds, nodes, byNode, hash)
		if len(plan.Create)+len(plan.Delete) == 0 && ds.GetSpec().GetUpdateStrategy().GetType() != OnDeleteStrategy {
			newNodes, del := rollingUpdateDaemonSet(ds, nodes, byNode, hash, in.Now)
			plan.Delete = del
			for _, n := range newNodes {
				plan.Create = append(plan.Create, newDaemonPod(ds, n, hash))
			}
		}
	}

	st := daemonSetStatus(ds, nodes, byNode, hash, in.Now)
	if !proto.Equal(st, ds.GetStatus()) {
		plan.Status = st
	}
	var first []*orchv1.Pod
	for _, n := range nodes {
		if ps := byNode[n.GetMetadata().GetName()]; len(ps) > 0 {
			first = append(first, oldestPod(ps))
		}
	}
	plan.RequeueAfter = nextAvailable(first, ds.GetSpec().GetMinReadySeconds(), in.Now)
	return plan
}

// manageDaemonSet decides, node by node, as Kubernetes' podsShouldBeOnNode: a pod for
// each eligible node without one (a pod still terminating counts), finished pods
// deleted, extra pods deleted (the oldest kept; with maxSurge the oldest of the current
// and of an old template), and every pod of a node that may no longer run it or that is
// gone.
func manageDaemonSet(ds *orchv1.DaemonSet, nodes []*orchv1.Node, byNode map[string][]*orchv1.Pod, hash string) (create, del []*orchv1.Pod) {
	known := map[string]bool{}
	surge := allowsSurge(ds)
	for _, n := range nodes {
		name := n.GetMetadata().GetName()
		known[name] = true
		shouldRun, shouldContinue := nodeShouldRunDaemonPod(n, ds)
		pods := byNode[name]
		switch {
		case shouldRun && len(pods) == 0:
			create = append(create, newDaemonPod(ds, name, hash))
		case shouldContinue:
			var running []*orchv1.Pod
			for _, p := range pods {
				switch {
				case p.GetMetadata().GetDeletionTimestamp() != nil:
				case api.PodTerminal(p):
					del = append(del, p)
				default:
					running = append(running, p)
				}
			}
			if len(running) <= 1 {
				break
			}
			sortDaemonPods(running)
			if !surge {
				del = append(del, running[1:]...)
				break
			}
			var oldestNew, oldestOld bool
			for _, p := range running {
				if p.GetMetadata().GetLabels()[ControllerRevisionHashLabel] == hash {
					if !oldestNew {
						oldestNew = true
						continue
					}
				} else if !oldestOld {
					oldestOld = true
					continue
				}
				del = append(del, p)
			}
		default:
			for _, p := range pods {
				if p.GetMetadata().GetDeletionTimestamp() == nil {
					del = append(del, p)
				}
			}
		}
	}
	var gone []string
	for name := range byNode {
		if !known[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		for _, p := range byNode[name] {
			if p.GetMetadata().GetDeletionTimestamp() == nil {
				del = append(del, p)
			}
		}
	}
	return create, del
}

// rollingUpdateDaemonSet replaces pods of an old template within maxUnavailable (old pods
// deleted first, the new one created by manage once the node has none) or, with
// maxSurge, within maxSurge (a new pod beside the old, the old deleted once the new is
// available), as Kubernetes' rollingUpdate. Unavailable old pods are replaced at once.
// It returns the nodes to surge onto and the pods to delete.
func rollingUpdateDaemonSet(ds *orchv1.DaemonSet, nodes []*orchv1.Node, byNode map[string][]*orchv1.Pod, hash string, now time.Time) ([]string, []*orchv1.Pod) {
	maxSurge, maxUnavailable := daemonSetFenceposts(ds, nodes)
	minReady := ds.GetSpec().GetMinReadySeconds()
	var toDelete []*orchv1.Pod
	if maxSurge == 0 {
		numUnavailable := 0
		var allowed, candidates []*orchv1.Pod
		for _, n := range nodes {
			name := n.GetMetadata().GetName()
			pods, ok := byNode[name]
			if !ok {
				continue
			}
			newPod, oldPod, ok := updatedPodsOnNode(pods, hash)
			if !ok {
				numUnavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++
			case newPod != nil:
				if !podAvailable(newPod, minReady, now) {
					numUnavailable++
				}
			default:
				switch {
				case !podAvailable(oldPod, minReady, now):
					allowed = append(allowed, oldPod)
				case numUnavailable >= maxUnavailable:
				default:
					candidates = append(candidates, oldPod)
				}
			}
		}
		remaining := min(max(maxUnavailable-numUnavailable, 0), len(candidates))
		return nil, append(allowed, candidates[:remaining]...)
	}
	numSurge := 0
	var allowedNodes, candidateNodes []string
	for _, n := range nodes {
		name := n.GetMetadata().GetName()
		pods, ok := byNode[name]
		if !ok {
			continue
		}
		newPod, oldPod, ok := updatedPodsOnNode(pods, hash)
		if !ok {
			numSurge++
			continue
		}
		switch {
		case oldPod == nil:
		case newPod == nil:
			if shouldRun, _ := nodeShouldRunDaemonPod(n, ds); !shouldRun {
				continue
			}
			switch {
			case !podAvailable(oldPod, minReady, now):
				allowedNodes = append(allowedNodes, name)
			case numSurge >= maxSurge:
			default:
				candidateNodes = append(candidateNodes, name)
			}
		default:
			if !podAvailable(newPod, minReady, now) {
				numSurge++
				continue
			}
			toDelete = append(toDelete, oldPod)
		}
	}
	remaining := min(max(maxSurge-numSurge, 0), len(candidateNodes))
	return append(allowedNodes, candidateNodes[:remaining]...), toDelete
}

// updatedPodsOnNode finds the pod of the current template and the one of an old template
// among a node's pods not being deleted; ok is false when there are two of either.
func updatedPodsOnNode(pods []*orchv1.Pod, hash string) (newPod, oldPod *orchv1.Pod, ok bool) {
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		if p.GetMetadata().GetLabels()[ControllerRevisionHashLabel] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// daemonSetFenceposts resolves maxSurge and maxUnavailable against the number of nodes
// that should run the pod, both rounded up as Kubernetes does; both 0 would never make
// progress, so unavailable becomes 1.
func daemonSetFenceposts(ds *orchv1.DaemonSet, nodes []*orchv1.Node) (surge, unavailable int) {
	desired := 0
	for _, n := range nodes {
		if shouldRun, _ := nodeShouldRunDaemonPod(n, ds); shouldRun {
			desired++
		}
	}
	ru := ds.GetSpec().GetUpdateStrategy().GetRollingUpdate()
	surge, _ = scaledValue(ru.GetMaxSurge(), desired, true)
	unavailable, err := scaledValue(ru.GetMaxUnavailable(), desired, true)
	if ru.GetMaxUnavailable() == nil || err != nil {
		unavailable = 1
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func allowsSurge(ds *orchv1.DaemonSet) bool {
	if ds.GetSpec().GetUpdateStrategy().GetType() == OnDeleteStrategy {
		return false
	}
	n, _ := scaledValue(ds.GetSpec().GetUpdateStrategy().GetRollingUpdate().GetMaxSurge(), 100, true)
	return n > 0
}

// daemonSetStatus counts as Kubernetes' updateDaemonSetStatus: per node that should run
// the pod, whether it has one and whether its oldest is ready, available and of the
// current template; pods on other nodes are misscheduled.
func daemonSetStatus(ds *orchv1.DaemonSet, nodes []*orchv1.Node, byNode map[string][]*orchv1.Pod, hash string, now time.Time) *orchv1.DaemonSetStatus {
	st := &orchv1.DaemonSetStatus{ObservedGeneration: ds.GetMetadata().GetGeneration(), CollisionCount: collisionCount(ds)}
	for _, c := range ds.GetStatus().GetConditions() {
		st.Conditions = append(st.Conditions, proto.Clone(c).(*orchv1.DaemonSetCondition))
	}
	gen := strconv.FormatInt(ds.GetMetadata().GetGeneration(), 10)
	for _, n := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(n, ds)
		pods := byNode[n.GetMetadata().GetName()]
		if !shouldRun {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		p := oldestPod(pods)
		if podReady(p) {
			st.NumberReady++
			if podAvailable(p, ds.GetSpec().GetMinReadySeconds(), now) {
				st.NumberAvailable++
			}
		}
		l := p.GetMetadata().GetLabels()
		if l[ControllerRevisionHashLabel] == hash || (l[ControllerRevisionHashLabel] == "" && l[PodTemplateGenerationLabel] == gen) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// daemonPodTolerations are the tolerations Kubernetes adds to every daemon pod, so that
// it stays through the node lifecycle's taints and runs on cordoned nodes.
func daemonPodTolerations(spec *orchv1.PodSpec) []*orchv1.Toleration {
	out := []*orchv1.Toleration{
		{Key: api.TaintNodeNotReady, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
		{Key: api.TaintNodeUnreachable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
		{Key: api.TaintNodeDiskPressure, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
		{Key: api.TaintNodeMemoryPressure, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
		{Key: api.TaintNodePIDPressure, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
		{Key: api.TaintNodeUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	}
	if spec.GetHostNetwork() {
		out = append(out, &orchv1.Toleration{Key: api.TaintNodeNetworkUnavailable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule})
	}
	return out
}

// withDaemonTolerations adds the daemon tolerations a spec lacks (same key, operator and
// effect), as Kubernetes' AddOrUpdateDaemonPodTolerations.
func withDaemonTolerations(spec *orchv1.PodSpec) {
	for _, t := range daemonPodTolerations(spec) {
		have := slices.ContainsFunc(spec.Tolerations, func(o *orchv1.Toleration) bool {
			return o.GetKey() == t.GetKey() && o.GetEffect() == t.GetEffect() && o.GetOperator() == t.GetOperator()
		})
		if !have {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// nodeShouldRunDaemonPod is Kubernetes' NodeShouldRunDaemonPod: shouldRun when the
// node matches the template's nodeSelector and required node affinity and has no
// NoSchedule or NoExecute taint the daemon pod does not tolerate; shouldContinue
// (running pods stay) unless the node does not match or has an untolerated NoExecute
// taint. A node being deleted runs nothing new.
func nodeShouldRunDaemonPod(n *orchv1.Node, ds *orchv1.DaemonSet) (shouldRun, shouldContinue bool) {
	spec := proto.Clone(ds.GetSpec().GetTemplate().GetSpec()).(*orchv1.PodSpec)
	if spec == nil {
		spec = &orchv1.PodSpec{}
	}
	withDaemonTolerations(spec)
	if nn := spec.GetNodeName(); nn != "" && nn != n.GetMetadata().GetName() {
		return false, false
	}
	if !api.PodMatchesNodeSelectorAndAffinity(spec, n) {
		return false, false
	}
	taints := api.NodeTaints(n)
	if _, untolerated := api.FindUntoleratedTaint(taints, spec.GetTolerations(), api.DoNotScheduleTaints); untolerated {
		_, evicted := api.FindUntoleratedTaint(taints, spec.GetTolerations(), api.NoExecuteTaints)
		return false, !evicted
	}
	if n.GetMetadata().GetDeletionTimestamp() != nil {
		return false, true
	}
	return true, true
}

// newDaemonPod is a pod of the DaemonSet's template for one node: owned by it, labelled
// with the template hash and generation, its required node affinity replaced by one to
// the node (Kubernetes' ReplaceDaemonSetPodNodeNameNodeAffinity), with the daemon
// tolerations; the scheduler binds it.
func newDaemonPod(ds *orchv1.DaemonSet, node, hash string) *orchv1.Pod {
	t := ds.GetSpec().GetTemplate()
	m := ds.GetMetadata()
	lbl := maps.Clone(t.GetMetadata().GetLabels())
	if lbl == nil {
		lbl = map[string]string{}
	}
	lbl[ControllerRevisionHashLabel] = hash
	lbl[PodTemplateGenerationLabel] = strconv.FormatInt(m.GetGeneration(), 10)
	pm := &orchv1.ObjectMeta{
		Namespace:       m.GetNamespace(),
		GenerateName:    m.GetName() + "-",
		Labels:          lbl,
		Annotations:     maps.Clone(t.GetMetadata().GetAnnotations()),
		Finalizers:      slices.Clone(t.GetMetadata().GetFinalizers()),
		OwnerReferences: []*orchv1.OwnerReference{newControllerRef(api.DaemonSetKind, ds)},
	}
	spec, _ := proto.Clone(t.GetSpec()).(*orchv1.PodSpec)
	if spec == nil {
		spec = &orchv1.PodSpec{}
	}
	term := &orchv1.NodeSelectorTerm{MatchFields: []*orchv1.NodeSelectorRequirement{
		{Key: api.NodeFieldMetadataName, Operator: api.NodeSelectorOpIn, Values: []string{node}}}}
	if spec.Affinity == nil {
		spec.Affinity = &orchv1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &orchv1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &orchv1.NodeSelector{NodeSelectorTerms: []*orchv1.NodeSelectorTerm{term}}
	withDaemonTolerations(spec)
	return &orchv1.Pod{Metadata: pm, Spec: spec}
}

// daemonPodNode is the node a daemon pod is for: its spec.nodeName once bound, else the
// node its required node affinity names (Kubernetes' GetTargetNodeName).
func daemonPodNode(p *orchv1.Pod) string {
	if n := p.GetSpec().GetNodeName(); n != "" {
		return n
	}
	for _, t := range p.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution().GetNodeSelectorTerms() {
		for _, f := range t.GetMatchFields() {
			if f.GetKey() == api.NodeFieldMetadataName && f.GetOperator() == api.NodeSelectorOpIn && len(f.GetValues()) == 1 {
				return f.GetValues()[0]
			}
		}
	}
	return ""
}

func podsByNode(pods []*orchv1.Pod) map[string][]*orchv1.Pod {
	out := map[string][]*orchv1.Pod{}
	for _, p := range pods {
		if n := daemonPodNode(p); n != "" {
			out[n] = append(out[n], p)
		}
	}
	return out
}

// sortDaemonPods orders pods running first, then oldest first (Kubernetes'
// podByCreationTimestampAndPhase), by name on a tie.
func sortDaemonPods(pods []*orchv1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := pods[i].GetStatus().GetPhase() == api.PodRunning, pods[j].GetStatus().GetPhase() == api.PodRunning
		if ri != rj {
			return ri
		}
		ti, tj := creationTime(pods[i]), creationTime(pods[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return pods[i].GetMetadata().GetName() < pods[j].GetMetadata().GetName()
	})
}

func oldestPod(pods []*orchv1.Pod) *orchv1.Pod {
	s := slices.Clone(pods)
	sortDaemonPods(s)
	return s[0]
}

func collisionCount(ds *orchv1.DaemonSet) *int32 {
	if ds.GetStatus() == nil {
		return nil
	}
	return ds.GetStatus().CollisionCount
}
