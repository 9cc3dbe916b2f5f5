package e2e

// Volume mounts on real containers: a subPath never reaches past its volume, whatever
// symlinks a container planted (CVE-2017-1002101); configMap, secret and downwardAPI
// volumes are read-only to containers yet still updated by the agent; subPathExpr expands
// the container's env; and the agent's subPath staging mounts go away with the pod, even
// one deleted while the agent was down.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mountsUnderDir lists the mount points of this mount namespace (the agents' too) at or
// under dir.
func mountsUnderDir(t *testing.T, dir string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	real = filepath.Join(real, filepath.Base(dir))
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == real || strings.HasPrefix(f[4], real+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// waiting returns the waiting reason and message of a pod's container.
func (e *workerEnv) waiting(t *testing.T, pod, container string) (string, string) {
	t.Helper()
	css, _ := path(e.pod(t, pod), "status", "containerStatuses").([]any)
	for _, cs := range css {
		if path(cs, "name") == container {
			r, _ := path(cs, "state", "waiting", "reason").(string)
			m, _ := path(cs, "state", "waiting", "message").(string)
			return r, m
		}
	}
	return "", ""
}

func (e *workerEnv) podDir(t *testing.T, pod string) string {
	t.Helper()
	uid, _ := path(e.pod(t, pod), "metadata", "uid").(string)
	if uid == "" {
		t.Fatalf("pod %s has no uid", pod)
	}
	return filepath.Join(e.nodeOf(t, pod).DataDir, "pods", uid)
}

func TestVolumeMounts(t *testing.T) {
	e := startWorkers(t, 1)
	node := e.c.Nodes[0]

	// A file in the host's root a container could only see by escaping its volume.
	marker := fmt.Sprintf("orch-test-marker-%d", rand.Uint32())
	if err := os.WriteFile(filepath.Join("/", marker), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/", marker)) })

	t.Run("subPath through a planted symlink is refused; inside the volume it works", func(t *testing.T) {
		escaper := `
  - name: NAME
    image: IMAGE
    command: ["sh", "-c", "ls /m; test -e /m/MARKER && echo ESCAPED; sleep 3600"]
    volumeMounts:
    - {name: vol, mountPath: /m, subPath: "SUB"}`
		var escapers string
		for name, sub := range map[string]string{"abs": "to-root", "rel": "up", "deep": "abs-dot/etc"} {
			escapers += strings.NewReplacer("NAME", name, "SUB", sub, "MARKER", marker).Replace(escaper)
		}
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: escape
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: vol, emptyDir: {}}
  initContainers:
  - name: plant
    image: IMAGE
    command: ["sh", "-c", "ln -s / /vol/to-root && ln -s ../../../../../../../../../.. /vol/up && ln -s /. /vol/abs-dot && mkdir /vol/inside && echo hello > /vol/inside/hello && ln -s inside /vol/link && echo conf > /vol/conf.txt"]
    volumeMounts:
    - {name: vol, mountPath: /vol}
  containers:`+escapers+`
  - name: ok
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: vol, mountPath: /m, subPath: link}
    - {name: vol, mountPath: /etc/app.conf, subPath: conf.txt}
    - {name: vol, mountPath: /made, subPath: made/by/agent}
`)
		for _, c := range []string{"abs", "rel", "deep"} {
			deadline := time.Now().Add(60 * time.Second)
			for {
				r, m := e.waiting(t, "escape", c)
				if r == "CreateContainerConfigError" && strings.Contains(m, "outside the volume") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("container %s is not refused: waiting %q %q; log:\n%s", c, r, m, e.logFile(t, "escape", c))
				}
				time.Sleep(250 * time.Millisecond)
			}
			r, m := e.waiting(t, "escape", c)
			t.Logf("%s: %s: %s", c, r, m)
			if !strings.Contains(m, `failed to prepare subPath for volumeMount "vol" of container "`+c+`"`) {
				t.Errorf("%s: message %q does not name the mount", c, m)
			}
			if log := e.logFile(t, "escape", c); strings.Contains(log, "ESCAPED") || strings.Contains(log, marker) {
				t.Fatalf("container %s saw the host's root:\n%s", c, log)
			}
		}
		e.waitFor(t, 30*time.Second, "ok to run", func() bool {
			css, _ := path(e.pod(t, "escape"), "status", "containerStatuses").([]any)
			for _, cs := range css {
				if path(cs, "name") == "ok" {
					return path(cs, "state", "running") != nil
				}
			}
			return false
		})
		if out := orchctl(t, e.c, e.m, "exec", "escape", "-c", "ok", "--", "cat", "/m/hello", "/etc/app.conf"); out != "hello\nconf\n" {
			t.Errorf("subPath through an in-volume symlink and a file subPath show %q", out)
		}
		orchctl(t, e.c, e.m, "exec", "escape", "-c", "ok", "--", "touch", "/made/x")
		dir := e.podDir(t, "escape")
		if _, err := os.Stat(filepath.Join(dir, "volumes", "vol", "made", "by", "agent", "x")); err != nil {
			t.Errorf("the missing subPath was not created inside the volume: %v", err)
		}
		staging := mountsUnderDir(t, filepath.Join(dir, "volume-subpaths"))
		if len(staging) != 3 {
			t.Errorf("staging mounts %v, want 3 (those of ok)", staging)
		}
		for _, p := range staging {
			if !strings.Contains(p, "/volume-subpaths/ok/") {
				t.Errorf("staging mount %s is not ok's", p)
			}
		}
	})

	t.Run("configMap, secret and downwardAPI are read-only; emptyDir honours readOnly", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: ro-config
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: ro-secret
stringData:
  password: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: readonly
  labels: {app: ro}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: cfg, configMap: {name: ro-config}}
  - {name: sec, secret: {secretName: ro-secret}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
  - {name: scratch, emptyDir: {}}
  containers:
  - name: c
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: cfg, mountPath: /greeting, subPath: greeting}
    - {name: sec, mountPath: /sec, readOnly: false}
    - {name: info, mountPath: /info}
    - {name: scratch, mountPath: /scratch}
    - {name: scratch, mountPath: /scratch-ro, readOnly: true}
`)
		e.waitFor(t, 60*time.Second, "readonly Running", func() bool { return e.phase(t, "readonly") == "Running" })
		for _, p := range []string{"/cfg/new", "/cfg/greeting", "/greeting", "/sec/new", "/info/new", "/scratch-ro/new"} {
			out, errOut, err := e.c.Orchctl(e.m, "", "exec", "readonly", "--", "touch", p)
			if err == nil || !strings.Contains(out+errOut, "Read-only file system") {
				t.Errorf("touch %s: err %v, output %q; want Read-only file system", p, err, out+errOut)
			}
		}
		orchctl(t, e.c, e.m, "exec", "readonly", "--", "touch", "/scratch/new")
		if _, err := os.Stat(filepath.Join(e.podDir(t, "readonly"), "volumes", "scratch", "new")); err != nil {
			t.Errorf("a write to the read-write emptyDir mount did not reach the volume: %v", err)
		}
		// The agent still replaces the contents behind the read-only mount.
		e.apply(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: ro-config
data:
  greeting: bonjour
`)
		e.waitFor(t, 30*time.Second, "the configMap update behind the read-only mount", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "exec", "readonly", "--", "cat", "/cfg/greeting")
			return out == "bonjour"
		})
	})

	t.Run("subPathExpr expands the downward API env", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: expr
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: logs, emptyDir: {}}
  containers:
  - name: writer
    image: IMAGE
    command: ["sh", "-c", "echo from-$POD_NAME > /logs/hello; sleep 3600"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    volumeMounts:
    - {name: logs, mountPath: /logs, subPathExpr: "pods/$(POD_NAME)"}
  - name: reader
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: logs, mountPath: /all}
`)
		e.waitFor(t, 60*time.Second, "expr Running", func() bool { return e.phase(t, "expr") == "Running" })
		e.waitFor(t, 20*time.Second, "writer's file under pods/expr", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "exec", "expr", "-c", "reader", "--", "cat", "/all/pods/expr/hello")
			return out == "from-expr\n"
		})
	})

	t.Run("the API refuses subPaths that leave the volume", func(t *testing.T) {
		for _, tc := range []struct{ field, value, want string }{
			{"subPath", "../etc", `spec.containers[0].volumeMounts[0].subPath: Invalid value: "../etc": must not contain '..'`},
			{"subPath", "/etc", `spec.containers[0].volumeMounts[0].subPath: Invalid value: "/etc": must be a relative path`},
			{"subPathExpr", "$(X)/../..", `spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "$(X)/../..": must not contain '..'`},
		} {
			manifest := strings.NewReplacer("IMAGE", e.image, "FIELD", tc.field, "VALUE", tc.value).Replace(`
apiVersion: v1
kind: Pod
metadata:
  name: bad-subpath
spec:
  volumes:
  - {name: vol, emptyDir: {}}
  containers:
  - name: c
    image: IMAGE
    volumeMounts:
    - {name: vol, mountPath: /m, FIELD: "VALUE"}
`)
			if errOut := orchctlFails(t, e.c, e.m, manifest, "apply", "-f", "-"); !strings.Contains(errOut, tc.want) {
				t.Errorf("%s %q: %s\nwant it to contain %s", tc.field, tc.value, errOut, tc.want)
			}
		}
	})

	t.Run("deleting pods removes their staging mounts, also across an agent restart", func(t *testing.T) {
		dirs := map[string]string{}
		for _, p := range []string{"escape", "readonly", "expr"} {
			dirs[p] = e.podDir(t, p)
		}
		if len(mountsUnderDir(t, filepath.Join(dirs["readonly"], "volume-subpaths"))) != 1 {
			t.Fatalf("readonly should have one staging mount: %v", mountsUnderDir(t, dirs["readonly"]))
		}
		orchctl(t, e.c, e.m, "delete", "pod", "readonly", "expr")

		// escape is deleted while its agent is down: the new agent knows of its mounts
		// only from the disk and mountinfo.
		e.c.KillNode(node)
		if out, errOut, err := e.c.Orchctl(e.m, "", "delete", "pod", "escape", "--wait=false"); err != nil {
			t.Fatalf("delete escape: %v %s %s", err, out, errOut)
		}
		if err := e.c.StartNode(node); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, 90*time.Second, "the pods to be gone", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "get", "pods", "-o", "name")
			return !strings.Contains(out, "pod/")
		})
		for p, dir := range dirs {
			e.waitFor(t, 30*time.Second, p+"'s pod directory removed", func() bool {
				_, err := os.Stat(dir)
				return os.IsNotExist(err)
			})
			if left := mountsUnderDir(t, dir); len(left) > 0 {
				t.Errorf("%s: mounts left behind: %v", p, left)
			}
		}
	})
}
