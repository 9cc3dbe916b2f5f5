package consensus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/orchd/orch/fsutil"
)

// The gossip addresses of the masters this one has seen are kept in the data dir, so
// that a master restarted without --join (the first one of a cluster, say) finds the
// others again: Raft alone would replicate to it, but without gossip it could not tell
// where the leader's API is.
const peersFile = "gossip-peers.json"

type peerList struct {
	Peers []string `json:"peers"`
}

// savePeers records the gossip addresses of every known master but self.
func (g *gossip) savePeers() {
	if g.dataDir == "" {
		return
	}
	g.mu.Lock()
	var addrs []string
	for _, m := range g.members {
		if m.gossip != "" && m.gossip != g.self {
			addrs = append(addrs, m.gossip)
		}
	}
	g.mu.Unlock()
	slices.Sort(addrs)
	g.saveMu.Lock()
	defer g.saveMu.Unlock()
	if slices.Equal(addrs, g.saved) {
		return
	}
	b, err := json.Marshal(peerList{Peers: addrs})
	if err != nil {
		return
	}
	if fsutil.WriteFile(filepath.Join(g.dataDir, peersFile), b, 0o600) == nil {
		g.saved = addrs
	}
}

// loadPeers reads the recorded gossip addresses; a missing or unreadable file gives none
// (the configured --join still applies).
func loadPeers(dataDir string) []string {
	b, err := os.ReadFile(filepath.Join(dataDir, peersFile))
	if err != nil {
		return nil
	}
	var l peerList
	if json.Unmarshal(b, &l) != nil {
		return nil
	}
	return l.Peers
}
