package server

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Default values, as Kubernetes fills them.
const (
	defaultSchedulerName          = "default-scheduler"
	defaultTerminationGracePeriod = int32(api.DefaultTerminationGracePeriodSeconds)
	defaultTerminationMessagePath = "/dev/termination-log"
	defaultVolumeMode             = 0o644
	defaultRevisionHistoryLimit   = 10
	defaultProgressDeadline       = 600
	defaultJobBackoffLimit        = 6

	// Labels and selector key the Job admission generates (batch/v1).
	jobControllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	jobLegacyControllerUIDLabel = "controller-uid"
	jobNameLabel                = "batch.kubernetes.io/job-name"
	jobLegacyNameLabel          = "job-name"

	rbacGroup = "rbac.authorization.k8s.io"
)

// defaultObject fills the defaults Kubernetes fills for the kind (server-side defaulting).
// It never overwrites a value that is set. The kind is implied by o's type.
func defaultObject(_ *api.Kind, o api.Object) {
	switch x := o.(type) {
	case *orchv1.Namespace:
		if x.Status == nil {
			x.Status = &orchv1.NamespaceStatus{}
		}
		setDefault(&x.Status.Phase, "Active")
	case *orchv1.Node:
		if x.Status != nil && len(x.Status.Allocatable) == 0 && len(x.Status.Capacity) > 0 {
			x.Status.Allocatable = make(map[string]string, len(x.Status.Capacity))
			for n, q := range x.Status.Capacity {
				x.Status.Allocatable[n] = q
			}
		}
	case *orchv1.Pod:
		if x.Spec == nil {
			x.Spec = &orchv1.PodSpec{}
		}
		defaultPodSpec(x.Spec)
		if x.Status == nil {
			x.Status = &orchv1.PodStatus{}
		}
		setDefault(&x.Status.Phase, "Pending")
		setDefault(&x.Status.QosClass, api.PodQOSClass(x.Spec))
	case *orchv1.Service:
		defaultService(x)
	case *orchv1.Endpoints:
		for _, ss := range x.GetSubsets() {
			for _, p := range ss.GetPorts() {
				if p != nil {
					setDefault(&p.Protocol, "TCP")
				}
			}
		}
	case *orchv1.Secret:
		defaultSecret(x)
	case *orchv1.PersistentVolume:
		if x.Spec == nil {
			x.Spec = &orchv1.PersistentVolumeSpec{}
		}
		setDefault(&x.Spec.PersistentVolumeReclaimPolicy, "Retain")
		setDefaultPtr(&x.Spec.VolumeMode, "Filesystem")
		if x.Status == nil {
			x.Status = &orchv1.PersistentVolumeStatus{}
		}
		setDefault(&x.Status.Phase, "Pending")
	case *orchv1.PersistentVolumeClaim:
		defaultPVC(x)
	case *orchv1.ReplicaSet:
		if x.Spec == nil {
			x.Spec = &orchv1.ReplicaSetSpec{}
		}
		setDefaultPtr(&x.Spec.Replicas, 1)
		x.Spec.Template = defaultPodTemplate(x.Spec.Template)
	case *orchv1.Deployment:
		defaultDeployment(x)
	case *orchv1.StatefulSet:
		defaultStatefulSet(x)
	case *orchv1.DaemonSet:
		defaultDaemonSet(x)
	case *orchv1.Job:
		defaultJob(x)
	case *orchv1.CronJob:
		if x.Spec == nil {
			x.Spec = &orchv1.CronJobSpec{}
		}
		s := x.Spec
		setDefault(&s.ConcurrencyPolicy, "Allow")
		setDefaultPtr(&s.Suspend, false)
		setDefaultPtr(&s.SuccessfulJobsHistoryLimit, 3)
		setDefaultPtr(&s.FailedJobsHistoryLimit, 1)
		// As in Kubernetes, only the pod template inside the job template is defaulted
		// here; the Job fields get their defaults when the CronJob creates the Job.
		if s.JobTemplate == nil {
			s.JobTemplate = &orchv1.JobTemplateSpec{}
		}
		if s.JobTemplate.Spec == nil {
			s.JobTemplate.Spec = &orchv1.JobSpec{}
		}
		s.JobTemplate.Spec.Template = defaultPodTemplate(s.JobTemplate.Spec.Template)
	case *orchv1.HorizontalPodAutoscaler:
		if x.Spec == nil {
			x.Spec = &orchv1.HorizontalPodAutoscalerSpec{}
		}
		setDefaultPtr(&x.Spec.MinReplicas, 1)
		if len(x.Spec.Metrics) == 0 {
			// autoscaling/v2: no metrics means 80% average CPU utilization.
			x.Spec.Metrics = []*orchv1.MetricSpec{{
				Type: "Resource",
				Resource: &orchv1.ResourceMetricSource{
					Name:   "cpu",
					Target: &orchv1.MetricTarget{Type: "Utilization", AverageUtilization: proto.Int32(80)},
				},
			}}
		}
	case *orchv1.RoleBinding:
		defaultBinding(&x.RoleRef, x.Subjects)
	case *orchv1.ClusterRoleBinding:
		defaultBinding(&x.RoleRef, x.Subjects)
	}
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDefaultPtr[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// defaultPodTemplate defaults a pod template, creating it (and its spec) when absent as
// Kubernetes' non-pointer template structs are always present.
func defaultPodTemplate(t *orchv1.PodTemplateSpec) *orchv1.PodTemplateSpec {
	if t == nil {
		t = &orchv1.PodTemplateSpec{}
	}
	if t.Spec == nil {
		t.Spec = &orchv1.PodSpec{}
	}
	defaultPodSpec(t.Spec)
	return t
}

// defaultPodSpec fills the PodSpec defaults of Kubernetes core/v1, for Pods and templates.
func defaultPodSpec(s *orchv1.PodSpec) {
	if s == nil {
		return
	}
	setDefault(&s.RestartPolicy, "Always")
	setDefaultPtr(&s.TerminationGracePeriodSeconds, defaultTerminationGracePeriod)
	setDefault(&s.DnsPolicy, "ClusterFirst")
	setDefault(&s.SchedulerName, defaultSchedulerName)
	setDefaultPtr(&s.EnableServiceLinks, true)
	if s.SecurityContext == nil {
		s.SecurityContext = &orchv1.PodSecurityContext{}
	}
	for _, c := range s.InitContainers {
		defaultContainer(c, s.HostNetwork)
	}
	for _, c := range s.Containers {
		defaultContainer(c, s.HostNetwork)
	}
	for _, v := range s.Volumes {
		defaultVolume(v)
	}
}

func defaultContainer(c *orchv1.Container, hostNetwork bool) {
	if c == nil {
		return
	}
	setDefault(&c.ImagePullPolicy, defaultPullPolicy(c.Image))
	setDefault(&c.TerminationMessagePath, defaultTerminationMessagePath)
	setDefault(&c.TerminationMessagePolicy, "File")
	for _, p := range c.Ports {
		if p == nil {
			continue
		}
		setDefault(&p.Protocol, "TCP")
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	for _, e := range c.Env {
		if fr := e.GetValueFrom().GetFieldRef(); fr != nil {
			setDefault(&fr.ApiVersion, "v1")
		}
	}
	// Kubernetes copies a limit into the request of the same resource when the request is
	// unset (this is what makes a container with only limits Guaranteed).
	if r := c.Resources; r != nil && len(r.Limits) > 0 {
		for n, q := range r.Limits {
			if _, ok := r.Requests[n]; ok {
				continue
			}
			if _, err := resource.ParseQuantity(q); err != nil {
				continue // reported by validation against the limit
			}
			if r.Requests == nil {
				r.Requests = make(map[string]string)
			}
			r.Requests[n] = q
		}
	}
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if l := c.Lifecycle; l != nil {
		defaultHTTPGet(l.GetPostStart().GetHttpGet())
		defaultHTTPGet(l.GetPreStop().GetHttpGet())
	}
}

// defaultPullPolicy is Always for a ":latest" or untagged image, IfNotPresent otherwise
// (and for digest references).
func defaultPullPolicy(image string) string {
	if image == "" || strings.Contains(image, "@") {
		return "IfNotPresent"
	}
	name := image
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	tag := "latest"
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		tag = name[i+1:]
	}
	if tag == "latest" {
		return "Always"
	}
	return "IfNotPresent"
}

func defaultProbe(p *orchv1.Probe) {
	if p == nil {
		return
	}
	setDefaultPtr(&p.TimeoutSeconds, 1)
	setDefaultPtr(&p.PeriodSeconds, 10)
	setDefaultPtr(&p.SuccessThreshold, 1)
	setDefaultPtr(&p.FailureThreshold, 3)
	defaultHTTPGet(p.HttpGet)
}

func defaultHTTPGet(h *orchv1.HTTPGetAction) {
	if h == nil {
		return
	}
	setDefault(&h.Path, "/")
	setDefault(&h.Scheme, "HTTP")
}

func defaultVolume(v *orchv1.Volume) {
	if v == nil {
		return
	}
	if s := v.ConfigMap; s != nil {
		setDefaultPtr(&s.DefaultMode, defaultVolumeMode)
	}
	if s := v.Secret; s != nil {
		setDefaultPtr(&s.DefaultMode, defaultVolumeMode)
	}
	if s := v.DownwardApi; s != nil {
		setDefaultPtr(&s.DefaultMode, defaultVolumeMode)
		for _, it := range s.Items {
			if fr := it.GetFieldRef(); fr != nil {
				setDefault(&fr.ApiVersion, "v1")
			}
		}
	}
	if s := v.Projected; s != nil {
		setDefaultPtr(&s.DefaultMode, defaultVolumeMode)
		for _, src := range s.Sources {
			for _, it := range src.GetDownwardApi().GetItems() {
				if fr := it.GetFieldRef(); fr != nil {
					setDefault(&fr.ApiVersion, "v1")
				}
			}
		}
	}
	if s := v.HostPath; s != nil {
		setDefaultPtr(&s.Type, "")
	}
}

func defaultService(x *orchv1.Service) {
	if x.Spec == nil {
		x.Spec = &orchv1.ServiceSpec{}
	}
	s := x.Spec
	setDefault(&s.Type, "ClusterIP")
	setDefault(&s.SessionAffinity, "None")
	for _, p := range s.Ports {
		if p == nil {
			continue
		}
		setDefault(&p.Protocol, "TCP")
		if intOrStringUnset(p.TargetPort) {
			p.TargetPort = structpb.NewNumberValue(float64(p.Port))
		}
	}
	external := s.Type == "NodePort" || s.Type == "LoadBalancer" || (s.Type == "ClusterIP" && len(s.ExternalIps) > 0)
	if external {
		setDefault(&s.ExternalTrafficPolicy, "Cluster")
	}
	if s.Type == "ClusterIP" || s.Type == "NodePort" || s.Type == "LoadBalancer" {
		setDefaultPtr(&s.InternalTrafficPolicy, "Cluster")
	}
	if s.Type == "LoadBalancer" {
		setDefaultPtr(&s.AllocateLoadBalancerNodePorts, true)
	}
}

func defaultSecret(x *orchv1.Secret) {
	setDefault(&x.Type, "Opaque")
	if len(x.StringData) > 0 {
		if x.Data == nil {
			x.Data = make(map[string][]byte, len(x.StringData))
		}
		for k, v := range x.StringData {
			x.Data[k] = []byte(v)
		}
	}
	x.StringData = nil
}

func defaultPVC(x *orchv1.PersistentVolumeClaim) {
	if x.Spec == nil {
		x.Spec = &orchv1.PersistentVolumeClaimSpec{}
	}
	setDefaultPtr(&x.Spec.VolumeMode, "Filesystem")
	if x.Status == nil {
		x.Status = &orchv1.PersistentVolumeClaimStatus{}
	}
	setDefault(&x.Status.Phase, "Pending")
}

func defaultDeployment(x *orchv1.Deployment) {
	if x.Spec == nil {
		x.Spec = &orchv1.DeploymentSpec{}
	}
	s := x.Spec
	setDefaultPtr(&s.Replicas, 1)
	if s.Strategy == nil {
		s.Strategy = &orchv1.DeploymentStrategy{}
	}
	setDefault(&s.Strategy.Type, "RollingUpdate")
	if s.Strategy.Type == "RollingUpdate" {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &orchv1.RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = structpb.NewStringValue("25%")
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = structpb.NewStringValue("25%")
		}
	}
	setDefaultPtr(&s.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	setDefaultPtr(&s.ProgressDeadlineSeconds, defaultProgressDeadline)
	s.Template = defaultPodTemplate(s.Template)
}

func defaultStatefulSet(x *orchv1.StatefulSet) {
	if x.Spec == nil {
		x.Spec = &orchv1.StatefulSetSpec{}
	}
	s := x.Spec
	setDefaultPtr(&s.Replicas, 1)
	setDefault(&s.PodManagementPolicy, "OrderedReady")
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &orchv1.StatefulSetUpdateStrategy{}
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = "RollingUpdate"
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &orchv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := s.UpdateStrategy.RollingUpdate; ru != nil && s.UpdateStrategy.Type == "RollingUpdate" {
		setDefaultPtr(&ru.Partition, 0)
	}
	setDefaultPtr(&s.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &orchv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	setDefault(&s.PersistentVolumeClaimRetentionPolicy.WhenDeleted, "Retain")
	setDefault(&s.PersistentVolumeClaimRetentionPolicy.WhenScaled, "Retain")
	for _, pvc := range s.VolumeClaimTemplates {
		if pvc != nil {
			defaultPVC(pvc)
		}
	}
	s.Template = defaultPodTemplate(s.Template)
}

func defaultDaemonSet(x *orchv1.DaemonSet) {
	if x.Spec == nil {
		x.Spec = &orchv1.DaemonSetSpec{}
	}
	s := x.Spec
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &orchv1.DaemonSetUpdateStrategy{}
	}
	setDefault(&s.UpdateStrategy.Type, "RollingUpdate")
	if s.UpdateStrategy.Type == "RollingUpdate" {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &orchv1.RollingUpdateDaemonSet{}
		}
		ru := s.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = structpb.NewNumberValue(1)
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = structpb.NewNumberValue(0)
		}
	}
	setDefaultPtr(&s.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	s.Template = defaultPodTemplate(s.Template)
}

func defaultJob(x *orchv1.Job) {
	if x.Spec == nil {
		x.Spec = &orchv1.JobSpec{}
	}
	s := x.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = proto.Int32(1)
	}
	setDefaultPtr(&s.Parallelism, 1)
	setDefaultPtr(&s.BackoffLimit, defaultJobBackoffLimit)
	setDefaultPtr(&s.CompletionMode, "NonIndexed")
	setDefaultPtr(&s.Suspend, false)
	setDefaultPtr(&s.PodReplacementPolicy, "TerminatingOrFailed")
	s.Template = defaultPodTemplate(s.Template)

	m := api.Meta(x)
	// Unless the user manages the selector, select the Job's own pods by its uid.
	if !s.GetManualSelector() && len(s.GetSelector().GetMatchLabels())+len(s.GetSelector().GetMatchExpressions()) == 0 && m.GetUid() != "" {
		if s.Template.Metadata == nil {
			s.Template.Metadata = &orchv1.ObjectMeta{}
		}
		tm := s.Template.Metadata
		if tm.Labels == nil {
			tm.Labels = make(map[string]string)
		}
		for key, v := range map[string]string{
			jobLegacyNameLabel:          m.GetName(),
			jobNameLabel:                m.GetName(),
			jobLegacyControllerUIDLabel: m.GetUid(),
			jobControllerUIDLabel:       m.GetUid(),
		} {
			if _, ok := tm.Labels[key]; !ok {
				tm.Labels[key] = v
			}
		}
		if s.Selector == nil {
			s.Selector = &orchv1.LabelSelector{}
		}
		if s.Selector.MatchLabels == nil {
			s.Selector.MatchLabels = make(map[string]string)
		}
		s.Selector.MatchLabels[jobControllerUIDLabel] = m.GetUid()
	}
	// A Job without labels takes those of its pod template (as a Kubernetes Job read back
	// shows the generated controller-uid and job-name labels).
	if tl := s.Template.GetMetadata().GetLabels(); len(tl) > 0 && len(m.Labels) == 0 {
		m.Labels = make(map[string]string, len(tl))
		for key, v := range tl {
			m.Labels[key] = v
		}
	}
}

// intOrStringUnset reports whether an int-or-string field is absent, null, 0 or "".
func intOrStringUnset(v *structpb.Value) bool {
	switch x := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return true
	case *structpb.Value_NumberValue:
		return x.NumberValue == 0
	case *structpb.Value_StringValue:
		return x.StringValue == ""
	}
	return false
}

func defaultBinding(ref **orchv1.RoleRef, subjects []*orchv1.Subject) {
	if *ref == nil {
		*ref = &orchv1.RoleRef{}
	}
	setDefault(&(*ref).ApiGroup, rbacGroup)
	for _, s := range subjects {
		if s != nil && s.ApiGroup == "" && (s.Kind == "User" || s.Kind == "Group") {
			s.ApiGroup = rbacGroup
		}
	}
}
