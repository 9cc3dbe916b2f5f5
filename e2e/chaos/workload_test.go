package chaos

// The clients of a history: compare-and-set on a few registers, creates of unique names
// and deletes of them, each call to a master picked at random; and one watcher per
// master that resumes on another master when its stream breaks. Everything they do and
// see is recorded for the checks.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/anishathalye/porcupine"

	"github.com/orchd/orch/e2e/harness"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

const (
	opTimeout  = time.Second // short: calls cut off mid-commit are what the checks are for
	casWorkers = 4
	crWorkers  = 2
)

var registers = []string{"reg-0", "reg-1", "reg-2"}

type recorder struct {
	start time.Time

	mu      sync.Mutex
	cas     map[string][]porcupine.Operation
	writes  []write
	ops     int
	unknown int
	errors  map[string]int // definite refusals other than conflicts, by code
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) casOp(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cas[op.Input.(casInput).Key] = append(r.cas[op.Input.(casInput).Key], op)
	r.ops++
	if op.Output.(casOutput).Unknown {
		r.unknown++
	}
}

func (r *recorder) write(w write, res result, code connect.Code) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.Kind != writeUpdate { // updates are counted as compare-and-set operations
		r.ops++
		if w.Outcome == unknown {
			r.unknown++
		}
	}
	r.writes = append(r.writes, w)
	if res == resDefinite {
		r.errors[fmt.Sprintf("%s %s", w.Kind, code)]++
	}
}

type workload struct {
	e      *env
	rec    *recorder
	http   *http.Client
	stop   atomic.Bool
	wg     sync.WaitGroup
	seed   uint64
	client atomic.Int64 // porcupine client ids: a client whose call has no outcome becomes a new one
}

func newWorkload(e *env, seed uint64) *workload {
	return &workload{e: e, seed: seed, http: transport.Client(),
		rec: &recorder{start: e.start, cas: map[string][]porcupine.Operation{}, errors: map[string]int{}}}
}

func (w *workload) configMaps(m *harness.Master) orchv1connect.ConfigMapServiceClient {
	return orchv1connect.NewConfigMapServiceClient(w.http, m.URL())
}

func (w *workload) run() {
	for i := range casWorkers {
		w.wg.Add(1)
		go w.casWorker(i)
	}
	for i := range crWorkers {
		w.wg.Add(1)
		go w.createWorker(i)
	}
}

// finish stops the clients and waits for their last calls.
func (w *workload) finish() {
	w.stop.Store(true)
	w.wg.Wait()
}

func think(rng *rand.Rand) { time.Sleep(time.Duration(5+rng.IntN(15)) * time.Millisecond) }

func (w *workload) casWorker(id int) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(w.seed, uint64(100+id)))
	cid := int(w.client.Add(1))
	for n := 0; !w.stop.Load(); n++ {
		think(rng)
		key := registers[rng.IntN(len(registers))]
		ms := w.e.masters()
		cl := w.configMaps(ms[rng.IntN(len(ms))])
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		call := w.rec.now()
		got, err := cl.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: namespace, Name: key}))
		ret := w.rec.now()
		cancel()
		if err != nil {
			continue // a read that failed tells nothing
		}
		cur, expect := got.Msg, got.Msg.GetData()["v"]
		w.rec.casOp(porcupine.Operation{ClientId: cid, Input: casInput{Key: key, Read: true},
			Output: casOutput{Value: expect, RV: parseRV(cur.GetMetadata().GetResourceVersion())}, Call: call, Return: ret})

		value := fmt.Sprintf("c%d-%d", id, n)
		cur.Data = map[string]string{"v": value}
		ctx, cancel = context.WithTimeout(context.Background(), opTimeout)
		call = w.rec.now()
		upd, err := cl.Update(ctx, connect.NewRequest(cur))
		ret = w.rec.now()
		cancel()
		res, code := classify(err)
		in := casInput{Key: key, Expect: expect, Value: value}
		wr := write{Kind: writeUpdate, Name: key, Value: value}
		switch res {
		case resNotSent:
			continue
		case resOK:
			rv := parseRV(upd.Msg.GetMetadata().GetResourceVersion())
			w.rec.casOp(porcupine.Operation{ClientId: cid, Input: in, Output: casOutput{OK: true, RV: rv}, Call: call, Return: ret})
			wr.Outcome, wr.RV = acked, rv
		case resAborted:
			w.rec.casOp(porcupine.Operation{ClientId: cid, Input: in, Output: casOutput{}, Call: call, Return: ret})
			wr.Outcome = refused
		case resUnknown:
			w.rec.casOp(porcupine.Operation{ClientId: cid, Input: in, Output: casOutput{Unknown: true}, Call: call, Return: never})
			wr.Outcome = unknown
			cid = int(w.client.Add(1))
		default:
			wr.Outcome = refused
		}
		w.rec.write(wr, res, code)
	}
}

func (w *workload) createWorker(id int) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(w.seed, uint64(200+id)))
	var live []string // created (acknowledged) and not deleted
	for n := 0; !w.stop.Load(); n++ {
		think(rng)
		ms := w.e.masters()
		cl := w.configMaps(ms[rng.IntN(len(ms))])
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if len(live) > 0 && rng.IntN(10) < 3 {
			i := rng.IntN(len(live))
			name := live[i]
			_, err := cl.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Namespace: namespace, Name: name}))
			cancel()
			res, code := classify(err)
			wr := write{Kind: writeDelete, Name: name}
			switch res {
			case resNotSent:
				continue
			case resOK:
				wr.Outcome = acked
			case resUnknown:
				wr.Outcome = unknown
			default:
				wr.Outcome = refused
			}
			live = append(live[:i], live[i+1:]...) // gone, or maybe gone: never touched again
			w.rec.write(wr, res, code)
			continue
		}
		name := fmt.Sprintf("u%d-%d", id, n)
		cm := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"chaos": "unique"}},
			Data: map[string]string{"v": name}}
		created, err := cl.Create(ctx, connect.NewRequest(cm))
		cancel()
		res, code := classify(err)
		wr := write{Kind: writeCreate, Name: name, Value: name}
		switch res {
		case resNotSent:
			continue
		case resOK:
			wr.Outcome, wr.RV = acked, parseRV(created.Msg.GetMetadata().GetResourceVersion())
			live = append(live, name)
		case resUnknown:
			wr.Outcome = unknown
		default:
			wr.Outcome = refused
		}
		w.rec.write(wr, res, code)
	}
}

// watcher is one client's list-free watch of the namespace from a fixed resourceVersion:
// it starts on its home master and, when a stream breaks, resumes from the last
// resourceVersion it saw on the next master.
type watcher struct {
	name   string
	home   int
	e      *env
	http   *http.Client
	pos    atomic.Uint64
	events []event // owned by run until it returns

	reconnects int
	lastErr    error
}

func (w *watcher) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for i := w.home; ctx.Err() == nil; i++ {
		ms := w.e.masters()
		m := ms[i%len(ms)]
		err := w.stream(ctx, m)
		if ctx.Err() != nil {
			return
		}
		w.reconnects++
		w.lastErr = fmt.Errorf("%s: %w", m.Name, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openTimeout bounds how long a watch may take to send its opening bookmark: a paused
// master or one that is behind is left for another.
const openTimeout = 5 * time.Second

func (w *watcher) stream(ctx context.Context, m *harness.Master) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(openTimeout, cancel)
	defer watchdog.Stop()
	cl := orchv1connect.NewConfigMapServiceClient(w.http, m.URL())
	st, err := cl.Watch(ctx, connect.NewRequest(&orchv1.WatchRequest{Namespace: namespace, ResourceVersion: fmt.Sprint(w.pos.Load())}))
	if err != nil {
		return err
	}
	defer st.Close()
	for st.Receive() {
		watchdog.Stop()
		ev := st.Msg()
		rv := parseRV(ev.GetObject().GetMetadata().GetResourceVersion())
		if ev.GetType() == "BOOKMARK" {
			if rv > w.pos.Load() {
				w.pos.Store(rv)
			}
			continue
		}
		w.events = append(w.events, event{Type: ev.GetType(), Name: ev.GetObject().GetMetadata().GetName(), RV: rv,
			Value: ev.GetObject().GetData()["v"]})
		w.pos.Store(rv)
	}
	if err := st.Err(); err != nil {
		return err
	}
	return errors.New("stream ended")
}
