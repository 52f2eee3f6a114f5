package connectors_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// received is a request as the test server saw it.
type received struct {
	Method, Path, Body string
	Header             http.Header
	At                 time.Time
}

// server is a real HTTP server on loopback that records what it receives
// and answers with respond (200 when nil).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []received
	inflight atomic.Int32
	peak     atomic.Int32
}

func newServer(t *testing.T, respond func(n int, r received, w http.ResponseWriter)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			p := s.peak.Load()
			if cur <= p || s.peak.CompareAndSwap(p, cur) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		rec := received{Method: r.Method, Path: r.URL.RequestURI(), Body: string(body), Header: r.Header.Clone(), At: time.Now()}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		n := len(s.reqs)
		s.mu.Unlock()
		if respond != nil {
			respond(n, rec, w)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// failures collects what a sink reports through BuildContext.Fail.
type failures struct {
	mu   sync.Mutex
	errs []string
	recs []string
}

func (f *failures) add(rec *record.Record, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err.Error())
	f.recs = append(f.recs, string(rec.Raw))
}

func (f *failures) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

// httpSink builds an http sink with the given settings (a YAML flow
// mapping) reading records of any shape.
func httpSink(t *testing.T, settings string, env map[string]string, f *failures) component.Sink {
	t.Helper()
	src := "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    http: " + settings + "\n"
	p := compile(t, src, env)
	var fail func(*record.Record, error)
	if f != nil {
		fail = f.add
	}
	return newSink(t, p, "out", nil, fail)
}

func rec(s string) *record.Record { return record.New([]byte(s), nil) }

func writeAll(t *testing.T, s component.Sink, recs ...string) {
	t.Helper()
	for _, r := range recs {
		if err := s.Write(context.Background(), rec(r)); err != nil {
			t.Fatalf("write %s: %v", r, err)
		}
	}
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestHTTPSuccess(t *testing.T) {
	srv := newServer(t, func(_ int, _ received, w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) })
	var f failures
	s := httpSink(t, `{url: "${URL}/api", path: '"/orders/" + string(id)', method: PUT, headers: {X-Shop: acme},
      body: {order: id, lines: "len(items)", ship: {city: city}}, idempotency_key: '"ord-" + string(id)'}`,
		map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s,
		`{"id":820982911946154508,"items":[1,2],"city":"Köln"}`,
		`{"id":7,"items":[],"city":"Paris"}`)
	got := srv.requests()
	slices.SortFunc(got, func(a, b received) int { return strings.Compare(a.Path, b.Path) })
	if len(got) != 2 {
		t.Fatalf("got %d requests", len(got))
	}
	want := []received{
		{Method: "PUT", Path: "/api/orders/7", Body: `{"order":7,"lines":0,"ship":{"city":"Paris"}}`},
		{Method: "PUT", Path: "/api/orders/820982911946154508", Body: `{"order":820982911946154508,"lines":2,"ship":{"city":"Köln"}}`},
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.Path != w.Path || g.Body != w.Body {
			t.Errorf("request %d = %s %s %s, want %s %s %s", i, g.Method, g.Path, g.Body, w.Method, w.Path, w.Body)
		}
		if g.Header.Get("Content-Type") != "application/json" || g.Header.Get("X-Shop") != "acme" || g.Header.Get("User-Agent") != "pipectl" {
			t.Errorf("request %d headers: %v", i, g.Header)
		}
	}
	if k := got[0].Header.Get("Idempotency-Key"); k != "ord-7" {
		t.Errorf("Idempotency-Key = %q", k)
	}
	if len(f.list()) > 0 {
		t.Errorf("failures: %v", f.list())
	}
}

func TestHTTPRecordIsTheBody(t *testing.T) {
	srv := newServer(t, nil)
	s := httpSink(t, `{url: "${URL}"}`, map[string]string{"URL": srv.URL}, &failures{})
	writeAll(t, s, `{"id":820982911946154508,"price":12.50}`)
	if got := srv.requests(); len(got) != 1 || got[0].Body != `{"id":820982911946154508,"price":12.50}` || got[0].Method != "POST" {
		t.Errorf("requests: %+v", got)
	}
}

// TestHTTPRetriesServerErrors: a 500 is retried with the same
// Idempotency-Key, and the server applies the effect once.
func TestHTTPRetriesServerErrors(t *testing.T) {
	var mu sync.Mutex
	effects := map[string]int{}
	srv := newServer(t, func(n int, r received, w http.ResponseWriter) {
		if n == 1 {
			http.Error(w, "database is restarting", http.StatusInternalServerError)
			return
		}
		mu.Lock()
		effects[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	})
	var f failures
	s := httpSink(t, `{url: "${URL}", idempotency_key: ref, backoff: 1ms}`, map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s, `{"ref":"T-1"}`)
	got := srv.requests()
	if len(got) != 2 {
		t.Fatalf("want 2 attempts, got %d", len(got))
	}
	if got[0].Header.Get("Idempotency-Key") != "T-1" || got[1].Header.Get("Idempotency-Key") != "T-1" || got[0].Body != got[1].Body {
		t.Errorf("attempts differ: %+v", got)
	}
	if !cmp.Equal(effects, map[string]int{"T-1": 1}) {
		t.Errorf("effects = %v", effects)
	}
	if len(f.list()) > 0 {
		t.Errorf("failures: %v", f.list())
	}
}

func TestHTTPHonoursRetryAfter(t *testing.T) {
	srv := newServer(t, func(n int, _ received, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	var f failures
	s := httpSink(t, `{url: "${URL}", backoff: 1ms}`, map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s, `{"a":1}`)
	got := srv.requests()
	if len(got) != 2 {
		t.Fatalf("want 2 attempts, got %d", len(got))
	}
	if gap := got[1].At.Sub(got[0].At); gap < 950*time.Millisecond {
		t.Errorf("retried after %s, before the second Retry-After asked for", gap)
	}
	if len(f.list()) > 0 {
		t.Errorf("failures: %v", f.list())
	}
}

func TestHTTPClientErrorsFailAtOnce(t *testing.T) {
	long := strings.Repeat("x", 5000)
	srv := newServer(t, func(_ int, r received, w http.ResponseWriter) {
		if strings.Contains(r.Body, "long") {
			http.Error(w, long, http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unknown sku"}`)
	})
	var f failures
	s := httpSink(t, `{url: "${URL}/tickets", backoff: 1ms, concurrency: 1}`, map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s, `{"sku":"NOPE"}`, `{"sku":"long"}`)
	if n := len(srv.requests()); n != 2 {
		t.Errorf("4xx was retried: %d requests", n)
	}
	errs := f.list()
	if len(errs) != 2 {
		t.Fatalf("failures: %v", errs)
	}
	if want := `POST ` + srv.URL + `/tickets: 400 Bad Request: {"error":"unknown sku"}`; errs[0] != want {
		t.Errorf("error = %q, want %q", errs[0], want)
	}
	if !strings.Contains(errs[1], "422 Unprocessable Entity: xxx") || !strings.HasSuffix(errs[1], "… (truncated)") || len(errs[1]) > 1200 {
		t.Errorf("long body not truncated: %.200s… (%d bytes)", errs[1], len(errs[1]))
	}
	if f.recs[0] != `{"sku":"NOPE"}` {
		t.Errorf("failed record = %s", f.recs[0])
	}
}

func TestHTTPNetworkErrors(t *testing.T) {
	t.Run("connection closed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var accepted atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		var f failures
		s := httpSink(t, `{url: "http://${ADDR}/x", max_attempts: 3, backoff: 1ms}`, map[string]string{"ADDR": ln.Addr().String()}, &f)
		writeAll(t, s, `{"a":1}`)
		if n := accepted.Load(); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		if errs := f.list(); len(errs) != 1 || !strings.HasSuffix(errs[0], "(gave up after 3 attempts)") || !strings.Contains(errs[0], "POST http://"+ln.Addr().String()+"/x: ") {
			t.Errorf("failures: %v", errs)
		}
	})
	t.Run("server gone", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		var f failures
		s := httpSink(t, `{url: "${URL}", max_attempts: 2, backoff: 1ms}`, map[string]string{"URL": url}, &f)
		writeAll(t, s, `{"a":1}`)
		if errs := f.list(); len(errs) != 1 || !strings.Contains(errs[0], "connection refused") || !strings.Contains(errs[0], "gave up after 2 attempts") {
			t.Errorf("failures: %v", errs)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := newServer(t, func(int, received, http.ResponseWriter) { <-release })
		defer close(release)
		var f failures
		s := httpSink(t, `{url: "${URL}", max_attempts: 2, backoff: 1ms, timeout: 50ms}`, map[string]string{"URL": srv.URL}, &f)
		writeAll(t, s, `{"a":1}`)
		if errs := f.list(); len(errs) != 1 || !strings.Contains(errs[0], "no response within 50ms") || len(srv.requests()) != 2 {
			t.Errorf("failures: %v, %d requests", errs, len(srv.requests()))
		}
	})
}

func TestHTTPConcurrencyLimit(t *testing.T) {
	srv := newServer(t, func(int, received, http.ResponseWriter) { time.Sleep(30 * time.Millisecond) })
	s := httpSink(t, `{url: "${URL}", concurrency: 3}`, map[string]string{"URL": srv.URL}, &failures{})
	var recs []string
	for range 12 {
		recs = append(recs, `{"a":1}`)
	}
	writeAll(t, s, recs...)
	if n := len(srv.requests()); n != 12 {
		t.Errorf("%d requests, want 12", n)
	}
	if p := srv.peak.Load(); p != 3 {
		t.Errorf("peak in flight = %d, want 3", p)
	}
}

// TestHTTPWriteAndCloseWait: Write returns at once while there is room,
// blocks while `concurrency` requests are in flight, and Close waits for
// the last of them.
func TestHTTPWriteAndCloseWait(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(int, received, http.ResponseWriter) { <-release })
	var f failures
	s := httpSink(t, `{url: "${URL}", concurrency: 1}`, map[string]string{"URL": srv.URL}, &f)
	if err := s.Write(context.Background(), rec(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{})
	go func() {
		s.Write(context.Background(), rec(`{"n":2}`))
		close(wrote)
	}()
	select {
	case <-wrote:
		t.Fatal("Write did not wait for room under the concurrency limit")
	case <-time.After(100 * time.Millisecond):
	}
	closed := make(chan error)
	go func() {
		<-wrote
		closed <- s.Close(context.Background(), true)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned with requests in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests when Close returned, want 2", n)
	}
}

func TestHTTPAuth(t *testing.T) {
	for _, tc := range []struct {
		auth, header, want string
	}{
		{`{type: bearer, token: "${WMS_TOKEN}"}`, "Authorization", "Bearer s3cr3t"},
		{`{type: basic, username: erp, password: "${WMS_TOKEN}"}`, "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("erp:s3cr3t"))},
		{`{type: api_key, token: "${WMS_TOKEN}"}`, "X-Api-Key", "s3cr3t"},
		{`{type: api_key, header: X-Shopify-Access-Token, token: "${WMS_TOKEN}"}`, "X-Shopify-Access-Token", "s3cr3t"},
		{`{type: none}`, "Authorization", ""},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			srv := newServer(t, nil)
			s := httpSink(t, `{url: "${URL}", auth: `+tc.auth+`}`, map[string]string{"URL": srv.URL, "WMS_TOKEN": "s3cr3t"}, &failures{})
			writeAll(t, s, `{}`)
			got := srv.requests()
			if len(got) != 1 || got[0].Header.Get(tc.header) != tc.want {
				t.Errorf("%s = %q, want %q", tc.header, got[0].Header.Get(tc.header), tc.want)
			}
		})
	}
}

// TestHTTPDescribe: a dry run sees the exact request, with every credential
// redacted, and nothing reaches the server.
func TestHTTPDescribe(t *testing.T) {
	srv := newServer(t, func(int, received, http.ResponseWriter) { t.Error("Describe sent a request") })
	env := map[string]string{"URL": srv.URL, "WMS_TOKEN": "s3cr3t", "SHOP_SECRET": "hush"}
	s := httpSink(t, `{url: "${URL}/v1", path: '"/t/" + ref', method: PATCH, auth: {type: bearer, token: "${WMS_TOKEN}"},
      headers: {X-Trace: abc, X-Sig: "${SHOP_SECRET}", Cookie: "session=1"}, body: {ref: ref, n: "n * 2"}, idempotency_key: ref}`, env, nil)
	d, ok := s.(component.Describer)
	if !ok {
		t.Fatal("the http sink is not a Describer")
	}
	got, err := d.Describe(rec(`{"ref":"T-9","n":21}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &connectors.HTTPRequest{
		Method: "PATCH",
		URL:    srv.URL + "/v1/t/T-9",
		Headers: map[string]string{
			"Authorization":   component.Redacted,
			"Content-Type":    "application/json",
			"Cookie":          component.Redacted,
			"Idempotency-Key": "T-9",
			"User-Agent":      "pipectl",
			"X-Sig":           component.Redacted,
			"X-Trace":         "abc",
		},
		Body: json.RawMessage(`{"ref":"T-9","n":42}`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "s3cr3t") || strings.Contains(string(b), "hush") {
		t.Errorf("a secret is printed: %s", b)
	}

	// A URL built from a secret is redacted whole.
	s = httpSink(t, `{url: "${URL}?key=${WMS_TOKEN}"}`, env, nil)
	got, err = s.(component.Describer).Describe(rec(`{}`))
	if err != nil || got.(*connectors.HTTPRequest).URL != component.Redacted {
		t.Errorf("secret URL shown: %+v %v", got, err)
	}

	// Through a whole dry run.
	src := "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    http: {url: \"${URL}\", auth: {type: api_key, token: \"${WMS_TOKEN}\"}}\n"
	p := compile(t, src, env)
	res, err := engine.Run(context.Background(), p, engine.Options{DryRun: true,
		Inputs: []engine.Input{{Node: "in", Record: rec(`{"a":1}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	ds := res.Captured["out"].Descriptions
	if len(ds) != 1 || ds[0].(*connectors.HTTPRequest).Headers["X-Api-Key"] != component.Redacted {
		t.Errorf("dry run descriptions: %+v", ds)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestHTTPRecordErrors(t *testing.T) {
	srv := newServer(t, nil)
	for _, tc := range []struct{ settings, record, want string }{
		{`{url: "${URL}", path: '"@evil.example/x"'}`, `{}`, `changes the URL's host`},
		{`{url: "${URL}", idempotency_key: ref}`, `{"ref":""}`, `idempotency_key gave "": a key must be a non-empty line`},
		{`{url: "${URL}", idempotency_key: ref}`, `{}`, `idempotency_key gave null`},
		{`{url: "${URL}", body: {x: "1 / n"}}`, `{"n":0}`, `body field x`},
	} {
		s := httpSink(t, tc.settings, map[string]string{"URL": srv.URL}, &failures{})
		err := s.Write(context.Background(), rec(tc.record))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %s: err = %v, want %q", tc.settings, tc.record, err, tc.want)
		}
		s.Close(context.Background(), true)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent for records that failed", n)
	}
}

func TestHTTPRedirects(t *testing.T) {
	srv := newServer(t, func(_ int, r received, w http.ResponseWriter) {
		switch r.Path {
		case "/moved":
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusPermanentRedirect)
		case "/found":
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusFound)
		}
	})
	var f failures
	s := httpSink(t, `{url: "${URL}", path: 'p'}`, map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s, `{"p":"/moved"}`)
	if got := srv.requests(); len(got) != 2 || got[1].Path != "/new" || got[1].Body != `{"p":"/moved"}` {
		t.Errorf("308 not followed with the body: %+v", got)
	}
	s = httpSink(t, `{url: "${URL}", path: 'p'}`, map[string]string{"URL": srv.URL}, &f)
	writeAll(t, s, `{"p":"/found"}`)
	if errs := f.list(); len(errs) != 1 || !strings.Contains(errs[0], "302 Found") {
		t.Errorf("302 (which would turn the POST into a GET) should fail: %v", errs)
	}
}

// TestHTTPThroughEngine: records the API refuses reach the sink's error
// output, the others count as delivered.
func TestHTTPThroughEngine(t *testing.T) {
	srv := newServer(t, func(_ int, r received, w http.ResponseWriter) {
		if strings.Contains(r.Body, "BAD") {
			http.Error(w, "unknown sku BAD", http.StatusBadRequest)
		}
	})
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.ndjson"), `{"sku":"A"}`+"\n"+`{"sku":"BAD"}`+"\n"+`{"sku":"C"}`+"\n")
	dead := filepath.Join(dir, "dead.ndjson")
	src := `pipeline: t
sources:
  in:
    file: {path: "${IN}"}
sinks:
  wms:
    from: in
    http: {url: "${URL}", idempotency_key: sku, backoff: 1ms}
  dead:
    from: wms.error
    file: {path: "${DEAD}"}
`
	res := runPipeline(t, src, map[string]string{"IN": in, "URL": srv.URL, "DEAD": dead})
	var wms engine.NodeStats
	for _, n := range res.Nodes {
		if n.Name == "wms" {
			wms = n
		}
	}
	if wms.In != 3 || wms.Out != 2 || wms.Errored != 1 {
		t.Errorf("wms stats: %+v", wms)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, dead)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"node":"wms"`) || !strings.Contains(lines[0], `400 Bad Request: unknown sku BAD`) ||
		!strings.Contains(lines[0], `"record":{"sku":"BAD"}`) {
		t.Errorf("dead letters: %v", lines)
	}
}

// A run that stops while a record waits out a long Retry-After stops the
// wait at once, and the record is reported as not delivered rather than
// failed.
func TestHTTPStopsWaitingWhenTheRunEnds(t *testing.T) {
	srv := newServer(t, func(_ int, _ received, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	f := &failures{}
	s := httpSink(t, `{url: "`+srv.URL+`", backoff: 1ms}`, nil, f)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Write(ctx, rec(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	for len(srv.requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	if err := s.Close(context.Background(), false); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("closing took %s: the retry wait did not stop", took)
	}
	errs := f.list()
	if len(errs) != 1 || !strings.Contains(errs[0], "not delivered") {
		t.Errorf("failures = %q, want one not delivered", errs)
	}
}

// A sink closed without commit stops its requests in flight, however long
// the server takes.
func TestHTTPCloseWithoutCommitStopsRequests(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(_ int, _ received, w http.ResponseWriter) { <-release })
	defer close(release)
	f := &failures{}
	s := httpSink(t, `{url: "`+srv.URL+`", timeout: 1m}`, nil, f)
	if err := s.Write(context.Background(), rec(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	for len(srv.requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close(context.Background(), false)
	if took := time.Since(start); took > time.Second {
		t.Errorf("closing took %s", took)
	}
	if errs := f.list(); len(errs) != 1 || !strings.Contains(errs[0], "not delivered") {
		t.Errorf("failures = %q, want one not delivered", errs)
	}
}

// A failed delivery carries the last status and the attempts made, as
// fields of its error record, so a route can tell a rejection from an
// outage.
func TestHTTPFailureCarriesStatusAndAttempts(t *testing.T) {
	srv := newServer(t, func(_ int, r received, w http.ResponseWriter) {
		if strings.Contains(r.Body, "reject") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var mu sync.Mutex
	got := map[string]string{}
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    http: {url: \""+srv.URL+"\", max_attempts: 3, backoff: 1ms}\n", nil)
	s := newSink(t, p, "out", nil, func(r *record.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		got[string(r.Raw)] = string(component.ErrorRecord("out", r, err).Raw)
	})
	writeAll(t, s, `{"kind":"reject"}`, `{"kind":"outage"}`)
	type errorRecord struct {
		Status   int `json:"status"`
		Attempts int `json:"attempts"`
	}
	for raw, want := range map[string]errorRecord{`{"kind":"reject"}`: {422, 1}, `{"kind":"outage"}`: {503, 3}} {
		var er errorRecord
		if err := json.Unmarshal([]byte(got[raw]), &er); err != nil {
			t.Fatalf("error record of %s: %v (%s)", raw, err, got[raw])
		}
		if er != want {
			t.Errorf("error record of %s has %+v, want %+v", raw, er, want)
		}
	}
}

// A server that echoes the request (its Authorization header) in an error
// body does not put the credentials into the error record.
func TestHTTPMasksEchoedCredentials(t *testing.T) {
	srv := newServer(t, func(_ int, r received, w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad request; you sent Authorization: "+r.Header.Get("Authorization")+" and X-Key: "+r.Header.Get("X-Key"))
	})
	for _, auth := range []string{
		`{type: bearer, token: "${TOKEN}"}`,
		`{type: basic, username: ops, password: "${TOKEN}"}`,
	} {
		f := &failures{}
		s := httpSink(t, `{url: "`+srv.URL+`", auth: `+auth+`, headers: {X-Key: "${TOKEN}"}}`, map[string]string{"TOKEN": "tok_live_5ecret"}, f)
		writeAll(t, s, `{"n":1}`)
		errs := f.list()
		if len(errs) != 1 {
			t.Fatalf("%s: failures = %q", auth, errs)
		}
		basic := base64.StdEncoding.EncodeToString([]byte("ops:tok_live_5ecret"))
		if strings.Contains(errs[0], "5ecret") || strings.Contains(errs[0], basic) || !strings.Contains(errs[0], component.Redacted) {
			t.Errorf("%s: error shows the credentials: %s", auth, errs[0])
		}
	}
}

// Retries are logged as they happen and counted for the run's summary.
func TestHTTPLogsAndCountsRetries(t *testing.T) {
	srv := newServer(t, func(n int, _ received, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	var log strings.Builder
	var logMu sync.Mutex
	rt := &component.Runtime{Clock: component.SystemClock{}, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &log}, nil))}
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  wms:\n    from: in\n    http: {url: \""+srv.URL+"\", backoff: 1ms}\n", nil)
	s := newSink(t, p, "wms", rt, nil)
	writeAll(t, s, `{"n":1}`)
	d := s.(component.DeliveryStats).Delivery()
	if d.Attempts != 3 || d.Retries != 2 || d.InFlight != 0 || d.Busy <= 0 {
		t.Errorf("delivery = %+v, want 3 attempts, 2 retries, none in flight, some busy time", d)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(log.String(), "msg=retrying"); n != 2 || !strings.Contains(log.String(), "sink=wms") || !strings.Contains(log.String(), "502") {
		t.Errorf("log = %q, want two retries of sink wms with the status", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
