package node

// The pure parts of pod cgroups and node allocatable, against what the kubelet computes:
// a pod cgroup's limits from its containers, a container's oom_score_adj, the cgroup
// path of a pod, and allocatable from capacity, reserves and the eviction threshold.

import (
	"strings"
	"testing"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func res(req, lim map[string]string) *orchv1.ResourceRequirements {
	return &orchv1.ResourceRequirements{Requests: req, Limits: lim}
}

func rl(cpu, mem string) map[string]string {
	m := map[string]string{}
	if cpu != "" {
		m["cpu"] = cpu
	}
	if mem != "" {
		m["memory"] = mem
	}
	return m
}

func ctrs(rs ...*orchv1.ResourceRequirements) []*orchv1.Container {
	var out []*orchv1.Container
	for i, r := range rs {
		out = append(out, &orchv1.Container{Name: string(rune('a' + i)), Resources: r})
	}
	return out
}

const mi = 1 << 20

func TestPodResources(t *testing.T) {
	always := "Always"
	sidecar := &orchv1.Container{Name: "side", RestartPolicy: &always, Resources: res(rl("100m", "16Mi"), rl("100m", "16Mi"))}
	for name, tc := range map[string]struct {
		spec *orchv1.PodSpec
		want runtime.Resources
	}{
		"best effort": {&orchv1.PodSpec{Containers: ctrs(nil, nil)}, runtime.Resources{CPUShares: 2}},
		"guaranteed: sums": {&orchv1.PodSpec{Containers: ctrs(res(rl("500m", "64Mi"), rl("500m", "64Mi")), res(rl("250m", "32Mi"), rl("250m", "32Mi")))},
			runtime.Resources{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, MemoryLimit: 96 * mi}},
		"guaranteed: a larger init container": {&orchv1.PodSpec{
			InitContainers: ctrs(res(rl("2", "256Mi"), rl("2", "256Mi"))),
			Containers:     ctrs(res(rl("500m", "64Mi"), rl("500m", "64Mi")), res(rl("500m", "64Mi"), rl("500m", "64Mi")))},
			runtime.Resources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 256 * mi}},
		"guaranteed: a smaller init container": {&orchv1.PodSpec{
			InitContainers: ctrs(res(rl("100m", "8Mi"), rl("100m", "8Mi"))),
			Containers:     ctrs(res(rl("500m", "64Mi"), rl("500m", "64Mi")))},
			runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 * mi}},
		"burstable: every container limits memory": {&orchv1.PodSpec{Containers: ctrs(res(rl("100m", "16Mi"), rl("", "64Mi")), res(nil, rl("", "32Mi")))},
			runtime.Resources{CPUShares: 102, MemoryLimit: 96 * mi}},
		"burstable: one container unlimited": {&orchv1.PodSpec{Containers: ctrs(res(rl("100m", "16Mi"), rl("1", "64Mi")), res(rl("100m", ""), nil))},
			runtime.Resources{CPUShares: 204}},
		"burstable: an init container unlimited": {&orchv1.PodSpec{InitContainers: ctrs(res(rl("100m", ""), nil)), Containers: ctrs(res(rl("100m", ""), rl("1", "64Mi")))},
			runtime.Resources{CPUShares: 102}},
		"burstable: cpu limits only": {&orchv1.PodSpec{Containers: ctrs(res(rl("100m", ""), rl("300m", "")), res(rl("100m", ""), rl("200m", "")))},
			runtime.Resources{CPUShares: 204, CPUQuota: 50000, CPUPeriod: 100000}},
		"burstable: tiny request": {&orchv1.PodSpec{Containers: ctrs(res(rl("1m", ""), nil))}, runtime.Resources{CPUShares: 2}},
		"sidecar adds to the containers": {&orchv1.PodSpec{InitContainers: []*orchv1.Container{sidecar},
			Containers: ctrs(res(rl("500m", "64Mi"), rl("500m", "64Mi")))},
			runtime.Resources{CPUShares: 614, CPUQuota: 60000, CPUPeriod: 100000, MemoryLimit: 80 * mi}},
	} {
		qos := api.PodQOSClass(tc.spec)
		if got := podResources(tc.spec, qos); got != tc.want {
			t.Errorf("%s (%s): %+v, want %+v", name, qos, got, tc.want)
		}
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const capacity = 1000 * mi
	burstable := func(mem string) *orchv1.PodSpec {
		return &orchv1.PodSpec{Containers: ctrs(res(rl("100m", mem), nil))}
	}
	critical := int32(2000001000)
	for name, tc := range map[string]struct {
		spec *orchv1.PodSpec
		want int
	}{
		"guaranteed":                {&orchv1.PodSpec{Containers: ctrs(res(rl("1", "1Gi"), rl("1", "1Gi")))}, -997},
		"best effort":               {&orchv1.PodSpec{Containers: ctrs(nil)}, 1000},
		"burstable, no memory":      {burstable(""), 999},
		"burstable, 10%":            {burstable("100Mi"), 900},
		"burstable, 50%":            {burstable("500Mi"), 500},
		"burstable, all of it":      {burstable("1000Mi"), 3},
		"burstable, more than all":  {burstable("2000Mi"), 3},
		"burstable, a tiny request": {burstable("1Ki"), 999},
		"node critical":             {&orchv1.PodSpec{PriorityClassName: "system-node-critical", Priority: &critical, Containers: ctrs(nil)}, -997},
	} {
		c := tc.spec.Containers[0]
		if got := oomScoreAdj(tc.spec, api.PodQOSClass(tc.spec), c, false, capacity); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
	// A sidecar is no likelier to be killed than the pod's smallest regular container.
	always := "Always"
	side := &orchv1.Container{Name: "side", RestartPolicy: &always, Resources: res(rl("", "10Mi"), nil)}
	spec := &orchv1.PodSpec{InitContainers: []*orchv1.Container{side}, Containers: ctrs(res(rl("", "200Mi"), nil), res(rl("", "100Mi"), nil))}
	if got := oomScoreAdj(spec, api.QOSBurstable, side, true, capacity); got != 900 {
		t.Errorf("sidecar: %d, want 900 (that of the 100Mi container)", got)
	}
}

func TestPodCgroupPath(t *testing.T) {
	for qos, want := range map[string]string{
		api.QOSGuaranteed: "orch/pod123", api.QOSBurstable: "orch/burstable/pod123", api.QOSBestEffort: "orch/besteffort/pod123",
	} {
		if got := podCgroupPath("orch", qos, "123"); got != want {
			t.Errorf("%s: %s, want %s", qos, got, want)
		}
	}
}

func TestComputeNodeResources(t *testing.T) {
	for name, tc := range map[string]struct {
		cpu, mem         string
		system, kube     map[string]string
		eviction         string
		allocCPU, allocM string
		enfCPU, enfM     string
		err              string
	}{
		"default eviction only": {cpu: "2", mem: "2Gi", allocCPU: "2", allocM: "1948Mi", enfCPU: "2", enfM: "2Gi"},
		"reserves and eviction": {cpu: "2", mem: "2Gi", system: rl("500m", "512Mi"), kube: rl("100m", "256Mi"), eviction: "memory.available<100Mi",
			allocCPU: "1400m", allocM: "1180Mi", enfCPU: "1400m", enfM: "1280Mi"},
		"percent eviction":     {cpu: "4", mem: "1000Mi", eviction: "memory.available<10%", allocCPU: "4", allocM: "900Mi", enfCPU: "4", enfM: "1000Mi"},
		"no eviction":          {cpu: "1", mem: "1Gi", eviction: "memory.available<0", allocCPU: "1", allocM: "1Gi", enfCPU: "1", enfM: "1Gi"},
		"reserves over all":    {cpu: "1", mem: "1Gi", system: rl("2", "2Gi"), allocCPU: "0", allocM: "0", enfCPU: "0", enfM: "0"},
		"unknown resource":     {cpu: "1", mem: "1Gi", system: map[string]string{"ephemeral-storage": "1Gi"}, err: `resource "ephemeral-storage" is not supported`},
		"bad quantity":         {cpu: "1", mem: "1Gi", kube: rl("lots", ""), err: "--kube-reserved: cpu"},
		"negative":             {cpu: "1", mem: "1Gi", kube: rl("", "-1Gi"), err: "--kube-reserved: memory"},
		"unsupported signal":   {cpu: "1", mem: "1Gi", eviction: "memory.available<100Mi,nodefs.available<10%", err: `signal "nodefs.available" is not supported`},
		"malformed eviction":   {cpu: "1", mem: "1Gi", eviction: "memory.available=100Mi", err: "want signal<quantity"},
		"bad eviction percent": {cpu: "1", mem: "1Gi", eviction: "memory.available<200%", err: "not a percentage"},
	} {
		nr, err := computeNodeResources(tc.cpu, tc.mem, tc.system, tc.kube, tc.eviction)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one with %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		ac, am, ec, em := nr.allocatable["cpu"], nr.allocatable["memory"], nr.enforced["cpu"], nr.enforced["memory"]
		if ac.String() != tc.allocCPU || am.String() != tc.allocM || ec.String() != tc.enfCPU || em.String() != tc.enfM {
			t.Errorf("%s: allocatable %s %s, enforced %s %s; want %s %s, %s %s", name, ac.String(), am.String(), ec.String(), em.String(),
				tc.allocCPU, tc.allocM, tc.enfCPU, tc.enfM)
		}
	}
}

func TestUserNamespaceRefused(t *testing.T) {
	f, tr := false, true
	for _, tc := range []struct {
		hostUsers *bool
		refused   bool
	}{{nil, false}, {&tr, false}, {&f, true}} {
		err := userNamespaceError(&orchv1.Pod{Spec: &orchv1.PodSpec{HostUsers: tc.hostUsers}})
		if (err != nil) != tc.refused || (err != nil && !strings.Contains(err.Error(), "user namespaces are not supported on this node")) {
			t.Errorf("hostUsers %v: err = %v, want refused %v", tc.hostUsers, err, tc.refused)
		}
	}
}
