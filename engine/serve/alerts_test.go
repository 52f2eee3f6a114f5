package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// slack is an incoming-webhook stand-in: it keeps the text of each post
// and answers status (0: 200).
type slack struct {
	mu     sync.Mutex
	texts  []string
	status int
	srv    *httptest.Server
}

func newSlack(t *testing.T, status int) *slack {
	s := &slack{status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &msg); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("alert post is not JSON with a text: %q (%v)", body, err)
		}
		s.mu.Lock()
		s.texts = append(s.texts, msg.Text)
		status := s.status
		s.mu.Unlock()
		if status != 0 {
			http.Error(rw, "no", status)
			return
		}
		io.WriteString(rw, "ok")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *slack) posts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// testClock is the server's clock, moved by the test: min_interval and
// sink_failing_for pass without waiting for them, and due retries become
// due only when the test says.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Log(strings.TrimSuffix(string(p), "\n"))
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// alertsHarness serves pipelineText with an alerts section posting to
// hook, on a clock the test moves.
type alertsHarness struct {
	*harness
	clock *testClock
	log   *syncBuffer
}

func startAlerts(t *testing.T, wmsURL, hookURL, alerts string, maxAttempts int) *alertsHarness {
	t.Helper()
	text := strings.Replace(pipelineText(wmsURL), "max_attempts: 4", fmt.Sprintf("max_attempts: %d", maxAttempts), 1) + alerts
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	env := map[string]string{"SECRET": secret, "SLACK_WEBHOOK_URL": hookURL}
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(), Check: engine.Check,
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "orders.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, f, ds := pipelines.Validate(path, opts)
	if plan == nil || ds.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", ds.Err())
	}
	p := &serve.Pipeline{Plan: plan, Path: path, Version: "v1", RulesVersion: f.RulesVersion()}

	q, err := state.OpenQueue(context.Background(), "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	clock := &testClock{now: time.Now()}
	logs := &syncBuffer{t: t}
	srv := serve.New(serve.Config{Queue: q, PollEvery: 5 * time.Millisecond, Clock: clock, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := srv.Load([]*serve.Pipeline{p}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	srv.Start()
	t.Cleanup(srv.Close)
	return &alertsHarness{harness: &harness{t: t, srv: srv, q: q, url: hs.URL}, clock: clock, log: logs}
}

func (h *alertsHarness) deadLetters() int {
	dls, err := h.q.ListDeadLetters(context.Background(), state.DeadLetterFilter{Pipeline: "orders"})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(dls)
}

func TestDeadLetterAlertsAreRateLimited(t *testing.T) {
	w := newWMS(t, func(n int, body []byte) int { return 422 })
	chat := newSlack(t, 0)
	h := startAlerts(t, w.srv.URL, chat.srv.URL+"/services/T1/B1/tok", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  min_interval: 15m\n", 4)

	if got := h.post("/hooks/orders", `{"id": 1, "sku": "A"}`, "1"); got != 200 {
		t.Fatalf("status %d", got)
	}
	eventually(t, "an alert for the first dead letter", func() bool { return len(chat.posts()) == 1 })
	first := chat.posts()[0]
	for _, want := range []string{"pipeline orders", "1 dead letter", "wms: 1", "422"} {
		if !strings.Contains(first, want) {
			t.Errorf("first alert %q does not say %q", first, want)
		}
	}
	if strings.Contains(first, `"sku"`) {
		t.Errorf("the alert quotes a payload: %q", first)
	}

	// Two more within min_interval: counted, not posted. The runs that
	// make them start before the clock moves, so they are within it.
	for i := 2; i <= 3; i++ {
		if got := h.post("/hooks/orders", fmt.Sprintf(`{"id": %d}`, i), fmt.Sprint(i)); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	eventually(t, "three dead letters", func() bool { return h.deadLetters() == 3 })
	h.clock.advance(16 * time.Minute)
	eventually(t, "a second alert once min_interval passed", func() bool { return len(chat.posts()) >= 2 })
	posts := chat.posts()
	if len(posts) != 2 || !strings.Contains(posts[1], "2 dead letters since the last alert") || !strings.Contains(posts[1], "wms: 2") {
		t.Fatalf("alerts = %q, want a second one counting the 2 dead letters since the first", posts)
	}
}

func TestSinkFailingAlertsOnceAndResolves(t *testing.T) {
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
	chat := newSlack(t, 0)
	h := startAlerts(t, w.srv.URL, chat.srv.URL, "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  sink_failing_for: 10m\n", 1000)

	if got := h.post("/hooks/orders", `{"id": 1}`, "1"); got != 200 {
		t.Fatalf("status %d", got)
	}
	eventually(t, "a retry kept for the failed delivery", func() bool {
		d, err := h.q.Depth(context.Background(), "orders")
		return err == nil && d.Retries == 1
	})
	h.clock.advance(11 * time.Minute)
	eventually(t, "an alert for the failing sink", func() bool { return len(chat.posts()) >= 1 })
	failing := chat.posts()[0]
	for _, want := range []string{"pipeline orders", "sink wms is failing", "503"} {
		if !strings.Contains(failing, want) {
			t.Errorf("failing alert %q does not say %q", failing, want)
		}
	}
	// Failures after the alert are not announced again: the retry fails
	// at the later time, and once more after its backoff.
	attempts := func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.n
	}
	eventually(t, "the retry tried again at the later time", func() bool { return attempts() >= 2 })
	h.clock.advance(time.Second)
	eventually(t, "the retry tried a third time", func() bool { return attempts() >= 3 })

	mu.Lock()
	down = false
	mu.Unlock()
	h.clock.advance(time.Minute)
	eventually(t, "the order delivered", func() bool { return len(w.received()) == 1 })
	eventually(t, "a resolved alert", func() bool { return len(chat.posts()) >= 2 })
	posts := chat.posts()
	if len(posts) != 2 || !strings.Contains(posts[1], "resolved: sink wms delivers again") {
		t.Fatalf("alerts = %q, want one failing and one resolved", posts)
	}
}

func TestAlertPostFailureIsLoggedAndServingGoesOn(t *testing.T) {
	w := newWMS(t, func(n int, body []byte) int {
		if bytes.Contains(body, []byte(`"sku":"BAD"`)) {
			return 422
		}
		return 0
	})
	chat := newSlack(t, 500)
	hookURL := chat.srv.URL + "/services/T1/B1/secret-token"
	h := startAlerts(t, w.srv.URL, hookURL, "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n", 4)

	if got := h.post("/hooks/orders", `{"id": 1, "sku": "BAD"}`, "1"); got != 200 {
		t.Fatalf("status %d", got)
	}
	eventually(t, "the failed post logged", func() bool { return strings.Contains(h.log.String(), "alert not posted") })
	if !strings.Contains(h.log.String(), "status=500") {
		t.Errorf("the log does not say the webhook answered 500:\n%s", h.log.String())
	}
	if got := h.post("/hooks/orders", `{"id": 2, "sku": "GOOD"}`, "2"); got != 200 {
		t.Fatalf("status %d after a failed alert", got)
	}
	eventually(t, "the next order delivered", func() bool { return len(w.received()) == 1 })
	if strings.Contains(h.log.String(), "secret-token") {
		t.Errorf("the log shows the webhook URL:\n%s", h.log.String())
	}
}
