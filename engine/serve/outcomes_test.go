package serve_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// /metrics counts allocation outcomes per order, the KPI merchants track:
// one order ships from one location (allocated), one needs two (split),
// one is short (backordered). A delivery run again after its orders were
// decided (a replay) counts nothing twice.
func TestAllocationOutcomesInMetrics(t *testing.T) {
	dir := t.TempDir()
	rules := `rules:
  fulfillment:
    fulfillment:
      allocation: {strategy: priority, location_priority: [wh-east, wh-west]}
      split: {mode: ship_partial, max_shipments: 2}
      backorder: {policy: allow_notify, remainder_action: backorder}
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compile(t, dir, `pipeline: orders
rules: rules.yaml
triggers:
  created:
    webhook: {path: /hooks/orders, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}}
steps:
  allocate:
    from: orders
    allocate: {rules: fulfillment, order_id: id, lines: lines}
sinks:
  tickets:
    from: allocate.shipments
    file: {path: `+filepath.Join(dir, "tickets.ndjson")+`}
`)
	ctx := context.Background()
	q, err := state.OpenQueue(ctx, "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	inv, err := state.Open(ctx, "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close() })
	for _, l := range []struct {
		sku, loc string
		qty      int64
	}{{"SKU-A", "wh-east", 5}, {"SKU-B", "wh-east", 2}, {"SKU-B", "wh-west", 2}, {"SKU-C", "wh-east", 1}} {
		if _, err := inv.SetLevel(ctx, component.LevelUpdate{SKU: l.sku, Location: l.loc, Quantity: decimal.NewFromInt(l.qty)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, PollEvery: 5 * time.Millisecond})
	if err := srv.Load([]*serve.Pipeline{p}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, q: q, url: hs.URL}
	orders := []string{
		`{"id": "1", "lines": [{"sku": "SKU-A", "quantity": 1}]}`,
		`{"id": "2", "lines": [{"sku": "SKU-B", "quantity": 4}]}`,
		`{"id": "3", "lines": [{"sku": "SKU-C", "quantity": 3}]}`,
	}
	for i, o := range orders {
		if got := h.post("/hooks/orders", o, "ev-"+string(rune('1'+i))); got != 200 {
			t.Fatalf("order %d: %d", i+1, got)
		}
	}
	// The same order again under a new event id: decided before, a replay.
	if got := h.post("/hooks/orders", orders[0], "ev-again"); got != 200 {
		t.Fatalf("order 1 again: %d", got)
	}
	eventually(t, "every order decided", func() bool {
		d, err := q.Depth(ctx, "orders")
		return err == nil && d.Queued == 0
	})
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`pipectl_allocation_outcomes_total{outcome="allocated",pipeline="orders",step="allocate"} 1`,
		`pipectl_allocation_outcomes_total{outcome="split",pipeline="orders",step="allocate"} 1`,
		`pipectl_allocation_outcomes_total{outcome="backordered",pipeline="orders",step="allocate"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "pipectl_allocation_outcomes_total"))
		}
	}
}
