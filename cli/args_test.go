// These tests pin how orchctl reads kinds and names from its arguments, as kubectl does.
package cli

import (
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestParseResourceArgs(t *testing.T) {
	t.Parallel()
	type ref struct {
		kind  string
		names []string
	}
	cases := []struct {
		args []string
		want []ref
		err  bool
	}{
		{args: []string{"pods"}, want: []ref{{"Pod", nil}}},
		{args: []string{"pod", "web", "db"}, want: []ref{{"Pod", []string{"web", "db"}}}},
		{args: []string{"po", "web"}, want: []ref{{"Pod", []string{"web"}}}},
		{args: []string{"pods/web"}, want: []ref{{"Pod", []string{"web"}}}},
		{args: []string{"pods/web", "pod/db", "svc/web"}, want: []ref{{"Pod", []string{"web", "db"}}, {"Service", []string{"web"}}}},
		{args: []string{"deployments.apps/web"}, want: []ref{{"Deployment", []string{"web"}}}},
		{args: []string{"pods,services"}, want: []ref{{"Pod", nil}, {"Service", nil}}},
		{args: []string{"Deployment", "web"}, want: []ref{{"Deployment", []string{"web"}}}},
		{args: nil, err: true},
		{args: []string{"gadgets"}, err: true},
		{args: []string{"pods/web", "db"}, err: true},
		{args: []string{"pod", "pods/web"}, err: true},
		{args: []string{"pods/"}, err: true},
	}
	for _, c := range cases {
		refs, err := parseResourceArgs(c.args)
		if c.err {
			if err == nil {
				t.Errorf("%v: no error", c.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if len(refs) != len(c.want) {
			t.Errorf("%v: got %d refs, want %d", c.args, len(refs), len(c.want))
			continue
		}
		for i, r := range refs {
			if r.Kind.Name != c.want[i].kind || len(r.Names) != len(c.want[i].names) {
				t.Errorf("%v: ref %d = %s %v", c.args, i, r.Kind.Name, r.Names)
				continue
			}
			for j := range r.Names {
				if r.Names[j] != c.want[i].names[j] {
					t.Errorf("%v: ref %d names = %v", c.args, i, r.Names)
				}
			}
		}
	}
}

func TestApplyOutcome(t *testing.T) {
	t.Parallel()
	if got := applyOutcome("41", "41"); got != "unchanged" {
		t.Errorf("same resourceVersion: %s", got)
	}
	if got := applyOutcome("41", "57"); got != "configured" {
		t.Errorf("new resourceVersion: %s", got)
	}
	if got := applyOutcome("41", ""); got != "configured" {
		t.Errorf("no resourceVersion: %s", got)
	}
}

func TestManifestNamespace(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind                 *api.Kind
		obj, flag, def, want string
		err                  bool
	}{
		{api.PodKind, "", "", "default", "default", false},
		{api.PodKind, "", "", "", "default", false},
		{api.PodKind, "", "", "team", "team", false},
		{api.PodKind, "", "dev", "team", "dev", false},
		{api.PodKind, "prod", "", "team", "prod", false},
		{api.PodKind, "prod", "prod", "team", "prod", false},
		{api.PodKind, "prod", "dev", "team", "", true},
		{api.NamespaceKind, "x", "dev", "team", "", false},
	}
	for _, c := range cases {
		got, err := manifestNamespace(c.kind, c.obj, c.flag, c.def)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("manifestNamespace(%s, %q, %q, %q) = %q, %v", c.kind, c.obj, c.flag, c.def, got, err)
		}
	}
}

func TestApplyKeepsAllocatedFields(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`)
	desired := ms[0].Object
	live := &orchv1.Service{
		ApiVersion: "v1", Kind: "Service",
		Metadata: &orchv1.ObjectMeta{Name: "web", Namespace: "default", Uid: "u1", ResourceVersion: "9", Labels: map[string]string{"app": "web"}},
		Spec: &orchv1.ServiceSpec{Type: "NodePort", Selector: map[string]string{"app": "web"}, ClusterIp: "10.96.0.7", ClusterIps: []string{"10.96.0.7"},
			Ports: []*orchv1.ServicePort{{Port: 80, TargetPort: structpb.NewStringValue("http"), NodePort: 30001}}},
	}
	if sameDesiredState(desired, live) {
		t.Fatal("same before the allocated fields are kept")
	}
	preserveAllocated(desired, live)
	s := desired.(*orchv1.Service)
	if s.GetSpec().GetClusterIp() != "10.96.0.7" || s.GetSpec().GetPorts()[0].GetNodePort() != 30001 || s.GetMetadata().GetUid() != "u1" {
		t.Errorf("after preserve: %v", s)
	}
	if !sameDesiredState(desired, live) {
		t.Error("re-applying the same manifest is not unchanged")
	}
	s.Metadata.Labels["app"] = "other"
	if sameDesiredState(desired, live) {
		t.Error("a label change reads as unchanged")
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	e := &env{server: "http://127.0.0.1:1", timeout: time.Second}
	err := e.serverError(connect.NewError(connect.CodeNotFound, nil), "", api.PodKind, "web")
	if got := errorLines(err); len(got) != 1 || got[0] != `Error from server (NotFound): pods "web" not found` {
		t.Errorf("not found = %q", got)
	}
	err = e.serverError(connect.NewError(connect.CodeAborted, errString("the object has been modified")), `error when applying "web.yaml"`, nil, "")
	if got := err.Error(); got != `Error from server (Conflict): error when applying "web.yaml": the object has been modified` {
		t.Errorf("conflict = %q", got)
	}
	if got := errorLines(errorList{err, errString("boom")}); len(got) != 2 || got[1] != "error: boom" {
		t.Errorf("list = %q", got)
	}
	for code, want := range map[connect.Code]string{
		connect.CodeAlreadyExists: "AlreadyExists", connect.CodeInvalidArgument: "Invalid", connect.CodePermissionDenied: "Forbidden",
		connect.CodeUnauthenticated: "Unauthorized", connect.CodeUnavailable: "ServiceUnavailable",
	} {
		if got := reason(code); got != want {
			t.Errorf("reason(%v) = %q, want %q", code, got, want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

var _ = orchv1.Pod{}
