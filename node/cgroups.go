package node

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Pod cgroups and node allocatable, as the kubelet does them with the cgroupfs driver
// (--cgroups-per-qos, --enforce-node-allocatable=pods):
//
//	<root>/                      limited to capacity - system-reserved - kube-reserved
//	<root>/pod<uid>/<container>  Guaranteed pods
//	<root>/burstable/pod<uid>/   cpu.shares: the sum of the Burstable pods' cpu requests
//	<root>/besteffort/pod<uid>/  cpu.shares: 2
//
// Every path follows from the pod's uid and QoS class, so a restarted agent finds the
// same cgroups again. A pod cgroup has the pod's effective limits; it is created before
// the pod's first container and removed with its last one (the runtime does both).

const (
	// DefaultCgroupRoot is the QoS root cgroup, relative to the agent's own cgroups.
	DefaultCgroupRoot = "orch"
	// DefaultEvictionHard is the kubelet's default memory threshold.
	DefaultEvictionHard = "memory.available<100Mi"

	burstableCgroup  = "burstable"
	bestEffortCgroup = "besteffort"

	// Kubernetes' cpu shares and OOM score adjustments.
	minShares             = 2
	maxShares             = 262144
	sharesPerCPU          = 1024
	guaranteedOOMScoreAdj = -997
	bestEffortOOMScoreAdj = 1000
	// systemCriticalPriority is Kubernetes' scheduling.SystemCriticalPriority.
	systemCriticalPriority = 2000000000
)

// milliCPUToShares is the kubelet's: 1024 shares a cpu, at least 2.
func milliCPUToShares(milli int64) uint64 {
	if milli <= 0 {
		return minShares
	}
	return uint64(min(max(milli*sharesPerCPU/1000, minShares), maxShares))
}

// milliCPUToQuota is the kubelet's: the CFS quota of a limit over a 100 ms period, at
// least 1 ms.
func milliCPUToQuota(milli int64) int64 {
	return max(milli*100, 1000)
}

// podCgroupPath is where the pod with this uid and QoS class has its cgroup.
func podCgroupPath(root, qos, uid string) string {
	switch qos {
	case api.QOSGuaranteed:
		return path.Join(root, "pod"+uid)
	case api.QOSBurstable:
		return path.Join(root, burstableCgroup, "pod"+uid)
	}
	return path.Join(root, bestEffortCgroup, "pod"+uid)
}

// quantity parses a container's request or limit of a resource; 0 when unset or invalid
// (the server has validated it). Memory in bytes, cpu in millicores.
func quantity(m map[string]string, name string) int64 {
	q, err := resource.ParseQuantity(m[name])
	if err != nil || q.Sign() <= 0 {
		return 0
	}
	if name == "cpu" {
		return q.MilliValue()
	}
	return q.Value()
}

func isSidecar(c *orchv1.Container) bool { return c.GetRestartPolicy() == "Always" }

// podTotals are the pod's effective requests or limits of one resource as Kubernetes
// computes them (PodRequests, PodLimits): the regular containers and sidecars added up,
// or the largest init container (plus the sidecars started before it) when that is more.
func podTotal(s *orchv1.PodSpec, get func(*orchv1.ResourceRequirements) map[string]string, name string) int64 {
	var sum int64
	for _, c := range s.GetContainers() {
		sum += quantity(get(c.GetResources()), name)
	}
	var sidecars, inits int64
	for _, c := range s.GetInitContainers() {
		v := quantity(get(c.GetResources()), name)
		if isSidecar(c) {
			sum += v
			sidecars += v
			v = sidecars
		} else {
			v += sidecars
		}
		inits = max(inits, v)
	}
	return max(sum, inits)
}

func requests(r *orchv1.ResourceRequirements) map[string]string { return r.GetRequests() }
func limits(r *orchv1.ResourceRequirements) map[string]string   { return r.GetLimits() }

// podResources are the limits of a pod's cgroup, as the kubelet's ResourceConfigForPod:
// cpu shares from the summed cpu requests; for a Guaranteed pod, and for a Burstable one
// whose every container limits the resource, a CFS quota of the summed cpu limits and a
// memory limit of the summed memory limits; a BestEffort pod gets the minimum shares.
func podResources(s *orchv1.PodSpec, qos string) runtime.Resources {
	if qos == api.QOSBestEffort {
		return runtime.Resources{CPUShares: minShares}
	}
	cpuDeclared, memDeclared := true, true
	for _, c := range append(append([]*orchv1.Container(nil), s.GetInitContainers()...), s.GetContainers()...) {
		lim := c.GetResources().GetLimits()
		cpuDeclared = cpuDeclared && quantity(lim, "cpu") > 0
		memDeclared = memDeclared && quantity(lim, "memory") > 0
	}
	r := runtime.Resources{CPUShares: milliCPUToShares(podTotal(s, requests, "cpu"))}
	if qos == api.QOSGuaranteed || cpuDeclared {
		if milli := podTotal(s, limits, "cpu"); milli > 0 {
			r.CPUQuota, r.CPUPeriod = milliCPUToQuota(milli), 100000
		}
	}
	if qos == api.QOSGuaranteed || memDeclared {
		r.MemoryLimit = podTotal(s, limits, "memory")
	}
	return r
}

// oomScoreAdj is a container's oom_score_adj, as the kubelet's GetContainerOOMScoreAdjust:
// -997 for node-critical and Guaranteed pods, 1000 for BestEffort ones; for Burstable
// ones 1000 - 1000*memoryRequest/memoryCapacity, no more than that of the pod's
// smallest regular container for a sidecar, within [3, 999] so that Burstable containers
// die after BestEffort and before Guaranteed ones.
func oomScoreAdj(s *orchv1.PodSpec, qos string, c *orchv1.Container, sidecar bool, memCapacity int64) int {
	if s.GetPriorityClassName() == "system-node-critical" && s.GetPriority() >= systemCriticalPriority {
		return guaranteedOOMScoreAdj
	}
	switch qos {
	case api.QOSGuaranteed:
		return guaranteedOOMScoreAdj
	case api.QOSBestEffort:
		return bestEffortOOMScoreAdj
	}
	if memCapacity <= 0 {
		return bestEffortOOMScoreAdj - 1
	}
	adj := 1000 - 1000*quantity(c.GetResources().GetRequests(), "memory")/memCapacity
	if sidecar && len(s.GetContainers()) > 0 {
		smallest := quantity(s.GetContainers()[0].GetResources().GetRequests(), "memory")
		for _, rc := range s.GetContainers()[1:] {
			smallest = min(smallest, quantity(rc.GetResources().GetRequests(), "memory"))
		}
		adj = min(adj, 1000-1000*smallest/memCapacity)
	}
	switch {
	case adj < 1000+guaranteedOOMScoreAdj:
		return 1000 + guaranteedOOMScoreAdj
	case adj == bestEffortOOMScoreAdj:
		return bestEffortOOMScoreAdj - 1
	}
	return int(adj)
}

// nodeResources are a node's cpu and memory: what it has, what pods may be scheduled
// against (allocatable), and what the QoS root cgroup is limited to (enforced).
type nodeResources struct {
	capacity, allocatable, enforced map[string]resource.Quantity
}

// computeNodeResources applies the kubelet's rules: allocatable = capacity -
// system-reserved - kube-reserved - the hard eviction thresholds, never below zero; the
// pods' cgroup gets capacity - the reserves (the eviction threshold is headroom for an
// eviction manager, not part of the cgroup limit).
func computeNodeResources(cpu, memory string, systemReserved, kubeReserved map[string]string, evictionHard string) (nodeResources, error) {
	nr := nodeResources{capacity: map[string]resource.Quantity{}, allocatable: map[string]resource.Quantity{}, enforced: map[string]resource.Quantity{}}
	for name, v := range map[string]string{"cpu": cpu, "memory": memory} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nr, fmt.Errorf("%s capacity %q: %w", name, v, err)
		}
		nr.capacity[name] = q
	}
	reserved := map[string]resource.Quantity{}
	for flag, m := range map[string]map[string]string{"--system-reserved": systemReserved, "--kube-reserved": kubeReserved} {
		for _, name := range sortedKeys(m) {
			if name != "cpu" && name != "memory" {
				return nr, fmt.Errorf("%s: resource %q is not supported (cpu and memory are)", flag, name)
			}
			q, err := resource.ParseQuantity(m[name])
			if err != nil || q.Sign() < 0 {
				return nr, fmt.Errorf("%s: %s=%q: not a non-negative quantity", flag, name, m[name])
			}
			sum := reserved[name]
			sum.Add(q)
			reserved[name] = sum
		}
	}
	eviction, err := parseEvictionHard(evictionHard, nr.capacity["memory"])
	if err != nil {
		return nr, err
	}
	for name, c := range nr.capacity {
		e := c.DeepCopy()
		e.Sub(reserved[name])
		if e.Sign() < 0 {
			e = resource.Quantity{Format: c.Format}
		}
		nr.enforced[name] = e
		a := e.DeepCopy()
		if name == "memory" {
			a.Sub(eviction)
		}
		if a.Sign() < 0 {
			a = resource.Quantity{Format: c.Format}
		}
		nr.allocatable[name] = a
	}
	return nr, nil
}

// parseEvictionHard reads --eviction-hard (kubelet's syntax, "memory.available<100Mi" or
// "memory.available<10%"): the memory to keep free, which allocatable leaves out.
// "" is the kubelet's default; other signals are refused, as the node measures none.
func parseEvictionHard(s string, memCapacity resource.Quantity) (resource.Quantity, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultEvictionHard
	}
	var out resource.Quantity
	for _, part := range strings.Split(s, ",") {
		signal, v, ok := strings.Cut(strings.TrimSpace(part), "<")
		if !ok {
			return out, fmt.Errorf("--eviction-hard %q: want signal<quantity, e.g. %s", part, DefaultEvictionHard)
		}
		if signal != "memory.available" {
			return out, fmt.Errorf("--eviction-hard: signal %q is not supported (memory.available is)", signal)
		}
		if pct, isPct := strings.CutSuffix(v, "%"); isPct {
			var p float64
			if _, err := fmt.Sscanf(pct, "%g", &p); err != nil || p < 0 || p > 100 {
				return out, fmt.Errorf("--eviction-hard: memory.available<%s: not a percentage", v)
			}
			out = *resource.NewQuantity(int64(float64(memCapacity.Value())*p/100), resource.BinarySI)
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() < 0 {
			return out, fmt.Errorf("--eviction-hard: memory.available<%s: not a non-negative quantity", v)
		}
		out = q
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *Agent) cgroupRoot() string {
	if a.cfg.CgroupRoot == "" {
		return DefaultCgroupRoot
	}
	return a.cfg.CgroupRoot
}

// ensureQOSCgroups creates (or updates) the QoS root with the enforced allocatable and
// the burstable and besteffort levels beneath it.
func (a *Agent) ensureQOSCgroups() error {
	enf := a.res.enforced
	mem, cpu := enf["memory"], enf["cpu"]
	root := runtime.Resources{CPUShares: milliCPUToShares(cpu.MilliValue()), MemoryLimit: max(mem.Value(), 1)}
	if _, err := runtime.EnsureCgroup(a.cgroupRoot(), root); err != nil {
		return err
	}
	if _, err := runtime.EnsureCgroup(path.Join(a.cgroupRoot(), bestEffortCgroup), runtime.Resources{CPUShares: minShares}); err != nil {
		return err
	}
	return a.updateBurstableShares()
}

// updateBurstableShares gives the burstable level the summed cpu requests of this node's
// Burstable pods, as the kubelet does, so that under contention they weigh against the
// Guaranteed pods beside it what they asked for.
func (a *Agent) updateBurstableShares() error {
	a.mu.Lock()
	var milli int64
	for _, w := range a.workers {
		pod, deleted := w.snapshot()
		if !deleted && api.PodQOSClass(pod.GetSpec()) == api.QOSBurstable {
			milli += podTotal(pod.GetSpec(), requests, "cpu")
		}
	}
	a.mu.Unlock()
	a.qosMu.Lock()
	defer a.qosMu.Unlock()
	_, err := runtime.EnsureCgroup(path.Join(a.cgroupRoot(), burstableCgroup), runtime.Resources{CPUShares: milliCPUToShares(milli)})
	return err
}

// podCgroup returns the pod's cgroup and its limits.
func (a *Agent) podCgroup(pod *orchv1.Pod) (string, *runtime.Resources) {
	qos := api.PodQOSClass(pod.GetSpec())
	res := podResources(pod.GetSpec(), qos)
	return podCgroupPath(a.cgroupRoot(), qos, pod.GetMetadata().GetUid()), &res
}

// containerOOMScoreAdj is the container's oom_score_adj, raised to what this agent can
// set (see runtime.OOMScoreAdjFloor).
func (a *Agent) containerOOMScoreAdj(pod *orchv1.Pod, c *orchv1.Container) *int {
	s := pod.GetSpec()
	sidecar := false
	for _, ic := range s.GetInitContainers() {
		sidecar = sidecar || (ic == c && isSidecar(c))
	}
	mem := a.res.capacity["memory"]
	adj := max(oomScoreAdj(s, api.PodQOSClass(s), c, sidecar, mem.Value()), a.oomFloor)
	return &adj
}

// removePodCgroups removes the cgroups of a pod that is gone, whatever its QoS class was;
// one still holding processes stays (and is logged).
func (a *Agent) removePodCgroups(uid string) {
	for _, qos := range []string{api.QOSGuaranteed, api.QOSBurstable, api.QOSBestEffort} {
		p := podCgroupPath(a.cgroupRoot(), qos, uid)
		if err := runtime.RemoveCgroup(p); err != nil {
			a.log.Warn("remove pod cgroup", "cgroup", p, "err", err)
		}
	}
}

// removeQOSCgroups removes the pod cgroups the agent left under its root, then the QoS
// levels and the root (`orchd node reset`).
func (a *Agent) removeQOSCgroups() error {
	var errs []error
	root := a.cgroupRoot()
	for _, level := range []string{path.Join(root, burstableCgroup), path.Join(root, bestEffortCgroup), root} {
		children, err := runtime.CgroupChildren(level)
		if err != nil {
			errs = append(errs, err)
		}
		for _, c := range children {
			if strings.HasPrefix(c, "pod") {
				if err := runtime.RemoveCgroup(path.Join(level, c)); err != nil && !errors.Is(err, runtime.ErrCgroupBusy) {
					errs = append(errs, err)
				}
			}
		}
		if err := runtime.RemoveCgroup(level); errors.Is(err, runtime.ErrCgroupBusy) {
			// Another agent's pods, or cgroups someone else made: left alone.
			a.log.Warn("cgroup left in place: still in use", "cgroup", level, "err", err)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
