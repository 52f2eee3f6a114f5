package serve

import (
	"slices"
	"sync"
	"time"
)

// KPIs are what merchants track of a pipeline since the server started,
// for the console (Prometheus has the same as counters and histograms).
type KPIs struct {
	Delivered int64 `json:"orders_delivered"`
	// LatencyP50 and LatencyP99 are of the last latencyWindow orders:
	// webhook received to every sink acknowledged.
	LatencyP50    time.Duration    `json:"latency_p50"`
	LatencyP99    time.Duration    `json:"latency_p99"`
	Outcomes      map[string]int64 `json:"allocation_outcomes,omitempty"`
	Discrepancies int64            `json:"inventory_discrepancies"`
	Refused       map[string]int64 `json:"webhooks_refused,omitempty"` // by reason
}

// latencyWindow is how many recent order latencies the percentiles use.
const latencyWindow = 2048

type kpiTracker struct {
	mu sync.Mutex
	by map[string]*kpiState
}

type kpiState struct {
	k         KPIs
	latencies []time.Duration // a ring of the last latencyWindow
	next      int
}

func (t *kpiTracker) of(pipeline string) *kpiState {
	if t.by == nil {
		t.by = map[string]*kpiState{}
	}
	s := t.by[pipeline]
	if s == nil {
		s = &kpiState{k: KPIs{Outcomes: map[string]int64{}, Refused: map[string]int64{}}}
		t.by[pipeline] = s
	}
	return s
}

func (t *kpiTracker) delivered(pipeline string, latency time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.of(pipeline)
	s.k.Delivered++
	if len(s.latencies) < latencyWindow {
		s.latencies = append(s.latencies, latency)
	} else {
		s.latencies[s.next] = latency
		s.next = (s.next + 1) % latencyWindow
	}
}

func (t *kpiTracker) outcome(pipeline, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.of(pipeline).k.Outcomes[outcome]++
}

func (t *kpiTracker) discrepancy(pipeline string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.of(pipeline).k.Discrepancies++
}

func (t *kpiTracker) refused(pipeline, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.of(pipeline).k.Refused[reason]++
}

// KPIs returns the pipeline's KPIs now.
func (s *Server) KPIs(pipeline string) KPIs {
	t := &s.kpis
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.of(pipeline)
	k := st.k
	k.Outcomes, k.Refused = clone(st.k.Outcomes), clone(st.k.Refused)
	if n := len(st.latencies); n > 0 {
		sorted := slices.Clone(st.latencies)
		slices.Sort(sorted)
		k.LatencyP50, k.LatencyP99 = sorted[(n-1)/2], sorted[(n-1)*99/100]
	}
	return k
}

func clone(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
