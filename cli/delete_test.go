package cli

// --cascade maps to a propagation policy as kubectl's does, with its deprecated boolean
// forms, and each delete request carries it.

import (
	"testing"

	"github.com/orchd/orch/api"
)

func TestCascadePolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		flag, policy string
		warns, fails bool
	}{
		{flag: "background", policy: api.DeletePropagationBackground},
		{flag: "foreground", policy: api.DeletePropagationForeground},
		{flag: "orphan", policy: api.DeletePropagationOrphan},
		{flag: "true", policy: api.DeletePropagationBackground, warns: true},
		{flag: "false", policy: api.DeletePropagationOrphan, warns: true},
		{flag: "Orphan", fails: true},
		{flag: "", fails: true},
	}
	for _, tc := range cases {
		policy, warning, err := cascadePolicy(tc.flag)
		if (err != nil) != tc.fails || policy != tc.policy || (warning != "") != tc.warns {
			t.Errorf("--cascade=%s: policy %q warning %q err %v", tc.flag, policy, warning, err)
		}
	}
	if _, _, err := cascadePolicy("sideways"); err == nil || err.Error() != `invalid cascade value (sideways). Must be "background", "foreground", or "orphan"` {
		t.Errorf("bad value: %v", err)
	}
}

func TestDeleteRequest(t *testing.T) {
	t.Parallel()
	tg := target{Kind: api.DeploymentKind, Namespace: "ns", Name: "web"}
	r := (&deleteOptions{gracePeriod: -1}).request(tg, api.DeletePropagationForeground)
	if r.GetPropagationPolicy() != api.DeletePropagationForeground || r.GracePeriodSeconds != nil || r.GetNamespace() != "ns" || r.GetName() != "web" {
		t.Errorf("request %v", r)
	}
	if r := (&deleteOptions{gracePeriod: 5}).request(tg, ""); r.GetGracePeriodSeconds() != 5 {
		t.Errorf("--grace-period 5: %v", r)
	}
	if r := (&deleteOptions{gracePeriod: 5, force: true}).request(tg, ""); r.GracePeriodSeconds == nil || r.GetGracePeriodSeconds() != 0 {
		t.Errorf("--force: %v", r)
	}
}
