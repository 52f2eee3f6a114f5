package serve_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
)

// A run that takes longer than its lease keeps its deliveries: the worker
// renews the lease while it runs, so a second server on the same queue
// (as several processes on one PostgreSQL are) does not claim and send
// them again. The WMS takes three leases to answer.
func TestLongRunKeepsItsLease(t *testing.T) {
	const lease = 300 * time.Millisecond
	w := newWMS(t, func(n int, body []byte) int {
		time.Sleep(3 * lease)
		return 0
	})
	dir := t.TempDir()
	q, err := state.OpenQueue(context.Background(), "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	var first *harness
	for i := range 2 {
		srv := serve.New(serve.Config{Queue: q, Lease: lease, PollEvery: 5 * time.Millisecond})
		if err := srv.Load([]*serve.Pipeline{compile(t, t.TempDir(), pipelineText(w.srv.URL))}); err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		srv.Start()
		t.Cleanup(srv.Close)
		if i == 0 {
			first = &harness{t: t, srv: srv, q: q, url: hs.URL}
		}
	}
	if got := first.post("/hooks/orders", `{"id": 1, "sku": "A"}`, "ev-1"); got != 200 {
		t.Fatalf("webhook: %d", got)
	}
	eventually(t, "the order delivered and its delivery finished", func() bool {
		d, err := q.Depth(context.Background(), "orders")
		return err == nil && d.Queued == 0 && len(w.received()) == 1
	})
	time.Sleep(2 * lease) // a second run, had there been one, would be at the WMS by now
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n != 1 {
		t.Errorf("the WMS was asked %d times, want once", w.n)
	}
}
