package console

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
)

// sparkPoints is how many samples a sparkline keeps: an hour at the
// default interval.
const sparkPoints = 120

// series is a pipeline's KPIs sampled over time, for the sparklines.
type series struct {
	mu    sync.Mutex
	by    map[string]*pipelineSeries
	rules map[string]string // the rules version at the last sample
}

type pipelineSeries struct {
	last      int64     // delivered at the last sample
	orders    []float64 // orders delivered in each interval
	latencyMS []float64 // p99 at each sample
	// changed marks the samples in whose interval the pipeline's rules
	// changed: the sparklines draw a marker there, so "backorders rose
	// after the change" can be seen.
	changed []bool
}

// Sample records every pipeline's KPIs now; Run calls it every interval.
func (c *Console) Sample() {
	c.series.mu.Lock()
	defer c.series.mu.Unlock()
	if c.series.by == nil {
		c.series.by = map[string]*pipelineSeries{}
	}
	for _, name := range c.srv.Pipelines() {
		k := c.srv.KPIs(name)
		s := c.series.by[name]
		if s == nil {
			s = &pipelineSeries{last: k.Delivered}
			c.series.by[name] = s
		}
		s.orders = push(s.orders, float64(k.Delivered-s.last))
		s.latencyMS = push(s.latencyMS, float64(k.LatencyP99.Milliseconds()))
		rv := ""
		if p, ok := c.srv.Pipeline(name); ok {
			rv = p.RulesVersion
		}
		changed := c.series.rules[name] != "" && c.series.rules[name] != rv
		if c.series.rules == nil {
			c.series.rules = map[string]string{}
		}
		c.series.rules[name] = rv
		s.changed = append(s.changed, changed)
		if len(s.changed) > sparkPoints {
			s.changed = s.changed[len(s.changed)-sparkPoints:]
		}
		s.last = k.Delivered
	}
}

func push(xs []float64, v float64) []float64 {
	xs = append(xs, v)
	if len(xs) > sparkPoints {
		xs = xs[len(xs)-sparkPoints:]
	}
	return xs
}

// Run samples the KPIs every interval until ctx ends.
func (c *Console) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Sample()
		}
	}
}

func (c *Console) spark(pipeline string) (orders, latency []float64, changed []bool) {
	c.series.mu.Lock()
	defer c.series.mu.Unlock()
	s := c.series.by[pipeline]
	if s == nil {
		return nil, nil, nil
	}
	return append([]float64(nil), s.orders...), append([]float64(nil), s.latencyMS...), append([]bool(nil), s.changed...)
}

// sparkline draws values as a small SVG line, server-side; nothing when
// there are fewer than two.
func sparkline(values []float64, changed []bool, label string) template.HTML {
	if len(values) < 2 {
		return ""
	}
	const w, h = 120, 24
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	if top == 0 {
		top = 1
	}
	var pts []string
	for i, v := range values {
		x := float64(i) * w / float64(len(values)-1)
		y := h - 2 - v/top*(h-4)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	// A rules change is a vertical mark where it happened.
	var marks strings.Builder
	n := 0
	for i, ch := range changed {
		if ch && i < len(values) {
			x := float64(i) * w / float64(len(values)-1)
			fmt.Fprintf(&marks, `<line class="rules-change" x1="%.1f" y1="0" x2="%.1f" y2="%d"/>`, x, x, h)
			n++
		}
	}
	if n > 0 {
		label += fmt.Sprintf("; %d rules change%s marked", n, plural(n))
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">%s<polyline points="%s"/></svg>`,
		w, h, w, h, template.HTMLEscapeString(label), marks.String(), strings.Join(pts, " ")))
}

// KPIView is a pipeline's KPI tiles.
type KPIView struct {
	serve.KPIs
	Split, Backordered, Held int64         `json:"-"`
	OrdersSpark              template.HTML `json:"-"`
	LatencySpark             template.HTML `json:"-"`
}

func (c *Console) kpiView(pipeline string) KPIView {
	k := c.srv.KPIs(pipeline)
	orders, latency, changed := c.spark(pipeline)
	return KPIView{KPIs: k, Split: k.Outcomes["split"], Backordered: k.Outcomes["backordered"], Held: k.Outcomes["held"],
		OrdersSpark:  sparkline(orders, changed, "orders delivered per interval, the last hour"),
		LatencySpark: sparkline(latency, changed, "order latency p99, the last hour")}
}
