package e2e

// Worker agents on real containers: 3 masters and 2 agents as real processes, each
// agent in its own network namespace ("host") on a test bridge, images from Debian's
// docker-registry, driven with orchctl as a user would.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchd/orch/e2e/harness"
	"github.com/orchd/orch/node/images/imagetest"
)

type workerEnv struct {
	c     *harness.Cluster
	image string
	m     *harness.Master
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: worker agents create network namespaces, cgroups and containers")
	}
	for _, bin := range []string{"/usr/lib/cni/bridge", "/usr/bin/docker-registry"} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("needs %s (apt-get install containernetworking-plugins docker-registry; make deps does it)", bin)
		}
	}
}

func startWorkers(t *testing.T, nodes int) *workerEnv {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	bin, err := harness.Binaries(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	network, err := harness.NewNetwork(100 + rand.IntN(100))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(network.Close)
	regAddr, err := harness.FreeAddrOn(network.HostIP)
	if err != nil {
		t.Fatal(err)
	}
	regDir := filepath.Join(dir, "registry")
	os.MkdirAll(regDir, 0o755)
	reg, err := harness.StartRegistry(regDir, regAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	img, err := imagetest.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	ref := regAddr + "/orch/busybox:latest"
	if _, err := imagetest.PushImage(ref, img); err != nil {
		t.Fatal(err)
	}
	c, err := harness.StartMastersOn(dir, bin, 3, network.HostIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Log(c.NodeLogTail(n, 60))
			}
			for _, m := range c.Masters {
				t.Log(c.LogTail(m, 20))
			}
		}
		c.Close()
	})
	for i := range nodes {
		h, err := network.AddHost(fmt.Sprintf("w%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		n := c.AddNode(h, h.Name, "--insecure-registry", regAddr, "--cpu", "2", "--memory", "2Gi")
		if err := c.StartNode(n); err != nil {
			t.Fatal(err)
		}
	}
	e := &workerEnv{c: c, image: ref, m: c.Masters[0]}
	e.waitFor(t, 60*time.Second, "nodes Ready", func() bool {
		out, _, err := c.Orchctl(e.m, "", "get", "nodes", "--no-headers")
		return err == nil && strings.Count(out, " Ready ") == nodes
	})
	return e
}

func (e *workerEnv) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// apply applies a manifest given as text, with IMAGE replaced by the test image.
func (e *workerEnv) apply(t *testing.T, manifest string) {
	t.Helper()
	manifest = strings.ReplaceAll(manifest, "IMAGE", e.image)
	out, errOut, err := e.c.Orchctl(e.m, manifest, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
}

// pod returns the pod's JSON form, decoded.
func (e *workerEnv) pod(t *testing.T, name string) map[string]any {
	t.Helper()
	out, errOut, err := e.c.Orchctl(e.m, "", "get", "pod", name, "-o", "json")
	if err != nil {
		t.Fatalf("get pod %s: %v %s", name, err, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func path(m any, keys ...any) any {
	for _, k := range keys {
		switch x := m.(type) {
		case map[string]any:
			m = x[k.(string)]
		case []any:
			i := k.(int)
			if i >= len(x) {
				return nil
			}
			m = x[i]
		default:
			return nil
		}
	}
	return m
}

func (e *workerEnv) phase(t *testing.T, name string) string {
	s, _ := path(e.pod(t, name), "status", "phase").(string)
	return s
}

func (e *workerEnv) getPods(t *testing.T) string {
	out, _, _ := e.c.Orchctl(e.m, "", "get", "pods", "-o", "wide")
	return out
}

// nodeOf returns the harness node a pod runs on.
func (e *workerEnv) nodeOf(t *testing.T, name string) *harness.Node {
	t.Helper()
	nn, _ := path(e.pod(t, name), "spec", "nodeName").(string)
	for _, n := range e.c.Nodes {
		if n.Name == nn {
			return n
		}
	}
	t.Fatalf("pod %s is on unknown node %q", name, nn)
	return nil
}

// containerFile reads a file a pod's container wrote into an emptyDir volume.
func (e *workerEnv) volumeFile(t *testing.T, pod, volume, file string) string {
	uid, _ := path(e.pod(t, pod), "metadata", "uid").(string)
	n := e.nodeOf(t, pod)
	b, _ := os.ReadFile(filepath.Join(n.DataDir, "pods", uid, "volumes", volume, file))
	return string(b)
}

// logFile reads a container's current log from its node's data dir.
func (e *workerEnv) logFile(t *testing.T, pod, container string) string {
	uid, _ := path(e.pod(t, pod), "metadata", "uid").(string)
	n := e.nodeOf(t, pod)
	matches, _ := filepath.Glob(filepath.Join(n.DataDir, "pods", uid, "logs", container, "*.log"))
	var out strings.Builder
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		out.Write(b)
	}
	return out.String()
}

func TestWorkerPodLifecycle(t *testing.T) {
	e := startWorkers(t, 2)
	ctx := context.Background()
	_ = ctx

	t.Run("pod runs and writes its output", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "echo hello from $(hostname); sleep 3600"]
`)
		e.waitFor(t, 60*time.Second, "hello Running", func() bool { return e.phase(t, "hello") == "Running" })
		e.waitFor(t, 10*time.Second, "hello's output", func() bool { return strings.Contains(e.logFile(t, "hello", "main"), "hello from hello") })
		if out := e.getPods(t); !strings.Contains(out, "hello") || !strings.Contains(out, "Running") || !strings.Contains(out, "1/1") {
			t.Errorf("get pods:\n%s", out)
		}
		ip, _ := path(e.pod(t, "hello"), "status", "podIP").(string)
		if !strings.HasPrefix(ip, "10.244.") {
			t.Errorf("podIP %q not from the cluster CIDR", ip)
		}
	})

	t.Run("liveness exec restarts the container", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: liveness-exec
spec:
  containers:
  - name: liveness
    image: IMAGE
    args: ["/bin/sh", "-c", "touch /tmp/healthy; sleep 3; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
  terminationGracePeriodSeconds: 1
`)
		e.waitFor(t, 90*time.Second, "restartCount to rise", func() bool {
			n, _ := path(e.pod(t, "liveness-exec"), "status", "containerStatuses", 0, "restartCount").(float64)
			return n >= 1
		})
	})

	t.Run("over the memory limit is OOMKilled", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: IMAGE
    command: ["tail", "/dev/zero"]
    resources:
      limits:
        memory: 32Mi
`)
		e.waitFor(t, 60*time.Second, "oom to fail", func() bool { return e.phase(t, "oom") == "Failed" })
		st := e.pod(t, "oom")
		if r := path(st, "status", "containerStatuses", 0, "state", "terminated", "reason"); r != "OOMKilled" {
			t.Errorf("terminated reason %v, want OOMKilled", r)
		}
	})

	t.Run("a missing image is ErrImagePull then ImagePullBackOff", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: no-image
spec:
  containers:
  - name: c
    image: IMAGE-does-not-exist
`)
		seen := map[string]bool{}
		e.waitFor(t, 60*time.Second, "ErrImagePull and ImagePullBackOff", func() bool {
			r, _ := path(e.pod(t, "no-image"), "status", "containerStatuses", 0, "state", "waiting", "reason").(string)
			seen[r] = true
			return seen["ErrImagePull"] || seen["ImagePullBackOff"]
		})
		msg, _ := path(e.pod(t, "no-image"), "status", "containerStatuses", 0, "state", "waiting", "message").(string)
		if !strings.Contains(msg, "does-not-exist") {
			t.Errorf("waiting message %q does not say which image", msg)
		}
		if e.phase(t, "hello") != "Running" {
			t.Error("a bad image broke another pod")
		}
	})

	t.Run("delete stops and removes the pod", func(t *testing.T) {
		out, errOut, err := e.c.Orchctl(e.m, "", "delete", "pod", "hello", "--grace-period", "2", "--timeout", "60s")
		if err != nil {
			t.Fatalf("delete: %v %s %s", err, out, errOut)
		}
		if out, _, _ := e.c.Orchctl(e.m, "", "get", "pods", "-o", "name"); strings.Contains(out, "pod/hello\n") {
			t.Errorf("hello still listed:\n%s", out)
		}
	})
}
