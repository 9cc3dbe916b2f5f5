package server

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func defaulted[T api.Object](o T) T {
	k, _ := api.KindOf(o)
	defaultObject(k, o)
	return o
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ptrEq[T comparable](t *testing.T, what string, got *T, want T) {
	t.Helper()
	if got == nil {
		t.Errorf("%s unset, want %v", what, want)
		return
	}
	eq(t, what, *got, want)
}

func intOrStr(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	return v.AsInterface()
}

func checkPodSpecDefaults(t *testing.T, s *orchv1.PodSpec) {
	t.Helper()
	eq(t, "restartPolicy", s.RestartPolicy, "Always")
	ptrEq(t, "terminationGracePeriodSeconds", s.TerminationGracePeriodSeconds, 30)
	eq(t, "dnsPolicy", s.DnsPolicy, "ClusterFirst")
	eq(t, "schedulerName", s.SchedulerName, "default-scheduler")
	ptrEq(t, "enableServiceLinks", s.EnableServiceLinks, true)
	for _, c := range append(append([]*orchv1.Container(nil), s.InitContainers...), s.Containers...) {
		eq(t, c.Name+".terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log")
		eq(t, c.Name+".terminationMessagePolicy", c.TerminationMessagePolicy, "File")
		if c.ImagePullPolicy == "" {
			t.Errorf("%s.imagePullPolicy unset", c.Name)
		}
		for _, p := range c.Ports {
			eq(t, c.Name+".ports.protocol", p.Protocol, "TCP")
		}
	}
}

func TestDefaultPod(t *testing.T) {
	p := validPod()
	p.Spec.InitContainers = []*orchv1.Container{{Name: "init", Image: "busybox"}}
	p.Spec.Containers[0].LivenessProbe = &orchv1.Probe{HttpGet: &orchv1.HTTPGetAction{Port: structpb.NewNumberValue(80)}}
	p.Spec.Volumes = append(p.Spec.Volumes,
		&orchv1.Volume{Name: "cfg", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "cfg"}},
		&orchv1.Volume{Name: "sec", Secret: &orchv1.SecretVolumeSource{SecretName: "s"}},
		&orchv1.Volume{Name: "dapi", DownwardApi: &orchv1.DownwardAPIVolumeSource{}},
		&orchv1.Volume{Name: "proj", Projected: &orchv1.ProjectedVolumeSource{}},
	)
	defaulted(p)
	s := p.Spec
	checkPodSpecDefaults(t, s)
	eq(t, "init imagePullPolicy", s.InitContainers[0].ImagePullPolicy, "Always")
	eq(t, "imagePullPolicy", s.Containers[0].ImagePullPolicy, "IfNotPresent")
	lp := s.Containers[0].LivenessProbe
	ptrEq(t, "timeoutSeconds", lp.TimeoutSeconds, 1)
	ptrEq(t, "periodSeconds", lp.PeriodSeconds, 10)
	ptrEq(t, "successThreshold", lp.SuccessThreshold, 1)
	ptrEq(t, "failureThreshold", lp.FailureThreshold, 3)
	eq(t, "httpGet.scheme", lp.HttpGet.Scheme, "HTTP")
	eq(t, "httpGet.path", lp.HttpGet.Path, "/")
	eq(t, "readiness httpGet.path kept", s.Containers[0].ReadinessProbe.HttpGet.Path, "/healthz")
	if !proto.Equal(s.Volumes[0].EmptyDir, &orchv1.EmptyDirVolumeSource{}) {
		t.Errorf("emptyDir got defaults: %v", s.Volumes[0].EmptyDir)
	}
	ptrEq(t, "configMap.defaultMode", s.Volumes[1].ConfigMap.DefaultMode, 0o644)
	ptrEq(t, "secret.defaultMode", s.Volumes[2].Secret.DefaultMode, 0o644)
	ptrEq(t, "downwardAPI.defaultMode", s.Volumes[3].DownwardApi.DefaultMode, 0o644)
	ptrEq(t, "projected.defaultMode", s.Volumes[4].Projected.DefaultMode, 0o644)
	eq(t, "status.phase", p.Status.Phase, "Pending")
	eq(t, "status.qosClass", p.Status.QosClass, "Burstable")

	// Defaulting is idempotent.
	again := proto.Clone(p).(*orchv1.Pod)
	defaulted(again)
	if !proto.Equal(p, again) {
		t.Errorf("defaulting twice changed the pod:\n%v\n%v", p, again)
	}
}

func TestDefaultPodKeepsUserValues(t *testing.T) {
	p := validPod()
	s := p.Spec
	s.RestartPolicy, s.DnsPolicy, s.SchedulerName = "Never", "Default", "my-scheduler"
	s.TerminationGracePeriodSeconds = proto.Int32(0)
	s.EnableServiceLinks = proto.Bool(false)
	c := s.Containers[0]
	c.ImagePullPolicy, c.TerminationMessagePath, c.TerminationMessagePolicy = "Never", "/tmp/msg", "FallbackToLogsOnError"
	c.Ports[0].Protocol = "UDP"
	c.ReadinessProbe.TimeoutSeconds = proto.Int32(5)
	c.ReadinessProbe.HttpGet.Scheme = "HTTPS"
	s.Volumes[0] = &orchv1.Volume{Name: "cache", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "c", DefaultMode: proto.Int32(0o400)}}
	p.Status = &orchv1.PodStatus{Phase: "Running", QosClass: "Guaranteed"}
	defaulted(p)
	eq(t, "restartPolicy", s.RestartPolicy, "Never")
	eq(t, "dnsPolicy", s.DnsPolicy, "Default")
	eq(t, "schedulerName", s.SchedulerName, "my-scheduler")
	ptrEq(t, "terminationGracePeriodSeconds", s.TerminationGracePeriodSeconds, 0)
	ptrEq(t, "enableServiceLinks", s.EnableServiceLinks, false)
	eq(t, "imagePullPolicy", c.ImagePullPolicy, "Never")
	eq(t, "terminationMessagePath", c.TerminationMessagePath, "/tmp/msg")
	eq(t, "terminationMessagePolicy", c.TerminationMessagePolicy, "FallbackToLogsOnError")
	eq(t, "protocol", c.Ports[0].Protocol, "UDP")
	ptrEq(t, "timeoutSeconds", c.ReadinessProbe.TimeoutSeconds, 5)
	eq(t, "scheme", c.ReadinessProbe.HttpGet.Scheme, "HTTPS")
	ptrEq(t, "defaultMode", s.Volumes[0].ConfigMap.DefaultMode, 0o400)
	eq(t, "phase", p.Status.Phase, "Running")
	eq(t, "qosClass", p.Status.QosClass, "Guaranteed")
}

func TestDefaultImagePullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                         "Always",
		"nginx:latest":                  "Always",
		"nginx:1.27":                    "IfNotPresent",
		"localhost:5000/app":            "Always",
		"localhost:5000/app:v2":         "IfNotPresent",
		"registry.io/team/app:latest":   "Always",
		"nginx@sha256:0123456789abcdef": "IfNotPresent",
	} {
		eq(t, image, defaultPullPolicy(image), want)
	}
}

func TestDefaultQOSClass(t *testing.T) {
	res := func(req, lim map[string]string) *orchv1.Pod {
		p := validPod()
		p.Spec.Containers[0].Resources = &orchv1.ResourceRequirements{Requests: req, Limits: lim}
		return p
	}
	for name, tc := range map[string]struct {
		pod  *orchv1.Pod
		want string
	}{
		"none":                 {res(nil, nil), "BestEffort"},
		"requests only":        {res(map[string]string{"cpu": "100m"}, nil), "Burstable"},
		"limits only (copied)": {res(nil, map[string]string{"cpu": "1", "memory": "1Gi"}), "Guaranteed"},
		"equal":                {res(map[string]string{"cpu": "1", "memory": "1Gi"}, map[string]string{"cpu": "1000m", "memory": "1Gi"}), "Guaranteed"},
		"only cpu limited":     {res(nil, map[string]string{"cpu": "1"}), "Burstable"},
		"other resources only": {res(map[string]string{"nvidia.com/gpu": "1"}, nil), "BestEffort"},
	} {
		eq(t, name, defaulted(tc.pod).Status.QosClass, tc.want)
	}
	// Requests copied from limits keep requests the user set.
	p := defaulted(res(map[string]string{"cpu": "100m"}, map[string]string{"cpu": "1", "memory": "1Gi"}))
	eq(t, "requests.cpu", p.Spec.Containers[0].Resources.Requests["cpu"], "100m")
	eq(t, "requests.memory", p.Spec.Containers[0].Resources.Requests["memory"], "1Gi")
}

func TestDefaultService(t *testing.T) {
	s := defaulted(validService())
	eq(t, "type", s.Spec.Type, "ClusterIP")
	eq(t, "sessionAffinity", s.Spec.SessionAffinity, "None")
	ptrEq(t, "internalTrafficPolicy", s.Spec.InternalTrafficPolicy, "Cluster")
	eq(t, "ports[0].protocol", s.Spec.Ports[0].Protocol, "TCP")
	eq(t, "ports[0].targetPort kept", intOrStr(s.Spec.Ports[0].TargetPort), any("http"))
	eq(t, "ports[1].targetPort", intOrStr(s.Spec.Ports[1].TargetPort), any(float64(9090)))
	eq(t, "externalTrafficPolicy", s.Spec.ExternalTrafficPolicy, "")

	lb := validService()
	lb.Spec.Type, lb.Spec.SessionAffinity = "LoadBalancer", "ClientIP"
	lb.Spec.InternalTrafficPolicy = proto.String("Local")
	lb.Spec.Ports[1].Protocol = "UDP"
	defaulted(lb)
	eq(t, "type kept", lb.Spec.Type, "LoadBalancer")
	eq(t, "sessionAffinity kept", lb.Spec.SessionAffinity, "ClientIP")
	ptrEq(t, "internalTrafficPolicy kept", lb.Spec.InternalTrafficPolicy, "Local")
	eq(t, "protocol kept", lb.Spec.Ports[1].Protocol, "UDP")
	eq(t, "externalTrafficPolicy", lb.Spec.ExternalTrafficPolicy, "Cluster")
	ptrEq(t, "allocateLoadBalancerNodePorts", lb.Spec.AllocateLoadBalancerNodePorts, true)
}

func TestDefaultWorkloads(t *testing.T) {
	d := defaulted(validDeployment())
	ptrEq(t, "deployment replicas kept", d.Spec.Replicas, 3)
	eq(t, "strategy.type", d.Spec.Strategy.Type, "RollingUpdate")
	eq(t, "maxSurge", intOrStr(d.Spec.Strategy.RollingUpdate.MaxSurge), any("25%"))
	eq(t, "maxUnavailable", intOrStr(d.Spec.Strategy.RollingUpdate.MaxUnavailable), any("25%"))
	ptrEq(t, "revisionHistoryLimit", d.Spec.RevisionHistoryLimit, 10)
	ptrEq(t, "progressDeadlineSeconds", d.Spec.ProgressDeadlineSeconds, 600)
	checkPodSpecDefaults(t, d.Spec.Template.Spec)

	d = validDeployment()
	d.Spec.Replicas = nil
	d.Spec.Strategy = &orchv1.DeploymentStrategy{Type: "Recreate"}
	d.Spec.RevisionHistoryLimit = proto.Int32(0)
	defaulted(d)
	ptrEq(t, "deployment replicas", d.Spec.Replicas, 1)
	eq(t, "Recreate kept", d.Spec.Strategy.Type, "Recreate")
	if d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got a rollingUpdate")
	}
	ptrEq(t, "revisionHistoryLimit kept", d.Spec.RevisionHistoryLimit, 0)

	d = validDeployment()
	d.Spec.Strategy = &orchv1.DeploymentStrategy{RollingUpdate: &orchv1.RollingUpdateDeployment{MaxSurge: structpb.NewNumberValue(2)}}
	defaulted(d)
	eq(t, "maxSurge kept", intOrStr(d.Spec.Strategy.RollingUpdate.MaxSurge), any(float64(2)))
	eq(t, "maxUnavailable", intOrStr(d.Spec.Strategy.RollingUpdate.MaxUnavailable), any("25%"))

	rs := defaulted(validReplicaSet())
	ptrEq(t, "replicaset replicas", rs.Spec.Replicas, 1)
	checkPodSpecDefaults(t, rs.Spec.Template.Spec)

	ss := defaulted(validStatefulSet())
	ptrEq(t, "statefulset replicas", ss.Spec.Replicas, 1)
	eq(t, "podManagementPolicy", ss.Spec.PodManagementPolicy, "OrderedReady")
	eq(t, "updateStrategy.type", ss.Spec.UpdateStrategy.Type, "RollingUpdate")
	ptrEq(t, "partition", ss.Spec.UpdateStrategy.RollingUpdate.Partition, 0)
	ptrEq(t, "revisionHistoryLimit", ss.Spec.RevisionHistoryLimit, 10)
	ptrEq(t, "claim volumeMode", ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode, "Filesystem")
	checkPodSpecDefaults(t, ss.Spec.Template.Spec)

	ss = validStatefulSet()
	ss.Spec.PodManagementPolicy = "Parallel"
	ss.Spec.UpdateStrategy = &orchv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
	defaulted(ss)
	eq(t, "podManagementPolicy kept", ss.Spec.PodManagementPolicy, "Parallel")
	eq(t, "OnDelete kept", ss.Spec.UpdateStrategy.Type, "OnDelete")
	if ss.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete got a rollingUpdate")
	}

	ds := defaulted(validDaemonSet())
	eq(t, "daemonset updateStrategy.type", ds.Spec.UpdateStrategy.Type, "RollingUpdate")
	eq(t, "daemonset maxUnavailable", intOrStr(ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable), any(float64(1)))
	eq(t, "daemonset maxSurge", intOrStr(ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge), any(float64(0)))
	ptrEq(t, "daemonset revisionHistoryLimit", ds.Spec.RevisionHistoryLimit, 10)
	checkPodSpecDefaults(t, ds.Spec.Template.Spec)
}

func TestDefaultJob(t *testing.T) {
	j := defaulted(validJob())
	uid := j.Metadata.Uid
	ptrEq(t, "parallelism", j.Spec.Parallelism, 1)
	ptrEq(t, "completions", j.Spec.Completions, 1)
	ptrEq(t, "backoffLimit", j.Spec.BackoffLimit, 6)
	ptrEq(t, "completionMode", j.Spec.CompletionMode, "NonIndexed")
	ptrEq(t, "suspend", j.Spec.Suspend, false)
	eq(t, "restartPolicy kept", j.Spec.Template.Spec.RestartPolicy, "Never")
	eq(t, "selector", j.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"], uid)
	tl := j.Spec.Template.Metadata.Labels
	eq(t, "label controller-uid", tl["controller-uid"], uid)
	eq(t, "label batch.kubernetes.io/controller-uid", tl["batch.kubernetes.io/controller-uid"], uid)
	eq(t, "label job-name", tl["job-name"], "migrate")
	eq(t, "label batch.kubernetes.io/job-name", tl["batch.kubernetes.io/job-name"], "migrate")
	if errs := validateObject(api.JobKind, j); len(errs) != 0 {
		t.Errorf("defaulted job invalid: %v", errs)
	}

	// Only parallelism set: completions stay unset (a work queue).
	j = validJob()
	j.Spec.Parallelism = proto.Int32(4)
	defaulted(j)
	ptrEq(t, "parallelism kept", j.Spec.Parallelism, 4)
	if j.Spec.Completions != nil {
		t.Errorf("completions = %d, want unset", *j.Spec.Completions)
	}

	// Only completions set: parallelism 1.
	j = validJob()
	j.Spec.Completions = proto.Int32(5)
	j.Spec.BackoffLimit = proto.Int32(0)
	defaulted(j)
	ptrEq(t, "completions kept", j.Spec.Completions, 5)
	ptrEq(t, "parallelism", j.Spec.Parallelism, 1)
	ptrEq(t, "backoffLimit kept", j.Spec.BackoffLimit, 0)

	// No uid yet: nothing generated.
	j = validJob()
	j.Metadata.Uid = ""
	defaulted(j)
	if j.Spec.Selector != nil || len(j.Spec.Template.GetMetadata().GetLabels()) != 0 {
		t.Errorf("selector generated without uid: %v / %v", j.Spec.Selector, j.Spec.Template.GetMetadata().GetLabels())
	}

	// Manual selector: kept as the user wrote it.
	j = validJob()
	j.Spec.ManualSelector = proto.Bool(true)
	j.Spec.Selector = appSelector()
	j.Spec.Template.Metadata = &orchv1.ObjectMeta{Labels: map[string]string{"app": "web"}}
	defaulted(j)
	if !proto.Equal(j.Spec.Selector, appSelector()) || len(j.Spec.Template.Metadata.Labels) != 1 {
		t.Errorf("manual selector changed: %v / %v", j.Spec.Selector, j.Spec.Template.Metadata.Labels)
	}
	eq(t, "job labels from template", j.Metadata.Labels["app"], "web")
}

func TestDefaultCronJob(t *testing.T) {
	c := defaulted(validCronJob())
	eq(t, "concurrencyPolicy", c.Spec.ConcurrencyPolicy, "Allow")
	ptrEq(t, "suspend", c.Spec.Suspend, false)
	ptrEq(t, "successfulJobsHistoryLimit", c.Spec.SuccessfulJobsHistoryLimit, 3)
	ptrEq(t, "failedJobsHistoryLimit", c.Spec.FailedJobsHistoryLimit, 1)
	checkPodSpecDefaults(t, &orchv1.PodSpec{Containers: c.Spec.JobTemplate.Spec.Template.Spec.Containers, RestartPolicy: "Always",
		TerminationGracePeriodSeconds: c.Spec.JobTemplate.Spec.Template.Spec.TerminationGracePeriodSeconds,
		DnsPolicy:                     c.Spec.JobTemplate.Spec.Template.Spec.DnsPolicy, SchedulerName: c.Spec.JobTemplate.Spec.Template.Spec.SchedulerName,
		EnableServiceLinks: c.Spec.JobTemplate.Spec.Template.Spec.EnableServiceLinks})

	c = validCronJob()
	c.Spec.ConcurrencyPolicy = "Forbid"
	c.Spec.Suspend = proto.Bool(true)
	c.Spec.SuccessfulJobsHistoryLimit = proto.Int32(0)
	defaulted(c)
	eq(t, "concurrencyPolicy kept", c.Spec.ConcurrencyPolicy, "Forbid")
	ptrEq(t, "suspend kept", c.Spec.Suspend, true)
	ptrEq(t, "successfulJobsHistoryLimit kept", c.Spec.SuccessfulJobsHistoryLimit, 0)
}

func TestDefaultOtherKinds(t *testing.T) {
	sec := validSecret()
	sec.Data["user"] = []byte("old")
	sec.StringData = map[string]string{"user": "admin", "token": "t"}
	defaulted(sec)
	eq(t, "secret type", sec.Type, "Opaque")
	eq(t, "data[user] from stringData", string(sec.Data["user"]), "admin")
	eq(t, "data[token]", string(sec.Data["token"]), "t")
	eq(t, "data[password] kept", string(sec.Data["password"]), "s3cret")
	if sec.StringData != nil {
		t.Errorf("stringData not cleared")
	}
	tls := validSecret()
	tls.Type = "kubernetes.io/tls"
	eq(t, "secret type kept", defaulted(tls).Type, "kubernetes.io/tls")

	eq(t, "namespace phase", defaulted(validNamespace()).Status.Phase, "Active")

	pv := defaulted(validPV())
	eq(t, "reclaim policy", pv.Spec.PersistentVolumeReclaimPolicy, "Retain")
	ptrEq(t, "pv volumeMode", pv.Spec.VolumeMode, "Filesystem")
	pv = validPV()
	pv.Spec.PersistentVolumeReclaimPolicy = "Delete"
	pv.Spec.VolumeMode = proto.String("Block")
	defaulted(pv)
	eq(t, "reclaim policy kept", pv.Spec.PersistentVolumeReclaimPolicy, "Delete")
	ptrEq(t, "pv volumeMode kept", pv.Spec.VolumeMode, "Block")

	ptrEq(t, "pvc volumeMode", defaulted(validPVC()).Spec.VolumeMode, "Filesystem")

	hpa := defaulted(validHPA())
	ptrEq(t, "minReplicas", hpa.Spec.MinReplicas, 1)
	hpa = validHPA()
	hpa.Spec.MinReplicas = proto.Int32(2)
	ptrEq(t, "minReplicas kept", defaulted(hpa).Spec.MinReplicas, 2)

	rb := defaulted(validRoleBinding())
	eq(t, "roleRef.apiGroup", rb.RoleRef.ApiGroup, "rbac.authorization.k8s.io")
	eq(t, "user subject apiGroup", rb.Subjects[0].ApiGroup, "rbac.authorization.k8s.io")
	eq(t, "service account subject apiGroup", rb.Subjects[1].ApiGroup, "")

	ep := defaulted(validEndpoints())
	eq(t, "endpoints port protocol", ep.Subsets[0].Ports[0].Protocol, "TCP")

	node := defaulted(validNode())
	eq(t, "allocatable from capacity", node.Status.Allocatable["memory"], "16Gi")
}

// Every valid fixture stays the same when defaulted twice.
func TestDefaultIdempotent(t *testing.T) {
	for k, o := range validObjects() {
		defaultObject(k, o)
		again := proto.Clone(o).(api.Object)
		defaultObject(k, again)
		if !proto.Equal(o, again) {
			t.Errorf("%s: defaulting twice changed the object", k.Name)
		}
	}
}
