package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one master's Prometheus metrics, served at /metrics on the API port. Each
// master has its own registry (tests run several masters in one process).
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // by procedure and code
	latency       *prometheus.HistogramVec // by procedure
	commit        prometheus.Histogram     // propose → committed and applied, on the leader
	leaderChanges prometheus.Counter
	pending       prometheus.Gauge
	bindLatency   prometheus.Histogram
}

func newMetrics(m *Master) *metrics {
	reg := prometheus.NewRegistry()
	x := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_api_requests_total",
			Help: "API requests by procedure and Connect code."}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orch_api_request_duration_seconds",
			Help: "Unary API request latency by procedure.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"procedure"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orch_raft_commit_duration_seconds",
			Help: "Time from proposal to commit and apply on the leader.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "orch_raft_leadership_changes_total",
			Help: "Times this master gained or lost leadership."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orch_scheduler_pending_pods",
			Help: "Pods waiting for a node at the last scheduling pass (leader only)."}),
		bindLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orch_scheduler_bind_duration_seconds",
			Help: "Time to commit one pass's bindings.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	reg.MustRegister(x.requests, x.latency, x.commit, x.leaderChanges, x.pending, x.bindLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_raft_applied_index", Help: "Last Raft index applied to the state store."},
			func() float64 { return float64(m.node.AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_raft_is_leader", Help: "1 when this master leads."},
			func() float64 {
				if m.node.IsLeader() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_watch_watchers", Help: "Open watch feeds."},
			func() float64 { w, _, _ := m.hub.stats(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_watch_history_events", Help: "Events held in the watch history."},
			func() float64 { _, n, _ := m.hub.stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_watch_history_bytes", Help: "Bytes held by the watch history."},
			func() float64 { _, _, b := m.hub.stats(); return float64(b) }),
	)
	return x
}

func (x *metrics) handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg})
}

// interceptor counts every RPC by procedure and code, and times unary ones.
func (x *metrics) interceptor() connect.Interceptor { return metricsInterceptor{x} }

type metricsInterceptor struct{ x *metrics }

func procedureName(p string) string { return strings.TrimPrefix(p, "/") }

func (i metricsInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		p := procedureName(req.Spec().Procedure)
		i.x.latency.WithLabelValues(p).Observe(time.Since(start).Seconds())
		i.x.requests.WithLabelValues(p, codeLabel(err)).Inc()
		return resp, err
	}
}

func (i metricsInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i metricsInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		i.x.requests.WithLabelValues(procedureName(conn.Spec().Procedure), codeLabel(err)).Inc()
		return err
	}
}

func codeLabel(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String()
	}
	return connect.CodeUnknown.String()
}
