package consensus

// Master identity. Every master has a server ID, random and made at its first start,
// and, once it belongs to a cluster, that cluster's ID. The raft ServerID is the server
// ID, never the name: a master whose raft state was lost (data dir wiped, disk
// replaced) comes back as a new server and is never counted as its old self, whose
// votes and log it no longer holds.
//
// The authoritative copy of both IDs is in the raft stable store (raft.db), next to
// the term, the vote and the log, so that losing one loses the other. identity.json in
// the data dir is a copy for people and tools, and a witness: if it names a server ID
// that raft.db does not hold, raft.db was lost, and the master starts as a new server.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/orchd/orch/fsutil"
)

const identityFile = "identity.json"

// Stable store keys; raft's own keys are CurrentTerm, LastVoteTerm and LastVoteCand.
var (
	keyServerID  = []byte("orch.ServerID")
	keyClusterID = []byte("orch.ClusterID")
)

// identity is what identity.json holds.
type identity struct {
	ServerID  string `json:"serverID"`
	ClusterID string `json:"clusterID,omitempty"`
}

// loadIdentity returns this master's identity, making a new server ID when raft.db
// holds none. hasState says whether raft state exists. warn is set when the data dir
// shows that raft state was lost.
func loadIdentity(stable raft.StableStore, dataDir, name string, hasState bool) (id identity, warn string, err error) {
	sid, err := stableString(stable, keyServerID)
	if err != nil {
		return identity{}, "", err
	}
	file, fileErr := readIdentityFile(dataDir)
	switch {
	case sid != "":
		cid, err := stableString(stable, keyClusterID)
		if err != nil {
			return identity{}, "", err
		}
		id = identity{ServerID: sid, ClusterID: cid}
	case fileErr == nil && file.ServerID != "":
		// identity.json survived but raft.db did not (or was replaced): whatever
		// this master voted and stored under its old ID is gone.
		id = identity{ServerID: newUUID()}
		warn = fmt.Sprintf("raft state of server %s is gone (identity.json is left, raft.db is new); "+
			"starting as new server %s: the leader replaces the old entry, and without a quorum "+
			"of intact masters the cluster stays unavailable", file.ServerID, id.ServerID)
	case hasState:
		// Raft state from before server IDs existed: its raft ID was the name.
		id = identity{ServerID: name}
	default:
		id = identity{ServerID: newUUID()}
	}
	if err := storeIdentity(stable, dataDir, id); err != nil {
		return identity{}, "", err
	}
	return id, warn, nil
}

// storeIdentity writes id to raft.db first, then to identity.json.
func storeIdentity(stable raft.StableStore, dataDir string, id identity) error {
	if err := stable.Set(keyServerID, []byte(id.ServerID)); err != nil {
		return fmt.Errorf("store server ID: %w", err)
	}
	if err := stable.Set(keyClusterID, []byte(id.ClusterID)); err != nil {
		return fmt.Errorf("store cluster ID: %w", err)
	}
	if cur, err := readIdentityFile(dataDir); err == nil && cur == id {
		return nil
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dataDir, identityFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", identityFile, err)
	}
	return nil
}

func readIdentityFile(dataDir string) (identity, error) {
	var id identity
	b, err := os.ReadFile(filepath.Join(dataDir, identityFile))
	if err != nil {
		return id, err
	}
	err = json.Unmarshal(b, &id)
	return id, err
}

func stableString(s raft.StableStore, key []byte) (string, error) {
	v, err := s.Get(key)
	if err != nil {
		// raft-boltdb and raft's in-memory store both say "not found".
		if strings.Contains(err.Error(), "not found") {
			return "", nil
		}
		return "", fmt.Errorf("read %s from the raft stable store: %w", key, err)
	}
	return string(v), nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// clusterIDFor is the cluster ID of a cluster bootstrapped with servers: every
// master that computes the same configuration computes the same ID, and since the
// server IDs are random no other cluster has it.
func clusterIDFor(servers []raft.Server) string {
	lines := make([]string, len(servers))
	for i, s := range servers {
		lines[i] = string(s.ID) + "=" + string(s.Address)
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte("orch cluster\n" + strings.Join(lines, "\n")))
	return formatUUID(sum[:16])
}

var errIdentityMismatch = errors.New("consensus: answered by another server")
