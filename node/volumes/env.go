package volumes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Env builds a container's environment ("NAME=value") the way the kubelet does: every
// envFrom source in order (keys that are not valid variable names are skipped), then every
// env entry in order; a later definition replaces the value of an earlier one. A literal
// value may refer to variables defined before it as $(VAR) ($$ is a literal $, an unknown
// reference is kept as written); values from valueFrom are taken as they are. A variable
// keeps the position of its first definition, so the output is deterministic.
func Env(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, src Source) ([]string, error) {
	var env envList
	ns := namespace(pod)
	for _, ef := range c.GetEnvFrom() {
		if ref := ef.GetConfigMapRef(); ref != nil {
			cm, err := getConfigMap(ctx, src, ns, ref.GetName(), ref.GetOptional())
			if err != nil {
				return nil, fmt.Errorf("envFrom: %w", err)
			}
			env.setAll(ef.GetPrefix(), cm.GetData())
		}
		if ref := ef.GetSecretRef(); ref != nil {
			s, err := getSecret(ctx, src, ns, ref.GetName(), ref.GetOptional())
			if err != nil {
				return nil, fmt.Errorf("envFrom: %w", err)
			}
			data := make(map[string]string, len(s.GetData()))
			for k, v := range s.GetData() {
				data[k] = string(v)
			}
			env.setAll(ef.GetPrefix(), data)
		}
	}
	for _, e := range c.GetEnv() {
		if e.GetValueFrom() == nil {
			env.set(e.GetName(), expand(e.GetValue(), env.lookup))
			continue
		}
		v, ok, err := valueFrom(ctx, pod, c, src, e.GetValueFrom())
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.GetName(), err)
		}
		if ok {
			env.set(e.GetName(), v)
		}
	}
	out := make([]string, len(env.order))
	for i, k := range env.order {
		out[i] = k + "=" + env.vals[k]
	}
	return out, nil
}

// envList is an ordered map: first-definition order, last-definition value.
type envList struct {
	order []string
	vals  map[string]string
}

func (l *envList) set(k, v string) {
	if l.vals == nil {
		l.vals = map[string]string{}
	}
	if _, ok := l.vals[k]; !ok {
		l.order = append(l.order, k)
	}
	l.vals[k] = v
}

// setAll adds data in key order (a ConfigMap has no order of its own).
func (l *envList) setAll(prefix string, data map[string]string) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(validation.IsEnvVarName(prefix+k)) == 0 {
			l.set(prefix+k, data[k])
		}
	}
}

func (l *envList) lookup(k string) (string, bool) {
	v, ok := l.vals[k]
	return v, ok
}

// valueFrom resolves one valueFrom; ok is false for a missing optional key or object, which
// leaves the variable out, as in Kubernetes.
func valueFrom(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, src Source, vf *orchv1.EnvVarSource) (string, bool, error) {
	switch {
	case vf.GetFieldRef() != nil:
		v, err := fieldValue(pod, vf.GetFieldRef().GetFieldPath(), false)
		return v, err == nil, err
	case vf.GetResourceFieldRef() != nil:
		v, err := resourceValue(pod, c, vf.GetResourceFieldRef())
		return v, err == nil, err
	case vf.GetConfigMapKeyRef() != nil:
		ref := vf.GetConfigMapKeyRef()
		cm, err := getConfigMap(ctx, src, namespace(pod), ref.GetName(), ref.GetOptional())
		if err != nil || cm == nil {
			return "", false, err
		}
		if v, ok := cm.GetData()[ref.GetKey()]; ok {
			return v, true, nil
		}
		if v, ok := cm.GetBinaryData()[ref.GetKey()]; ok {
			return string(v), true, nil
		}
		if ref.GetOptional() {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %q has no key %q", ref.GetName(), ref.GetKey())
	case vf.GetSecretKeyRef() != nil:
		ref := vf.GetSecretKeyRef()
		s, err := getSecret(ctx, src, namespace(pod), ref.GetName(), ref.GetOptional())
		if err != nil || s == nil {
			return "", false, err
		}
		if v, ok := s.GetData()[ref.GetKey()]; ok {
			return string(v), true, nil
		}
		if ref.GetOptional() {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %q has no key %q", ref.GetName(), ref.GetKey())
	}
	return "", false, errors.New("valueFrom has nothing set")
}

// expand replaces $(VAR) with VAR's value, following Kubernetes' expansion exactly: $$ is
// a literal $, a reference to an unknown variable or an unclosed $( stays as written, and a
// $ before anything else is kept.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	checkpoint := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:i])
		rest := s[i+1:]
		advance := 1
		switch rest[0] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				b.WriteString("$(")
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			advance = end + 1
		default:
			b.WriteByte('$')
			b.WriteByte(rest[0])
		}
		i += advance
		checkpoint = i + 1
	}
	b.WriteString(s[checkpoint:])
	return b.String()
}
