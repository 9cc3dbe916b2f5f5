package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orchd/orch/node/runtime"
)

// agentMetrics are the agent's Prometheus metrics, served at /metrics on its API port.
type agentMetrics struct {
	reg           *prometheus.Registry
	starts        *prometheus.CounterVec // by result
	startDuration prometheus.Histogram
	pulls         *prometheus.CounterVec // by result
}

func newAgentMetrics(a *Agent) *agentMetrics {
	x := &agentMetrics{
		reg: prometheus.NewRegistry(),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_node_container_starts_total",
			Help: "Container starts by result (ok, config_error, run_error)."}, []string{"result"}),
		startDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orch_node_container_start_duration_seconds",
			Help: "Time for the runtime to create and start a container.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_node_image_pulls_total",
			Help: "Image pulls by result (ok, error)."}, []string{"result"}),
	}
	x.reg.MustRegister(x.starts, x.startDuration, x.pulls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_node_pods", Help: "Pods this agent runs."},
			func() float64 {
				a.mu.Lock()
				defer a.mu.Unlock()
				return float64(len(a.workers))
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orch_node_containers_running", Help: "Running containers."},
			func() float64 {
				states, err := a.rt.List()
				if err != nil {
					return 0
				}
				n := 0
				for _, st := range states {
					if st.Status == runtime.StatusRunning {
						n++
					}
				}
				return float64(n)
			}),
	)
	return x
}

func (x *agentMetrics) handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg})
}
