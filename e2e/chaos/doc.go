// Package chaos is the fault-injection suite of orch's control plane: real `orchd server`
// masters, each in its own network namespace on a test bridge, under a nemesis (kill -9,
// SIGSTOP, partitions, membership changes, a wiped data dir) while clients on every
// master compare-and-set, create, delete and watch ConfigMaps. After the faults heal it
// checks the histories: compare-and-set is linearizable per key (porcupine), no
// acknowledged write is lost, every watcher saw every committed change once and in
// order, and every master holds the same state.
//
// Everything it creates (namespaces, a bridge, nftables tables, processes, data dirs) is
// removed when a history ends, also when it fails. It never sends a packet off the
// machine: the masters reach only each other and the test process, over the bridge.
//
// Run it with `make chaos` (CHAOS_HISTORIES histories, one JSON line each); `make test`
// and `make e2e` run the short set, one history per nemesis. It needs root and nft.
package chaos
