package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/schedule"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
)

// Reconciliation: of 100 orders, the webhooks of 10 are lost on the way;
// the next poll of the orders API reads all 100, drops the 90 the webhooks
// delivered as duplicates (one dedupe scope for both pipelines) and
// delivers exactly the 10.
func TestPollDeliversWhatTheWebhooksMissed(t *testing.T) {
	w := newWMS(t, nil)
	const n = 100
	order := func(i int) string {
		return fmt.Sprintf(`{"id": %d, "updated_at": "2026-12-03T09:%02d:00Z"}`, 1000+i, i%60)
	}
	// A Shopify orders endpoint: two pages of 50, linked by rel="next".
	shop := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		from := 0
		if r.URL.Query().Get("page_info") == "2" {
			from = n / 2
		} else {
			rw.Header().Set("Link", fmt.Sprintf(`<http://%s/orders.json?page_info=2>; rel="next"`, r.Host))
		}
		var parts []string
		for i := from; i < from+n/2; i++ {
			parts = append(parts, order(i))
		}
		io.WriteString(rw, `{"orders": [`+strings.Join(parts, ",")+`]}`)
	}))
	t.Cleanup(shop.Close)

	sink := `
      url: ` + w.srv.URL + `/tickets
      idempotency_key: order_id`
	hooks := compile(t, t.TempDir(), `pipeline: hooks
triggers:
  created:
    webhook: {path: /hooks/orders, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}}
steps:
  seen:
    from: orders
    dedupe: {key: 'string(id) + ":" + updated_at', persist: true, ttl: 0s, scope: shopify-orders}
  ticket:
    from: seen
    map: {order_id: string(id)}
sinks:
  wms:
    from: ticket
    http:`+sink+"\n")
	poll := compile(t, t.TempDir(), `pipeline: reconcile
triggers:
  every_15m:
    cron: "@every 15m"
sources:
  orders:
    trigger: every_15m
    http:
      url: `+shop.URL+`/orders.json
      records: orders
      checkpoint: {field: updated_at, param: updated_at_min, initial: "2026-01-01T00:00:00Z"}
steps:
  seen:
    from: orders
    dedupe: {key: 'string(id) + ":" + updated_at', persist: true, ttl: 0s, scope: shopify-orders}
  ticket:
    from: seen
    map: {order_id: string(id)}
sinks:
  wms:
    from: ticket
    http:`+sink+"\n")

	dir := t.TempDir()
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
	clock := schedule.NewFakeClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, ScheduleClock: clock, PollEvery: 5 * time.Millisecond})
	if err := srv.Load([]*serve.Pipeline{hooks, poll}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, q: q, url: hs.URL}

	missed := map[string]bool{}
	for i := range n {
		if i%10 == 3 {
			missed[fmt.Sprint(1000+i)] = true // lost on the way
			continue
		}
		if got := h.post("/hooks/orders", order(i), fmt.Sprint("ev-", i)); got != 200 {
			t.Fatalf("webhook %d: %d", i, got)
		}
	}
	eventually(t, "the 90 webhooks' orders at the WMS", func() bool { return len(w.received()) == n-len(missed) })

	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Minute)
	var runs []*state.RunRecord
	eventually(t, "the poll's run recorded", func() bool {
		runs, err = q.ListRuns(ctx, state.RunFilter{Pipeline: "reconcile"})
		return err == nil && len(runs) == 1 && !runs[0].Ended.IsZero()
	})
	if runs[0].Outcome != "ok" {
		t.Fatalf("poll run: %s %s", runs[0].Outcome, runs[0].Error)
	}
	eventually(t, "100 orders at the WMS", func() bool { return len(w.received()) == n })
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, c := range w.seen {
		if c != 1 {
			t.Errorf("order %s reached the WMS %d times", k, c)
		}
	}
	for _, k := range w.keys[n-len(missed):] {
		if !missed[k] {
			t.Errorf("the poll delivered order %s, which a webhook had delivered", k)
		}
	}
	var nodes []engine.NodeStats
	if err := json.Unmarshal(runs[0].Nodes, &nodes); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if nd.Name == "seen" && (nd.In != n || nd.Out != 10 || nd.Dropped != 90) {
			t.Errorf("the poll's dedupe read %d, passed %d, dropped %d; want 100, 10, 90", nd.In, nd.Out, nd.Dropped)
		}
	}
}
