package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
)

// Admission (defaults, then validation) takes any object a client can encode: whatever
// the bytes, it returns errors, never panics.
func FuzzAdmitObject(f *testing.F) {
	for _, o := range []api.Object{validPod(), validDeployment(), validReplicaSet(), validStatefulSet(), validDaemonSet()} {
		b, _ := proto.Marshal(o)
		f.Add(uint8(0), b)
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := api.Kinds[int(kind)%len(api.Kinds)]
		o := k.New()
		if proto.Unmarshal(b, o) != nil {
			return
		}
		defaultObject(k, o)
		validateObject(k, o)
	})
}
