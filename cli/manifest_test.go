// These tests pin how manifests decode: Kubernetes YAML and JSON as kubectl reads them,
// and errors that name the file, the document and the field.
package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func decodeOK(t *testing.T, src string) []*Manifest {
	t.Helper()
	ms, err := DecodeManifest("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return ms
}

func decodeErr(t *testing.T, name, src string, want ...string) {
	t.Helper()
	_, err := DecodeManifest(name, []byte(src))
	if err == nil {
		t.Fatalf("decode succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestDecodeMultiDocument(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `---
# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
---   # empty document
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 3
--- 
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
`)
	if len(ms) != 3 {
		t.Fatalf("got %d objects, want 3", len(ms))
	}
	if ms[0].Kind != api.NamespaceKind || ms[1].Kind != api.DeploymentKind || ms[2].Kind != api.ConfigMapKind {
		t.Fatalf("kinds = %v %v %v", ms[0].Kind, ms[1].Kind, ms[2].Kind)
	}
	d := ms[1].Object.(*orchv1.Deployment)
	if d.GetSpec().GetReplicas() != 3 || d.GetMetadata().GetNamespace() != "demo" {
		t.Errorf("deployment = %v", d)
	}
	if ms[1].Doc != 2 || ms[1].Where() != `test.yaml: document 2 (Deployment "web")` {
		t.Errorf("where = %q (doc %d)", ms[1].Where(), ms[1].Doc)
	}
	if d.GetApiVersion() != "apps/v1" || d.GetKind() != "Deployment" {
		t.Errorf("type meta = %q %q", d.GetApiVersion(), d.GetKind())
	}
}

func TestDecodeJSONAndList(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `{
	"apiVersion": "v1",
	"kind": "List",
	"items": [
		{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
		{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}
	]
}`)
	if len(ms) != 2 || ms[0].Kind != api.PodKind || ms[1].Kind != api.ServiceKind || ms[1].Item != 2 {
		t.Fatalf("got %+v", ms)
	}
	ms = decodeOK(t, `apiVersion: v1
kind: PodList
items:
- metadata: {name: a}
`)
	if len(ms) != 1 || ms[0].Kind != api.PodKind {
		t.Fatalf("typed list: %+v", ms)
	}
}

func TestDecodeQuantityNumbers(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `apiVersion: v1
kind: Pod
metadata:
  name: q
  labels:
    version: 2
spec:
  containers:
  - name: c
    image: busybox
    env:
    - name: PORT
      value: 8080
    resources:
      limits:
        cpu: 1
        memory: 128974848
      requests:
        cpu: 0.5
        memory: null
`)
	p := ms[0].Object.(*orchv1.Pod)
	c := p.GetSpec().GetContainers()[0]
	if got := c.GetResources().GetLimits(); got["cpu"] != "1" || got["memory"] != "128974848" {
		t.Errorf("limits = %v", got)
	}
	if got := c.GetResources().GetRequests(); got["cpu"] != "0.5" || len(got) != 1 {
		t.Errorf("requests = %v", got)
	}
	if got := p.GetMetadata().GetLabels(); got["version"] != "2" {
		t.Errorf("labels = %v", got)
	}
	if got := c.GetEnv()[0].GetValue(); got != "8080" {
		t.Errorf("env value = %q", got)
	}
}

func TestDecodeIntOrString(t *testing.T) {
	t.Parallel()
	ms := decodeOK(t, `apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
  - port: 80
    targetPort: 8080
  - port: 81
    targetPort: http
`)
	ports := ms[0].Object.(*orchv1.Service).GetSpec().GetPorts()
	if n, _, isInt := api.IntOrString(ports[0].GetTargetPort()); !isInt || n != 8080 {
		t.Errorf("targetPort 0 = %v", ports[0].GetTargetPort())
	}
	if _, s, isInt := api.IntOrString(ports[1].GetTargetPort()); isInt || s != "http" {
		t.Errorf("targetPort 1 = %v", ports[1].GetTargetPort())
	}
	if ports[0].GetPort() != 80 {
		t.Errorf("port = %d", ports[0].GetPort())
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	decodeErr(t, "web.yaml", `apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replica: 2
`, `web.yaml: document 2 (Deployment "web"): unknown field "spec.replica"`)
	decodeErr(t, "x.yaml", `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    imag: busybox
`, `unknown field "spec.containers[0].imag"`)
	decodeErr(t, "x.yaml", "apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n", `x.yaml: document 1 (Gadget "g"): unknown kind "Gadget"`)
	decodeErr(t, "x.yaml", "apiVersion: v2\nkind: Pod\nmetadata: {name: g}\n", `served as apiVersion "v1"`)
	decodeErr(t, "x.yaml", "apiVersion: v1\nmetadata: {name: g}\n", "kind not set")
	decodeErr(t, "x.yaml", "- a\n- b\n", "must be an object")
	decodeErr(t, "x.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: two\n", `spec.replicas: expected a number, got "two"`)
	decodeErr(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: 3\n", "spec.hostNetwork: expected a boolean")
	// YAML reads an unquoted y, yes, on or true as a boolean; where a string is expected
	// that is refused, as the Kubernetes API server does, not stored as "true".
	decodeErr(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: b\n    volumeMounts:\n    - {name: v, mountPath: /v, subPath: y}\n",
		"spec.containers[0].volumeMounts[0].subPath: expected a string, got a boolean")
	decodeErr(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {enabled: true}}\n", "metadata.labels.enabled: expected a string, got a boolean")
	decodeErr(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: [1]\n", "spec: expected an object")
}

func TestDecodeMalformedYAMLLine(t *testing.T) {
	t.Parallel()
	// The bad line is line 7 of the file, line 3 of the second document.
	decodeErr(t, "bad.yaml", `apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Pod
metadata: name: x
`, "bad.yaml: document 2", "line 7")
}

func TestReadManifestsDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n")
	write("a.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`)
	write("notes.txt", "not a manifest")
	write("sub/c.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n")

	names := func(ms []*Manifest) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Object.GetMetadata().GetName())
		}
		return strings.Join(s, ",")
	}
	ms, err := ReadManifests([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ms); got != "a,b" {
		t.Errorf("flat = %s", got)
	}
	ms, err = ReadManifests([]string{dir}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ms); got != "a,b,c" {
		t.Errorf("recursive = %s", got)
	}
	ms, err = ReadManifests([]string{"-"}, false, strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: s}\n"))
	if err != nil || names(ms) != "s" || ms[0].Source != "STDIN" {
		t.Errorf("stdin: %v %v", ms, err)
	}
}

func TestExamplesDecode(t *testing.T) {
	t.Parallel()
	ms, err := ReadManifests([]string{"../examples"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range ms {
		kinds[m.Kind.Name] = true
	}
	for _, k := range []string{"Namespace", "ConfigMap", "Service", "Pod"} {
		if !kinds[k] {
			t.Errorf("examples have no %s", k)
		}
	}
}
