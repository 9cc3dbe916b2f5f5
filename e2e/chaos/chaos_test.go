package chaos

// TestChaos runs histories one after another, each on a fresh 3-master cluster with one
// nemesis, and prints one JSON line per history and a summary line. Without
// CHAOS_HISTORIES (or with CHAOS_SHORT=1) it runs the short set: every nemesis once.
//
//	CHAOS_HISTORIES=N     run N histories, the nemeses in turn
//	CHAOS_NEMESIS=a,b     only these nemeses (names as in the JSON lines)
//	CHAOS_WIPE=0          leave out the wiped-data-dir nemeses (wipe-follower, wipe-quorum)
//	CHAOS_SEED=S          seed of the first history (the next get S+1, ...)
//	CHAOS_CHECK_TIMEOUT   how long porcupine may take per key (default 30s); a timeout fails
//	CHAOS_OUT=FILE        append the JSON lines to FILE too
//	CHAOS_ARTIFACTS=DIR   on a violation, keep the masters' logs and porcupine's
//	                      visualization there

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/anishathalye/porcupine"

	"github.com/orchd/orch/e2e/harness"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// The timeline of a history: the workload runs alone for warmup, then with the fault for
// window; the fault is healed, the cluster settles, and the workload goes on for tail.
const (
	warmup = 2 * time.Second
	window = 5 * time.Second
	tail   = 2 * time.Second
)

type historyResult struct {
	History         int            `json:"history"`
	Nemesis         string         `json:"nemesis"`
	Seed            uint64         `json:"seed"`
	Ops             int            `json:"ops"`
	Unknown         int            `json:"unknown"`
	Changes         int            `json:"changes"`
	Violations      int            `json:"violations"`
	LostAcks        int            `json:"lost_acks"`
	WatchGaps       int            `json:"watch_gaps"`
	CheckerTimeouts int            `json:"checker_timeouts"`
	Reconnects      int            `json:"watch_reconnects"`
	Errors          map[string]int `json:"errors,omitempty"`
	Seconds         float64        `json:"seconds"`
	Problems        []string       `json:"problems,omitempty"`
}

type summary struct {
	Histories       int `json:"histories"`
	Violations      int `json:"violations"`
	LostAcks        int `json:"lost_acks"`
	WatchGaps       int `json:"watch_gaps"`
	CheckerTimeouts int `json:"checker_timeouts"`
}

func TestChaos(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: every master runs in its own network namespace and partitions are nftables rules")
	}
	if !harness.HaveNft() {
		t.Skip("needs the nft binary (apt-get install nftables; make deps installs it)")
	}
	bin, err := harness.Binaries(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	all := nemeses(os.Getenv("CHAOS_WIPE") != "0", os.Getenv("CHAOS_WIPE") != "0")
	if only := os.Getenv("CHAOS_NEMESIS"); only != "" {
		want := strings.Split(only, ",")
		all = slices.DeleteFunc(all, func(mk func() nemesis) bool { return !slices.Contains(want, mk().Name()) })
		if len(all) == 0 {
			t.Fatalf("CHAOS_NEMESIS=%s names no nemesis", only)
		}
	}
	histories := len(all)
	if s := os.Getenv("CHAOS_HISTORIES"); s != "" && os.Getenv("CHAOS_SHORT") != "1" {
		if histories, err = strconv.Atoi(s); err != nil || histories < 1 {
			t.Fatalf("CHAOS_HISTORIES=%q: want a positive number", s)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
	}
	checkTimeout := 30 * time.Second
	if s := os.Getenv("CHAOS_CHECK_TIMEOUT"); s != "" {
		if checkTimeout, err = time.ParseDuration(s); err != nil {
			t.Fatalf("CHAOS_CHECK_TIMEOUT=%q: %v", s, err)
		}
	}
	emit := jsonLines(t)

	var sum summary
	for i := range histories {
		mk := all[i%len(all)]
		res := historyResult{History: i, Nemesis: mk().Name(), Seed: seed + uint64(i)}
		ok := t.Run(fmt.Sprintf("%03d-%s", i, res.Nemesis), func(t *testing.T) {
			runHistory(t, bin, mk(), checkTimeout, &res)
		})
		if !ok && res.Violations+res.CheckerTimeouts == 0 {
			// It broke before it could check anything (the cluster did not start, say).
			res.Violations++
			res.Problems = append(res.Problems, "the history did not complete; see the test log")
		}
		emit(res)
		sum.Histories++
		sum.Violations += res.Violations
		sum.LostAcks += res.LostAcks
		sum.WatchGaps += res.WatchGaps
		sum.CheckerTimeouts += res.CheckerTimeouts
	}
	emit(sum)
	if sum.Violations > 0 || sum.CheckerTimeouts > 0 {
		t.Errorf("%d violations (%d lost acknowledged writes, %d watch gaps) and %d checker timeouts in %d histories",
			sum.Violations, sum.LostAcks, sum.WatchGaps, sum.CheckerTimeouts, sum.Histories)
	}
}

// jsonLines returns a function printing one JSON line to stdout (and to $CHAOS_OUT).
func jsonLines(t *testing.T) func(any) {
	var out *os.File
	if p := os.Getenv("CHAOS_OUT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		out = f
	}
	return func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(os.Stdout, "%s\n", b)
		if out != nil {
			fmt.Fprintf(out, "%s\n", b)
		}
	}
}

func runHistory(t *testing.T, bin string, nem nemesis, checkTimeout time.Duration, res *historyResult) {
	began := time.Now()
	e := newEnv(t, bin, 3, res.Seed)
	ctx := context.Background()
	var f findings
	defer func() {
		res.Violations, res.LostAcks, res.WatchGaps, res.CheckerTimeouts = f.Violations(), f.LostAcks, f.WatchGaps, f.CheckerTimeouts
		res.Seconds = time.Since(began).Round(10 * time.Millisecond).Seconds()
		res.Problems = f.Problems[:min(len(f.Problems), 10)]
		for _, p := range f.Problems {
			t.Error(p)
		}
		if len(f.Problems) > 0 {
			e.keepLogs(t)
		}
	}()

	initial, startRV := setup(t, e)
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	var watchers []*watcher
	var dones []chan struct{}
	for i, m := range e.masters() {
		w := &watcher{name: "watch@" + m.Name, home: i, e: e, http: transport.Client()}
		w.pos.Store(startRV)
		done := make(chan struct{})
		go w.run(wctx, done)
		watchers, dones = append(watchers, w), append(dones, done)
	}

	wl := newWorkload(e, res.Seed)
	workStart := time.Now()
	wl.run()
	time.Sleep(warmup)
	if err := nem.Start(ctx, e); err != nil {
		f.add(&f.Other, "nemesis %s did not start: %v", nem.Name(), err)
	}
	time.Sleep(time.Until(workStart.Add(warmup + window)))
	if err := nem.Stop(ctx, e); err != nil {
		f.add(&f.Other, "nemesis %s did not stop: %v", nem.Name(), err)
	}
	e.settle(ctx, &f)
	e.logf("healed and settled")
	time.Sleep(tail)
	wl.finish()
	rec := wl.rec
	e.logf("workload done: %d operations, %d without a definite outcome", rec.ops, rec.unknown)

	// The marker is the last write: every watcher must get that far.
	marker := e.createMarker(t)
	rec.writes = append(rec.writes, marker)
	for _, key := range registers {
		for _, m := range e.memberList() {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			call := rec.now()
			got, err := e.configMaps(m).Get(rctx, connect.NewRequest(&orchv1.GetRequest{Namespace: namespace, Name: key}))
			ret := rec.now()
			cancel()
			if err != nil {
				f.add(&f.Other, "after healing, reading %s on %s: %v", key, m.Name, err)
				continue
			}
			rec.casOp(porcupine.Operation{ClientId: -1, Input: casInput{Key: key, Read: true},
				Output: casOutput{Value: got.Msg.GetData()["v"], RV: parseRV(got.Msg.GetMetadata().GetResourceVersion())}, Call: call, Return: ret})
		}
	}
	until(ctx, 30*time.Second, func(context.Context) error {
		for _, w := range watchers {
			if w.pos.Load() < marker.RV {
				return fmt.Errorf("%s at %d", w.name, w.pos.Load())
			}
		}
		return nil
	})
	stopWatchers()
	streams := map[string]watchStream{}
	for i, w := range watchers {
		<-dones[i]
		res.Reconnects += w.reconnects
		if w.pos.Load() < marker.RV {
			f.add(&f.WatchGaps, "%s stalled at %d, the last write is at %d (last error: %v)", w.name, w.pos.Load(), marker.RV, w.lastErr)
		}
		streams[w.name] = watchStream{Events: w.events, Pos: w.pos.Load()}
	}

	final := e.finalList(t)
	changes := checkStreams(&f, initial, streams, rec.writes, final)
	res.Changes = len(changes)
	for _, key := range registers {
		ops := rec.cas[key]
		model := casModel(casState{Value: "init", RV: initial[key].RV, Exact: true})
		result, info := porcupine.CheckOperationsVerbose(model, ops, checkTimeout)
		switch result {
		case porcupine.Illegal:
			f.add(&f.Other, "the compare-and-set history of %s (%d operations) is not linearizable: %s", key, len(ops), explainIllegal(model, ops, info))
			e.keepVisualization(t, key, model, info)
		case porcupine.Unknown:
			f.add(&f.CheckerTimeouts, "the linearizability check of %s (%d operations) timed out after %v", key, len(ops), checkTimeout)
		}
	}
	e.compareStores(ctx, &f)
	res.Ops, res.Unknown, res.Errors = rec.ops, rec.unknown, rec.errors
	e.logf("checked: %d operations, %d changes, %d watch reconnects, %d problems", rec.ops, len(changes), res.Reconnects, len(f.Problems))
}

// setup creates the namespace and the registers, and returns them and the
// resourceVersion the watches start after.
func setup(t *testing.T, e *env) (map[string]objState, uint64) {
	t.Helper()
	ctx := context.Background()
	m := e.c.Masters[0]
	ns := orchv1connect.NewNamespaceServiceClient(e.http, m.URL())
	if _, err := ns.Create(ctx, connect.NewRequest(&orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: namespace}})); err != nil {
		t.Fatal(err)
	}
	initial := map[string]objState{}
	var start uint64
	for _, key := range registers {
		cm := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: key, Namespace: namespace}, Data: map[string]string{"v": "init"}}
		got, err := e.configMaps(m).Create(ctx, connect.NewRequest(cm))
		if err != nil {
			t.Fatal(err)
		}
		rv := parseRV(got.Msg.GetMetadata().GetResourceVersion())
		initial[key] = objState{RV: rv, Value: "init"}
		start = max(start, rv)
	}
	return initial, start
}

// createMarker writes the history's last object, retrying until it is acknowledged.
func (e *env) createMarker(t *testing.T) write {
	t.Helper()
	w := write{Kind: writeCreate, Name: "marker", Value: "marker", Outcome: acked}
	err := until(context.Background(), 30*time.Second, func(ctx context.Context) error {
		m := e.pick(e.memberList())
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cm := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: w.Name, Namespace: namespace}, Data: map[string]string{"v": w.Value}}
		got, err := e.configMaps(m).Create(rctx, connect.NewRequest(cm))
		if connect.CodeOf(err) == connect.CodeAlreadyExists { // an earlier try whose answer was lost
			var g *connect.Response[orchv1.ConfigMap]
			if g, err = e.configMaps(m).Get(rctx, connect.NewRequest(&orchv1.GetRequest{Namespace: namespace, Name: w.Name})); err == nil {
				got = g
			}
		}
		if err != nil {
			return err
		}
		w.RV = parseRV(got.Msg.GetMetadata().GetResourceVersion())
		return nil
	})
	if err != nil {
		t.Fatalf("write the marker after healing: %v", err)
	}
	return w
}

// finalList is a linearizable list of the namespace's ConfigMaps.
func (e *env) finalList(t *testing.T) map[string]objState {
	t.Helper()
	final := map[string]objState{}
	err := until(context.Background(), 30*time.Second, func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l, err := e.configMaps(e.pick(e.memberList())).List(rctx, connect.NewRequest(&orchv1.ListRequest{Namespace: namespace}))
		if err != nil {
			return err
		}
		for _, o := range l.Msg.GetItems() {
			final[o.GetMetadata().GetName()] = objState{RV: parseRV(o.GetMetadata().GetResourceVersion()), Value: o.GetData()["v"]}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list after healing: %v", err)
	}
	return final
}

// keepLogs copies the masters' logs to $CHAOS_ARTIFACTS/<test name>/.
func (e *env) keepLogs(t *testing.T) {
	dir := artifactDir(t)
	if dir == "" {
		return
	}
	for _, m := range e.masters() {
		if b, err := os.ReadFile(m.LogPath); err == nil {
			os.WriteFile(filepath.Join(dir, m.Name+".log"), b, 0o644)
		}
	}
}

func (e *env) keepVisualization(t *testing.T, key string, model porcupine.Model, info porcupine.LinearizationInfo) {
	dir := artifactDir(t)
	if dir == "" {
		return
	}
	p := filepath.Join(dir, key+".html")
	if err := porcupine.VisualizePath(model, info, p); err != nil {
		t.Logf("visualize %s: %v", key, err)
		return
	}
	t.Logf("porcupine's visualization of %s: %s", key, p)
}

func artifactDir(t *testing.T) string {
	root := os.Getenv("CHAOS_ARTIFACTS")
	if root == "" {
		return ""
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return ""
	}
	return dir
}
