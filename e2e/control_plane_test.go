package e2e

// A 3-master cluster of real orchd processes driven with orchctl: manifests apply
// unchanged, bad input is refused with the field named and nothing written, and the
// cluster keeps serving reads and writes after its leader is killed with SIGKILL.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchd/orch/e2e/harness"
)

func startMasters(t *testing.T, n int) *harness.Cluster {
	t.Helper()
	dir := t.TempDir()
	bin, err := harness.Binaries(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := harness.StartMasters(dir, bin, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range c.Masters {
				t.Log(c.LogTail(m, 40))
			}
		}
		start := time.Now()
		c.Close()
		t.Logf("masters stopped in %v", time.Since(start).Round(time.Millisecond))
	})
	return c
}

// orchctl runs orchctl against m and fails the test on error.
func orchctl(t *testing.T, c *harness.Cluster, m *harness.Master, args ...string) string {
	t.Helper()
	out, errOut, err := c.Orchctl(m, "", args...)
	if err != nil {
		t.Fatalf("orchctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// orchctlFails runs orchctl expecting an error and returns its stderr.
func orchctlFails(t *testing.T, c *harness.Cluster, m *harness.Master, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := c.Orchctl(m, stdin, args...)
	if err == nil {
		t.Fatalf("orchctl %s succeeded, want an error\nstdout: %s", strings.Join(args, " "), out)
	}
	return errOut
}

func TestControlPlaneSurvivesLeaderKill(t *testing.T) {
	c := startMasters(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	m0 := c.Masters[0]
	out := orchctl(t, c, m0, "apply", "-f", "testdata/app.yaml")
	for _, want := range []string{"namespace/shop created", "configmap/settings created", "web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// Applying the same manifest again changes nothing.
	if out := orchctl(t, c, m0, "apply", "-f", "testdata/app.yaml"); !strings.Contains(out, "unchanged") {
		t.Errorf("second apply: %s", out)
	}
	if out := orchctl(t, c, m0, "get", "ns"); !strings.Contains(out, "shop") || !strings.Contains(out, "orch-system") {
		t.Errorf("get ns:\n%s", out)
	}

	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing leader %s with SIGKILL", leader.Name)
	c.Kill(leader)

	var survivor *harness.Master
	for _, m := range c.Masters {
		if m != leader {
			survivor = m
			break
		}
	}
	// Reads are served by the survivors once a new leader is elected.
	killed := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := c.Orchctl(survivor, "", "get", "deploy", "-n", "shop", "-o", "yaml")
		if err == nil && strings.Contains(out, "replicas: 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment not served after leader kill: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("survivor %s served the deployment %v after the kill", survivor.Name, time.Since(killed).Round(time.Millisecond))
	// Writes continue.
	orchctl(t, c, survivor, "create", "configmap", "after-failover", "-n", "shop", "--from-literal", "k=v")
	if out := orchctl(t, c, survivor, "get", "cm", "-n", "shop"); !strings.Contains(out, "after-failover") || !strings.Contains(out, "settings") {
		t.Errorf("get cm after failover:\n%s", out)
	}

	// The killed master restarts from its data dir and serves the writes it missed.
	if err := c.Start(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted and ready %v after the kill", leader.Name, time.Since(killed).Round(time.Millisecond))
	if out := orchctl(t, c, leader, "get", "cm", "after-failover", "-n", "shop", "-o", "json"); !strings.Contains(out, `"k": "v"`) {
		t.Errorf("restarted master serves:\n%s", out)
	}
	if out := orchctl(t, c, leader, "cluster", "members"); strings.Count(out, "alive") != 3 {
		t.Errorf("cluster members after restart:\n%s", out)
	}

	// A backup of the whole state.
	snap := filepath.Join(t.TempDir(), "backup.snap")
	orchctl(t, c, survivor, "cluster", "snapshot", "save", snap)
	if st, err := os.Stat(snap); err != nil || st.Size() == 0 {
		t.Errorf("snapshot file: %v", err)
	}
}

func TestControlPlaneRefusesBadInput(t *testing.T) {
	c := startMasters(t, 1)
	m := c.Masters[0]
	cases := []struct {
		name, manifest, want string
	}{
		{"malformed yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n", "yaml"},
		{"unknown kind", "apiVersion: v1\nkind: Gizmo\nmetadata:\n  name: g\n", "Gizmo"},
		{"invalid name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n", "metadata.name"},
		{"missing image", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n", "spec.containers[0].image"},
		{"bad quantity", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      limits:\n        memory: 12XB\n", "resources.limits[memory]"},
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndatta:\n  a: b\n", "datta"},
	}
	for _, tc := range cases {
		errOut := orchctlFails(t, c, m, tc.manifest, "apply", "-f", "-")
		if !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: error does not name %q:\n%s", tc.name, tc.want, errOut)
		}
	}
	if out, _, _ := c.Orchctl(m, "", "get", "pods,cm", "-A", "-o", "name"); strings.Contains(out, "/p") || strings.Contains(out, "/c\n") {
		t.Errorf("bad input was written:\n%s", out)
	}
}
