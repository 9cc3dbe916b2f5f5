// FuzzDecodeManifest pins that decoding never panics, whatever the bytes.
package cli

import "testing"

func FuzzDecodeManifest(f *testing.F) {
	seeds := []string{
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {limits: {cpu: 1}}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80, targetPort: http}]}\n",
		`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":1}}]}`,
		"apiVersion: v1\nkind: Pod\nmetadata: name: x\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"kind: Secret\napiVersion: v1\ndata: {a: !!binary aGVsbG8=}\n",
		"- 1\n- [2, {a: null}]\n",
		"apiVersion: v1\nkind: PodList\nitems: [null, {metadata: {labels: {a: true}}}]\n",
		"&a [*a]",
		"",
		"---\n---\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := DecodeManifest("fuzz.yaml", []byte(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Kind == nil || m.Object == nil {
				t.Fatalf("decoded a manifest without kind or object: %+v", m)
			}
			_ = m.Where()
			if _, err := ObjectYAML(m.Object); err != nil {
				t.Fatalf("a decoded object does not encode: %v", err)
			}
		}
	})
}
