package volumes

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// fieldValue resolves a downward API fieldPath against the pod. Whole label and annotation
// maps (one key="value" line each, sorted) are only available in volumes, as in Kubernetes.
func fieldValue(pod *orchv1.Pod, path string, inVolume bool) (string, error) {
	md := pod.GetMetadata()
	if base, key, ok := subscript(path); ok {
		switch base {
		case "metadata.labels":
			return md.GetLabels()[key], nil
		case "metadata.annotations":
			return md.GetAnnotations()[key], nil
		}
		return "", fmt.Errorf("unsupported fieldPath %q", path)
	}
	switch path {
	case "metadata.name":
		return md.GetName(), nil
	case "metadata.namespace":
		return namespace(pod), nil
	case "metadata.uid":
		return md.GetUid(), nil
	case "spec.nodeName":
		return pod.GetSpec().GetNodeName(), nil
	case "spec.serviceAccountName":
		return pod.GetSpec().GetServiceAccountName(), nil
	case "status.podIP":
		return pod.GetStatus().GetPodIp(), nil
	case "status.hostIP":
		return pod.GetStatus().GetHostIp(), nil
	case "metadata.labels":
		if inVolume {
			return formatMap(md.GetLabels()), nil
		}
	case "metadata.annotations":
		if inVolume {
			return formatMap(md.GetAnnotations()), nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript splits "metadata.labels['k']" into "metadata.labels" and "k".
func subscript(path string) (base, key string, ok bool) {
	i := strings.IndexByte(path, '[')
	if i < 0 || len(path) < i+4 || !strings.HasSuffix(path, "]") {
		return "", "", false
	}
	q := path[i+1]
	inner := path[i+1 : len(path)-1]
	if (q != '\'' && q != '"') || len(inner) < 2 || inner[len(inner)-1] != q {
		return "", "", false
	}
	return path[:i], inner[1 : len(inner)-1], true
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

// resourceValue resolves a resourceFieldRef: the named container's (or c's) limit or request
// divided by the divisor (default 1) and rounded up, as the kubelet does. An unset limit is
// the node's capacity, an unset request the limit (API defaulting) or else 0.
func resourceValue(pod *orchv1.Pod, c *orchv1.Container, sel *orchv1.ResourceFieldSelector) (string, error) {
	if name := sel.GetContainerName(); name != "" && (c == nil || c.GetName() != name) {
		c = findContainer(pod, name)
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q in the pod", name)
		}
	}
	kind, res, ok := strings.Cut(sel.GetResource(), ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resource %q", sel.GetResource())
	}
	var cpu bool
	switch res {
	case "cpu":
		cpu = true
	case "memory", "ephemeral-storage":
	default:
		return "", fmt.Errorf("unsupported resource %q", sel.GetResource())
	}
	divisor := resource.MustParse("1")
	if d := sel.GetDivisor(); d != "" {
		q, err := resource.ParseQuantity(d)
		if err != nil {
			return "", fmt.Errorf("divisor %q: %w", d, err)
		}
		divisor = q
	}
	if divisor.Sign() <= 0 {
		return "", fmt.Errorf("divisor %q must be positive", sel.GetDivisor())
	}

	limits, requests := c.GetResources().GetLimits(), c.GetResources().GetRequests()
	s, set := limits[res], false
	if s != "" {
		set = true
	}
	if kind == "requests" {
		if r, ok := requests[res]; ok && r != "" {
			s, set = r, true
		}
	}
	var q resource.Quantity
	switch {
	case set:
		var err error
		if q, err = resource.ParseQuantity(s); err != nil {
			return "", fmt.Errorf("%s %q: %w", sel.GetResource(), s, err)
		}
	case kind == "limits":
		var err error
		if q, err = nodeCapacity(res); err != nil {
			return "", err
		}
	}
	if cpu {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func findContainer(pod *orchv1.Pod, name string) *orchv1.Container {
	for _, c := range pod.GetSpec().GetContainers() {
		if c.GetName() == name {
			return c
		}
	}
	for _, c := range pod.GetSpec().GetInitContainers() {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// nodeCapacity stands in for node allocatable when a container sets no limit: this code runs
// on the worker itself, so its own CPUs, memory and root filesystem are the node's.
func nodeCapacity(res string) (resource.Quantity, error) {
	switch res {
	case "cpu":
		return *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI), nil
	case "memory":
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return resource.Quantity{}, fmt.Errorf("node memory: %w", err)
		}
		return *resource.NewQuantity(int64(si.Totalram)*int64(si.Unit), resource.BinarySI), nil
	default:
		var st unix.Statfs_t
		if err := unix.Statfs("/", &st); err != nil {
			return resource.Quantity{}, fmt.Errorf("node ephemeral-storage: %w", err)
		}
		return *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI), nil
	}
}
