package consensus

// The server registry is the one piece of state this package replicates for itself:
// the cluster ID, the name of every server ID that was a member, and which server IDs
// were removed (tombstones). It travels in the raft log as command entries marked by
// their Extensions, which the caller's FSM never sees, and in the header of every raft
// snapshot, so every master holds the same registry at the same index, whatever the
// leader, and log compaction loses none of it.
//
// A tombstone is never lifted: server IDs are random and never reused, so a removed
// master can only come back as a new server (its data dir emptied).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/hashicorp/raft"
)

// registryExtension marks a log entry as a registry command.
var registryExtension = []byte("orch.consensus.registry/1")

// registryCmd is one registry command. Only one of its parts is set.
type registryCmd struct {
	ClusterID string        `json:"clusterID,omitempty"` // set once: later values are ignored
	Server    *serverRecord `json:"server,omitempty"`    // upsert; Removed is never undone
}

// serverRecord is what the cluster knows of one server ID.
type serverRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Removed bool   `json:"removed,omitempty"`
}

// registryState is the registry as stored in snapshots.
type registryState struct {
	ClusterID string                  `json:"clusterID,omitempty"`
	Servers   map[string]serverRecord `json:"servers,omitempty"`
}

// registry is the applied registry. Its own lock: the leader reads it while raft
// applies.
type registry struct {
	mu      sync.Mutex
	state   registryState
	changed func() // after every change; must not block
}

func isRegistryEntry(l *raft.Log) bool {
	return l.Type == raft.LogCommand && bytes.Equal(l.Extensions, registryExtension)
}

// apply applies one registry entry. A command that does not decode is a bug (the
// masters would disagree): panic, as the caller's FSM does.
func (r *registry) apply(l *raft.Log) {
	var c registryCmd
	if err := json.Unmarshal(l.Data, &c); err != nil {
		panic(fmt.Sprintf("consensus: registry entry %d does not decode: %v", l.Index, err))
	}
	r.mu.Lock()
	changed := false
	if c.ClusterID != "" && r.state.ClusterID == "" {
		r.state.ClusterID, changed = c.ClusterID, true
	}
	if s := c.Server; s != nil && s.ID != "" {
		old, ok := r.state.Servers[s.ID]
		rec := *s
		if rec.Name == "" {
			rec.Name = old.Name
		}
		rec.Removed = rec.Removed || old.Removed
		if !ok || rec != old {
			if r.state.Servers == nil {
				r.state.Servers = map[string]serverRecord{}
			}
			r.state.Servers[s.ID] = rec
			changed = true
		}
	}
	notify := r.changed
	r.mu.Unlock()
	if changed && notify != nil {
		notify()
	}
}

func (r *registry) snapshot() registryState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return registryState{ClusterID: r.state.ClusterID, Servers: maps.Clone(r.state.Servers)}
}

func (r *registry) restore(s registryState) {
	r.mu.Lock()
	r.state = s
	notify := r.changed
	r.mu.Unlock()
	if notify != nil {
		notify()
	}
}

func (r *registry) clusterID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.ClusterID
}

func (r *registry) server(id string) (serverRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.state.Servers[id]
	return s, ok
}

// registryLog builds the raft entry for c.
func registryLog(c registryCmd) raft.Log {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain strings and bools
	}
	return raft.Log{Type: raft.LogCommand, Data: b, Extensions: registryExtension}
}
