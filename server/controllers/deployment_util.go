package controllers

// Helpers of the Deployment reconcile, after Kubernetes' pkg/controller/deployment/util:
// annotations, revisions, the template hash, replica counts and conditions.

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Well-known names of apps/v1 Deployments, as Kubernetes spells them.
const (
	PodTemplateHashLabel        = "pod-template-hash"
	RevisionAnnotation          = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation   = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation   = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation       = "deployment.kubernetes.io/max-replicas"
	LastAppliedConfigAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation        = "deprecated.deployment.rollback.to"

	RecreateStrategy      = "Recreate"
	RollingUpdateStrategy = "RollingUpdate"

	DeploymentAvailable      = "Available"
	DeploymentProgressing    = "Progressing"
	DeploymentReplicaFailure = "ReplicaFailure"
	ConditionUnknown         = "Unknown"

	// Reasons of the Progressing and Available conditions.
	NewReplicaSetReason        = "NewReplicaSetCreated"
	FoundNewRSReason           = "FoundNewReplicaSet"
	ReplicaSetUpdatedReason    = "ReplicaSetUpdated"
	NewRSAvailableReason       = "NewReplicaSetAvailable"
	TimedOutReason             = "ProgressDeadlineExceeded"
	PausedDeployReason         = "DeploymentPaused"
	ResumedDeployReason        = "DeploymentResumed"
	MinimumReplicasAvailable   = "MinimumReplicasAvailable"
	MinimumReplicasUnavailable = "MinimumReplicasUnavailable"
)

// templateHash is the pod-template-hash of a template: fnv32a over its deterministic
// encoding and the collision count, safely encoded (Kubernetes' ComputeHash; the values
// differ from Kubernetes', whose input is a Go struct dump).
func templateHash(t *orchv1.PodTemplateSpec, collisionCount *int32) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	if err != nil {
		panic("encode pod template: " + err.Error())
	}
	h := fnv.New32a()
	h.Write(b)
	if collisionCount != nil {
		var c [4]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		h.Write(c[:])
	}
	return utilrand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash: two templates are the same but for the pod-template-hash label.
func equalIgnoreHash(a, b *orchv1.PodTemplateSpec) bool {
	a, b = proto.Clone(a).(*orchv1.PodTemplateSpec), proto.Clone(b).(*orchv1.PodTemplateSpec)
	if a.GetMetadata() != nil {
		delete(a.Metadata.Labels, PodTemplateHashLabel)
	}
	if b.GetMetadata() != nil {
		delete(b.Metadata.Labels, PodTemplateHashLabel)
	}
	return proto.Equal(a, b)
}

func revision(o api.Object) int64 {
	n, err := strconv.ParseInt(o.GetMetadata().GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(rss []*orchv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

func setAnnotation(m *orchv1.ObjectMeta, k, v string) bool {
	if cur, ok := m.GetAnnotations()[k]; ok && cur == v {
		return false
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
	return true
}

// skipCopyAnnotation: the annotations of a Deployment its ReplicaSets do not inherit.
func skipCopyAnnotation(k string) bool {
	switch k {
	case LastAppliedConfigAnnotation, RevisionAnnotation, RevisionHistoryAnnotation,
		DesiredReplicasAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
		return true
	}
	return false
}

// setNewReplicaSetAnnotations copies the Deployment's annotations to its new ReplicaSet
// and moves its revision up to newRevision, keeping the revisions it had before in
// revision-history (a rollback reuses an old ReplicaSet).
func setNewReplicaSetAnnotations(d *orchv1.Deployment, rs *orchv1.ReplicaSet, newRevision int64, exists bool) bool {
	m := api.Meta(rs)
	changed := false
	for _, k := range sortedStrings(d.GetMetadata().GetAnnotations()) {
		if !skipCopyAnnotation(k) && setAnnotation(m, k, d.GetMetadata().GetAnnotations()[k]) {
			changed = true
		}
	}
	old, hadOld := m.GetAnnotations()[RevisionAnnotation]
	oldRev, err := strconv.ParseInt(old, 10, 64)
	if err != nil && old != "" {
		return changed
	}
	if oldRev < newRevision {
		setAnnotation(m, RevisionAnnotation, strconv.FormatInt(newRevision, 10))
		changed = true
		if hadOld && old != "" {
			h := m.Annotations[RevisionHistoryAnnotation]
			if h == "" {
				h = old
			} else {
				h += "," + old
			}
			m.Annotations[RevisionHistoryAnnotation] = h
		}
	}
	if !exists && setReplicasAnnotations(rs, int32Value(d.GetSpec().Replicas, 1), int32Value(d.GetSpec().Replicas, 1)+int32(maxSurge(d))) {
		changed = true
	}
	return changed
}

func setReplicasAnnotations(rs *orchv1.ReplicaSet, desired, maxReplicas int32) bool {
	m := api.Meta(rs)
	a := setAnnotation(m, DesiredReplicasAnnotation, strconv.Itoa(int(desired)))
	b := setAnnotation(m, MaxReplicasAnnotation, strconv.Itoa(int(maxReplicas)))
	return a || b
}

func replicasAnnotationsNeedUpdate(rs *orchv1.ReplicaSet, desired, maxReplicas int32) bool {
	a := rs.GetMetadata().GetAnnotations()
	return a[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) || a[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

func intAnnotation(o api.Object, k string) (int32, bool) {
	n, err := strconv.ParseInt(o.GetMetadata().GetAnnotations()[k], 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func replicas(rs *orchv1.ReplicaSet) int32 { return int32Value(rs.GetSpec().Replicas, 1) }

func isRollingUpdate(d *orchv1.Deployment) bool {
	return d.GetSpec().GetStrategy().GetType() != RecreateStrategy
}

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded down) against the
// desired replicas; both 0 would deadlock a rollout, so unavailable becomes 1.
func fenceposts(d *orchv1.Deployment) (surge, unavailable int) {
	ru := d.GetSpec().GetStrategy().GetRollingUpdate()
	desired := int(int32Value(d.GetSpec().Replicas, 1))
	surge, _ = scaledValue(ru.GetMaxSurge(), desired, true)
	unavailable, _ = scaledValue(ru.GetMaxUnavailable(), desired, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func maxSurge(d *orchv1.Deployment) int {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

func maxUnavailable(d *orchv1.Deployment) int {
	desired := int(int32Value(d.GetSpec().Replicas, 1))
	if !isRollingUpdate(d) || desired == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, desired)
}

func specReplicas(rss []*orchv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += replicas(rs)
		}
	}
	return n
}

func statusReplicas(rss []*orchv1.ReplicaSet) (actual, ready, available int32) {
	for _, rs := range rss {
		if rs != nil {
			actual += rs.GetStatus().GetReplicas()
			ready += rs.GetStatus().GetReadyReplicas()
			available += rs.GetStatus().GetAvailableReplicas()
		}
	}
	return
}

// activeReplicaSets are those with replicas to run.
func activeReplicaSets(rss []*orchv1.ReplicaSet) []*orchv1.ReplicaSet {
	var out []*orchv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// byCreation sorts oldest first, by name on a tie.
func byCreation(rss []*orchv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		ti, tj := creationTime(rss[i]), creationTime(rss[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return rss[i].GetMetadata().GetName() < rss[j].GetMetadata().GetName()
	})
}

func getCondition(st *orchv1.DeploymentStatus, typ string) *orchv1.DeploymentCondition {
	for _, c := range st.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

func newCondition(typ, status, reason, msg string, now time.Time) *orchv1.DeploymentCondition {
	t := timestamppb.New(now.UTC().Truncate(time.Second))
	return &orchv1.DeploymentCondition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: t, LastTransitionTime: proto.Clone(t).(*timestamppb.Timestamp)}
}

// setCondition sets c unless one of its type has the same status and reason; the
// transition time stays while the status does.
func setCondition(st *orchv1.DeploymentStatus, c *orchv1.DeploymentCondition) {
	cur := getCondition(st, c.GetType())
	if cur != nil && cur.GetStatus() == c.GetStatus() && cur.GetReason() == c.GetReason() {
		return
	}
	if cur != nil && cur.GetStatus() == c.GetStatus() {
		c.LastTransitionTime = cur.GetLastTransitionTime()
	}
	removeCondition(st, c.GetType())
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *orchv1.DeploymentStatus, typ string) {
	var out []*orchv1.DeploymentCondition
	for _, c := range st.GetConditions() {
		if c.GetType() != typ {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

func hasProgressDeadline(d *orchv1.Deployment) bool {
	p := d.GetSpec().ProgressDeadlineSeconds
	return p != nil && *p != 1<<31-1
}

// deploymentComplete: every replica is updated and available, for the current spec.
func deploymentComplete(d *orchv1.Deployment, st *orchv1.DeploymentStatus) bool {
	r := int32Value(d.GetSpec().Replicas, 1)
	return st.GetUpdatedReplicas() == r && st.GetReplicas() == r && st.GetAvailableReplicas() == r &&
		st.GetObservedGeneration() >= d.GetMetadata().GetGeneration()
}

// deploymentProgressing: the new status moved the rollout on from the stored one.
func deploymentProgressing(d *orchv1.Deployment, st *orchv1.DeploymentStatus) bool {
	old := d.GetStatus()
	oldOld := old.GetReplicas() - old.GetUpdatedReplicas()
	newOld := st.GetReplicas() - st.GetUpdatedReplicas()
	return st.GetUpdatedReplicas() > old.GetUpdatedReplicas() || newOld < oldOld ||
		st.GetReadyReplicas() > old.GetReadyReplicas() || st.GetAvailableReplicas() > old.GetAvailableReplicas()
}

// deploymentTimedOut: no progress for progressDeadlineSeconds since the last one.
func deploymentTimedOut(d *orchv1.Deployment, st *orchv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(st, DeploymentProgressing)
	if c == nil || c.GetReason() == NewRSAvailableReason {
		return false
	}
	if c.GetReason() == TimedOutReason {
		return true
	}
	from := c.GetLastUpdateTime().AsTime()
	return from.Add(time.Duration(*d.GetSpec().ProgressDeadlineSeconds) * time.Second).Before(now)
}

func cloneStringMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
