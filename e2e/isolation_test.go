package e2e

// Isolation on real containers: the securityContext settings as Kubernetes documents
// them, read back from inside the containers (id, /proc/1/status, what seccomp blocks),
// runAsNonRoot refusals in the pod's status, Localhost seccomp profiles from the node's
// seccomp root, and what the Node says it enforces. One worker, few pods: cluster start
// is the slow part.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/orchd/orch/node/images/imagetest"
)

// execIn runs a command in a pod's container and returns its output and exit code.
func (e *workerEnv) execIn(t *testing.T, pod, container string, args ...string) (string, int) {
	t.Helper()
	out, errOut, err := e.c.Orchctl(e.m, "", append([]string{"exec", pod, "-c", container, "--"}, args...)...)
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("exec %s/%s %v: %v %s", pod, container, args, err, errOut)
		}
		return out + errOut, ee.ExitCode()
	}
	return out, 0
}

// procStatus reads one field of the container's init's /proc/1/status.
func (e *workerEnv) procStatus(t *testing.T, pod, container, key string) string {
	t.Helper()
	out, _ := e.execIn(t, pod, container, "grep", key+":", "/proc/1/status")
	_, v, _ := strings.Cut(strings.TrimSpace(out), ":")
	return strings.TrimSpace(v)
}

func (e *workerEnv) containerRunning(t *testing.T, pod string, n int) bool {
	p := e.pod(t, pod)
	for i := range n {
		if path(p, "status", "containerStatuses", i, "state", "running") == nil {
			return false
		}
	}
	return true
}

func TestIsolation(t *testing.T) {
	e := startWorkers(t, 1)
	node := e.c.Nodes[0]

	// An image whose USER is a name (nobody, 65534 in its /etc/passwd).
	registry, _, _ := strings.Cut(e.image, "/")
	entries, err := imagetest.BusyboxEntries()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := imagetest.Layer(entries...)
	if err != nil {
		t.Fatal(err)
	}
	named, err := imagetest.Image(v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, User: "nobody"}, layer)
	if err != nil {
		t.Fatal(err)
	}
	namedRef := imagetest.Push(t, registry, "orch/busybox-nobody:latest", named)

	// A Localhost profile under the node's seccomp root (DATA_DIR/seccomp).
	profileDir := filepath.Join(node.DataDir, "seccomp", "profiles")
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(profileDir, "deny-mkdir.json"),
		[]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	// The Kubernetes docs' security-context-demo, with supplementalGroups.
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: security-context-demo
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
  volumes:
  - name: sec-ctx-vol
    emptyDir: {}
  containers:
  - name: sec-ctx-demo
    image: IMAGE
    command: ["sh", "-c", "sleep 1h"]
    volumeMounts:
    - name: sec-ctx-vol
      mountPath: /data/demo
    securityContext:
      allowPrivilegeEscalation: false
  terminationGracePeriodSeconds: 1
`)
	// One container per setting, root unless said otherwise.
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: confinement
spec:
  securityContext:
    sysctls:
    - name: net.ipv4.ping_group_range
      value: "0 2147483647"
  containers:
  - name: plain
    image: IMAGE
    command: ["sleep", "3600"]
  - name: drop-all
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      capabilities:
        drop: ["ALL"]
  - name: add-caps
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      capabilities:
        drop: ["all"]
        add: ["net_bind_service", "CAP_KILL"]
  - name: unconfined
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      seccompProfile:
        type: Unconfined
  - name: localhost
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      seccompProfile:
        type: Localhost
        localhostProfile: profiles/deny-mkdir.json
  - name: privileged
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      privileged: true
  - name: readonly
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      readOnlyRootFilesystem: true
  terminationGracePeriodSeconds: 1
`)
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: runasnonroot
spec:
  securityContext:
    runAsNonRoot: true
  containers:
  - name: root-image
    image: IMAGE
    command: ["sleep", "3600"]
  - name: as-user
    image: IMAGE
    command: ["sleep", "3600"]
    securityContext:
      runAsUser: 1000
  - name: named-user
    image: `+namedRef+`
    command: ["sleep", "3600"]
  terminationGracePeriodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: named-user
spec:
  containers:
  - name: main
    image: `+namedRef+`
    command: ["sleep", "3600"]
  terminationGracePeriodSeconds: 1
`)
	e.waitFor(t, 90*time.Second, "security-context-demo, confinement and named-user running", func() bool {
		return e.containerRunning(t, "security-context-demo", 1) && e.containerRunning(t, "confinement", 7) && e.containerRunning(t, "named-user", 1)
	})

	t.Run("security-context-demo: user, groups, no_new_privs, RuntimeDefault", func(t *testing.T) {
		out, _ := e.execIn(t, "security-context-demo", "sec-ctx-demo", "id")
		if strings.TrimSpace(out) != "uid=1000 gid=3000 groups=2000,3000,4000" {
			t.Errorf("id = %q, want uid=1000 gid=3000 groups=2000,3000,4000", out)
		}
		if v := e.procStatus(t, "security-context-demo", "sec-ctx-demo", "NoNewPrivs"); v != "1" {
			t.Errorf("NoNewPrivs = %q with allowPrivilegeEscalation: false", v)
		}
		if v := e.procStatus(t, "security-context-demo", "sec-ctx-demo", "Seccomp"); v != "2" {
			t.Errorf("Seccomp = %q, want 2 (filter) by default", v)
		}
		if out, code := e.execIn(t, "security-context-demo", "sec-ctx-demo", "sh", "-c", "touch /tmp/x && ls -ln /tmp/x"); code != 0 || !strings.Contains(out, " 1000 ") {
			t.Errorf("files of the process: %q (exit %d)", out, code)
		}
		// As the docs show: the volume belongs to fsGroup 2000, and a file the process
		// creates in it gets group 2000 (setgid directory), not its own 3000.
		out, code := e.execIn(t, "security-context-demo", "sec-ctx-demo", "sh", "-c", "ls -lnd /data/demo; echo hello > /data/demo/testfile && ls -ln /data/demo/testfile")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 {
			t.Fatalf("fsGroup volume: %q (exit %d)", out, code)
		}
		if f := strings.Fields(lines[0]); len(f) < 4 || f[3] != "2000" || !strings.HasPrefix(f[0], "drwxrws") {
			t.Errorf("volume directory %q: want group 2000, group rwx and setgid", lines[0])
		}
		if f := strings.Fields(lines[1]); len(f) < 4 || f[2] != "1000" || f[3] != "2000" {
			t.Errorf("new file %q: want owner 1000, group 2000", lines[1])
		}
	})

	t.Run("capabilities", func(t *testing.T) {
		if v := e.procStatus(t, "confinement", "plain", "CapEff"); v != "00000000a80425fb" {
			t.Errorf("plain CapEff = %q, want containerd's default set", v)
		}
		for _, k := range []string{"CapEff", "CapBnd", "CapPrm"} {
			if v := e.procStatus(t, "confinement", "drop-all", k); v != "0000000000000000" {
				t.Errorf("drop ALL: %s = %q", k, v)
			}
		}
		if v := e.procStatus(t, "confinement", "add-caps", "CapEff"); v != "0000000000000420" {
			t.Errorf("drop all, add net_bind_service and CAP_KILL: CapEff = %q, want 0000000000000420", v)
		}
	})

	t.Run("no_new_privs only when asked", func(t *testing.T) {
		if v := e.procStatus(t, "confinement", "plain", "NoNewPrivs"); v != "0" {
			t.Errorf("NoNewPrivs = %q without allowPrivilegeEscalation", v)
		}
	})

	t.Run("seccomp", func(t *testing.T) {
		if v := e.procStatus(t, "confinement", "plain", "Seccomp"); v != "2" {
			t.Errorf("default Seccomp = %q, want 2", v)
		}
		if out, code := e.execIn(t, "confinement", "plain", "busybox", "unshare", "-U", "true"); code == 0 {
			t.Errorf("unshare -U succeeded under RuntimeDefault: %q", out)
		}
		if v := e.procStatus(t, "confinement", "unconfined", "Seccomp"); v != "0" {
			t.Errorf("Unconfined: Seccomp = %q", v)
		}
		if v := e.procStatus(t, "confinement", "localhost", "Seccomp"); v != "2" {
			t.Errorf("Localhost: Seccomp = %q", v)
		}
		if out, code := e.execIn(t, "confinement", "localhost", "mkdir", "/tmp/d"); code == 0 {
			t.Errorf("mkdir succeeded under a profile that denies it: %q", out)
		}
		if out, code := e.execIn(t, "confinement", "plain", "mkdir", "/tmp/d"); code != 0 {
			t.Errorf("mkdir under RuntimeDefault: %q (exit %d)", out, code)
		}
	})

	t.Run("privileged", func(t *testing.T) {
		if v := e.procStatus(t, "confinement", "privileged", "Seccomp"); v != "0" {
			t.Errorf("privileged: Seccomp = %q", v)
		}
		if v := e.procStatus(t, "confinement", "privileged", "CapEff"); v == "00000000a80425fb" || len(strings.TrimLeft(v, "0")) < 10 {
			t.Errorf("privileged: CapEff = %q, want (nearly) every capability", v)
		}
		if out, code := e.execIn(t, "confinement", "privileged", "busybox", "unshare", "-U", "true"); code != 0 {
			t.Errorf("privileged: unshare -U failed: %q", out)
		}
	})

	t.Run("readOnlyRootFilesystem and sysctls", func(t *testing.T) {
		if out, code := e.execIn(t, "confinement", "readonly", "touch", "/x"); code == 0 {
			t.Errorf("wrote to a read-only root: %q", out)
		}
		out, _ := e.execIn(t, "confinement", "plain", "cat", "/proc/sys/net/ipv4/ping_group_range")
		if f := strings.Fields(out); len(f) != 2 || f[0] != "0" || f[1] != "2147483647" {
			t.Errorf("ping_group_range = %q", out)
		}
	})

	t.Run("image USER by name", func(t *testing.T) {
		if out, _ := e.execIn(t, "named-user", "main", "id"); !strings.HasPrefix(out, "uid=65534(nobody) gid=65534(nobody)") {
			t.Errorf("id = %q, want nobody from the image's /etc/passwd", out)
		}
	})

	t.Run("runAsNonRoot", func(t *testing.T) {
		uid, _ := path(e.pod(t, "runasnonroot"), "metadata", "uid").(string)
		want := map[string]string{
			"root-image": `container has runAsNonRoot and image will run as root (pod: "runasnonroot_default(` + uid + `)", container: root-image)`,
			"named-user": `container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "runasnonroot_default(` + uid + `)", container: named-user)`,
		}
		e.waitFor(t, 60*time.Second, "runAsNonRoot refusals in the status", func() bool {
			p := e.pod(t, "runasnonroot")
			refused := 0
			for i := range 3 {
				name, _ := path(p, "status", "containerStatuses", i, "name").(string)
				if w, ok := want[name]; ok &&
					path(p, "status", "containerStatuses", i, "state", "waiting", "reason") == "CreateContainerConfigError" &&
					path(p, "status", "containerStatuses", i, "state", "waiting", "message") == w {
					refused++
				}
			}
			return refused == len(want)
		})
		e.waitFor(t, 30*time.Second, "as-user running", func() bool {
			p := e.pod(t, "runasnonroot")
			for i := range 3 {
				if path(p, "status", "containerStatuses", i, "name") == "as-user" {
					return path(p, "status", "containerStatuses", i, "state", "running") != nil
				}
			}
			return false
		})
		if out, _ := e.execIn(t, "runasnonroot", "as-user", "id", "-u"); strings.TrimSpace(out) != "1000" {
			t.Errorf("as-user: id -u = %q", out)
		}
		if out := e.getPods(t); !strings.Contains(out, "CreateContainerConfigError") {
			t.Errorf("get pods does not show CreateContainerConfigError:\n%s", out)
		}
	})

	t.Run("refused at admission", func(t *testing.T) {
		for _, c := range []struct{ sc, want string }{
			{"securityContext: {procMount: Unmasked}", `spec.containers[0].securityContext.procMount: Unsupported value: "Unmasked"`},
			{"securityContext: {privileged: true, allowPrivilegeEscalation: false}", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
			{"securityContext: {seLinuxOptions: {level: \"s0:c1\"}}", "spec.containers[0].securityContext.seLinuxOptions: Forbidden"},
		} {
			manifest := strings.ReplaceAll(`
apiVersion: v1
kind: Pod
metadata:
  name: refused
spec:
  containers:
  - name: main
    image: IMAGE
    SC
`, "IMAGE", e.image)
			errOut := orchctlFails(t, e.c, e.m, strings.ReplaceAll(manifest, "SC", c.sc), "apply", "-f", "-")
			if !strings.Contains(errOut, c.want) {
				t.Errorf("%s: %q, want %q", c.sc, errOut, c.want)
			}
		}
		errOut := orchctlFails(t, e.c, e.m, strings.ReplaceAll(`
apiVersion: v1
kind: Pod
metadata:
  name: refused
  annotations:
    container.apparmor.security.beta.kubernetes.io/main: runtime/default
spec:
  containers:
  - name: main
    image: IMAGE
`, "IMAGE", e.image), "apply", "-f", "-")
		if !strings.Contains(errOut, "AppArmor is not supported") {
			t.Errorf("AppArmor: %q", errOut)
		}
	})

	t.Run("the Node says what it enforces", func(t *testing.T) {
		var n map[string]any
		if err := json.Unmarshal([]byte(orchctl(t, e.c, e.m, "get", "nodes", node.Name, "-o", "json")), &n); err != nil {
			t.Fatal(err)
		}
		v, _ := path(n, "metadata", "annotations", "orch.dev/security").(string)
		if !strings.HasPrefix(v, "seccomp=enforced,seccomp-default=RuntimeDefault,apparmor=none") {
			t.Errorf("orch.dev/security = %q", v)
		}
	})
}
