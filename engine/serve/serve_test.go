package serve_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

const secret = "hush"

// wms is a WMS stand-in: it records each request's idempotency key and
// answers what fail says (0: 201).
type wms struct {
	mu   sync.Mutex
	keys []string
	seen map[string]int
	fail func(n int, body []byte) int
	n    int
	srv  *httptest.Server
}

func newWMS(t *testing.T, fail func(n int, body []byte) int) *wms {
	w := &wms{seen: map[string]int{}, fail: fail}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.n++
		n := w.n
		w.mu.Unlock()
		if w.fail != nil {
			if code := w.fail(n, body); code != 0 {
				http.Error(rw, "refused", code)
				return
			}
		}
		w.mu.Lock()
		k := r.Header.Get("Idempotency-Key")
		if w.seen[k] == 0 {
			w.keys = append(w.keys, k)
		}
		w.seen[k]++
		w.mu.Unlock()
		rw.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *wms) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.keys...)
}

func pipelineText(wmsURL string) string {
	return `pipeline: orders
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
      sku: sku
sinks:
  wms:
    from: ticket
    http:
      url: ` + wmsURL + `/tickets
      idempotency_key: order_id
      backoff: 10ms
      max_backoff: 20ms
      max_attempts: 4
`
}

func compile(t *testing.T, dir, text string) *serve.Pipeline {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	env := func(k string) (string, bool) {
		if k == "SECRET" {
			return secret, true
		}
		return "", false
	}
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: env},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(), Check: engine.Check,
	}
	path := filepath.Join(dir, "orders.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, f, ds := pipelines.Validate(path, opts)
	if plan == nil || ds.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", ds.Err())
	}
	return &serve.Pipeline{Plan: plan, Path: path, Version: "v1", RulesVersion: f.RulesVersion()}
}

type harness struct {
	t   *testing.T
	srv *serve.Server
	q   state.Queue
	url string
}

func start(t *testing.T, ps ...*serve.Pipeline) *harness {
	t.Helper()
	dir := t.TempDir()
	q, err := state.OpenQueue(context.Background(), "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv := serve.New(serve.Config{Queue: q, PollEvery: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	if err := srv.Load(ps); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	srv.Start()
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, q: q, url: hs.URL}
}

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// post sends a webhook, signed unless sig is given, and returns the status.
func (h *harness) post(path, body, eventID string, sig ...string) int {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	s := sign([]byte(body))
	if len(sig) > 0 {
		s = sig[0]
	}
	if s != "" {
		req.Header.Set("X-Shopify-Hmac-Sha256", s)
	}
	req.Header.Set("X-Shopify-Topic", "orders/create")
	if eventID != "" {
		req.Header.Set("X-Shopify-Event-Id", eventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// eventually waits for cond, failing after a generous bound: what is
// asserted is that it happens, not how fast.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhooksReachTheSinkOnceEach(t *testing.T) {
	w := newWMS(t, nil)
	h := start(t, compile(t, t.TempDir(), pipelineText(w.srv.URL)))
	for i := 1; i <= 20; i++ {
		body := fmt.Sprintf(`{"id": %d, "sku": "SKU-%d"}`, i, i)
		if got := h.post("/hooks/orders", body, fmt.Sprint("ev-", i)); got != 200 {
			t.Fatalf("order %d: status %d, want 200", i, got)
		}
		if i%4 == 0 { // a storefront's retry of the same event
			if got := h.post("/hooks/orders", body, fmt.Sprint("ev-", i)); got != 200 {
				t.Fatalf("repeat of order %d: status %d, want 200", i, got)
			}
		}
	}
	eventually(t, "20 orders at the WMS", func() bool { return len(w.received()) == 20 })
	eventually(t, "the queue empty", func() bool {
		d, err := h.q.Depth(context.Background(), "orders")
		return err == nil && d.Queued == 0
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, n := range w.seen {
		if n != 1 {
			t.Errorf("order %s reached the WMS %d times", k, n)
		}
	}
}

func TestIntakeAnswers(t *testing.T) {
	w := newWMS(t, nil)
	h := start(t, compile(t, t.TempDir(), pipelineText(w.srv.URL)))
	if got := h.post("/hooks/orders", `{"id": 1}`, "a", "d3Jvbmc="); got != 401 {
		t.Errorf("wrong signature: %d, want 401", got)
	}
	if got := h.post("/hooks/orders", `{"id": 1}`, "b", ""); got != 401 {
		t.Errorf("no signature: %d, want 401", got)
	}
	if got := h.post("/hooks/nowhere", `{"id": 1}`, "c"); got != 404 {
		t.Errorf("unknown path: %d, want 404", got)
	}
	resp, err := http.Get(h.url + "/hooks/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	big := `{"id": 1, "pad": "` + strings.Repeat("x", 11<<20) + `"}`
	if got := h.post("/hooks/orders", big, "d"); got != 413 {
		t.Errorf("11 MiB body: %d, want 413", got)
	}
	if got := h.post("/hooks/orders", `not json {`, "e"); got != 400 {
		t.Errorf("signed body that is not JSON: %d, want 400", got)
	}
	dls, err := h.q.ListDeadLetters(context.Background(), state.DeadLetterFilter{Pipeline: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || string(dls[0].Payload) != `not json {` {
		t.Fatalf("dead letters = %+v, want the body that is not JSON, raw", dls)
	}
	d, err := h.q.Depth(context.Background(), "orders")
	if err != nil || d.Queued != 0 {
		t.Errorf("refused requests queued something: %+v, %v", d, err)
	}
	if len(w.received()) != 0 {
		t.Errorf("refused requests reached the WMS: %v", w.received())
	}
}

func TestWMSOutageIsRetriedFromTheStore(t *testing.T) {
	var mu sync.Mutex
	down := true
	w := newWMS(t, func(n int, body []byte) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 503
		}
		return 0
	})
	text := strings.Replace(pipelineText(w.srv.URL), "max_attempts: 4", "max_attempts: 1000", 1)
	h := start(t, compile(t, t.TempDir(), text))
	for i := 1; i <= 5; i++ {
		if got := h.post("/hooks/orders", fmt.Sprintf(`{"id": %d}`, i), fmt.Sprint(i)); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	eventually(t, "retries kept in the store", func() bool {
		d, err := h.q.Depth(context.Background(), "orders")
		return err == nil && d.Retries == 5 && d.Queued == 0
	})
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, "every order delivered once the WMS is back", func() bool { return len(w.received()) == 5 })
	eventually(t, "no retry left", func() bool {
		d, err := h.q.Depth(context.Background(), "orders")
		return err == nil && d.Retries == 0
	})
	// Each order's timeline says so: received, the steps it went through,
	// processed, its retry queued with the 503, retried until delivered.
	// The timeline is written just after the retry's outcome, so it is
	// waited for rather than read once.
	var es []state.OrderEvent
	var err error
	var kinds []string
	eventually(t, "order 3's timeline ends delivered", func() bool {
		es, err = h.q.OrderEventsOf(context.Background(), "3")
		kinds = kinds[:0]
		for _, e := range es {
			kinds = append(kinds, e.Kind)
		}
		return err == nil && len(kinds) > 0 && kinds[len(kinds)-1] == "retried: delivered"
	})
	if err != nil || len(kinds) < 5 || kinds[0] != "received" || kinds[1] != "steps" || es[1].Detail != "orders → ticket → wms" ||
		kinds[2] != "processed" || kinds[3] != "retry queued" || kinds[len(kinds)-1] != "retried: delivered" || !strings.Contains(es[3].Detail, "wms") {
		t.Errorf("order 3's events: %v %v", kinds, err)
	}
	// A delivery the WMS takes at once is acknowledged on its timeline,
	// with the request's Idempotency-Key.
	if got := h.post("/hooks/orders", `{"id": 6}`, "6"); got != 200 {
		t.Fatalf("status %d", got)
	}
	eventually(t, "order 6 acknowledged", func() bool {
		es, _ := h.q.OrderEventsOf(context.Background(), "6")
		for _, e := range es {
			if e.Kind == "acknowledged" && strings.Contains(e.Detail, "wms: ") && strings.Contains(e.Detail, "Idempotency-Key 6") {
				return true
			}
		}
		return false
	})
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`pipectl_sink_requests_total{pipeline="orders",sink="wms",status="503"}`)) {
		t.Errorf("/metrics does not count the 503s:\n%s", grep(b, "pipectl_sink_requests_total"))
	}
	if !bytes.Contains(b, []byte(`pipectl_sink_retries_total{outcome="delivered",pipeline="orders",sink="wms"} 5`)) {
		t.Errorf("/metrics does not count the 5 delivered retries:\n%s", grep(b, "pipectl_sink_retries_total"))
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRefusedRecordBecomesADeadLetterAndReplays(t *testing.T) {
	w := newWMS(t, func(n int, body []byte) int {
		if bytes.Contains(body, []byte(`"sku":"BAD"`)) {
			return 422
		}
		return 0
	})
	p := compile(t, t.TempDir(), pipelineText(w.srv.URL))
	h := start(t, p)
	if got := h.post("/hooks/orders", `{"id": 7, "sku": "BAD"}`, "7"); got != 200 {
		t.Fatalf("status %d", got)
	}
	var dls []*state.DeadLetter
	eventually(t, "a dead letter for the 422", func() bool {
		var err error
		dls, err = h.q.ListDeadLetters(context.Background(), state.DeadLetterFilter{Status: state.DeadOpen})
		return err == nil && len(dls) == 1
	})
	dl := dls[0]
	if dl.Node != "wms" || string(dl.Payload) != `{"id": 7, "sku": "BAD"}` || dl.Attempts[0].Status != 422 {
		t.Fatalf("dead letter = node %q payload %s attempts %+v", dl.Node, dl.Payload, dl.Attempts)
	}
	ctx := context.Background()
	res, err := h.srv.Replay(ctx, p, []*state.DeadLetter{dl}, true, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Would["wms"]) != 1 || len(w.received()) != 0 {
		t.Fatalf("dry run: would %v, WMS got %v", res[0].Would, w.received())
	}
	if got, _ := h.q.DeadLetter(ctx, dl.ID); got.Status != state.DeadOpen || len(got.Attempts) != 1 {
		t.Fatalf("a dry run changed the entry: %+v", got)
	}
	if err := h.q.EditDeadLetter(ctx, dl.ID, []byte(`{"order_id":"7","sku":"GOOD"}`)); err != nil {
		t.Fatal(err)
	}
	dl, _ = h.q.DeadLetter(ctx, dl.ID)
	if _, err := h.srv.Replay(ctx, p, []*state.DeadLetter{dl}, false, "test"); err != nil {
		t.Fatal(err)
	}
	if got := w.received(); len(got) != 1 || got[0] != "7" {
		t.Fatalf("WMS got %v after the replay, want order 7", got)
	}
	got, _ := h.q.DeadLetter(ctx, dl.ID)
	if got.Status != state.DeadResolved || string(got.Payload) != `{"id": 7, "sku": "BAD"}` {
		t.Fatalf("after a good replay: status %s payload %s, want resolved with the original kept", got.Status, got.Payload)
	}
}

func TestDrainFinishesWhatWasAcknowledged(t *testing.T) {
	w := newWMS(t, nil)
	h := start(t, compile(t, t.TempDir(), pipelineText(w.srv.URL)))
	for i := 1; i <= 30; i++ {
		if got := h.post("/hooks/orders", fmt.Sprintf(`{"id": %d}`, i), fmt.Sprint(i)); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	h.srv.SetDraining()
	if got := h.post("/hooks/orders", `{"id": 99}`, "99"); got != 503 {
		t.Errorf("webhook while draining: %d, want 503", got)
	}
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz while draining: %d, want 503", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// What the drain did not run is still queued: nothing acknowledged is
	// lost either way.
	d, _ := h.q.Depth(context.Background(), "orders")
	if n := len(w.received()) + d.Queued; n != 30 {
		t.Fatalf("delivered %d + queued %d, want 30", len(w.received()), d.Queued)
	}
}

// testLog writes serve's log lines to the test's log, shown when it fails.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// A candidate version of a pipeline runs in shadow on the same deliveries:
// its sinks are captured, not delivered, and what each would have
// received is compared, record by record, with what the live version sent
// for the same delivery. Stopped, it keeps its report and sees nothing
// more; started again, it counts from zero.
func TestShadowVersionComparesItsSinkRecords(t *testing.T) {
	w := newWMS(t, nil)
	live := compile(t, t.TempDir(), pipelineText(w.srv.URL))
	candidateText := strings.Replace(pipelineText(w.srv.URL), `steps:
  ticket:
    from: orders
    map:
      order_id: string(id)
      sku: sku`, `steps:
  small:
    from: orders
    filter: "id <= 3"
  ticket:
    from: small
    map:
      order_id: string(id)
      sku: 'id == 3 ? "B" : sku'`, 1)
	candidate := compile(t, t.TempDir(), candidateText)
	candidate.Version = "v2"
	h := start(t, live)
	if err := h.srv.ShadowVersion(candidate); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if got := h.post("/hooks/orders", fmt.Sprintf(`{"id": %d, "sku": "A"}`, i), fmt.Sprint("sv-", i)); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	eventually(t, "the live version delivered all 4", func() bool { return len(w.received()) == 4 })
	var rep serve.VersionShadowReport
	eventually(t, "the shadow compared them", func() bool {
		r, ok := h.srv.VersionShadow("orders")
		rep = r
		return ok && r.Deliveries == 4
	})
	want := serve.SinkTally{Live: 4, Candidate: 3, Same: 2, Differ: 1, LiveOnly: 1}
	if rep.Version != "v2" || !rep.Running || rep.Sinks["wms"] != want || rep.Failed != 0 {
		t.Errorf("shadow version report: %+v, want wms %+v", rep, want)
	}
	if len(rep.Samples) != 2 {
		t.Fatalf("samples %+v, want the differing record and the live-only one", rep.Samples)
	}
	if d := rep.Samples[0]; d.Ref != "3" || d.Sink != "wms" || strings.Join(d.Fields, ",") != "sku" ||
		string(d.Live) != `{"order_id":"3","sku":"A"}` || string(d.Candidate) != `{"order_id":"3","sku":"B"}` {
		t.Errorf("first sample %+v, want order 3 differing at sku", d)
	}
	if d := rep.Samples[1]; d.Ref != "4" || d.Candidate != nil || d.Live == nil {
		t.Errorf("second sample %+v, want order 4 sent by the live version only", d)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(w.received()); n != 4 {
		t.Errorf("the WMS got %d requests: a shadow delivered", n)
	}

	h.srv.StopShadowVersion("orders")
	if got := h.post("/hooks/orders", `{"id": 5, "sku": "A"}`, "sv-5"); got != 200 {
		t.Fatalf("status %d", got)
	}
	eventually(t, "the live version delivered the fifth", func() bool { return len(w.received()) == 5 })
	if r, ok := h.srv.VersionShadow("orders"); !ok || r.Running || r.Deliveries != 4 {
		t.Errorf("after stop: %+v (ok %v), want the last report, not running, 4 deliveries", r, ok)
	}
	if err := h.srv.StartShadowVersion("orders"); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.srv.VersionShadow("orders"); !r.Running || r.Deliveries != 0 || len(r.Samples) != 0 {
		t.Errorf("started again: %+v, want a fresh report", r)
	}
	if err := h.srv.StartShadowVersion("nope"); err == nil {
		t.Error("a pipeline with no candidate loaded started a shadow")
	}
}
