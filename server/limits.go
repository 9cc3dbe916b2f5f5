package server

import (
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
)

// Size limits. A request over MaxRequestBytes is refused by the RPC layer
// (ResourceExhausted); an object over MaxObjectBytes is refused before it is proposed and
// again inside the FSM (so that no stored object, whatever merge produced it, can exceed
// it); and a snapshot record is at most maxSnapshotRecord, which the snapshot reader
// accepts, so that every accepted object can be snapshotted and restored.
const (
	MaxRequestBytes = 3 << 20                 // Kubernetes' API server request limit
	MaxObjectBytes  = 3 << 19                 // 1.5 MiB, etcd's default request limit
	maxInternalRPC  = MaxRequestBytes + 1<<20 // a forwarded command: one object and framing
	// A snapshot record is an object with its kind name around it.
	maxSnapshotRecord = MaxObjectBytes + 1<<10
)

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkObjectSize refuses an object whose encoding is over MaxObjectBytes.
func checkObjectSize(k *api.Kind, o api.Object) error {
	if n := proto.Size(o); n > MaxObjectBytes {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
			"%s %q is too large: %s encoded, the limit is %s per object", k.Plural, o.GetMetadata().GetName(), humanBytes(n), humanBytes(MaxObjectBytes)))
	}
	return nil
}
