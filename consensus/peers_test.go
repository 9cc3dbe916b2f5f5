package consensus

import (
	"testing"
	"time"
)

// The first master has no --join: restarted, it must find the others from the gossip
// peers it recorded, or it could never learn where the leader's API is.
func TestRestartedSeedRejoinsGossip(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3, nil)
	seed := ms[0]
	if len(seed.cfg.Join) != 0 {
		t.Fatal("the seed master must have no Join")
	}
	waitFor(t, 10*time.Second, "the seed to record its peers", func() bool { return len(loadPeers(seed.cfg.DataDir)) == 2 })
	seed.stop(t)
	seed.start(t)
	waitFor(t, 15*time.Second, "the restarted seed to see the others and the leader", func() bool {
		alive := 0
		for _, m := range seed.node.Members() {
			if m.Status == StatusAlive {
				alive++
			}
		}
		_, ok := seed.node.Leader()
		return alive == 3 && ok
	})
}
