// These tests pin the tables and forms orchctl prints, column for column as kubectl.
package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

var testNow = time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(testNow.Add(-d)) }

func mockPod(name string, mut ...func(*orchv1.Pod)) *orchv1.Pod {
	p := &orchv1.Pod{
		ApiVersion: "v1", Kind: "Pod",
		Metadata: &orchv1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Spec:     &orchv1.PodSpec{Containers: []*orchv1.Container{{Name: "c", Image: "busybox"}}, NodeName: "node-1"},
		Status: &orchv1.PodStatus{Phase: "Running", PodIp: "10.1.0.5", ContainerStatuses: []*orchv1.ContainerStatus{
			{Name: "c", Ready: true, State: &orchv1.ContainerState{Running: &orchv1.ContainerStateRunning{}}},
		}},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func TestHumanAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 3*time.Minute + 20*time.Second: "3m", 2*time.Hour + 59*time.Minute: "2h",
		4 * 24 * time.Hour: "4d", 800 * 24 * time.Hour: "2y", -500 * time.Millisecond: "0s", -time.Minute: "<invalid>",
	} {
		if got := HumanAge(d); got != want {
			t.Errorf("HumanAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPodStatus(t *testing.T) {
	t.Parallel()
	waiting := func(reason string) func(*orchv1.Pod) {
		return func(p *orchv1.Pod) {
			p.Status.ContainerStatuses[0] = &orchv1.ContainerStatus{Name: "c", State: &orchv1.ContainerState{Waiting: &orchv1.ContainerStateWaiting{Reason: reason}}}
		}
	}
	cases := []struct {
		name string
		pod  *orchv1.Pod
		want string
	}{
		{"running", mockPod("a"), "Running"},
		{"pending", mockPod("a", func(p *orchv1.Pod) { p.Status = &orchv1.PodStatus{Phase: "Pending"} }), "Pending"},
		{"no status", mockPod("a", func(p *orchv1.Pod) { p.Status = nil }), "Pending"},
		{"crash loop", mockPod("a", waiting("CrashLoopBackOff")), "CrashLoopBackOff"},
		{"image pull", mockPod("a", waiting("ErrImagePull")), "ErrImagePull"},
		{"completed", mockPod("a", func(p *orchv1.Pod) {
			p.Status.Phase = "Succeeded"
			p.Status.ContainerStatuses[0].State = &orchv1.ContainerState{Terminated: &orchv1.ContainerStateTerminated{Reason: "Completed"}}
		}), "Completed"},
		{"exit code", mockPod("a", func(p *orchv1.Pod) {
			p.Status.Phase = "Failed"
			p.Status.ContainerStatuses[0].State = &orchv1.ContainerState{Terminated: &orchv1.ContainerStateTerminated{ExitCode: 3}}
		}), "ExitCode:3"},
		{"init", mockPod("a", func(p *orchv1.Pod) {
			p.Spec.InitContainers = []*orchv1.Container{{Name: "i"}}
			p.Status.Phase = "Pending"
			p.Status.InitContainerStatuses = []*orchv1.ContainerStatus{{Name: "i", State: &orchv1.ContainerState{Running: &orchv1.ContainerStateRunning{}}}}
		}), "Init:0/1"},
		{"terminating", mockPod("a", func(p *orchv1.Pod) { p.Metadata.DeletionTimestamp = ago(time.Second) }), "Terminating"},
	}
	for _, c := range cases {
		if got := PodStatus(c.pod); got != c.want {
			t.Errorf("%s: PodStatus = %q, want %q", c.name, got, c.want)
		}
	}
}

func tableString(t *testing.T, k *api.Kind, objs []api.Object, opt printOptions) string {
	t.Helper()
	opt.Now = testNow
	var b bytes.Buffer
	if err := BuildTable(k, objs, opt).Write(&b, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPodTable(t *testing.T) {
	t.Parallel()
	restarted := mockPod("db", func(p *orchv1.Pod) {
		p.Metadata.Namespace = "prod"
		p.Status.ContainerStatuses[0].RestartCount = 4
		p.Status.ContainerStatuses[0].Ready = false
		p.Status.ContainerStatuses[0].LastState = &orchv1.ContainerState{Terminated: &orchv1.ContainerStateTerminated{FinishedAt: ago(2 * time.Minute)}}
		p.Metadata.Labels = map[string]string{"tier": "db", "app": "x"}
	})
	got := tableString(t, api.PodKind, []api.Object{mockPod("web"), restarted}, printOptions{})
	want := `NAME   READY   STATUS    RESTARTS     AGE
web    1/1     Running   0            5m
db     0/1     Running   4 (2m ago)   5m
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	got = tableString(t, api.PodKind, []api.Object{restarted}, printOptions{Wide: true, AllNamespaces: true, ShowLabels: true})
	want = `NAMESPACE   NAME   READY   STATUS    RESTARTS     AGE   IP         NODE     LABELS
prod        db     0/1     Running   4 (2m ago)   5m    10.1.0.5   node-1   app=x,tier=db
`
	if got != want {
		t.Errorf("wide table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWorkloadAndServiceTables(t *testing.T) {
	t.Parallel()
	d := &orchv1.Deployment{
		Metadata: &orchv1.ObjectMeta{Name: "web", CreationTimestamp: ago(3 * time.Hour)},
		Spec:     &orchv1.DeploymentSpec{Replicas: new(int32(3))},
		Status:   &orchv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
	}
	if got, want := tableString(t, api.DeploymentKind, []api.Object{d}, printOptions{}), "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    2/3     3            2           3h\n"; got != want {
		t.Errorf("deployments:\n%s\nwant:\n%s", got, want)
	}
	s := &orchv1.Service{
		Metadata: &orchv1.ObjectMeta{Name: "web", CreationTimestamp: ago(50 * time.Second)},
		Spec: &orchv1.ServiceSpec{ClusterIp: "10.96.0.10", Type: "NodePort", Ports: []*orchv1.ServicePort{
			{Port: 80, NodePort: 30080, TargetPort: structpb.NewStringValue("http")},
			{Port: 53, Protocol: "UDP"},
		}},
	}
	if got, want := tableString(t, api.ServiceKind, []api.Object{s}, printOptions{}), "NAME   TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)               AGE\nweb    NodePort   10.96.0.10   <none>        80:30080/TCP,53/UDP   50s\n"; got != want {
		t.Errorf("services:\n%s\nwant:\n%s", got, want)
	}
	n := &orchv1.Node{
		Metadata: &orchv1.ObjectMeta{Name: "n1", CreationTimestamp: ago(49 * time.Hour), Labels: map[string]string{"node-role.kubernetes.io/worker": ""}},
		Spec:     &orchv1.NodeSpec{Unschedulable: true},
		Status: &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{{Type: "Ready", Status: "True"}},
			NodeInfo: &orchv1.NodeSystemInfo{KubeletVersion: "v0.1.0"}},
	}
	if got, want := tableString(t, api.NodeKind, []api.Object{n}, printOptions{}), "NAME   STATUS                     ROLES    AGE   VERSION\nn1     Ready,SchedulingDisabled   worker   2d    v0.1.0\n"; got != want {
		t.Errorf("nodes:\n%s\nwant:\n%s", got, want)
	}
	cm := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: "c", CreationTimestamp: ago(time.Minute)}, Data: map[string]string{"a": "1", "b": "2"}}
	if got, want := tableString(t, api.ConfigMapKind, []api.Object{cm}, printOptions{}), "NAME   DATA   AGE\nc      2      1m\n"; got != want {
		t.Errorf("configmaps:\n%s\nwant:\n%s", got, want)
	}
	// A kind without its own columns has NAME and AGE.
	r := &orchv1.Role{Metadata: &orchv1.ObjectMeta{Name: "r", CreationTimestamp: ago(time.Minute)}}
	if got, want := tableString(t, api.RoleKind, []api.Object{r}, printOptions{}), "NAME   AGE\nr      1m\n"; got != want {
		t.Errorf("roles:\n%s\nwant:\n%s", got, want)
	}
}

func TestEveryKindHasATable(t *testing.T) {
	t.Parallel()
	for _, k := range api.Kinds {
		obj := k.New()
		api.Meta(obj).Name = "x"
		tb := BuildTable(k, []api.Object{obj}, printOptions{Wide: true, AllNamespaces: true, ShowLabels: true, Now: testNow})
		if len(tb.Rows[0]) != len(tb.Headers) {
			t.Errorf("%s: %d cells under %d headers", k.Name, len(tb.Rows[0]), len(tb.Headers))
		}
	}
}

func TestObjectYAMLAndList(t *testing.T) {
	t.Parallel()
	p := mockPod("web", func(p *orchv1.Pod) { p.Status = nil; p.Metadata.CreationTimestamp = nil })
	y, err := ObjectYAML(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  containers:
  - image: busybox
    name: c
  nodeName: node-1
`
	if string(y) != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", y, want)
	}
	var b bytes.Buffer
	if err := printObjects(&b, "yaml", []api.Object{p, p}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "apiVersion: v1\nitems:\n- apiVersion: v1\n") || !strings.Contains(b.String(), "\nkind: List\n") {
		t.Errorf("list yaml:\n%s", b.String())
	}
	// What orchctl prints, orchctl reads back.
	ms, err := DecodeManifest("out.yaml", b.Bytes())
	if err != nil || len(ms) != 2 {
		t.Fatalf("round trip: %v, %d objects", err, len(ms))
	}
	b.Reset()
	if err := printObjects(&b, "json", []api.Object{p}, true); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",") {
		t.Errorf("json:\n%s", b.String())
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	d := &orchv1.Deployment{Metadata: &orchv1.ObjectMeta{Name: "web"}}
	if got := objectName(api.DeploymentKind, d); got != "deployment.apps/web" {
		t.Errorf("objectName = %q", got)
	}
	if got := resourceName(api.PodKind); got != "pods" {
		t.Errorf("resourceName = %q", got)
	}
}

func TestStreamTableKeepsColumns(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	st := &streamTable{w: &b}
	for _, name := range []string{"a", "much-longer-name"} {
		if err := st.write(BuildTable(api.PodKind, []api.Object{mockPod(name)}, printOptions{Now: testNow})); err != nil {
			t.Fatal(err)
		}
	}
	want := "NAME   READY   STATUS    RESTARTS   AGE\na      1/1     Running   0          5m\nmuch-longer-name   1/1     Running   0          5m\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDescribePod(t *testing.T) {
	t.Parallel()
	p := mockPod("web", func(p *orchv1.Pod) { p.Metadata.Labels = map[string]string{"app": "web", "tier": "fe"} })
	events := []*orchv1.Event{{
		Type: "Normal", Reason: "Scheduled", Message: "assigned default/web to node-1",
		Source: &orchv1.EventSource{Component: "scheduler"}, LastTimestamp: ago(time.Minute),
	}}
	var b bytes.Buffer
	if err := describe(&b, api.PodKind, p, events, nil, testNow); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Name:               web\n", "Namespace:          default\n", "Labels:             app=web\n                    tier=fe\n",
		"Annotations:        <none>\n", "Node:               node-1\n", "Status:             Running\n",
		"Spec:\n  containers:\n  - image: busybox\n", "Status:\n  containerStatuses:\n",
		"Events:\n  Type    Reason     Age   From       Message\n  ----    ------     ----  ----       -------\n  Normal  Scheduled  1m    scheduler  assigned default/web to node-1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
