package api

// PodQOSClass classifies pods as Kubernetes does: every container counts, init
// containers too, and only positive cpu and memory quantities.

import (
	"testing"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func ctr(req, lim map[string]string) *orchv1.Container {
	return &orchv1.Container{Name: "c", Resources: &orchv1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestPodQOSClass(t *testing.T) {
	full := map[string]string{"cpu": "500m", "memory": "64Mi"}
	for name, tc := range map[string]struct {
		containers, inits []*orchv1.Container
		want              string
	}{
		"no resources":              {[]*orchv1.Container{ctr(nil, nil)}, nil, QOSBestEffort},
		"zero quantities":           {[]*orchv1.Container{ctr(map[string]string{"cpu": "0"}, map[string]string{"memory": "0"})}, nil, QOSBestEffort},
		"other resources only":      {[]*orchv1.Container{ctr(map[string]string{"example.com/gpu": "1"}, nil)}, nil, QOSBestEffort},
		"requests equal limits":     {[]*orchv1.Container{ctr(full, full), ctr(full, full)}, nil, QOSGuaranteed},
		"equal in other units":      {[]*orchv1.Container{ctr(map[string]string{"cpu": "1", "memory": "1Gi"}, map[string]string{"cpu": "1000m", "memory": "1024Mi"})}, nil, QOSGuaranteed},
		"request below limit":       {[]*orchv1.Container{ctr(map[string]string{"cpu": "100m", "memory": "64Mi"}, full)}, nil, QOSBurstable},
		"one container unlimited":   {[]*orchv1.Container{ctr(full, full), ctr(nil, nil)}, nil, QOSBurstable},
		"only memory limited":       {[]*orchv1.Container{ctr(map[string]string{"memory": "64Mi"}, map[string]string{"memory": "64Mi"})}, nil, QOSBurstable},
		"limits without requests":   {[]*orchv1.Container{ctr(nil, full)}, nil, QOSBurstable}, // the server copies limits to requests first
		"init container unlimited":  {[]*orchv1.Container{ctr(full, full)}, []*orchv1.Container{ctr(map[string]string{"cpu": "100m"}, nil)}, QOSBurstable},
		"init container counts":     {[]*orchv1.Container{ctr(nil, nil)}, []*orchv1.Container{ctr(map[string]string{"memory": "1Mi"}, nil)}, QOSBurstable},
		"init container guaranteed": {[]*orchv1.Container{ctr(full, full)}, []*orchv1.Container{ctr(full, full)}, QOSGuaranteed},
	} {
		if got := PodQOSClass(&orchv1.PodSpec{Containers: tc.containers, InitContainers: tc.inits}); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}
