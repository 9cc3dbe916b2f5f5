package consensus

// TestPlanReconnect pins which gossip addresses a master joins by itself: those of
// raft servers gossip does not show alive, and promptly those of raft servers
// answered by another server ID (a wiped master that knows nobody), never this
// master, a tombstoned server, or one whose replacement is already in view.

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestPlanReconnect(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	voter := func(name string) raft.Server {
		return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID("id-" + name), Address: raft.ServerAddress(name + ":7001")}
	}
	member := func(name, status string) memberState {
		m := master(name, status, 0, true)
		m.gossip = name + ":7002"
		return m
	}
	newB := member("b", StatusAlive)
	newB.meta.ID = "id-new-b"
	named := map[string]serverRecord{"id-a": {ID: "id-a", Name: "a"}, "id-b": {ID: "id-b", Name: "b"}, "id-c": {ID: "id-c", Name: "c"}}
	tombstoned := map[string]serverRecord{"id-a": {ID: "id-a", Name: "a"}, "id-b": {ID: "id-b", Name: "b", Removed: true}}
	abc := []raft.Server{voter("a"), voter("b"), voter("c")}
	for _, tc := range []struct {
		name       string
		config     []raft.Server
		members    []memberState
		registry   map[string]serverRecord
		mismatched map[string]time.Duration // server ID -> how long ago
		tried      map[string]time.Duration // gossip address -> how long ago
		want       []string
	}{
		{name: "all alive", config: abc, registry: named,
			members: []memberState{member("a", StatusAlive), member("b", StatusAlive), member("c", StatusAlive)}},
		{name: "dead and left servers are joined", config: abc, registry: named,
			members: []memberState{member("a", StatusAlive), member("b", StatusDead), member("c", StatusLeft)}, want: names("b:7002", "c:7002")},
		{name: "not again within the interval", config: abc, registry: named,
			members: []memberState{member("a", StatusAlive), member("b", StatusDead), member("c", StatusLeft)},
			tried:   map[string]time.Duration{"b:7002": reconnectInterval - time.Second, "c:7002": reconnectInterval},
			want:    names("c:7002"),
		},
		{name: "answered by another ID while gossip shows the old one alive", config: abc, registry: named,
			members:    []memberState{member("a", StatusAlive), member("b", StatusAlive), member("c", StatusAlive)},
			mismatched: map[string]time.Duration{"id-b": time.Second}, want: names("b:7002")},
		{name: "answered by another ID: the short interval", config: abc, registry: named,
			members:    []memberState{member("a", StatusAlive), member("b", StatusDead), member("c", StatusAlive)},
			mismatched: map[string]time.Duration{"id-b": time.Second},
			tried:      map[string]time.Duration{"b:7002": mismatchReconnectInterval}, want: names("b:7002")},
		{name: "an old answer by another ID is forgotten", config: abc, registry: named,
			members:    []memberState{member("a", StatusAlive), member("b", StatusAlive), member("c", StatusAlive)},
			mismatched: map[string]time.Duration{"id-b": mismatchMemory}},
		{name: "the replacement is in view", config: abc, registry: named,
			members:    []memberState{member("a", StatusAlive), newB, member("c", StatusAlive)},
			mismatched: map[string]time.Duration{"id-b": time.Second}},
		{name: "found by the registry's name when gossip has no member with the ID", config: abc, registry: named,
			members: []memberState{member("a", StatusAlive), func() memberState { m := newB; m.status = StatusDead; return m }(), member("c", StatusAlive)},
			want:    names("b:7002")},
		{name: "never seen in gossip: no address", config: abc, registry: named,
			members: []memberState{member("a", StatusAlive), member("c", StatusAlive)}},
		{name: "tombstoned", config: []raft.Server{voter("a"), voter("b")}, registry: tombstoned,
			members: []memberState{member("a", StatusAlive), member("b", StatusDead)}, mismatched: map[string]time.Duration{"id-b": time.Second}},
		{name: "this master's own old entry", config: []raft.Server{voter("a"), {Suffrage: raft.Voter, ID: "id-old-a", Address: "a:7001"}},
			registry: map[string]serverRecord{"id-a": {ID: "id-a", Name: "a"}, "id-old-a": {ID: "id-old-a", Name: "a"}},
			members:  []memberState{member("a", StatusAlive)}, mismatched: map[string]time.Duration{"id-old-a": time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ago := func(m map[string]time.Duration) map[string]time.Time {
				out := map[string]time.Time{}
				for k, d := range m {
					out[k] = now.Add(-d)
				}
				return out
			}
			got := planReconnect(reconnectInput{
				Self: "id-a", SelfGossip: "a:7002", Config: tc.config, Members: tc.members, Registry: tc.registry,
				Mismatched: ago(tc.mismatched), Tried: ago(tc.tried), Now: now,
			})
			if !slices.Equal(got, tc.want) {
				t.Errorf("join %v, want %v", got, tc.want)
			}
		})
	}
}
