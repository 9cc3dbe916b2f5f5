package api

import (
	"k8s.io/apimachinery/pkg/api/resource"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Pod QoS classes (status.qosClass).
const (
	QOSGuaranteed = "Guaranteed"
	QOSBurstable  = "Burstable"
	QOSBestEffort = "BestEffort"
)

// PodQOSClass computes the QoS class of a pod as Kubernetes does, from the cpu and
// memory requests and limits of all its containers, init containers included:
// BestEffort when none sets any, Guaranteed when every one limits both and every request
// equals its limit, Burstable otherwise. The server records it in status.qosClass; the
// node computes the same from the spec it runs.
func PodQOSClass(s *orchv1.PodSpec) string {
	requests := map[string]resource.Quantity{}
	limits := map[string]resource.Quantity{}
	guaranteed := true
	all := append(append([]*orchv1.Container(nil), s.GetContainers()...), s.GetInitContainers()...)
	for _, c := range all {
		for n, v := range c.GetResources().GetRequests() {
			if q, ok := qosQuantity(n, v); ok {
				sum := requests[n]
				sum.Add(q)
				requests[n] = sum
			}
		}
		found := map[string]bool{}
		for n, v := range c.GetResources().GetLimits() {
			if q, ok := qosQuantity(n, v); ok {
				found[n] = true
				sum := limits[n]
				sum.Add(q)
				limits[n] = sum
			}
		}
		if !found["cpu"] || !found["memory"] {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return QOSBestEffort
	}
	if guaranteed {
		for n, req := range requests {
			if lim, ok := limits[n]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return QOSGuaranteed
	}
	return QOSBurstable
}

// qosQuantity parses a cpu or memory quantity that counts for the QoS class: a positive
// one (other resources and zero values do not count).
func qosQuantity(name, v string) (resource.Quantity, bool) {
	if name != "cpu" && name != "memory" {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		return resource.Quantity{}, false
	}
	return q, true
}
