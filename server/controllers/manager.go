// Package controllers holds the workload controllers of the master (ReplicaSet,
// Deployment, DaemonSet, garbage collection, namespace deletion, node lifecycle, event
// expiry) and the runtime they share: informers over the local state store, a
// rate-limited work queue, expectations, and one Manager that the Raft leader starts
// with its leadership and that stops when leadership ends.
//
// Controllers are level-triggered: events only queue keys; a worker reads the current
// state and reconciles it with a pure function that returns the writes to make. They
// never write the store themselves and never act on an event's payload: every write goes
// through Writer with the leader's context, so that a deposed leader's writes are fenced.
package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// View is a consistent read-only view of the store. Objects read from it are constants:
// clone them before changing anything.
type View interface {
	Index() uint64
	Get(k *api.Kind, key string) (api.Object, bool)
	// List returns the objects of a kind in a namespace ("" for all), sorted by key.
	List(k *api.Kind, namespace string) []api.Object
	// Owned returns the objects of a kind with an ownerReference to uid, sorted by key.
	Owned(k *api.Kind, ownerUID string) []api.Object
	// PodsOnNode returns the pods bound to a node, sorted by key.
	PodsOnNode(node string) []api.Object
}

// Event is one change of one object.
type Event struct {
	Type string // api.Added, api.Modified, api.Deleted
	Obj  api.Object
	Prev api.Object // the object before a MODIFIED change; nil otherwise
}

// Feed is a stream of the changes of one kind.
type Feed interface {
	// Next waits for the next change; an error means the feed is lost (fell behind, the
	// store was restored) or ctx ended.
	Next(ctx context.Context) (Event, error)
	Close()
}

// Source is the local state store and its change feeds.
type Source interface {
	// Watch opens a view and a feed of every change of kind after it, as one step.
	Watch(k *api.Kind) (View, Feed, error)
	// View opens a view of the current state.
	View() View
}

// Writer makes writes through the API (admission, Raft). The leader's context fences them.
type Writer interface {
	Create(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error)
	Update(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, r *orchv1.DeleteRequest) (api.Object, error)
	// Finalize replaces a namespace's spec.finalizers (the finalize subresource).
	Finalize(ctx context.Context, ns *orchv1.Namespace) (api.Object, error)
}

// Deps is what controllers need of the master.
type Deps struct {
	Source Source
	Writer Writer
	Log    *slog.Logger
	Now    func() time.Time
	// Registerer, when set, gets the controllers' metrics for the time the manager runs.
	Registerer prometheus.Registerer
	// Recorder records the controllers' Events; nil records none.
	Recorder *record.Recorder
	// EventTTL is how long Events are kept after they last happened (DefaultEventTTL).
	EventTTL time.Duration
}

// Result tells the manager when to look at a key again without an event.
type Result struct {
	RequeueAfter time.Duration
}

// Controller reconciles the objects of one kind.
type Controller interface {
	Name() string
	// Setup registers the controller's event handlers; they queue keys on q.
	Setup(inf *Informers, q *Queue)
	// Sync reconciles one key from the current state. An error retries it with back-off.
	Sync(ctx context.Context, key string) (Result, error)
}

// Manager runs controllers while this master leads.
type Manager struct {
	deps        Deps
	controllers []Controller
	workers     int
}

// NewManager returns a manager of the default controllers.
func NewManager(deps Deps) *Manager {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{deps: deps, workers: 2, controllers: []Controller{
		NewReplicaSetController(deps),
		NewDeploymentController(deps),
		NewDaemonSetController(deps),
		NewGarbageCollector(deps),
		NewNamespaceController(deps),
		NewNodeLifecycleController(deps),
		NewEventTTLController(deps),
	}}
}

// NewManagerOf returns a manager of the given controllers (tests).
func NewManagerOf(deps Deps, cs ...Controller) *Manager {
	m := NewManager(deps)
	m.controllers = cs
	return m
}

// Run starts the informers and the controllers' workers and blocks until ctx ends,
// then stops them all.
func (m *Manager) Run(ctx context.Context) {
	log := m.deps.Log.With("component", "controllers")
	met := newMetrics()
	if r := m.deps.Registerer; r != nil {
		if err := met.register(r); err != nil {
			log.Warn("register controller metrics", "err", err)
		} else {
			defer met.unregister(r)
		}
	}
	inf := newInformers(m.deps.Source, log)
	queues := make([]*Queue, len(m.controllers))
	for i, c := range m.controllers {
		queues[i] = NewQueue(0, 0)
		c.Setup(inf, queues[i])
	}
	var wg sync.WaitGroup
	inf.start(ctx, &wg)
	if !inf.waitSynced(ctx) {
		wg.Wait()
		return
	}
	log.Info("controllers started")
	for i, c := range m.controllers {
		q := queues[i]
		met.depth.WithLabelValues(c.Name()).Set(0)
		for range m.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.work(ctx, c, q, met, log.With("controller", c.Name()))
			}()
		}
	}
	<-ctx.Done()
	for _, q := range queues {
		q.ShutDown()
	}
	wg.Wait()
	log.Info("controllers stopped")
}

func (m *Manager) work(ctx context.Context, c Controller, q *Queue, met *metrics, log *slog.Logger) {
	name := c.Name()
	for {
		key, stop := q.Get()
		if stop {
			return
		}
		start := time.Now()
		res, err := m.sync(ctx, c, key)
		met.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		switch {
		case err != nil && ctx.Err() != nil:
			// leadership ended: nothing to retry here
		case err != nil:
			met.syncs.WithLabelValues(name, "error").Inc()
			met.retries.WithLabelValues(name).Inc()
			if q.NumRequeues(key) >= 5 {
				log.Warn("sync failed", "key", key, "retries", q.NumRequeues(key), "err", err)
			} else {
				log.Debug("sync failed", "key", key, "err", err)
			}
			q.AddRateLimited(key)
		default:
			met.syncs.WithLabelValues(name, "ok").Inc()
			q.Forget(key)
			if res.RequeueAfter > 0 {
				q.AddAfter(key, res.RequeueAfter)
			}
		}
		q.Done(key)
		met.depth.WithLabelValues(name).Set(float64(q.Len()))
	}
}

func (m *Manager) sync(ctx context.Context, c Controller, key string) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s sync of %s: %v", c.Name(), key, r)
		}
	}()
	return c.Sync(ctx, key)
}

type metrics struct {
	syncs    *prometheus.CounterVec
	retries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	depth    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_controller_syncs_total",
			Help: "Controller syncs by controller and result (leader only)."}, []string{"controller", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_controller_retries_total",
			Help: "Keys queued again with back-off after a failed sync."}, []string{"controller"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orch_controller_sync_duration_seconds",
			Help: "Time of one controller sync.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"controller"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_controller_queue_depth",
			Help: "Keys waiting in a controller's work queue."}, []string{"controller"}),
	}
}

func (x *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{x.syncs, x.retries, x.duration, x.depth}
}

func (x *metrics) register(r prometheus.Registerer) error {
	for i, c := range x.collectors() {
		if err := r.Register(c); err != nil {
			for _, done := range x.collectors()[:i] {
				r.Unregister(done)
			}
			return err
		}
	}
	return nil
}

func (x *metrics) unregister(r prometheus.Registerer) {
	for _, c := range x.collectors() {
		r.Unregister(c)
	}
}
