package server

// These tests pin how requests decode: JSON with a field the message does not declare
// is refused with the field's path (Kubernetes' strict field validation), while binary
// protobuf keeps unknown fields for compatibility between versions.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func postConnect(t *testing.T, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestStrictJSONRequests(t *testing.T) {
	ta := newTestAPI(t, 0)
	mux := http.NewServeMux()
	ta.mountKinds(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name, service, body string
		unknown             []string // empty: accepted
	}{
		{"top level", "ConfigMapService", `{"metadata":{"name":"a"},"datum":{"k":"v"}}`, []string{"datum"}},
		{"nested", "DeploymentService", `{"metadata":{"name":"web"},"spec":{"replicaz":3}}`, []string{"spec.replicaz"}},
		{"in a list", "PodService", `{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","imagez":"x"}]}}`,
			[]string{"spec.containers[0].imagez"}},
		{"every one", "PodService", `{"metadata":{"name":"p","labelz":{}},"spec":{"containerz":[],"nodeName":"n"}}`,
			[]string{"metadata.labelz", "spec.containerz"}},
		{"known fields, JSON and proto names", "ConfigMapService",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","labels":{"a":"b"},"generate_name":"x"},"data":{"k":"v"}}`, nil},
		{"well-known types keep their JSON forms", "PodService",
			`{"metadata":{"name":"q"},"spec":{"containers":[{"name":"c","image":"busybox","livenessProbe":{"httpGet":{"port":"http"}},"ports":[{"name":"http","containerPort":80}]}]}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postConnect(t, srv.URL+"/orch.v1."+tc.service+"/Create", "application/json", []byte(tc.body))
			if len(tc.unknown) == 0 {
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, body)
				}
				return
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("status %d, body %s: %v", status, body, err)
			}
			if e.Code != "invalid_argument" {
				t.Errorf("code %q (%s), want invalid_argument", e.Code, e.Message)
			}
			for _, f := range tc.unknown {
				if want := `unknown field "` + f + `"`; !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not name %s", e.Message, want)
				}
			}
		})
	}

	// Binary protobuf from a newer version: the unknown field is carried, not refused.
	b, err := proto.Marshal(cm("newer", map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 999, protowire.BytesType)
	b = protowire.AppendString(b, "from the future")
	if status, body := postConnect(t, srv.URL+"/orch.v1.ConfigMapService/Create", "application/proto", b); status != http.StatusOK {
		t.Errorf("binary request with an unknown field: status %d: %q", status, body)
	}
}
