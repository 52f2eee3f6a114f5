package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// allocPipeline allocates each order's one line from two warehouses
// holding less than all orders want, and sends each shipment to the WMS.
func allocPipeline(url string) string {
	return `pipeline: alloc
rules:
  fulfillment:
    fulfillment:
      allocation: {strategy: priority, location_priority: [wh-a, wh-b]}
      split: {mode: ship_partial, max_shipments: 2}
      backorder: {policy: allow_notify, remainder_action: backorder}
triggers:
  created:
    webhook: {path: /hooks/orders, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}}
steps:
  ticket:
    from: orders
    map:
      order_id: string(id)
      lines: '[{"sku": sku, "quantity": qty}]'
  allocate:
    from: ticket
    allocate: {rules: fulfillment, order_id: order_id, lines: lines}
sinks:
  wms:
    from: allocate.shipments
    http: {url: "` + url + `/shipments", idempotency_key: shipment_id, backoff: 10ms, max_backoff: 50ms}
`
}

// TestServeKill9AllocatesOnce: orders for more units than there are are
// allocated while serve is killed with SIGKILL twice: every order's units
// are committed exactly once, and the shipments at the WMS (deduplicated
// by idempotency key) carry exactly the stock there was, none oversold.
func TestServeKill9AllocatesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts and kills processes")
	}
	const orders, skus, perSKU = 1500, 10, 60 // about 3,000 units wanted, 1,200 held
	wms := newStand(t, nil)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "alloc.yaml")
	writeFile(t, pipeline, allocPipeline(wms.srv.URL))
	var seed strings.Builder
	seed.WriteString("locations:\n  - {id: wh-a, priority: 1}\n  - {id: wh-b, priority: 2}\nlevels:\n")
	for i := range skus {
		fmt.Fprintf(&seed, "  SKU-%d: {wh-a: %d, wh-b: %d}\n", i, perSKU, perSKU)
	}
	writeFile(t, filepath.Join(dir, "inventory.yaml"), seed.String())
	stateDir := filepath.Join(dir, "state")
	if _, stderr, code := pipectlCmd(t, "inventory", "load", "--state", "sqlite://"+stateDir+"/", filepath.Join(dir, "inventory.yaml")); code != 0 {
		t.Fatalf("inventory load: %s", stderr)
	}
	addr := freeAddr(t)
	var cur atomic.Pointer[served]
	cur.Store(startServe(t, addr, stateDir, pipeline))
	url := "http://" + addr + "/hooks/orders"

	var answered atomic.Int64
	var acked atomic.Int64
	ids := make(chan int)
	var senders sync.WaitGroup
	for range 6 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for id := range ids {
				body := []byte(fmt.Sprintf(`{"id": %d, "sku": "SKU-%d", "qty": %d}`, id, id%skus, 1+id%3))
				if code := postUntilAnswered(t, url, body, "evt-"+strconv.Itoa(id), shopifySign(body)); code == http.StatusOK {
					acked.Add(1)
				}
				answered.Add(1)
			}
		}()
	}
	killsDone := make(chan struct{})
	go func() {
		defer close(killsDone)
		for _, m := range []int{orders/4 + rand.IntN(orders/8), orders/2 + rand.IntN(orders/8)} {
			for answered.Load() < int64(m) {
				time.Sleep(time.Millisecond)
			}
			cur.Load().kill()
			cur.Store(startServe(t, addr, stateDir, pipeline))
		}
	}()
	for i := range orders {
		ids <- 7_000_000 + i
	}
	close(ids)
	senders.Wait()
	<-killsDone
	if acked.Load() != orders {
		t.Fatalf("%d of %d orders acknowledged", acked.Load(), orders)
	}

	// Every order is decided once the queue is empty.
	eventuallyE2E(t, 3*time.Minute, func() string { return "the queue never emptied" }, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, "pipectl_queue_depth{") || strings.HasPrefix(l, "pipectl_retries_waiting{") {
				if !strings.HasSuffix(l, " 0") {
					return false
				}
			}
		}
		return true
	})
	cur.Load().kill()

	shipped := map[string]float64{} // by SKU, from the WMS's shipments
	for _, body := range wms.bodiesSnapshot() {
		var s struct {
			Lines []struct {
				SKU string  `json:"sku"`
				Qty float64 `json:"qty"`
			} `json:"lines"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("shipment %s: %v", body, err)
		}
		for _, l := range s.Lines {
			shipped[l.SKU] += l.Qty
		}
	}
	stdout, stderr, code := pipectlCmd(t, "inventory", "levels", "--state", "sqlite://"+stateDir+"/", "--format", "json")
	if code != 0 {
		t.Fatalf("inventory levels: %s", stderr)
	}
	var rows []struct {
		SKU       string  `json:"sku"`
		Location  string  `json:"location"`
		OnHand    float64 `json:"on_hand"`
		Committed float64 `json:"committed"`
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("inventory levels --format json: %v\n%s", err, stdout)
	}
	if len(rows) == 0 {
		t.Fatalf("no stock rows in:\n%s", stdout)
	}
	// Committed counts every unit ordered, shipped or backordered (a
	// backorder is committed at the first location, below zero available):
	// it must be exactly what the orders asked for, once each.
	demand := map[string]float64{}
	for i := range orders {
		id := 7_000_000 + i
		demand["SKU-"+strconv.Itoa(id%skus)] += float64(1 + id%3)
	}
	committed, onHand := map[string]float64{}, map[string]float64{}
	total := 0.0
	for _, r := range rows {
		committed[r.SKU] += r.Committed
		onHand[r.SKU] += r.OnHand
	}
	for sku, want := range demand {
		if committed[sku] != want {
			t.Errorf("%s: %v units committed, the orders asked for %v: an order was allocated twice or not at all", sku, committed[sku], want)
		}
		// What reached the WMS is what there was: no oversell, nothing
		// shipped twice, nothing in stock left unshipped.
		if want := min(want, onHand[sku]); shipped[sku] != want {
			t.Errorf("%s: shipments for %v units at the WMS, want %v (%v on hand)", sku, shipped[sku], want, onHand[sku])
		}
		total += shipped[sku]
	}
	t.Logf("%d orders, 2 SIGKILLs: %v units shipped to the WMS in %d shipments (%d requests), the rest backordered",
		orders, total, len(wms.bodiesSnapshot()), wms.requests.Load())
}

// bodiesSnapshot is the last body the stand got for each key.
func (s *stand) bodiesSnapshot() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, 0, len(s.bodies))
	for _, b := range s.bodies {
		out = append(out, b)
	}
	return out
}
