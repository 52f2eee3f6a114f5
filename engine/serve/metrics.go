package serve

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are serve's Prometheus collectors, on a registry of their own
// (no global state), served at /metrics.
type Metrics struct {
	reg *prometheus.Registry

	receivedC   *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	refusedC    *prometheus.CounterVec
	intakeTime  prometheus.Histogram
	orderTime   *prometheus.HistogramVec
	records     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadC       *prometheus.CounterVec
	ticks       *prometheus.CounterVec
	reloads     *prometheus.CounterVec
	allocations *prometheus.CounterVec
	requests    *prometheus.CounterVec
	outcomes    *prometheus.CounterVec
	gaps        *prometheus.CounterVec
	gapUnits    *prometheus.CounterVec
	queue       *queueCollector
}

// NewMetrics makes serve's collectors on reg (a new registry when nil),
// with the Go runtime's and the process's.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{reg: reg,
		receivedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_webhooks_received_total",
			Help: "Webhooks verified and durably queued (or recognised as repeats), by pipeline and trigger."}, []string{"pipeline", "trigger"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_webhooks_duplicate_total",
			Help: "Webhooks answered 200 without queueing: their event was already queued."}, []string{"pipeline", "trigger"}),
		refusedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_webhooks_refused_total",
			Help: "Webhook requests refused, by reason: signature, too_large, not_json, method, not_found, unavailable."}, []string{"pipeline", "trigger", "reason"}),
		intakeTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pipectl_intake_seconds",
			Help:    "Time from a webhook's arrival to its answer, for those queued.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		orderTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pipectl_order_latency_seconds",
			Help:    "Time from a webhook's arrival to its run's commit: every sink acknowledged what it was given (the WMS has the pick ticket).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"pipeline"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_node_records_total",
			Help: "Records at each node, by outcome: in, out, dropped, errored, deferred (a sink failure kept to retry)."}, []string{"pipeline", "node", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_sink_retries_total",
			Help: "Sink deliveries retried from the store, by outcome: queued (a first failure), delivered, failed (to wait again)."}, []string{"pipeline", "sink", "outcome"}),
		deadC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_dead_letters_total",
			Help: "Dead letters made, by pipeline and the node that failed."}, []string{"pipeline", "node"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_cron_ticks_total",
			Help: "Cron ticks, by outcome: run, skipped (the previous run still ran), missed (downtime, not caught up), other (claimed by another process)."}, []string{"pipeline", "trigger", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_reloads_total",
			Help: "Pipeline reloads, by outcome: ok, failed (diagnostics printed, the old version kept)."}, []string{"outcome"}),
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_allocation_records_total",
			Help: "Records leaving allocate steps, by output: shipments, backorders, decisions, ... (allocation outcomes)."}, []string{"pipeline", "step", "output"}),
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_sink_requests_total",
		Help: "Requests sinks made, by the status answered (0: no answer: a network error or timeout)."}, []string{"pipeline", "sink", "status"})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_allocation_outcomes_total",
		Help: "Orders allocate steps decided, by outcome: allocated (one shipment), split, backordered, held, cancelled, none."}, []string{"pipeline", "step", "outcome"})
	m.gaps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_inventory_discrepancies_total",
		Help: "Inventory feed counts that differed from the on-hand quantity held, by pipeline, sink and direction: over (more counted than held) or under."}, []string{"pipeline", "sink", "direction"})
	m.gapUnits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipectl_inventory_discrepancy_units_total",
		Help: "Units by which inventory feed counts differed from what was held, by pipeline, sink and direction."}, []string{"pipeline", "sink", "direction"})
	m.queue = &queueCollector{
		depth:   prometheus.NewDesc("pipectl_queue_depth", "Deliveries queued or running, by pipeline.", []string{"pipeline"}, nil),
		oldest:  prometheus.NewDesc("pipectl_queue_oldest_seconds", "Age of the oldest queued delivery, by pipeline.", []string{"pipeline"}, nil),
		retries: prometheus.NewDesc("pipectl_retries_waiting", "Sink retries waiting, by pipeline.", []string{"pipeline"}, nil),
		open:    prometheus.NewDesc("pipectl_dead_letters_open", "Open dead letters, by pipeline.", []string{"pipeline"}, nil),
	}
	reg.MustRegister(m.receivedC, m.duplicates, m.refusedC, m.intakeTime, m.orderTime, m.records, m.retries, m.deadC, m.ticks, m.reloads, m.allocations, m.requests, m.outcomes, m.gaps, m.gapUnits, m.queue)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Reloaded counts a reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("failed").Inc()
	}
}

func (m *Metrics) watch(s *Server) { m.queue.s = s }

// answered counts a sink's request by its status.
func (m *Metrics) answered(pipeline string) func(sink string, status int) {
	return func(sink string, status int) {
		m.requests.WithLabelValues(pipeline, sink, strconv.Itoa(status)).Inc()
	}
}

// allocationOutcome counts the pipeline's orders by how they came out.
func (m *Metrics) allocationOutcome(pipeline string) func(step, outcome string) {
	return func(step, outcome string) { m.outcomes.WithLabelValues(pipeline, step, outcome).Inc() }
}

// discrepancy counts a feed's count that differed from what was held.
func (m *Metrics) discrepancy(pipeline, sink string, d component.Discrepancy) {
	diff := d.Counted.Sub(d.Held)
	direction := "over"
	if diff.IsNegative() {
		direction = "under"
	}
	units, _ := diff.Abs().Float64()
	m.gaps.WithLabelValues(pipeline, sink, direction).Inc()
	m.gapUnits.WithLabelValues(pipeline, sink, direction).Add(units)
}

func (m *Metrics) refused(pipeline, trigger, reason string) {
	m.refusedC.WithLabelValues(pipeline, trigger, reason).Inc()
}

func (m *Metrics) received(pipeline, trigger string, dup bool, took time.Duration) {
	m.receivedC.WithLabelValues(pipeline, trigger).Inc()
	if dup {
		m.duplicates.WithLabelValues(pipeline, trigger).Inc()
	}
	m.intakeTime.Observe(took.Seconds())
}

func (m *Metrics) delivered(pipeline string, latency time.Duration) {
	m.orderTime.WithLabelValues(pipeline).Observe(latency.Seconds())
}

func (m *Metrics) deadLetters(pipeline, node string, n int) {
	m.deadC.WithLabelValues(pipeline, node).Add(float64(n))
}

func (m *Metrics) retriesQueued(pipeline string, rs []*state.Retry) {
	for _, r := range rs {
		m.retries.WithLabelValues(pipeline, r.Sink, "queued").Inc()
	}
}

func (m *Metrics) retried(pipeline, sink string, delivered bool) {
	if delivered {
		m.retries.WithLabelValues(pipeline, sink, "delivered").Inc()
	} else {
		m.retries.WithLabelValues(pipeline, sink, "failed").Inc()
	}
}

func (m *Metrics) tick(pipeline, trigger, outcome string) {
	m.ticks.WithLabelValues(pipeline, trigger, outcome).Inc()
}

// nodes adds a run's per-node counts.
func (m *Metrics) nodes(pipeline string, ns []engine.NodeStats) {
	for _, n := range ns {
		for _, c := range []struct {
			outcome string
			v       int64
		}{{"in", n.In}, {"out", n.Out}, {"dropped", n.Dropped}, {"errored", n.Errored - n.Deferred}, {"deferred", n.Deferred}} {
			if c.v > 0 {
				m.records.WithLabelValues(pipeline, n.Name, c.outcome).Add(float64(c.v))
			}
		}
		if n.Kind == "allocate" {
			for out, v := range n.ByOutput {
				if v > 0 {
					m.allocations.WithLabelValues(pipeline, n.Name, out).Add(float64(v))
				}
			}
		}
	}
}

// queueCollector reads the queue's depth and the open dead letters from
// the store at each scrape.
type queueCollector struct {
	s                            *Server
	depth, oldest, retries, open *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.retries
	ch <- c.open
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s == nil || c.s.cfg.Queue == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := c.s.cfg.Clock.Now()
	for _, name := range c.s.Pipelines() {
		d, err := c.s.cfg.Queue.Depth(ctx, name)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(d.Queued), name)
		age := 0.0
		if !d.Oldest.IsZero() {
			age = now.Sub(d.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, name)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.GaugeValue, float64(d.Retries), name)
	}
	if open, err := c.s.cfg.Queue.CountDeadLetters(ctx); err == nil {
		for _, name := range c.s.Pipelines() {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(open[name]), name)
		}
	}
}
