package cli

// taint, label and annotate read their arguments as kubectl does and refuse to change an
// existing value without --overwrite: tables for the parsing and merging, and one run of
// label and annotate against the fake pod service.

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func taintStrings(ts []*orchv1.Taint) string {
	var s []string
	for _, t := range ts {
		if t.GetEffect() == "" {
			s = append(s, t.GetKey())
		} else {
			s = append(s, api.TaintString(t))
		}
	}
	return strings.Join(s, ",")
}

func TestParseTaints(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args       []string
		add, del   string
		errContain string
	}{
		{args: []string{"dedicated=gpu:NoSchedule"}, add: "dedicated=gpu:NoSchedule"},
		{args: []string{"bar:PreferNoSchedule", "x=1:NoExecute"}, add: "bar:PreferNoSchedule,x=1:NoExecute"},
		{args: []string{"dedicated:NoSchedule-"}, del: "dedicated:NoSchedule"},
		{args: []string{"dedicated-"}, del: "dedicated"},
		{args: []string{"a=1:NoSchedule", "b-"}, add: "a=1:NoSchedule", del: "b"},
		{args: []string{"dedicated=gpu"}, errContain: "invalid taint spec"},
		{args: []string{"dedicated=gpu:Sometimes"}, errContain: "invalid taint effect: Sometimes"},
		{args: []string{"k:Never-"}, errContain: "invalid taint effect"},
		{args: []string{"=v:NoSchedule"}, errContain: "key is empty"},
		{args: []string{"a=1:NoSchedule", "a=2:NoSchedule"}, errContain: "duplicated taints"},
		{args: []string{"a=1:NoSchedule", "a-"}, errContain: "can not both modify and remove"},
	}
	for _, c := range cases {
		add, del, err := parseTaints(c.args)
		if c.errContain != "" {
			if err == nil || !strings.Contains(err.Error(), c.errContain) {
				t.Errorf("%v: error %v, want %q", c.args, err, c.errContain)
			}
			continue
		}
		if err != nil || taintStrings(add) != c.add || taintStrings(del) != c.del {
			t.Errorf("%v: add %q del %q err %v; want add %q del %q", c.args, taintStrings(add), taintStrings(del), err, c.add, c.del)
		}
	}
}

func TestApplyTaints(t *testing.T) {
	t.Parallel()
	cur := []*orchv1.Taint{{Key: "a", Value: "1", Effect: "NoSchedule"}, {Key: "a", Effect: "NoExecute"}, {Key: "b", Effect: "PreferNoSchedule"}}
	cases := []struct {
		name       string
		args       []string
		overwrite  bool
		want, verb string
		errContain string
	}{
		{"add", []string{"c=3:NoSchedule"}, false, "a=1:NoSchedule,a:NoExecute,b:PreferNoSchedule,c=3:NoSchedule", "tainted", ""},
		{"same key other effect", []string{"b:NoSchedule"}, false, "a=1:NoSchedule,a:NoExecute,b:PreferNoSchedule,b:NoSchedule", "tainted", ""},
		{"same key and effect refused", []string{"a=2:NoSchedule"}, false, "", "", "node w1 already has a taint(s) with same effect(s) and --overwrite is false"},
		{"same key and effect overwritten", []string{"a=2:NoSchedule"}, true, "a=2:NoSchedule,a:NoExecute,b:PreferNoSchedule", "modified", ""},
		{"remove one effect", []string{"a:NoExecute-"}, false, "a=1:NoSchedule,b:PreferNoSchedule", "untainted", ""},
		{"remove a key", []string{"a-"}, false, "b:PreferNoSchedule", "untainted", ""},
		{"remove a missing taint", []string{"z:NoSchedule-"}, false, "", "", `taint "z:NoSchedule" not found`},
	}
	for _, c := range cases {
		add, del, err := parseTaints(c.args)
		if err != nil {
			t.Fatal(err)
		}
		got, verb, err := applyTaints("w1", cur, add, del, c.overwrite)
		if c.errContain != "" {
			if err == nil || err.Error() != c.errContain && !strings.Contains(err.Error(), c.errContain) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.errContain)
			}
			continue
		}
		if err != nil || taintStrings(got) != c.want || verb != c.verb {
			t.Errorf("%s: %q %q %v; want %q %q", c.name, taintStrings(got), verb, err, c.want, c.verb)
		}
	}
	if len(cur) != 3 || cur[0].GetValue() != "1" {
		t.Errorf("applyTaints changed its input: %v", cur)
	}
}

func TestMetaChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		cur        map[string]string
		overwrite  bool
		res        string
		want       string
		changed    bool
		errContain string
	}{
		{"set new", []string{"pods", "web", "tier=fe"}, map[string]string{"app": "web"}, false, "pods,web", "app=web,tier=fe", true, ""},
		{"same value is no change", []string{"pod/web", "app=web"}, map[string]string{"app": "web"}, false, "pod/web", "app=web", false, ""},
		{"other value refused", []string{"pods", "web", "app=db"}, map[string]string{"app": "web"}, false, "", "", false, "'app' already has a value (web), and --overwrite is false"},
		{"other value overwritten", []string{"pods", "web", "app=db"}, map[string]string{"app": "web"}, true, "pods,web", "app=db", true, ""},
		{"remove", []string{"pods", "web", "app-"}, map[string]string{"app": "web", "x": "1"}, false, "pods,web", "x=1", true, ""},
		{"remove a missing key", []string{"pods", "web", "nope-"}, map[string]string{"app": "web"}, false, "pods,web", "app=web", false, ""},
		{"empty value", []string{"pods", "web", "flag="}, nil, false, "pods,web", "flag=", true, ""},
		{"set and remove the same key", []string{"pods", "web", "a=1", "a-"}, nil, false, "", "", false, "can not both modify and remove"},
	}
	for _, c := range cases {
		res, ch, err := splitMetaArgs(c.args)
		var got map[string]string
		changed := false
		if err == nil {
			got, changed, err = ch.apply(maps.Clone(c.cur), c.overwrite, "label")
		}
		if c.errContain != "" {
			if err == nil || !strings.Contains(err.Error(), c.errContain) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.errContain)
			}
			continue
		}
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(got)) {
			kv = append(kv, k+"="+got[k])
		}
		if err != nil || strings.Join(res, ",") != c.res || strings.Join(kv, ",") != c.want || changed != c.changed {
			t.Errorf("%s: res %v, got %v changed %v err %v; want %q %q %v", c.name, res, kv, changed, err, c.res, c.want, c.changed)
		}
	}
}

func TestLabelAndAnnotateAgainstFakePods(t *testing.T) {
	t.Parallel()
	server := startFake(t)
	must := func(want string, args ...string) {
		t.Helper()
		out, _, err := run(t, server, args...)
		if err != nil || out != want {
			t.Fatalf("%v: %q %v, want %q", args, out, err, want)
		}
	}
	manifest := t.TempDir() + "/pod.yaml"
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec: {containers: [{name: c, image: i}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must("pod/web created\n", "create", "-f", manifest)
	must("pod/web labeled\n", "label", "pods", "web", "tier=frontend")
	_, _, err := run(t, server, "label", "pod/web", "app=db")
	if got := errorLines(err); len(got) != 1 || got[0] != "error: 'app' already has a value (web), and --overwrite is false" {
		t.Fatalf("label without --overwrite: %q", got)
	}
	must("pod/web labeled\n", "label", "--overwrite", "pod/web", "app=db")
	must("pod/web unlabeled\n", "label", "pod/web", "tier-")
	must("pod/web not labeled\n", "label", "pod/web", "app=db")
	must("pod/web annotated\n", "annotate", "pods", "web", "description=my frontend")
	_, _, err = run(t, server, "annotate", "pods", "web", "description=other")
	if got := errorLines(err); len(got) != 1 || got[0] != "error: --overwrite is false but found the following declared annotation(s): 'description' already has a value (my frontend)" {
		t.Fatalf("annotate without --overwrite: %q", got)
	}
	must("pod/web annotated\n", "annotate", "pods", "web", "description-")
	out, _, _ := run(t, server, "get", "pod", "web", "-o", "json")
	if !strings.Contains(out, `"app": "db"`) || strings.Contains(out, "tier") || strings.Contains(out, "description") {
		t.Fatalf("pod after label and annotate:\n%s", out)
	}
}
