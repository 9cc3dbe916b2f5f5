package e2e

// Worker agents on real containers: 3 masters and 2 agents as real processes, each
// agent in its own network namespace ("host") on a test bridge, images from Debian's
// docker-registry, driven with orchctl as a user would.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
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
	// net and regAddr let a test add workers later (addWorker).
	net     *harness.Network
	regAddr string
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
	return startWorkersWith(t, nodes)
}

// startWorkersWith starts 3 masters and the given number of workers, each agent with
// the extra flags after the defaults (a flag given twice takes the last value).
func startWorkersWith(t *testing.T, nodes int, extra ...string) *workerEnv {
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
	c, err := harness.StartMastersOn(dir, bin, 3, network.HostIP, "--node-heartbeat-interval", "1s", "--node-grace-period", "5s")
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
		n := c.AddNode(h, h.Name, append([]string{"--insecure-registry", regAddr, "--cpu", "2", "--memory", "2Gi", "--node-ip", h.IP,
			"--container-log-max-size", "1048576"}, extra...)...)
		if err := c.StartNode(n); err != nil {
			t.Fatal(err)
		}
	}
	e := &workerEnv{c: c, image: ref, m: c.Masters[0], net: network, regAddr: regAddr}
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
		if out := orchctl(t, e.c, e.m, "logs", "hello"); out != "hello from hello\n" {
			t.Errorf("orchctl logs hello = %q", out)
		}
		if out := orchctl(t, e.c, e.m, "logs", "hello", "--tail", "0"); out != "" {
			t.Errorf("orchctl logs --tail 0 = %q", out)
		}
		if out := orchctl(t, e.c, e.m, "exec", "hello", "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "hello" {
			t.Errorf("exec cat /etc/hostname = %q", out)
		}
		out, _, err := e.c.Orchctl(e.m, "ping", "exec", "-i", "hello", "--", "sh", "-c", "read x; echo got $x; exit 7")
		if strings.TrimSpace(out) != "got ping" {
			t.Errorf("exec -i: output %q", out)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
			t.Errorf("exec exit: %v, want exit code 7", err)
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
    args: ["/bin/sh", "-c", "echo started; touch /tmp/healthy; sleep 3; rm -f /tmp/healthy; sleep 600"]
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
		if out := orchctl(t, e.c, e.m, "logs", "liveness-exec", "--previous"); out != "started\n" {
			t.Errorf("logs --previous = %q", out)
		}
		out, _, _ := e.c.Orchctl(e.m, "", "describe", "pod", "liveness-exec")
		if !strings.Contains(out, "Unhealthy") || !strings.Contains(out, "Liveness probe failed") {
			t.Errorf("describe shows no probe failure event:\n%s", out)
		}
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

	t.Run("hostPort reaches the pod through its node's address", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: hostport
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: IMAGE
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
    - containerPort: 8080
      hostPort: 18080
`)
		e.waitFor(t, 60*time.Second, "hostport Running", func() bool { return e.phase(t, "hostport") == "Running" })
		hostIP, _ := path(e.pod(t, "hostport"), "status", "hostIP").(string)
		client := &http.Client{Timeout: 2 * time.Second}
		var body string
		e.waitFor(t, 20*time.Second, "http://"+hostIP+":18080/ to answer", func() bool {
			resp, err := client.Get("http://" + hostIP + ":18080/")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == 200
		})
		if !strings.Contains(body, "hello from orch") {
			t.Errorf("hostPort answered %q", body)
		}
	})

	t.Run("agents fail over when a master dies", func(t *testing.T) {
		dead := e.c.Masters[0]
		e.c.Kill(dead)
		e.m = e.c.Masters[1]
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: after-master-loss
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sleep", "3600"]
`)
		e.waitFor(t, 60*time.Second, "a pod created after a master died to run", func() bool { return e.phase(t, "after-master-loss") == "Running" })
		e.waitFor(t, 20*time.Second, "every node still Ready", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "get", "nodes", "--no-headers")
			return strings.Count(out, " Ready ") == len(e.c.Nodes)
		})
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

func TestWorkerVolumesProbesAndRestarts(t *testing.T) {
	e := startWorkers(t, 2)

	t.Run("two containers share an emptyDir and reach each other on localhost", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: data
    emptyDir: {}
  containers:
  - name: web
    image: IMAGE
    command: ["httpd", "-f", "-p", "8080", "-h", "/data"]
    volumeMounts:
    - name: data
      mountPath: /data
  - name: writer
    image: IMAGE
    command: ["sh", "-c", "echo shared-content > /work/index.html; sleep 3600"]
    volumeMounts:
    - name: data
      mountPath: /work
`)
		e.waitFor(t, 60*time.Second, "shared Running", func() bool { return e.phase(t, "shared") == "Running" })
		e.waitFor(t, 20*time.Second, "writer to fetch from web over localhost", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "exec", "shared", "-c", "writer", "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html")
			return strings.TrimSpace(out) == "shared-content"
		})
	})

	t.Run("configMap and secret as files and env; updates reach the files", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: hello
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: configured
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: cfg
    configMap:
      name: app-config
  - name: sec
    secret:
      secretName: app-secret
  containers:
  - name: app
    image: IMAGE
    command: ["sleep", "3600"]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: app-config, key: greeting}
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: app-secret, key: password}
    envFrom:
    - configMapRef: {name: app-config}
      prefix: CFG_
    volumeMounts:
    - {name: cfg, mountPath: /etc/app}
    - {name: sec, mountPath: /etc/secret, readOnly: true}
`)
		e.waitFor(t, 60*time.Second, "configured Running", func() bool { return e.phase(t, "configured") == "Running" })
		env := orchctl(t, e.c, e.m, "exec", "configured", "--", "env")
		for _, want := range []string{"GREETING=hello", "PASSWORD=s3cret", "CFG_mode=fast"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
		if out := orchctl(t, e.c, e.m, "exec", "configured", "--", "cat", "/etc/app/greeting", "/etc/secret/password"); out != "hellos3cret" {
			t.Errorf("mounted files: %q", out)
		}
		e.apply(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: bonjour
  mode: fast
`)
		e.waitFor(t, 30*time.Second, "the configMap update in the mounted file", func() bool {
			out, _, _ := e.c.Orchctl(e.m, "", "exec", "configured", "--", "cat", "/etc/app/greeting")
			return out == "bonjour"
		})
	})

	t.Run("httpGet liveness restarts, tcpSocket readiness gates Ready", func(t *testing.T) {
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: IMAGE
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /missing, port: 8080}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 2
`)
		e.waitFor(t, 60*time.Second, "probed Ready", func() bool {
			return path(e.pod(t, "probed"), "status", "containerStatuses", 0, "ready") == true
		})
		e.waitFor(t, 60*time.Second, "httpGet liveness to restart probed", func() bool {
			n, _ := path(e.pod(t, "probed"), "status", "containerStatuses", 0, "restartCount").(float64)
			return n >= 1
		})
		e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: never-ready
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sleep", "3600"]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
`)
		e.waitFor(t, 60*time.Second, "never-ready Running", func() bool { return e.phase(t, "never-ready") == "Running" })
		time.Sleep(3 * time.Second)
		if out := orchctl(t, e.c, e.m, "get", "pod", "never-ready"); !strings.Contains(out, "0/1") {
			t.Errorf("a pod failing tcpSocket readiness shows ready:\n%s", out)
		}
	})
}

func TestWorkerLogRotation(t *testing.T) {
	e := startWorkers(t, 1)
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: chatty
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last line; sleep 3600"]
`)
	e.waitFor(t, 60*time.Second, "chatty Running", func() bool { return e.phase(t, "chatty") == "Running" })
	uid, _ := path(e.pod(t, "chatty"), "metadata", "uid").(string)
	logPath := filepath.Join(e.c.Nodes[0].DataDir, "pods", uid, "logs", "c", "0.log")
	e.waitFor(t, 30*time.Second, "the 3 MB log to be rotated under 1 MiB", func() bool {
		st, err := os.Stat(logPath)
		_, rerr := os.Stat(logPath + ".1")
		return err == nil && rerr == nil && st.Size() < 1<<20
	})
	// orchctl logs reads the current file: what was rotated away is not sent again.
	if out := orchctl(t, e.c, e.m, "logs", "chatty"); len(out) >= 1<<20 {
		t.Errorf("logs after rotation sent %d bytes, want under 1 MiB", len(out))
	}
}

func TestWorkerStartupProbe(t *testing.T) {
	e := startWorkers(t, 1)
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: slow-start
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "sleep 4; touch /tmp/started; sleep 3600"]
    startupProbe:
      exec: {command: ["cat", "/tmp/started"]}
      periodSeconds: 1
      failureThreshold: 30
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
`)
	e.waitFor(t, 60*time.Second, "slow-start Running", func() bool { return e.phase(t, "slow-start") == "Running" })
	st := path(e.pod(t, "slow-start"), "status", "containerStatuses", 0)
	if path(st, "ready") == true || path(st, "started") == true {
		t.Errorf("ready or started before the startup probe passed: %v", st)
	}
	e.waitFor(t, 30*time.Second, "slow-start started and Ready", func() bool {
		st := path(e.pod(t, "slow-start"), "status", "containerStatuses", 0)
		return path(st, "ready") == true && path(st, "started") == true
	})
	if n, _ := path(e.pod(t, "slow-start"), "status", "containerStatuses", 0, "restartCount").(float64); n != 0 {
		t.Errorf("restartCount %v: the startup probe's failures must not restart within failureThreshold", n)
	}
}

func TestWorkerAgentRestart(t *testing.T) {
	e := startWorkers(t, 1)
	n := e.c.Nodes[0]
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: survivor
spec:
  terminationGracePeriodSeconds: 1
  # The agent stays down until the node is NotReady: without this its pods would be
  # evicted 4 s later (TestNodeFailureReplacesPods shows that).
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 120}
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "echo $RANDOM$RANDOM > /tmp/token; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: doomed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sleep", "3600"]
`)
	for _, p := range []string{"survivor", "doomed"} {
		e.waitFor(t, 60*time.Second, p+" Running", func() bool { return e.phase(t, p) == "Running" })
	}
	token := orchctl(t, e.c, e.m, "exec", "survivor", "--", "cat", "/tmp/token")
	pidBefore := containerPIDs(t, n)
	uidDoomed, _ := path(e.pod(t, "doomed"), "metadata", "uid").(string)

	e.c.KillNode(n)
	// Deleted while the agent is down: the pod waits for its node.
	if out, errOut, err := e.c.Orchctl(e.m, "", "delete", "pod", "doomed", "--wait=false"); err != nil {
		t.Fatalf("delete doomed: %v %s %s", err, out, errOut)
	}
	e.waitFor(t, 30*time.Second, "the node to turn NotReady", func() bool {
		out, _, _ := e.c.Orchctl(e.m, "", "get", "nodes", "--no-headers")
		return strings.Contains(out, "NotReady")
	})
	if err := e.c.StartNode(n); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, 30*time.Second, "the node Ready again", func() bool {
		out, _, _ := e.c.Orchctl(e.m, "", "get", "nodes", "--no-headers")
		return strings.Contains(out, " Ready ")
	})
	e.waitFor(t, 60*time.Second, "doomed to be cleaned up", func() bool {
		out, _, _ := e.c.Orchctl(e.m, "", "get", "pods", "-o", "name")
		return !strings.Contains(out, "pod/doomed")
	})
	if after := orchctl(t, e.c, e.m, "exec", "survivor", "--", "cat", "/tmp/token"); after != token {
		t.Errorf("survivor's token %q changed to %q: its container was restarted", token, after)
	}
	if n, _ := path(e.pod(t, "survivor"), "status", "containerStatuses", 0, "restartCount").(float64); n != 0 {
		t.Errorf("survivor restartCount %v after an agent restart", n)
	}
	pidAfter := containerPIDs(t, n)
	for id, pid := range pidBefore {
		if strings.HasPrefix(id, uidDoomed) {
			if _, ok := pidAfter[id]; ok {
				t.Errorf("container %s of the deleted pod still exists", id)
			}
			continue
		}
		if pidAfter[id] != pid {
			t.Errorf("container %s had pid %d, now %d", id, pid, pidAfter[id])
		}
	}
	if e.phase(t, "survivor") != "Running" {
		t.Errorf("survivor is %s after the agent restart", e.phase(t, "survivor"))
	}
}

// containerPIDs reads the host pid of every container of a node from libcontainer's state.
func containerPIDs(t *testing.T, n *harness.Node) map[string]int {
	t.Helper()
	out := containerStates(n)
	if len(out) == 0 {
		t.Fatalf("no container state under %s", n.DataDir)
	}
	return out
}

// containerStates maps each container libcontainer knows of on a node to its host pid.
func containerStates(n *harness.Node) map[string]int {
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(n.DataDir, "containers", ".runc", "*", "state.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st struct {
			InitProcessPid int `json:"init_process_pid"`
		}
		if json.Unmarshal(b, &st) == nil {
			out[filepath.Base(filepath.Dir(f))] = st.InitProcessPid
		}
	}
	return out
}
