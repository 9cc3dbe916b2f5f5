package e2e

// Pod cgroups and node allocatable on real containers, read back from the host's
// cgroupfs: the QoS root limited to capacity less the reserves, allocatable less the
// eviction threshold too, a pod cgroup per pod under its QoS level with the sum of its
// containers' limits, oom_score_adj by QoS class, no pod cgroup left once the pods are
// deleted, and a pod asking for a user namespace refused rather than run without one.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostCgroups maps each hierarchy of this process (which the agents inherit) to where
// cgroup rel is in it: v1 controllers by name ("memory", "cpu", "name=systemd"), the
// unified hierarchy of hybrid mode as "".
func hostCgroups(t *testing.T, rel string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		mount := parts[1]
		switch {
		case mount == "":
			mount = "unified"
		case strings.HasPrefix(mount, "name="):
			mount = strings.TrimPrefix(mount, "name=")
		}
		dir := filepath.Join("/sys/fs/cgroup", mount, parts[2], rel)
		for _, ctrl := range strings.Split(parts[1], ",") {
			out[ctrl] = dir
		}
	}
	return out
}

// hostCgroup is where cgroup rel is in the v1 hierarchy of controller.
func hostCgroup(t *testing.T, controller, rel string) string {
	t.Helper()
	dir, ok := hostCgroups(t, rel)[controller]
	if !ok || filepath.Base(filepath.Dir(dir)) == "unified" {
		t.Skipf("no %s cgroup v1 hierarchy here", controller)
	}
	return dir
}

func cgroupValue(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return strings.TrimSpace(string(b))
}

// oomFloor is the lowest oom_score_adj the agent (with this process's capabilities) can
// set: -1000 with CAP_SYS_RESOURCE, else its own.
func oomFloor(t *testing.T) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<24) != 0 {
				return -1000
			}
		}
	}
	own, _ := os.ReadFile("/proc/self/oom_score_adj")
	n, _ := strconv.Atoi(strings.TrimSpace(string(own)))
	return n
}

func TestPodCgroupsAndAllocatable(t *testing.T) {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	root := "orch-test-" + hex.EncodeToString(suffix)
	// Runs after the cluster's cleanup (registered later, run earlier) has reset the node.
	t.Cleanup(func() {
		for _, rel := range []string{root + "/burstable", root + "/besteffort", root} {
			for _, dir := range hostCgroups(t, rel) {
				os.Remove(dir)
			}
		}
	})
	e := startWorkersWith(t, 1, "--cpu", "2", "--memory", "2Gi", "--system-reserved", "cpu=500m,memory=512Mi",
		"--kube-reserved", "cpu=100m,memory=256Mi", "--eviction-hard", "memory.available<100Mi", "--cgroup-root", root)

	// Allocatable = capacity - system-reserved - kube-reserved - eviction threshold.
	out, errOut, err := e.c.Orchctl(e.m, "", "get", "node", "w1", "-o", "json")
	if err != nil {
		t.Fatalf("get node: %v %s", err, errOut)
	}
	var node map[string]any
	if err := json.Unmarshal([]byte(out), &node); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field, res, want string
	}{
		{"capacity", "cpu", "2"}, {"capacity", "memory", "2Gi"},
		{"allocatable", "cpu", "1400m"}, {"allocatable", "memory", "1180Mi"},
	} {
		if got := path(node, "status", c.field, c.res); got != c.want {
			t.Errorf("node status.%s.%s = %v, want %s", c.field, c.res, got, c.want)
		}
	}
	if sec, _ := path(node, "metadata", "annotations", "orch.dev/security").(string); !strings.Contains(sec, "userns=unsupported") {
		t.Errorf("security annotation %q does not say userns=unsupported", sec)
	}
	// The pods' root: capacity less the reserves (the threshold is not in the limit).
	rootMem := hostCgroup(t, "memory", root)
	if got := cgroupValue(t, rootMem, "memory.limit_in_bytes"); got != strconv.Itoa(1280<<20) {
		t.Errorf("QoS root memory.limit_in_bytes = %s, want %d (2Gi - 768Mi)", got, 1280<<20)
	}
	if got := cgroupValue(t, hostCgroup(t, "cpu", root), "cpu.shares"); got != "1433" {
		t.Errorf("QoS root cpu.shares = %s, want 1433 (1400m)", got)
	}
	if got := cgroupValue(t, hostCgroup(t, "cpu", root+"/besteffort"), "cpu.shares"); got != "2" {
		t.Errorf("besteffort cpu.shares = %s, want 2", got)
	}

	e.apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: guaranteed}
spec:
  containers:
  - name: a
    image: IMAGE
    command: ["sleep", "3600"]
    resources: {limits: {cpu: 100m, memory: 32Mi}}
  - name: b
    image: IMAGE
    command: ["sleep", "3600"]
    resources: {limits: {cpu: 200m, memory: 48Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: burstable}
spec:
  containers:
  - name: a
    image: IMAGE
    command: ["sleep", "3600"]
    resources: {requests: {cpu: 250m, memory: 100Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: besteffort}
spec:
  containers:
  - name: a
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: a
    image: IMAGE
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    resources: {limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: userns}
spec:
  hostUsers: false
  containers:
  - name: a
    image: IMAGE
    command: ["sleep", "3600"]
`)
	for _, p := range []string{"guaranteed", "burstable", "besteffort"} {
		e.waitFor(t, 60*time.Second, p+" Running", func() bool { return e.phase(t, p) == "Running" })
	}
	floor := oomFloor(t)
	uids := map[string]string{}
	for _, c := range []struct {
		pod, qos, dir string
		adj           int
	}{
		// Burstable: 1000 - 1000*100Mi/2Gi.
		{"guaranteed", "Guaranteed", "", max(-997, floor)},
		{"burstable", "Burstable", "burstable/", max(952, floor)},
		{"besteffort", "BestEffort", "besteffort/", 1000},
	} {
		p := e.pod(t, c.pod)
		if got := path(p, "status", "qosClass"); got != c.qos {
			t.Errorf("%s: status.qosClass = %v, want %s", c.pod, got, c.qos)
		}
		uid, _ := path(p, "metadata", "uid").(string)
		uids[c.pod] = root + "/" + c.dir + "pod" + uid
		if _, err := os.Stat(hostCgroup(t, "memory", uids[c.pod])); err != nil {
			t.Errorf("%s: pod cgroup: %v", c.pod, err)
		}
		if out, _ := e.execIn(t, c.pod, "a", "cat", "/proc/1/oom_score_adj"); strings.TrimSpace(out) != strconv.Itoa(c.adj) {
			t.Errorf("%s: oom_score_adj of PID 1 = %q, want %d", c.pod, strings.TrimSpace(out), c.adj)
		}
	}
	if floor > -997 {
		t.Logf("the agent lacks CAP_SYS_RESOURCE here: Guaranteed containers get oom_score_adj %d, not -997", floor)
	}

	// The Guaranteed pod's cgroup: the sums of its containers, which live inside it.
	gMem, gCPU := hostCgroup(t, "memory", uids["guaranteed"]), hostCgroup(t, "cpu", uids["guaranteed"])
	for _, c := range []struct{ dir, file, want string }{
		{gMem, "memory.limit_in_bytes", strconv.Itoa(80 << 20)},
		{gCPU, "cpu.cfs_quota_us", "30000"},
		{gCPU, "cpu.cfs_period_us", "100000"},
		{gCPU, "cpu.shares", "307"},
	} {
		if got := cgroupValue(t, c.dir, c.file); got != c.want {
			t.Errorf("guaranteed pod cgroup %s = %s, want %s", c.file, got, c.want)
		}
	}
	entries, _ := os.ReadDir(gMem)
	var children []string
	for _, d := range entries {
		if d.IsDir() {
			children = append(children, d.Name())
			if got := cgroupValue(t, filepath.Join(gMem, d.Name()), "memory.limit_in_bytes"); got != strconv.Itoa(32<<20) && got != strconv.Itoa(48<<20) {
				t.Errorf("container cgroup %s: memory.limit_in_bytes = %s, want its own limit", d.Name(), got)
			}
		}
	}
	if len(children) != 2 {
		t.Errorf("guaranteed pod cgroup holds %v, want its 2 containers", children)
	}
	// Burstable without memory limits: shares only; the burstable level weighs its requests.
	bMem := hostCgroup(t, "memory", uids["burstable"])
	if got, _ := strconv.ParseInt(cgroupValue(t, bMem, "memory.limit_in_bytes"), 10, 64); got < 1<<40 {
		t.Errorf("burstable pod without memory limits has memory.limit_in_bytes %d, want unlimited", got)
	}
	if got := cgroupValue(t, hostCgroup(t, "cpu", uids["burstable"]), "cpu.shares"); got != "256" {
		t.Errorf("burstable pod cpu.shares = %s, want 256 (250m)", got)
	}
	e.waitFor(t, 10*time.Second, "burstable level weighing 250m", func() bool {
		return cgroupValue(t, hostCgroup(t, "cpu", root+"/burstable"), "cpu.shares") == "256"
	})

	// A container that touches more memory than its limit is killed by the kernel, and
	// the pod reports it as the kubelet does.
	e.waitFor(t, 60*time.Second, "oom pod Failed", func() bool { return e.phase(t, "oom") == "Failed" })
	term, _ := path(e.pod(t, "oom"), "status", "containerStatuses", 0, "state", "terminated").(map[string]any)
	if term["reason"] != "OOMKilled" || fmt.Sprint(term["exitCode"]) != "137" {
		t.Errorf("oom pod terminated = %v, want reason OOMKilled and exitCode 137", term)
	}

	// hostUsers: false is refused, never run with the host's users.
	e.waitFor(t, 30*time.Second, "userns pod refused", func() bool {
		p := e.pod(t, "userns")
		w, _ := path(p, "status", "containerStatuses", 0, "state", "waiting").(map[string]any)
		return w["reason"] == "CreateContainerConfigError" && strings.Contains(fmt.Sprint(w["message"]), "user namespaces are not supported on this node")
	})
	if ph := e.phase(t, "userns"); ph != "Pending" {
		t.Errorf("userns pod phase = %s, want Pending", ph)
	}

	// Deleting the pods removes their cgroups; the QoS levels stay.
	if out, errOut, err := e.c.Orchctl(e.m, "", "delete", "pod", "guaranteed", "burstable", "besteffort", "oom", "userns", "--grace-period", "1"); err != nil {
		t.Fatalf("delete: %v %s%s", err, out, errOut)
	}
	e.waitFor(t, 60*time.Second, "pods gone", func() bool {
		out, _, err := e.c.Orchctl(e.m, "", "get", "pods", "--no-headers")
		return err == nil && strings.TrimSpace(out) == ""
	})
	e.waitFor(t, 20*time.Second, "pod cgroups removed", func() bool {
		for _, rel := range uids {
			for _, dir := range hostCgroups(t, rel) {
				if _, err := os.Stat(dir); err == nil {
					return false
				}
			}
		}
		return true
	})
	for _, level := range []string{root, root + "/burstable", root + "/besteffort"} {
		if _, err := os.Stat(hostCgroup(t, "memory", level)); err != nil {
			t.Errorf("QoS level %s: %v, want it kept while the agent runs", level, err)
		}
	}
}
