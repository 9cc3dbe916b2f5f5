package server

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Fixtures: one valid object per kind, before defaulting.

func objMeta(name string) *orchv1.ObjectMeta {
	return &orchv1.ObjectMeta{Name: name, Namespace: "default", Uid: "0b6c7f1e-2d1c-4d4b-9a59-1e0c1f9f4b11"}
}

func clusterMeta(name string) *orchv1.ObjectMeta {
	return &orchv1.ObjectMeta{Name: name, Uid: "5f2b8a3e-7c61-4f0a-8d1e-2b9c4e6a7d20"}
}

func validPodSpec() *orchv1.PodSpec {
	return &orchv1.PodSpec{
		Containers: []*orchv1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []*orchv1.ContainerPort{{Name: "http", ContainerPort: 80}},
			Env:   []*orchv1.EnvVar{{Name: "MODE", Value: "prod"}},
			Resources: &orchv1.ResourceRequirements{
				Requests: map[string]string{"cpu": "100m", "memory": "64Mi"},
				Limits:   map[string]string{"cpu": "500m", "memory": "128Mi"},
			},
			VolumeMounts: []*orchv1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
			ReadinessProbe: &orchv1.Probe{
				HttpGet: &orchv1.HTTPGetAction{Path: "/healthz", Port: structpb.NewStringValue("http")},
			},
		}},
		Volumes: []*orchv1.Volume{{Name: "cache", EmptyDir: &orchv1.EmptyDirVolumeSource{}}},
	}
}

func validPodTemplate(labels map[string]string) *orchv1.PodTemplateSpec {
	return &orchv1.PodTemplateSpec{Metadata: &orchv1.ObjectMeta{Labels: labels}, Spec: validPodSpec()}
}

func appSelector() *orchv1.LabelSelector {
	return &orchv1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func validPod() *orchv1.Pod {
	return &orchv1.Pod{Metadata: objMeta("web-0"), Spec: validPodSpec()}
}

func validDeployment() *orchv1.Deployment {
	return &orchv1.Deployment{Metadata: objMeta("web"), Spec: &orchv1.DeploymentSpec{
		Replicas: proto.Int32(3),
		Selector: appSelector(),
		Template: validPodTemplate(map[string]string{"app": "web"}),
	}}
}

func validReplicaSet() *orchv1.ReplicaSet {
	return &orchv1.ReplicaSet{Metadata: objMeta("web-5d8f"), Spec: &orchv1.ReplicaSetSpec{
		Selector: appSelector(),
		Template: validPodTemplate(map[string]string{"app": "web"}),
	}}
}

func validStatefulSet() *orchv1.StatefulSet {
	t := validPodTemplate(map[string]string{"app": "web"})
	t.Spec.Containers[0].VolumeMounts = append(t.Spec.Containers[0].VolumeMounts, &orchv1.VolumeMount{Name: "data", MountPath: "/data"})
	return &orchv1.StatefulSet{Metadata: objMeta("db"), Spec: &orchv1.StatefulSetSpec{
		Selector:    appSelector(),
		Template:    t,
		ServiceName: "db",
		VolumeClaimTemplates: []*orchv1.PersistentVolumeClaim{{
			Metadata: &orchv1.ObjectMeta{Name: "data"},
			Spec: &orchv1.PersistentVolumeClaimSpec{
				AccessModes: []string{"ReadWriteOnce"},
				Resources:   &orchv1.VolumeResourceRequirements{Requests: map[string]string{"storage": "1Gi"}},
			},
		}},
	}}
}

func validDaemonSet() *orchv1.DaemonSet {
	return &orchv1.DaemonSet{Metadata: objMeta("agent"), Spec: &orchv1.DaemonSetSpec{
		Selector: appSelector(),
		Template: validPodTemplate(map[string]string{"app": "web"}),
	}}
}

func validJobSpec() *orchv1.JobSpec {
	t := validPodTemplate(nil)
	t.Spec.RestartPolicy = "Never"
	return &orchv1.JobSpec{Template: t}
}

func validJob() *orchv1.Job {
	return &orchv1.Job{Metadata: objMeta("migrate"), Spec: validJobSpec()}
}

func validCronJob() *orchv1.CronJob {
	return &orchv1.CronJob{Metadata: objMeta("nightly"), Spec: &orchv1.CronJobSpec{
		Schedule:    "*/15 2-4 * jan-jun MON,wed",
		JobTemplate: &orchv1.JobTemplateSpec{Spec: validJobSpec()},
	}}
}

func validService() *orchv1.Service {
	return &orchv1.Service{Metadata: objMeta("web"), Spec: &orchv1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports: []*orchv1.ServicePort{
			{Name: "http", Port: 80, TargetPort: structpb.NewStringValue("http")},
			{Name: "metrics", Port: 9090},
		},
	}}
}

func validEndpoints() *orchv1.Endpoints {
	return &orchv1.Endpoints{Metadata: objMeta("web"), Subsets: []*orchv1.EndpointSubset{{
		Addresses: []*orchv1.EndpointAddress{{Ip: "10.0.0.4"}},
		Ports:     []*orchv1.EndpointPort{{Port: 80}},
	}}}
}

func validConfigMap() *orchv1.ConfigMap {
	return &orchv1.ConfigMap{Metadata: objMeta("cfg"), Data: map[string]string{"app.conf": "x=1"}, BinaryData: map[string][]byte{"logo.png": {1, 2}}}
}

func validSecret() *orchv1.Secret {
	return &orchv1.Secret{Metadata: objMeta("creds"), Data: map[string][]byte{"password": []byte("s3cret")}}
}

func validNamespace() *orchv1.Namespace {
	return &orchv1.Namespace{Metadata: clusterMeta("team-a")}
}

func validNode() *orchv1.Node {
	return &orchv1.Node{Metadata: clusterMeta("node-1.example"), Spec: &orchv1.NodeSpec{
		PodCidr: "10.244.1.0/24",
		Taints:  []*orchv1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}},
	}, Status: &orchv1.NodeStatus{Capacity: map[string]string{"cpu": "4", "memory": "16Gi", "pods": "110"}}}
}

func validPV() *orchv1.PersistentVolume {
	return &orchv1.PersistentVolume{Metadata: clusterMeta("pv-1"), Spec: &orchv1.PersistentVolumeSpec{
		Capacity:    map[string]string{"storage": "10Gi"},
		AccessModes: []string{"ReadWriteOnce"},
		HostPath:    &orchv1.HostPathVolumeSource{Path: "/srv/pv-1"},
	}}
}

func validPVC() *orchv1.PersistentVolumeClaim {
	return &orchv1.PersistentVolumeClaim{Metadata: objMeta("data"), Spec: &orchv1.PersistentVolumeClaimSpec{
		AccessModes: []string{"ReadWriteOnce"},
		Resources:   &orchv1.VolumeResourceRequirements{Requests: map[string]string{"storage": "5Gi"}},
	}}
}

func validEvent() *orchv1.Event {
	return &orchv1.Event{Metadata: objMeta("web-0.17a3"), InvolvedObject: &orchv1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "default"}, Reason: "Scheduled", Type: "Normal"}
}

func validServiceAccount() *orchv1.ServiceAccount {
	return &orchv1.ServiceAccount{Metadata: objMeta("builder")}
}

func validHPA() *orchv1.HorizontalPodAutoscaler {
	return &orchv1.HorizontalPodAutoscaler{Metadata: objMeta("web"), Spec: &orchv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: &orchv1.CrossVersionObjectReference{ApiVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		MaxReplicas:    5,
		Metrics: []*orchv1.MetricSpec{{Type: "Resource", Resource: &orchv1.ResourceMetricSource{
			Name: "cpu", Target: &orchv1.MetricTarget{Type: "Utilization", AverageUtilization: proto.Int32(70)},
		}}},
	}}
}

func validRole() *orchv1.Role {
	return &orchv1.Role{Metadata: objMeta("pod-reader"), Rules: []*orchv1.PolicyRule{{
		Verbs: []string{"get", "list"}, ApiGroups: []string{""}, Resources: []string{"pods"},
	}}}
}

func validClusterRole() *orchv1.ClusterRole {
	return &orchv1.ClusterRole{Metadata: clusterMeta("system:metrics"), Rules: []*orchv1.PolicyRule{
		{Verbs: []string{"get"}, ApiGroups: []string{""}, Resources: []string{"nodes"}},
		{Verbs: []string{"get"}, NonResourceUrls: []string{"/metrics"}},
	}}
}

func validRoleBinding() *orchv1.RoleBinding {
	return &orchv1.RoleBinding{Metadata: objMeta("read-pods"),
		RoleRef: &orchv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects: []*orchv1.Subject{
			{Kind: "User", Name: "jane"},
			{Kind: "ServiceAccount", Name: "builder"},
		}}
}

func validClusterRoleBinding() *orchv1.ClusterRoleBinding {
	return &orchv1.ClusterRoleBinding{Metadata: clusterMeta("metrics"),
		RoleRef: &orchv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:metrics"},
		Subjects: []*orchv1.Subject{
			{Kind: "Group", Name: "ops"},
			{Kind: "ServiceAccount", Name: "prometheus", Namespace: "monitoring"},
		}}
}

// validObjects returns one valid object per kind.
func validObjects() map[*api.Kind]api.Object {
	return map[*api.Kind]api.Object{
		api.NamespaceKind:               validNamespace(),
		api.NodeKind:                    validNode(),
		api.PodKind:                     validPod(),
		api.ServiceKind:                 validService(),
		api.EndpointsKind:               validEndpoints(),
		api.ConfigMapKind:               validConfigMap(),
		api.SecretKind:                  validSecret(),
		api.PersistentVolumeKind:        validPV(),
		api.PersistentVolumeClaimKind:   validPVC(),
		api.EventKind:                   validEvent(),
		api.ServiceAccountKind:          validServiceAccount(),
		api.ReplicaSetKind:              validReplicaSet(),
		api.DeploymentKind:              validDeployment(),
		api.StatefulSetKind:             validStatefulSet(),
		api.DaemonSetKind:               validDaemonSet(),
		api.JobKind:                     validJob(),
		api.CronJobKind:                 validCronJob(),
		api.HorizontalPodAutoscalerKind: validHPA(),
		api.RoleKind:                    validRole(),
		api.ClusterRoleKind:             validClusterRole(),
		api.RoleBindingKind:             validRoleBinding(),
		api.ClusterRoleBindingKind:      validClusterRoleBinding(),
	}
}

// admitForTest runs what admission runs: defaults, then validation.
func admitForTest(o api.Object) field.ErrorList {
	k, ok := api.KindOf(o)
	if !ok {
		panic("unknown kind")
	}
	defaultObject(k, o)
	return validateObject(k, o)
}

func with[T any](o T, f func(T)) T {
	f(o)
	return o
}

func TestValidateValidObjects(t *testing.T) {
	objs := validObjects()
	for _, k := range api.Kinds {
		o, ok := objs[k]
		if !ok {
			t.Errorf("no valid fixture for kind %s", k.Name)
			continue
		}
		if errs := admitForTest(o); len(errs) != 0 {
			t.Errorf("%s: want no errors, got %v", k.Name, errs.ToAggregate())
		}
	}
}

// fe is an expected field error.
type fe struct {
	path string
	typ  field.ErrorType
}

var (
	errRequired     = field.ErrorTypeRequired
	errInvalid      = field.ErrorTypeInvalid
	errNotSupported = field.ErrorTypeNotSupported
	errDuplicate    = field.ErrorTypeDuplicate
	errForbidden    = field.ErrorTypeForbidden
	errNotFound     = field.ErrorTypeNotFound
	errTooLong      = field.ErrorTypeTooLong
)

func pod(f func(*orchv1.Pod)) api.Object { return with(validPod(), f) }
func ctr(f func(*orchv1.Container)) api.Object {
	return pod(func(p *orchv1.Pod) { f(p.Spec.Containers[0]) })
}

func TestValidateInvalidObjects(t *testing.T) {
	big := strings.Repeat("x", 600*1024)
	cases := []struct {
		name string
		obj  api.Object
		want []fe
	}{
		// Metadata
		{"name required", pod(func(p *orchv1.Pod) { p.Metadata.Name = "" }), []fe{{"metadata.name", errRequired}}},
		{"name not subdomain", pod(func(p *orchv1.Pod) { p.Metadata.Name = "Web_0" }), []fe{{"metadata.name", errInvalid}}},
		{"namespace not label", pod(func(p *orchv1.Pod) { p.Metadata.Namespace = "a.b" }), []fe{{"metadata.namespace", errInvalid}}},
		{"namespaced kind without namespace", pod(func(p *orchv1.Pod) { p.Metadata.Namespace = "" }), []fe{{"metadata.namespace", errRequired}}},
		{"cluster kind with namespace", with(validNode(), func(n *orchv1.Node) { n.Metadata.Namespace = "default" }), []fe{{"metadata.namespace", errForbidden}}},
		{"label key", pod(func(p *orchv1.Pod) { p.Metadata.Labels = map[string]string{"bad key": "v"} }), []fe{{"metadata.labels", errInvalid}}},
		{"label value", pod(func(p *orchv1.Pod) { p.Metadata.Labels = map[string]string{"app": "-bad-"} }), []fe{{"metadata.labels", errInvalid}}},
		{"annotation key", pod(func(p *orchv1.Pod) { p.Metadata.Annotations = map[string]string{"a/b/c": "v"} }), []fe{{"metadata.annotations", errInvalid}}},
		{"annotations too big", pod(func(p *orchv1.Pod) { p.Metadata.Annotations = map[string]string{"big": big} }), []fe{{"metadata.annotations", errTooLong}}},
		{"owner reference incomplete", pod(func(p *orchv1.Pod) {
			p.Metadata.OwnerReferences = []*orchv1.OwnerReference{{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "web"}}
		}), []fe{{"metadata.ownerReferences[0].uid", errRequired}}},
		{"finalizer", pod(func(p *orchv1.Pod) { p.Metadata.Finalizers = []string{"not a name"} }), []fe{{"metadata.finalizers[0]", errInvalid}}},

		// PodSpec
		{"no containers", pod(func(p *orchv1.Pod) { p.Spec.Containers = nil }), []fe{{"spec.containers", errRequired}}},
		{"image required", ctr(func(c *orchv1.Container) { c.Image = "" }), []fe{{"spec.containers[0].image", errRequired}}},
		{"container name label", ctr(func(c *orchv1.Container) { c.Name = "Web" }), []fe{{"spec.containers[0].name", errInvalid}}},
		{"container name errDuplicate with init", pod(func(p *orchv1.Pod) {
			p.Spec.InitContainers = []*orchv1.Container{{Name: "web", Image: "busybox"}}
		}), []fe{{"spec.containers[0].name", errDuplicate}}},
		{"containerPort range", ctr(func(c *orchv1.Container) { c.Ports[0].ContainerPort = 70000 }), []fe{{"spec.containers[0].ports[0].containerPort", errInvalid}}},
		{"containerPort required", ctr(func(c *orchv1.Container) { c.Ports[0].ContainerPort = 0 }), []fe{{"spec.containers[0].ports[0].containerPort", errRequired}}},
		{"hostPort range", ctr(func(c *orchv1.Container) { c.Ports[0].HostPort = -1 }), []fe{{"spec.containers[0].ports[0].hostPort", errInvalid}}},
		{"port protocol", ctr(func(c *orchv1.Container) { c.Ports[0].Protocol = "HTTP" }), []fe{{"spec.containers[0].ports[0].protocol", errNotSupported}}},
		{"port name", ctr(func(c *orchv1.Container) { c.Ports[0].Name = "http_port" }), []fe{{"spec.containers[0].ports[0].name", errInvalid}, {"spec.containers[0].readinessProbe.httpGet.port", errInvalid}}},
		{"port name duplicate", ctr(func(c *orchv1.Container) {
			c.Ports = append(c.Ports, &orchv1.ContainerPort{Name: "http", ContainerPort: 81})
		}), []fe{{"spec.containers[0].ports[1].name", errDuplicate}}},
		{"env name", ctr(func(c *orchv1.Container) { c.Env[0].Name = "1MODE" }), []fe{{"spec.containers[0].env[0].name", errInvalid}}},
		{"env valueFrom two sources", ctr(func(c *orchv1.Container) {
			c.Env[0].Value = ""
			c.Env[0].ValueFrom = &orchv1.EnvVarSource{
				FieldRef:        &orchv1.ObjectFieldSelector{FieldPath: "metadata.name"},
				ConfigMapKeyRef: &orchv1.ConfigMapKeySelector{Name: "cfg", Key: "mode"},
			}
		}), []fe{{"spec.containers[0].env[0].valueFrom", errInvalid}}},
		{"env valueFrom no source", ctr(func(c *orchv1.Container) {
			c.Env[0].Value = ""
			c.Env[0].ValueFrom = &orchv1.EnvVarSource{}
		}), []fe{{"spec.containers[0].env[0].valueFrom", errInvalid}}},
		{"quantity", ctr(func(c *orchv1.Container) { c.Resources.Limits["memory"] = "12XB" }), []fe{{"spec.containers[0].resources.limits[memory]", errInvalid}}},
		{"resource name", ctr(func(c *orchv1.Container) { c.Resources.Limits["gpu"] = "1" }), []fe{{"spec.containers[0].resources.limits[gpu]", errInvalid}, {"spec.containers[0].resources.requests[gpu]", errInvalid}}}, // the limit is defaulted into requests
		{"requests above limits", ctr(func(c *orchv1.Container) { c.Resources.Requests["cpu"] = "2" }), []fe{{"spec.containers[0].resources.requests[cpu]", errInvalid}}},
		{"mount of unknown volume", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].Name = "nope" }), []fe{{"spec.containers[0].volumeMounts[0].name", errNotFound}}},
		{"mountPath relative", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].MountPath = "cache" }), []fe{{"spec.containers[0].volumeMounts[0].mountPath", errInvalid}}},
		{"mountPath duplicate", ctr(func(c *orchv1.Container) {
			c.VolumeMounts = append(c.VolumeMounts, &orchv1.VolumeMount{Name: "cache", MountPath: "/cache"})
		}), []fe{{"spec.containers[0].volumeMounts[1].mountPath", errInvalid}}},
		{"subPath absolute", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPath = "/etc" }), []fe{{"spec.containers[0].volumeMounts[0].subPath", errInvalid}}},
		{"subPath backsteps", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPath = "a/../../etc" }), []fe{{"spec.containers[0].volumeMounts[0].subPath", errInvalid}}},
		{"subPath is only ..", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPath = ".." }), []fe{{"spec.containers[0].volumeMounts[0].subPath", errInvalid}}},
		{"subPathExpr absolute", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPathExpr = "/$(POD_NAME)" }), []fe{{"spec.containers[0].volumeMounts[0].subPathExpr", errInvalid}}},
		{"subPathExpr backsteps", ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPathExpr = "$(POD_NAME)/.." }), []fe{{"spec.containers[0].volumeMounts[0].subPathExpr", errInvalid}}},
		{"subPath and subPathExpr", ctr(func(c *orchv1.Container) {
			c.VolumeMounts[0].SubPath = "a"
			c.VolumeMounts[0].SubPathExpr = "$(POD_NAME)"
		}), []fe{{"spec.containers[0].volumeMounts[0].subPathExpr", errInvalid}}},
		{"volume without source", pod(func(p *orchv1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }), []fe{{"spec.volumes[0]", errRequired}}},
		{"volume two sources", pod(func(p *orchv1.Pod) { p.Spec.Volumes[0].HostPath = &orchv1.HostPathVolumeSource{Path: "/x"} }), []fe{{"spec.volumes[0].hostPath", errForbidden}}},
		{"volume name duplicate", pod(func(p *orchv1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, &orchv1.Volume{Name: "cache", EmptyDir: &orchv1.EmptyDirVolumeSource{}})
		}), []fe{{"spec.volumes[1].name", errDuplicate}}},
		{"emptyDir medium", pod(func(p *orchv1.Pod) { p.Spec.Volumes[0].EmptyDir.Medium = "Disk" }), []fe{{"spec.volumes[0].emptyDir.medium", errNotSupported}}},
		{"emptyDir sizeLimit", pod(func(p *orchv1.Pod) { p.Spec.Volumes[0].EmptyDir.SizeLimit = "lots" }), []fe{{"spec.volumes[0].emptyDir.sizeLimit", errInvalid}}},
		{"hostPath relative", pod(func(p *orchv1.Pod) {
			p.Spec.Volumes[0] = &orchv1.Volume{Name: "cache", HostPath: &orchv1.HostPathVolumeSource{Path: "var/log"}}
		}), []fe{{"spec.volumes[0].hostPath.path", errInvalid}}},
		{"configMap name required", pod(func(p *orchv1.Pod) {
			p.Spec.Volumes[0] = &orchv1.Volume{Name: "cache", ConfigMap: &orchv1.ConfigMapVolumeSource{}}
		}), []fe{{"spec.volumes[0].configMap.name", errRequired}}},
		{"secret mode", pod(func(p *orchv1.Pod) {
			p.Spec.Volumes[0] = &orchv1.Volume{Name: "cache", Secret: &orchv1.SecretVolumeSource{SecretName: "s", DefaultMode: proto.Int32(01000)}}
		}), []fe{{"spec.volumes[0].secret.defaultMode", errInvalid}}},
		{"items path backsteps", pod(func(p *orchv1.Pod) {
			p.Spec.Volumes[0] = &orchv1.Volume{Name: "cache", ConfigMap: &orchv1.ConfigMapVolumeSource{Name: "c",
				Items: []*orchv1.KeyToPath{{Key: "k", Path: "../etc/passwd"}}}}
		}), []fe{{"spec.volumes[0].configMap.items[0].path", errInvalid}}},
		{"probe without handler", ctr(func(c *orchv1.Container) { c.LivenessProbe = &orchv1.Probe{} }), []fe{{"spec.containers[0].livenessProbe", errRequired}}},
		{"probe two handlers", ctr(func(c *orchv1.Container) {
			c.ReadinessProbe.TcpSocket = &orchv1.TCPSocketAction{Port: structpb.NewNumberValue(80)}
		}), []fe{{"spec.containers[0].readinessProbe.tcpSocket", errForbidden}}},
		{"probe port name unknown", ctr(func(c *orchv1.Container) {
			c.ReadinessProbe.HttpGet.Port = structpb.NewStringValue("admin")
		}), []fe{{"spec.containers[0].readinessProbe.httpGet.port", errInvalid}}},
		{"probe port number", ctr(func(c *orchv1.Container) {
			c.ReadinessProbe.HttpGet.Port = structpb.NewNumberValue(0)
		}), []fe{{"spec.containers[0].readinessProbe.httpGet.port", errInvalid}}},
		{"probe threshold", ctr(func(c *orchv1.Container) { c.ReadinessProbe.FailureThreshold = proto.Int32(0) }), []fe{{"spec.containers[0].readinessProbe.failureThreshold", errInvalid}}},
		{"liveness successThreshold", ctr(func(c *orchv1.Container) {
			c.LivenessProbe = &orchv1.Probe{Exec: &orchv1.ExecAction{Command: []string{"true"}}, SuccessThreshold: proto.Int32(2)}
		}), []fe{{"spec.containers[0].livenessProbe.successThreshold", errInvalid}}},
		{"restartPolicy", pod(func(p *orchv1.Pod) { p.Spec.RestartPolicy = "Sometimes" }), []fe{{"spec.restartPolicy", errNotSupported}}},
		{"dnsPolicy", pod(func(p *orchv1.Pod) { p.Spec.DnsPolicy = "Google" }), []fe{{"spec.dnsPolicy", errNotSupported}}},
		{"terminationGracePeriodSeconds", pod(func(p *orchv1.Pod) { p.Spec.TerminationGracePeriodSeconds = proto.Int32(-1) }), []fe{{"spec.terminationGracePeriodSeconds", errInvalid}}},
		{"nodeSelector", pod(func(p *orchv1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} }), []fe{{"spec.nodeSelector", errInvalid}}},
		{"toleration operator", pod(func(p *orchv1.Pod) {
			p.Spec.Tolerations = []*orchv1.Toleration{{Key: "k", Operator: "Matches"}}
		}), []fe{{"spec.tolerations[0].operator", errNotSupported}}},
		{"toleration exists with value", pod(func(p *orchv1.Pod) {
			p.Spec.Tolerations = []*orchv1.Toleration{{Key: "k", Operator: "Exists", Value: "v"}}
		}), []fe{{"spec.tolerations[0].operator", errInvalid}}},
		{"toleration effect", pod(func(p *orchv1.Pod) {
			p.Spec.Tolerations = []*orchv1.Toleration{{Key: "k", Operator: "Equal", Value: "v", Effect: "NoRun"}}
		}), []fe{{"spec.tolerations[0].effect", errNotSupported}}},
		{"node affinity values", pod(func(p *orchv1.Pod) {
			p.Spec.Affinity = &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &orchv1.NodeSelector{NodeSelectorTerms: []*orchv1.NodeSelectorTerm{{
					MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: "zone", Operator: "In"}},
				}}},
			}}
		}), []fe{{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", errRequired}}},
		{"node affinity Gt", pod(func(p *orchv1.Pod) {
			p.Spec.Affinity = &orchv1.Affinity{NodeAffinity: &orchv1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []*orchv1.PreferredSchedulingTerm{{Weight: 10, Preference: &orchv1.NodeSelectorTerm{
					MatchExpressions: []*orchv1.NodeSelectorRequirement{{Key: "cores", Operator: "Gt", Values: []string{"1", "2"}}},
				}}},
			}}
		}), []fe{{"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values", errRequired}}},
		{"pod anti-affinity operator", pod(func(p *orchv1.Pod) {
			p.Spec.Affinity = &orchv1.Affinity{PodAntiAffinity: &orchv1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []*orchv1.PodAffinityTerm{{
					TopologyKey:   "kubernetes.io/hostname",
					LabelSelector: &orchv1.LabelSelector{MatchExpressions: []*orchv1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}},
				}},
			}}
		}), []fe{{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", errInvalid}}},
		{"hostname", pod(func(p *orchv1.Pod) { p.Spec.Hostname = "web.0" }), []fe{{"spec.hostname", errInvalid}}},

		// Workloads
		{"deployment selector required", with(validDeployment(), func(d *orchv1.Deployment) { d.Spec.Selector = nil }), []fe{{"spec.selector", errRequired}}},
		{"deployment selector empty", with(validDeployment(), func(d *orchv1.Deployment) { d.Spec.Selector = &orchv1.LabelSelector{} }), []fe{{"spec.selector", errInvalid}}},
		{"deployment selector mismatch", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Template.Metadata.Labels = map[string]string{"app": "api"}
		}), []fe{{"spec.template.metadata.labels", errInvalid}}},
		{"deployment replicas", with(validDeployment(), func(d *orchv1.Deployment) { d.Spec.Replicas = proto.Int32(-1) }), []fe{{"spec.replicas", errInvalid}}},
		{"deployment restartPolicy", with(validDeployment(), func(d *orchv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = "Never" }), []fe{{"spec.template.spec.restartPolicy", errNotSupported}}},
		{"deployment template container port", with(validDeployment(), func(d *orchv1.Deployment) {
			c := proto.Clone(d.Spec.Template.Spec.Containers[0]).(*orchv1.Container)
			c.Name, c.Ports[0].ContainerPort = "sidecar", 0
			c.ReadinessProbe = nil
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, c)
		}), []fe{{"spec.template.spec.containers[1].ports[0].containerPort", errRequired}}},
		{"deployment maxSurge", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Strategy = &orchv1.DeploymentStrategy{RollingUpdate: &orchv1.RollingUpdateDeployment{MaxSurge: structpb.NewStringValue("many")}}
		}), []fe{{"spec.strategy.rollingUpdate.maxSurge", errInvalid}}},
		{"deployment both zero", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Strategy = &orchv1.DeploymentStrategy{RollingUpdate: &orchv1.RollingUpdateDeployment{
				MaxSurge: structpb.NewNumberValue(0), MaxUnavailable: structpb.NewStringValue("0%")}}
		}), []fe{{"spec.strategy.rollingUpdate.maxUnavailable", errInvalid}}},
		{"deployment strategy type", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Strategy = &orchv1.DeploymentStrategy{Type: "BlueGreen"}
		}), []fe{{"spec.strategy.type", errNotSupported}}},
		{"replicaset selector mismatch", with(validReplicaSet(), func(r *orchv1.ReplicaSet) {
			r.Spec.Selector = &orchv1.LabelSelector{MatchExpressions: []*orchv1.LabelSelectorRequirement{{Key: "app", Operator: "NotIn", Values: []string{"web"}}}}
		}), []fe{{"spec.template.metadata.labels", errInvalid}}},
		{"statefulset podManagementPolicy", with(validStatefulSet(), func(s *orchv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }), []fe{{"spec.podManagementPolicy", errNotSupported}}},
		{"statefulset updateStrategy", with(validStatefulSet(), func(s *orchv1.StatefulSet) {
			s.Spec.UpdateStrategy = &orchv1.StatefulSetUpdateStrategy{Type: "Canary"}
		}), []fe{{"spec.updateStrategy.type", errNotSupported}}},
		{"statefulset claim template", with(validStatefulSet(), func(s *orchv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
		}), []fe{{"spec.volumeClaimTemplates[0].spec.accessModes", errRequired}}},
		{"statefulset mount of unknown claim", with(validStatefulSet(), func(s *orchv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates[0].Metadata.Name = "other"
		}), []fe{{"spec.template.spec.containers[0].volumeMounts[1].name", errNotFound}}},
		{"daemonset both zero", with(validDaemonSet(), func(d *orchv1.DaemonSet) {
			d.Spec.UpdateStrategy = &orchv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &orchv1.RollingUpdateDaemonSet{
				MaxUnavailable: structpb.NewNumberValue(0)}}
		}), []fe{{"spec.updateStrategy.rollingUpdate.maxUnavailable", errInvalid}}},
		{"daemonset surge and unavailable both set", with(validDaemonSet(), func(d *orchv1.DaemonSet) {
			d.Spec.UpdateStrategy = &orchv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &orchv1.RollingUpdateDaemonSet{
				MaxUnavailable: structpb.NewNumberValue(1), MaxSurge: structpb.NewStringValue("10%")}}
		}), []fe{{"spec.updateStrategy.rollingUpdate.maxSurge", errInvalid}}},
		{"daemonset selector required", with(validDaemonSet(), func(d *orchv1.DaemonSet) { d.Spec.Selector = nil }), []fe{{"spec.selector", errRequired}}},

		// Jobs
		{"job restartPolicy", with(validJob(), func(j *orchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Always" }), []fe{{"spec.template.spec.restartPolicy", errNotSupported}}},
		{"job restartPolicy defaulted", with(validJob(), func(j *orchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }), []fe{{"spec.template.spec.restartPolicy", errNotSupported}}},
		{"job parallelism", with(validJob(), func(j *orchv1.Job) { j.Spec.Parallelism = proto.Int32(-1) }), []fe{{"spec.parallelism", errInvalid}}},
		{"job backoffLimit", with(validJob(), func(j *orchv1.Job) { j.Spec.BackoffLimit = proto.Int32(-2) }), []fe{{"spec.backoffLimit", errInvalid}}},
		{"job manual selector mismatch", with(validJob(), func(j *orchv1.Job) {
			j.Spec.ManualSelector = proto.Bool(true)
			j.Spec.Selector = appSelector()
		}), []fe{{"spec.template.metadata.labels", errInvalid}}},
		{"cronjob schedule required", with(validCronJob(), func(c *orchv1.CronJob) { c.Spec.Schedule = "" }), []fe{{"spec.schedule", errRequired}}},
		{"cronjob schedule fields", with(validCronJob(), func(c *orchv1.CronJob) { c.Spec.Schedule = "* * * *" }), []fe{{"spec.schedule", errInvalid}}},
		{"cronjob schedule range", with(validCronJob(), func(c *orchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }), []fe{{"spec.schedule", errInvalid}}},
		{"cronjob descriptor", with(validCronJob(), func(c *orchv1.CronJob) { c.Spec.Schedule = "@fortnightly" }), []fe{{"spec.schedule", errInvalid}}},
		{"cronjob concurrencyPolicy", with(validCronJob(), func(c *orchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Queue" }), []fe{{"spec.concurrencyPolicy", errNotSupported}}},
		{"cronjob job template", with(validCronJob(), func(c *orchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = ""
		}), []fe{{"spec.jobTemplate.spec.template.spec.containers[0].image", errRequired}}},
		{"cronjob name length", with(validCronJob(), func(c *orchv1.CronJob) { c.Metadata.Name = strings.Repeat("a", 53) }), []fe{{"metadata.name", errInvalid}}},

		// Services
		{"service type", with(validService(), func(s *orchv1.Service) { s.Spec.Type = "Magic" }), []fe{{"spec.type", errNotSupported}}},
		{"service ports required", with(validService(), func(s *orchv1.Service) { s.Spec.Ports = nil }), []fe{{"spec.ports", errRequired}}},
		{"service port range", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[0].Port = 0 }), []fe{{"spec.ports[0].port", errInvalid}}},
		{"service port name required", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[1].Name = "" }), []fe{{"spec.ports[1].name", errRequired}}},
		{"service port name duplicate", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[1].Name = "http" }), []fe{{"spec.ports[1].name", errDuplicate}}},
		{"service protocol", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), []fe{{"spec.ports[0].protocol", errNotSupported}}},
		{"service targetPort", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[0].TargetPort = structpb.NewNumberValue(70000) }), []fe{{"spec.ports[0].targetPort", errInvalid}}},
		{"service targetPort name", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[0].TargetPort = structpb.NewStringValue("no_good") }), []fe{{"spec.ports[0].targetPort", errInvalid}}},
		{"service nodePort on ClusterIP", with(validService(), func(s *orchv1.Service) { s.Spec.Ports[0].NodePort = 30080 }), []fe{{"spec.ports[0].nodePort", errForbidden}}},
		{"service nodePort range", with(validService(), func(s *orchv1.Service) {
			s.Spec.Type = "NodePort"
			s.Spec.Ports[0].NodePort = 8080
		}), []fe{{"spec.ports[0].nodePort", errInvalid}}},
		{"service clusterIP", with(validService(), func(s *orchv1.Service) { s.Spec.ClusterIp = "10.0.0.300" }), []fe{{"spec.clusterIP", errInvalid}}},
		{"service externalName required", with(validService(), func(s *orchv1.Service) { s.Spec.Type = "ExternalName" }), []fe{{"spec.externalName", errRequired}}},
		{"service selector", with(validService(), func(s *orchv1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }), []fe{{"spec.selector", errInvalid}}},
		{"service name is a label", with(validService(), func(s *orchv1.Service) { s.Metadata.Name = "web.internal" }), []fe{{"metadata.name", errInvalid}}},

		// ConfigMap, Secret
		{"configmap key", with(validConfigMap(), func(c *orchv1.ConfigMap) { c.Data["my key"] = "v" }), []fe{{"data[my key]", errInvalid}}},
		{"configmap errDuplicate key", with(validConfigMap(), func(c *orchv1.ConfigMap) { c.BinaryData["app.conf"] = []byte{1} }), []fe{{"data[app.conf]", errInvalid}, {"binaryData[app.conf]", errInvalid}}},
		{"configmap too big", with(validConfigMap(), func(c *orchv1.ConfigMap) { c.Data["big"] = strings.Repeat("x", 1<<20) }), []fe{{"data", errTooLong}}},
		{"secret key", with(validSecret(), func(s *orchv1.Secret) { s.StringData = map[string]string{"a/b": "x"} }), []fe{{"data[a/b]", errInvalid}}},
		{"secret tls", with(validSecret(), func(s *orchv1.Secret) {
			s.Type = "kubernetes.io/tls"
			s.Data = map[string][]byte{"tls.crt": []byte("c")}
		}), []fe{{"data[tls.key]", errRequired}}},
		{"secret dockerconfigjson", with(validSecret(), func(s *orchv1.Secret) { s.Type = "kubernetes.io/dockerconfigjson" }), []fe{{"data[.dockerconfigjson]", errRequired}}},

		// Namespace, Node
		{"namespace name is a label", with(validNamespace(), func(n *orchv1.Namespace) { n.Metadata.Name = "team.a" }), []fe{{"metadata.name", errInvalid}}},
		{"node podCIDR", with(validNode(), func(n *orchv1.Node) { n.Spec.PodCidr = "10.244.1.0" }), []fe{{"spec.podCIDR", errInvalid}}},
		{"node taint effect", with(validNode(), func(n *orchv1.Node) { n.Spec.Taints[0].Effect = "Never" }), []fe{{"spec.taints[0].effect", errNotSupported}}},
		{"node capacity", with(validNode(), func(n *orchv1.Node) { n.Status.Capacity["memory"] = "sixteen" }), []fe{{"status.capacity[memory]", errInvalid}, {"status.allocatable[memory]", errInvalid}}},

		// PersistentVolume, PersistentVolumeClaim
		{"pv capacity required", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.Capacity = nil }), []fe{{"spec.capacity", errRequired}}},
		{"pv capacity quantity", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.Capacity["storage"] = "10 GB" }), []fe{{"spec.capacity[storage]", errInvalid}}},
		{"pv access modes", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.AccessModes = nil }), []fe{{"spec.accessModes", errRequired}}},
		{"pv access mode", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.AccessModes = []string{"ReadWriteSometimes"} }), []fe{{"spec.accessModes", errNotSupported}}},
		{"pv no source", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.HostPath = nil }), []fe{{"spec", errRequired}}},
		{"pv two sources", with(validPV(), func(p *orchv1.PersistentVolume) {
			p.Spec.Nfs = &orchv1.NFSVolumeSource{Server: "nfs", Path: "/export"}
		}), []fe{{"spec.nfs", errForbidden}}},
		{"pv reclaim policy", with(validPV(), func(p *orchv1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = "Keep" }), []fe{{"spec.persistentVolumeReclaimPolicy", errNotSupported}}},
		{"pvc access modes", with(validPVC(), func(p *orchv1.PersistentVolumeClaim) { p.Spec.AccessModes = nil }), []fe{{"spec.accessModes", errRequired}}},
		{"pvc storage required", with(validPVC(), func(p *orchv1.PersistentVolumeClaim) { p.Spec.Resources = nil }), []fe{{"spec.resources[storage]", errRequired}}},
		{"pvc storage quantity", with(validPVC(), func(p *orchv1.PersistentVolumeClaim) { p.Spec.Resources.Requests["storage"] = "5 Gi" }), []fe{{"spec.resources.requests[storage]", errInvalid}}},

		// HPA
		{"hpa scaleTargetRef", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }), []fe{{"spec.scaleTargetRef.name", errRequired}}},
		{"hpa maxReplicas", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }), []fe{{"spec.maxReplicas", errInvalid}}},
		{"hpa minReplicas above max", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) { h.Spec.MinReplicas = proto.Int32(6) }), []fe{{"spec.maxReplicas", errInvalid}}},
		{"hpa minReplicas zero", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) { h.Spec.MinReplicas = proto.Int32(0) }), []fe{{"spec.minReplicas", errInvalid}}},
		{"hpa metric type", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Type = "Magic" }), []fe{{"spec.metrics[0].type", errNotSupported}}},
		{"hpa utilization", with(validHPA(), func(h *orchv1.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = proto.Int32(0)
		}), []fe{{"spec.metrics[0].resource.target.averageUtilization", errInvalid}}},

		// RBAC
		{"role verbs", with(validRole(), func(r *orchv1.Role) { r.Rules[0].Verbs = nil }), []fe{{"rules[0].verbs", errRequired}}},
		{"role resources", with(validRole(), func(r *orchv1.Role) { r.Rules[0].Resources = nil }), []fe{{"rules[0].resources", errRequired}}},
		{"role non-resource URL", with(validRole(), func(r *orchv1.Role) {
			r.Rules = append(r.Rules, &orchv1.PolicyRule{Verbs: []string{"get"}, NonResourceUrls: []string{"/healthz"}})
		}), []fe{{"rules[1].nonResourceURLs", errInvalid}}},
		{"clusterrole apiGroups", with(validClusterRole(), func(r *orchv1.ClusterRole) { r.Rules[0].ApiGroups = nil }), []fe{{"rules[0].apiGroups", errRequired}}},
		{"rolebinding apiGroup", with(validRoleBinding(), func(b *orchv1.RoleBinding) { b.RoleRef.ApiGroup = "rbac" }), []fe{{"roleRef.apiGroup", errNotSupported}}},
		{"rolebinding kind", with(validRoleBinding(), func(b *orchv1.RoleBinding) { b.RoleRef.Kind = "User" }), []fe{{"roleRef.kind", errNotSupported}}},
		{"rolebinding role name", with(validRoleBinding(), func(b *orchv1.RoleBinding) { b.RoleRef.Name = "" }), []fe{{"roleRef.name", errRequired}}},
		{"rolebinding subject kind", with(validRoleBinding(), func(b *orchv1.RoleBinding) { b.Subjects[0].Kind = "Robot" }), []fe{{"subjects[0].kind", errNotSupported}}},
		{"rolebinding subject name", with(validRoleBinding(), func(b *orchv1.RoleBinding) { b.Subjects[0].Name = "" }), []fe{{"subjects[0].name", errRequired}}},
		{"clusterrolebinding Role", with(validClusterRoleBinding(), func(b *orchv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" }), []fe{{"roleRef.kind", errNotSupported}}},
		{"clusterrolebinding sa namespace", with(validClusterRoleBinding(), func(b *orchv1.ClusterRoleBinding) { b.Subjects[1].Namespace = "" }), []fe{{"subjects[1].namespace", errRequired}}},

		// Event, Endpoints
		{"event involvedObject", with(validEvent(), func(e *orchv1.Event) { e.InvolvedObject = nil }), []fe{{"involvedObject", errRequired}}},
		{"event involvedObject kind", with(validEvent(), func(e *orchv1.Event) { e.InvolvedObject.Kind = "" }), []fe{{"involvedObject.kind", errRequired}}},
		{"endpoints ip", with(validEndpoints(), func(e *orchv1.Endpoints) { e.Subsets[0].Addresses[0].Ip = "pod-a" }), []fe{{"subsets[0].addresses[0].ip", errInvalid}}},
		{"endpoints port", with(validEndpoints(), func(e *orchv1.Endpoints) { e.Subsets[0].Ports[0].Port = 65536 }), []fe{{"subsets[0].ports[0].port", errInvalid}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := admitForTest(tc.obj)
			got := make([]fe, len(errs))
			for i, e := range errs {
				got[i] = fe{e.Field, e.Type}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("want %v, got %v: %v", tc.want, got, errs.ToAggregate())
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("error %d: want %s (%s), got %s (%s): %v", i, tc.want[i].path, tc.want[i].typ, got[i].path, got[i].typ, errs.ToAggregate())
				}
			}
		})
	}
}

func TestValidationErrorMessages(t *testing.T) {
	errs := admitForTest(ctr(func(c *orchv1.Container) { c.Resources.Limits["memory"] = "12XB" }))
	if len(errs) != 1 {
		t.Fatalf("want 1 error, got %v", errs)
	}
	want := `spec.containers[0].resources.limits[memory]: Invalid value: "12XB": quantities must match the regular expression`
	if got := errs[0].Error(); !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want prefix %q", got, want)
	}
	errs = admitForTest(pod(func(p *orchv1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }))
	if got, want := errs.ToAggregate().Error(), "spec.volumes[0]: Required value: must specify a volume type"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	errs = admitForTest(ctr(func(c *orchv1.Container) { c.VolumeMounts[0].SubPath = "/etc" }))
	if got, want := errs.ToAggregate().Error(), `spec.containers[0].volumeMounts[0].subPath: Invalid value: "/etc": must be a relative path`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Nested relative subPath and subPathExpr values are fine.
	for _, f := range []func(*orchv1.VolumeMount){
		func(m *orchv1.VolumeMount) { m.SubPath = "a/b..c/d" },
		func(m *orchv1.VolumeMount) { m.SubPathExpr = "logs/$(POD_NAME)" },
	} {
		if errs := admitForTest(ctr(func(c *orchv1.Container) { f(c.VolumeMounts[0]) })); len(errs) != 0 {
			t.Errorf("want no errors, got %v", errs.ToAggregate())
		}
	}
	errs = admitForTest(ctr(func(c *orchv1.Container) { c.Image = "" }))
	if got, want := errs.ToAggregate().Error(), "spec.containers[0].image: Required value"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateCronSchedules(t *testing.T) {
	for _, s := range []string{"* * * * *", "0 0 1 1 *", "*/5 * * * 1-5", "0 9-17/2 * * MON-FRI", "30 4 1,15 * 0", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@every 1h30m"} {
		if err := checkCronSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "@every", "@every -1m", "@often", "TZ=UTC * * * * *", "CRON_TZ=UTC 0 * * * *"} {
		if err := checkCronSchedule(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
}

func TestValidationLabelSelector(t *testing.T) {
	sel, err := api.LabelSelector(&orchv1.LabelSelector{
		MatchLabels: map[string]string{"app": "web"},
		MatchExpressions: []*orchv1.LabelSelectorRequirement{
			{Key: "tier", Operator: "In", Values: []string{"front", "edge"}},
			{Key: "canary", Operator: "DoesNotExist"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for set, want := range map[string]bool{
		"app=web,tier=front":             true,
		"app=web,tier=edge":              true,
		"app=web,tier=back":              false,
		"app=web,tier=front,canary=true": false,
		"tier=front":                     false,
	} {
		ls, err := labels.ConvertSelectorToLabelsMap(set)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.Matches(ls); got != want {
			t.Errorf("%s: matches = %v, want %v", set, got, want)
		}
	}
	if s, _ := api.LabelSelector(nil); !s.Empty() && s.Matches(labels.Set{"a": "b"}) {
		t.Errorf("nil selector must select nothing")
	}
	if s, _ := api.LabelSelector(&orchv1.LabelSelector{}); !s.Matches(labels.Set{"a": "b"}) {
		t.Errorf("empty selector must select everything")
	}
	for _, bad := range []*orchv1.LabelSelector{
		{MatchExpressions: []*orchv1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}},
		{MatchExpressions: []*orchv1.LabelSelectorRequirement{{Key: "a", Operator: "In"}}},
		{MatchLabels: map[string]string{"bad key": "v"}},
	} {
		if _, err := api.LabelSelector(bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

func TestValidateMountPropagation(t *testing.T) {
	for _, tc := range []struct {
		prop       string
		privileged bool
		want       string // "" for valid, else a substring of the error
	}{
		{"None", false, ""},
		{"HostToContainer", false, ""},
		{"Bidirectional", true, ""},
		{"Bidirectional", false, "spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers"},
		{"Shared", false, "spec.containers[0].volumeMounts[0].mountPropagation: Unsupported value"},
	} {
		p := validPod()
		c := p.Spec.Containers[0]
		c.VolumeMounts[0].MountPropagation = proto.String(tc.prop)
		if tc.privileged {
			c.SecurityContext = &orchv1.SecurityContext{Privileged: proto.Bool(true)}
		}
		errs := admitForTest(p).ToAggregate()
		switch {
		case tc.want == "" && errs != nil:
			t.Errorf("%s (privileged %v): %v", tc.prop, tc.privileged, errs)
		case tc.want != "" && (errs == nil || !strings.Contains(errs.Error(), tc.want)):
			t.Errorf("%s (privileged %v): %v, want %q", tc.prop, tc.privileged, errs, tc.want)
		}
	}
}

// Validation never panics on an object that skipped defaulting (a template, a direct
// caller): every nested message may be nil.
func TestValidateUndefaultedPodSpecs(t *testing.T) {
	for _, s := range []*orchv1.PodSpec{
		{},
		{Containers: []*orchv1.Container{{Name: "c", Image: "b"}}},
		{Containers: []*orchv1.Container{{Name: "c", Image: "b", SecurityContext: &orchv1.SecurityContext{}}}, SecurityContext: &orchv1.PodSecurityContext{}},
	} {
		validateObject(api.PodKind, &orchv1.Pod{Metadata: objMeta("p"), Spec: s})
		validateObject(api.DeploymentKind, &orchv1.Deployment{Metadata: objMeta("d"), Spec: &orchv1.DeploymentSpec{Template: &orchv1.PodTemplateSpec{Spec: s}}})
	}
}
