package volumes

// These tests pin the environment a container gets: Kubernetes' order and override rules,
// $(VAR) expansion, downward API values and the errors that name the variable.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func envSource() *fakeSource {
	src := newSource()
	src.setConfigMap("ns", "app-config", map[string]string{"MODE": "prod", "LEVEL": "info", "1BAD": "x", "has space": "y"}, nil)
	src.setSecret("ns", "db", map[string][]byte{"user": []byte("admin"), "MODE": []byte("from-secret")})
	return src
}

func TestEnvOrderPrefixAndOverride(t *testing.T) {
	t.Parallel()
	pod := mockPod()
	c := &orchv1.Container{
		Name: "app",
		EnvFrom: []*orchv1.EnvFromSource{
			{ConfigMapRef: &orchv1.ConfigMapEnvSource{Name: "app-config"}},
			{Prefix: "DB_", SecretRef: &orchv1.SecretEnvSource{Name: "db"}},
			{ConfigMapRef: &orchv1.ConfigMapEnvSource{Name: "absent", Optional: ptr(true)}},
		},
		Env: []*orchv1.EnvVar{
			{Name: "LEVEL", Value: "debug"}, // replaces the envFrom value, keeps its place
			{Name: "URL", Value: "postgres://$(DB_user)@db/$(MODE)"},
			{Name: "LATER", Value: "$(AFTER)"}, // defined below: not expanded
			{Name: "AFTER", Value: "a"},
			{Name: "ESCAPED", Value: "$$(MODE) costs $$5 $x $(unclosed"},
			{Name: "SELF", Value: "$(LEVEL)-$(SELF)"},
		},
	}
	got, err := Env(context.Background(), pod, c, envSource())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"LEVEL=debug", "MODE=prod", // envFrom ConfigMap keys in key order; invalid names skipped
		"DB_MODE=from-secret", "DB_user=admin",
		"URL=postgres://admin@db/prod",
		"LATER=$(AFTER)",
		"AFTER=a",
		"ESCAPED=$(MODE) costs $5 $x $(unclosed",
		"SELF=debug-$(SELF)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("env =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEnvFieldAndResourceRefs(t *testing.T) {
	t.Parallel()
	pod := mockPod()
	pod.Spec.Containers = append(pod.Spec.Containers, &orchv1.Container{Name: "sidecar",
		Resources: &orchv1.ResourceRequirements{Limits: map[string]string{"cpu": "2"}}})
	c := pod.Spec.Containers[0]
	field := func(path string) *orchv1.EnvVarSource {
		return &orchv1.EnvVarSource{FieldRef: &orchv1.ObjectFieldSelector{FieldPath: path}}
	}
	res := func(container, r, div string) *orchv1.EnvVarSource {
		return &orchv1.EnvVarSource{ResourceFieldRef: &orchv1.ResourceFieldSelector{ContainerName: container, Resource: r, Divisor: div}}
	}
	for _, tc := range []struct {
		from *orchv1.EnvVarSource
		want string
	}{
		{field("metadata.name"), "web-0"},
		{field("metadata.namespace"), "ns"},
		{field("metadata.uid"), "uid-1"},
		{field("metadata.labels['app']"), "web"},
		{field("metadata.labels['absent']"), ""},
		{field("metadata.annotations['note']"), `say "hi"`},
		{field("spec.nodeName"), "worker-1"},
		{field("spec.serviceAccountName"), "builder"},
		{field("status.podIP"), "10.1.0.7"},
		{field("status.hostIP"), "192.168.1.20"},
		{res("", "limits.cpu", ""), "1"}, // 250m rounded up to whole cores
		{res("", "limits.cpu", "1m"), "250"},
		{res("", "requests.cpu", "1m"), "250"}, // an unset request is the limit
		{res("", "limits.memory", ""), "67108864"},
		{res("", "limits.memory", "1Mi"), "64"},
		{res("", "requests.memory", "1Mi"), "32"},
		{res("sidecar", "limits.cpu", "100m"), "20"},
		{res("sidecar", "requests.memory", ""), "0"},
	} {
		name := tc.from.String()
		t.Run(name, func(t *testing.T) {
			c := &orchv1.Container{Name: c.Name, Resources: c.Resources, Env: []*orchv1.EnvVar{{Name: "V", ValueFrom: tc.from}}}
			got, err := Env(context.Background(), pod, c, newSource())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{"V=" + tc.want}) {
				t.Fatalf("got %v, want V=%s", got, tc.want)
			}
		})
	}

	// Without a limit the node's own capacity stands in, as node allocatable does in Kubernetes.
	bare := &orchv1.Container{Name: "bare", Env: []*orchv1.EnvVar{{Name: "CPUS", ValueFrom: res("", "limits.cpu", "")}}}
	got, err := Env(context.Background(), pod, bare, newSource())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(got[0], "CPUS=")); err != nil || n < 1 {
		t.Fatalf("unlimited limits.cpu = %v", got)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		c        *orchv1.Container
		want     string
		notFound bool
	}{
		{"secret key missing", &orchv1.Container{Env: []*orchv1.EnvVar{{Name: "FOO", ValueFrom: &orchv1.EnvVarSource{
			SecretKeyRef: &orchv1.SecretKeySelector{Name: "db", Key: "password"}}}}},
			`env FOO: secret "db" has no key "password"`, false},
		{"configmap key missing", &orchv1.Container{Env: []*orchv1.EnvVar{{Name: "BAR", ValueFrom: &orchv1.EnvVarSource{
			ConfigMapKeyRef: &orchv1.ConfigMapKeySelector{Name: "app-config", Key: "nope"}}}}},
			`env BAR: configmap "app-config" has no key "nope"`, false},
		{"secret missing", &orchv1.Container{Env: []*orchv1.EnvVar{{Name: "PW", ValueFrom: &orchv1.EnvVarSource{
			SecretKeyRef: &orchv1.SecretKeySelector{Name: "vault", Key: "pw"}}}}},
			`env PW: secret "vault" not found`, true},
		{"envFrom missing", &orchv1.Container{EnvFrom: []*orchv1.EnvFromSource{{ConfigMapRef: &orchv1.ConfigMapEnvSource{Name: "gone"}}}},
			`envFrom: configmap "gone" not found`, true},
		{"bad fieldPath", &orchv1.Container{Env: []*orchv1.EnvVar{{Name: "L", ValueFrom: &orchv1.EnvVarSource{
			FieldRef: &orchv1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
			`env L: unsupported fieldPath "metadata.labels"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Env(context.Background(), mockPod(), tc.c, envSource())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Fatalf("errors.Is(err, ErrNotFound) = %v", !tc.notFound)
			}
		})
	}

	// Optional references to missing keys or objects leave the variable out.
	c := &orchv1.Container{Env: []*orchv1.EnvVar{
		{Name: "A", ValueFrom: &orchv1.EnvVarSource{SecretKeyRef: &orchv1.SecretKeySelector{Name: "db", Key: "password", Optional: ptr(true)}}},
		{Name: "B", ValueFrom: &orchv1.EnvVarSource{ConfigMapKeyRef: &orchv1.ConfigMapKeySelector{Name: "gone", Key: "k", Optional: ptr(true)}}},
		{Name: "C", ValueFrom: &orchv1.EnvVarSource{SecretKeyRef: &orchv1.SecretKeySelector{Name: "db", Key: "user"}}},
	}}
	got, err := Env(context.Background(), mockPod(), c, envSource())
	if err != nil || !slices.Equal(got, []string{"C=admin"}) {
		t.Fatalf("Env = %v, %v; want [C=admin]", got, err)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"":              "",
		"plain":         "plain",
		"$(A)":          "x",
		"$(A)$(A)":      "xx",
		"<$(EMPTY)>":    "<>",
		"$(B)":          "$(B)",
		"$$(A)":         "$(A)",
		"$$$(A)":        "$x",
		"$":             "$",
		"a$":            "a$",
		"$A":            "$A",
		"$(":            "$(",
		"$(A":           "$(A",
		"$()":           "$()",
		"é$é":           "é$é",
		"$(A)-$(A) $$$": "x-x $$",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}
