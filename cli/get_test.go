package cli

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestEventsSortByLastSeen(t *testing.T) {
	at := func(name string, min int) api.Object {
		return &orchv1.Event{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name},
			LastTimestamp: timestamppb.New(time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC))}
	}
	objs := []api.Object{at("a", 5), at("b", 1), at("c", 3), at("d", 1)}
	sortObjects(objs)
	var got string
	for _, o := range objs {
		got += o.GetMetadata().GetName()
	}
	if got != "bdca" {
		t.Errorf("order %s, want bdca (oldest first, then by name)", got)
	}
	pods := []api.Object{&orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "b", Name: "x"}}, &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "a", Name: "y"}}}
	sortObjects(pods)
	if pods[0].GetMetadata().GetNamespace() != "a" {
		t.Errorf("pods not sorted by namespace")
	}
}
