package controllers

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func TestExpiredEvents(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := func(ago time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-ago)) }
	ev := func(name string, set func(*orchv1.Event)) api.Object {
		e := &orchv1.Event{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name}}
		set(e)
		return e
	}
	events := []api.Object{
		ev("old", func(e *orchv1.Event) { e.FirstTimestamp, e.LastTimestamp = ts(3*time.Hour), ts(2*time.Hour) }),
		// First seen long ago, repeated lately: kept.
		ev("repeated", func(e *orchv1.Event) { e.FirstTimestamp, e.LastTimestamp = ts(3*time.Hour), ts(time.Minute) }),
		ev("series", func(e *orchv1.Event) {
			e.EventTime, e.Series = ts(3*time.Hour), &orchv1.EventSeries{Count: 2, LastObservedTime: ts(time.Minute)}
		}),
		ev("new-style-old", func(e *orchv1.Event) { e.EventTime = ts(2 * time.Hour) }),
		ev("only-created", func(e *orchv1.Event) { e.Metadata.CreationTimestamp = ts(61 * time.Minute) }),
		ev("fresh", func(e *orchv1.Event) { e.LastTimestamp = ts(59 * time.Minute) }),
	}
	var got []string
	for _, e := range expiredEvents(events, now.Add(-time.Hour)) {
		got = append(got, e.GetMetadata().GetName())
	}
	if want := []string{"old", "new-style-old", "only-created"}; !slices.Equal(got, want) {
		t.Errorf("expired = %v, want %v", got, want)
	}
}
