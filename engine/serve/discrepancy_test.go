package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// A stock feed is how discrepancies are found: the WMS (here Shopify's
// inventory_levels payload, go-shopify's fixture) counts what is on the
// shelf, and a count that differs from what pipectl held is counted in
// /metrics by direction and units, and logged with the SKU and location.
// A count that agrees, and a row seen for the first time, are not
// discrepancies.
func TestFeedCountsDiscrepancies(t *testing.T) {
	body, err := os.ReadFile("../../../shared/fixtures/go-shopify/inventory_levels.json")
	if err != nil {
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") != "" {
			t.Fatal(err)
		}
		t.Skip("the shared fixtures are not beside the checkout:", err)
	}
	p := compile(t, t.TempDir(), `pipeline: levels
triggers:
  levels_updated:
    webhook: {path: /hooks/levels, verify: shopify, secret: "${SECRET}"}
sources:
  levels: {trigger: levels_updated, event: {unwrap: inventory_levels}}
sinks:
  stock:
    from: levels
    inventory:
      sku: string(inventory_item_id)
      location: string(location_id)
      quantity: available
`)
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
	// Held before the feed: one row agrees (9), one was 25 (27 counted:
	// 2 over), one 4 (1 counted: 3 under); the fourth row is new.
	for _, l := range []struct {
		sku, loc string
		qty      int64
	}{{"808950810", "487838322", 9}, {"39072856", "487838322", 25}, {"808950810", "905684977", 4}} {
		if _, err := inv.SetLevel(ctx, component.LevelUpdate{SKU: l.sku, Location: l.loc, Quantity: decimal.NewFromInt(l.qty)}); err != nil {
			t.Fatal(err)
		}
	}
	logs := &lockedWriter{w: &strings.Builder{}}
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, PollEvery: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := srv.Load([]*serve.Pipeline{p}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, q: q, url: hs.URL}
	if got := h.post("/hooks/levels", string(body), "levels-1"); got != 200 {
		t.Fatalf("feed webhook: %d", got)
	}
	eventually(t, "the feed applied", func() bool {
		d, err := q.Depth(ctx, "levels")
		return err == nil && d.Queued == 0
	})
	levels, err := inv.Levels(ctx, nil)
	if err != nil || len(levels) != 4 {
		t.Fatalf("levels after the feed: %v %v", levels, err)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`pipectl_inventory_discrepancies_total{direction="over",pipeline="levels",sink="stock"} 1`,
		`pipectl_inventory_discrepancies_total{direction="under",pipeline="levels",sink="stock"} 1`,
		`pipectl_inventory_discrepancy_units_total{direction="over",pipeline="levels",sink="stock"} 2`,
		`pipectl_inventory_discrepancy_units_total{direction="under",pipeline="levels",sink="stock"} 3`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "discrepanc"))
		}
	}
	out := logs.String()
	for _, want := range []string{
		`msg="inventory discrepancy" pipeline=levels sink=stock sku=39072856 location=487838322 held=25 counted=27`,
		`msg="inventory discrepancy" pipeline=levels sink=stock sku=808950810 location=905684977 held=4 counted=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "inventory discrepancy"); n != 2 {
		t.Errorf("%d discrepancies logged, want 2:\n%s", n, out)
	}
}

// lockedWriter lets the server's goroutines log into one builder.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*strings.Builder).String()
}
