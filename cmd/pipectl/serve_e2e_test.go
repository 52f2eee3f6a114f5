package main

// End-to-end tests of pipectl serve with real processes: the pipectl
// binary is built once, started with exec.Command on a free loopback port
// and a SQLite state directory, killed, signalled and restarted, while the
// test process plays Shopify (signed webhooks, retried on 503 and on a
// refused connection until answered 200 or 401) and the WMS (an httptest
// server recording each request's Idempotency-Key).

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const e2eSecret = "e2e-webhook-secret"

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// pipectlBinary builds the pipectl binary once per test binary run.
func pipectlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pipectl-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "pipectl")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is one pipectl serve process.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	err    error // set when done is closed
}

// e2eEnv is the environment of every pipectl process the tests start.
func e2eEnv() []string {
	return append(os.Environ(), "SECRET="+e2eSecret)
}

// startServe starts pipectl serve on addr with its state in stateDir and
// waits until /readyz answers 200.
func startServe(t *testing.T, addr, stateDir string, paths ...string) *served {
	t.Helper()
	return startServeArgs(t, addr, append([]string{"--state", "sqlite://" + stateDir + "/"}, paths...)...)
}

// startServeArgs starts pipectl serve on addr with args after --listen and
// waits until /readyz answers 200.
func startServeArgs(t *testing.T, addr string, args ...string) *served {
	t.Helper()
	args = append([]string{"serve", "--listen", addr}, args...)
	cmd := exec.Command(pipectlBinary(t), args...)
	cmd.Env = e2eEnv()
	s := &served{t: t, cmd: cmd, addr: addr, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	cmd.Stdout = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("pipectl serve stderr:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("pipectl serve exited before it was ready (%v):\n%s", s.err, s.stderr.String())
		default:
		}
		if readyz(addr) == http.StatusOK {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipectl serve not ready after 60s:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *served) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// signal sends sig to the process.
func (s *served) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (s *served) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(90 * time.Second):
		s.t.Fatalf("pipectl serve still running 90s after it was told to stop:\n%s", s.stderr.String())
	}
	return s.cmd.ProcessState.ExitCode()
}

// readyz returns the status /readyz answers, 0 when nothing answers.
func readyz(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// stand is a WMS stand-in. It records each accepted request's
// Idempotency-Key and body, and answers what refuse says (0: 201).
type stand struct {
	mu       sync.Mutex
	seen     map[string]int
	bodies   map[string][]byte
	requests atomic.Int64
	refuse   func(body []byte) int
	srv      *httptest.Server
}

func newStand(t *testing.T, refuse func(body []byte) int) *stand {
	s := &stand{seen: map[string]int{}, bodies: map[string][]byte{}, refuse: refuse}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.requests.Add(1)
		if s.refuse != nil {
			if code := s.refuse(body); code != 0 {
				http.Error(w, `{"error":"refused"}`, code)
				return
			}
		}
		k := r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		s.seen[k]++
		s.bodies[k] = body
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// has reports whether every key was accepted at least once.
func (s *stand) has(keys []string) (missing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.seen[k] == 0 {
			missing++
		}
	}
	return missing
}

func (s *stand) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

func (s *stand) body(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[key]
}

// snapshot copies the accepted keys and how often each came.
func (s *stand) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.seen))
	for k, n := range s.seen {
		out[k] = n
	}
	return out
}

// ordersPipeline is a webhook pipeline delivering a ticket per order to
// the WMS at url, keyed by the order's id. extra adds map lines.
func ordersPipeline(name, path, url, extra string) string {
	return `pipeline: ` + name + `
triggers:
  created:
    webhook: {path: ` + path + `, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}}
steps:
  ticket:
    from: orders
    map:
      order_id: string(id)
      sku: sku
` + extra + `sinks:
  wms:
    from: ticket
    http:
      url: ` + url + `/tickets
      idempotency_key: order_id
      backoff: 20ms
      max_backoff: 200ms
      max_attempts: 3
`
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func shopifySign(body []byte) string {
	m := hmac.New(sha256.New, []byte(e2eSecret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func orderBody(id int, sku string) []byte {
	return []byte(fmt.Sprintf(`{"id": %d, "sku": %q, "email": "buyer-%d@example.com"}`, id, sku, id))
}

var webhookClient = &http.Client{Timeout: 30 * time.Second}

// postOnce sends one webhook; status 0 with err when nothing answered.
func postOnce(url string, body []byte, eventID, sig string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", "orders/create")
	req.Header.Set("X-Shopify-Hmac-Sha256", sig)
	req.Header.Set("X-Shopify-Event-Id", eventID)
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// postUntilAnswered sends a webhook as Shopify does: again while nothing
// answers or the answer is 503, until it is 200 or 401 (or another final
// status, returned as is).
func postUntilAnswered(t *testing.T, url string, body []byte, eventID, sig string) int {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, err := postOnce(url, body, eventID, sig)
		if err == nil && code != http.StatusServiceUnavailable {
			return code
		}
		if time.Now().After(deadline) {
			t.Errorf("webhook %s never answered in 3 minutes: last %d %v", eventID, code, err)
			return code
		}
		time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
	}
}

// eventuallyE2E polls cond until it holds, failing after a generous bound.
func eventuallyE2E(t *testing.T, bound time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", bound, what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pipectlCmd runs a pipectl command to completion.
func pipectlCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(pipectlBinary(t), args...)
	cmd.Env = e2eEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func keyOf(id int) string { return strconv.Itoa(id) }

// TestServeSurvivesKill9 sends signed webhooks from 8 senders while the
// server is killed with SIGKILL three times and restarted on the same port
// and store: every acknowledged order reaches the WMS (once per key; the
// WMS dedupes the repeats at-least-once delivery makes after a kill), no
// badly signed one does, and each of those got 401.
func TestServeSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts and kills processes")
	}
	// The figure; the run takes about as long as the 30 s lease
	// a killed process's deliveries wait out, whatever the count.
	total := 10000
	began := time.Now()
	wms := newStand(t, nil)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	stateDir := filepath.Join(dir, "state")
	addr := freeAddr(t)
	var cur atomic.Pointer[served]
	cur.Store(startServe(t, addr, stateDir, pipeline))
	url := "http://" + addr + "/hooks/orders"

	type job struct {
		id    int
		twice bool
		bad   bool
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		acked    []string
		badKeys  []string
		wrong    []string
		answered atomic.Int64
	)
	var senders sync.WaitGroup
	for range 8 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := range jobs {
				body := orderBody(j.id, "SKU-"+strconv.Itoa(j.id%17))
				eventID := "evt-" + strconv.Itoa(j.id)
				sig := shopifySign(body)
				if j.bad {
					sig = shopifySign(append([]byte("tampered"), body...))
				}
				sends := 1
				if j.twice {
					sends = 2
				}
				for range sends {
					code := postUntilAnswered(t, url, body, eventID, sig)
					mu.Lock()
					switch {
					case j.bad && code == http.StatusUnauthorized:
						badKeys = append(badKeys, keyOf(j.id))
					case !j.bad && code == http.StatusOK:
						acked = append(acked, keyOf(j.id))
					default:
						wrong = append(wrong, fmt.Sprintf("order %d (bad signature %v): %d", j.id, j.bad, code))
					}
					mu.Unlock()
				}
				answered.Add(1)
			}
		}()
	}

	// The killer: three SIGKILLs at random points of the sending, each
	// followed by a restart on the same port and store.
	killsDone := make(chan struct{})
	var restarts []time.Duration
	go func() {
		defer close(killsDone)
		marks := []int{total/10 + rand.IntN(total/5), total/2 + rand.IntN(total/10), 3*total/4 + rand.IntN(total/10)}
		for _, m := range marks {
			for answered.Load() < int64(m) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			cur.Load().kill()
			down := time.Now()
			cur.Store(startServe(t, addr, stateDir, pipeline))
			restarts = append(restarts, time.Since(down))
		}
	}()

	for i := range total {
		id := 5_000_000 + i
		r := rand.IntN(100)
		jobs <- job{id: id, bad: r < 2, twice: r >= 2 && r < 7}
	}
	close(jobs)
	senders.Wait()
	<-killsDone
	sent := time.Since(began)

	for _, w := range wrong {
		t.Error("unexpected answer: " + w)
	}
	distinctAcked := map[string]bool{}
	for _, k := range acked {
		distinctAcked[k] = true
	}
	ackedKeys := make([]string, 0, len(distinctAcked))
	for k := range distinctAcked {
		ackedKeys = append(ackedKeys, k)
	}
	eventuallyE2E(t, 3*time.Minute, func() string {
		return fmt.Sprintf("%d of %d acknowledged orders never reached the WMS", wms.has(ackedKeys), len(ackedKeys))
	}, func() bool { return wms.has(ackedKeys) == 0 })
	// Let anything still queued land before the counts are taken.
	time.Sleep(time.Second)

	got := wms.snapshot()
	repeats := 0
	for k, n := range got {
		repeats += n - 1
		if !distinctAcked[k] {
			t.Errorf("the WMS got order %s, which was never acknowledged", k)
		}
	}
	if len(got) != len(distinctAcked) {
		t.Errorf("the WMS has %d distinct orders, %d were acknowledged", len(got), len(distinctAcked))
	}
	for _, k := range badKeys {
		if got[k] != 0 {
			t.Errorf("order %s, badly signed, reached the WMS", k)
		}
	}
	t.Logf("%d webhooks (%d acknowledged orders, %d acknowledgements, %d refused with 401) in %s with 3 SIGKILLs (restarts took %v); all at the WMS after %s; %d raw repeats of an Idempotency-Key at the WMS",
		total, len(distinctAcked), len(acked), len(badKeys), sent.Round(time.Millisecond), restarts, time.Since(began).Round(time.Millisecond), repeats)
}

// TestServeWMSOutage takes the WMS down for a window: the second pipeline
// of the same serve keeps delivering meanwhile, nothing of the first is
// lost once the WMS is back, and /metrics counts retries delivered.
func TestServeWMSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts processes")
	}
	outageWindow := 60 * time.Second // the issue's: a WMS restart, a deploy
	var down atomic.Bool
	down.Store(true)
	wms := newStand(t, func([]byte) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	other := newStand(t, nil)
	dir := t.TempDir()
	// Enough attempts, from the store, to outlast the outage.
	orders := strings.NewReplacer("max_attempts: 3", "max_attempts: 1000", "max_backoff: 200ms", "max_backoff: 2s").
		Replace(ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	writeFile(t, filepath.Join(dir, "orders.yaml"), orders)
	writeFile(t, filepath.Join(dir, "returns.yaml"), ordersPipeline("returns", "/hooks/returns", other.srv.URL, ""))
	addr := freeAddr(t)
	s := startServe(t, addr, filepath.Join(dir, "state"), dir)
	began := time.Now()

	var ordered, returns []string
	for i := range 50 {
		id := 7_000_000 + i
		if code := postUntilAnswered(t, "http://"+addr+"/hooks/orders", orderBody(id, "A"), "o-"+keyOf(id), shopifySign(orderBody(id, "A"))); code != http.StatusOK {
			t.Fatalf("order %d: %d", id, code)
		}
		ordered = append(ordered, keyOf(id))
	}
	for i := range 50 {
		id := 8_000_000 + i
		if code := postUntilAnswered(t, "http://"+addr+"/hooks/returns", orderBody(id, "B"), "r-"+keyOf(id), shopifySign(orderBody(id, "B"))); code != http.StatusOK {
			t.Fatalf("return %d: %d", id, code)
		}
		returns = append(returns, keyOf(id))
	}
	eventuallyE2E(t, time.Minute, func() string {
		return fmt.Sprintf("%d of 50 orders of the second pipeline never arrived", other.has(returns))
	}, func() bool { return other.has(returns) == 0 })
	if !down.Load() {
		t.Fatal("the WMS came back before the second pipeline delivered")
	}
	if n := wms.has(ordered); n != len(ordered) {
		t.Fatalf("%d orders reached the WMS while it was down", len(ordered)-n)
	}
	if wait := outageWindow - time.Since(began); wait > 0 {
		time.Sleep(wait)
	}
	down.Store(false)
	eventuallyE2E(t, 2*time.Minute, func() string {
		return fmt.Sprintf("%d of 50 orders never reached the WMS after the outage", wms.has(ordered))
	}, func() bool { return wms.has(ordered) == 0 })

	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	re := regexp.MustCompile(`(?m)^pipectl_sink_retries_total\{([^}]*)\} (\S+)$`)
	delivered := 0.0
	for _, m := range re.FindAllStringSubmatch(string(metrics), -1) {
		if strings.Contains(m[1], `outcome="delivered"`) && strings.Contains(m[1], `pipeline="orders"`) {
			v, _ := strconv.ParseFloat(m[2], 64)
			delivered += v
		}
	}
	if delivered <= 0 {
		t.Errorf(`pipectl_sink_retries_total{outcome="delivered",pipeline="orders"} is not above 0:\n%s`, grepLines(string(metrics), "pipectl_sink_retries_total"))
	}
	t.Logf("outage of %s: the other pipeline's 50 orders arrived meanwhile; all 50 orders at the WMS %s after the start; %v retries delivered",
		outageWindow, time.Since(began).Round(time.Millisecond), delivered)
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeDeadLetterEditReplay follows a ticket the WMS refuses (422)
// through the dead-letter commands while serve runs: listed, replayed dry
// (nothing sent), edited, replayed for real, resolved.
func TestServeDeadLetterEditReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts processes")
	}
	wms := newStand(t, func(body []byte) int {
		if bytes.Contains(body, []byte(`"sku":"BAD"`)) {
			return http.StatusUnprocessableEntity
		}
		return 0
	})
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	stateDir := filepath.Join(dir, "state")
	stateURL := "sqlite://" + stateDir + "/"
	addr := freeAddr(t)
	startServe(t, addr, stateDir, pipeline)

	const id = 9_000_001
	body := orderBody(id, "BAD")
	if code := postUntilAnswered(t, "http://"+addr+"/hooks/orders", body, "evt-bad", shopifySign(body)); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	var list string
	eventuallyE2E(t, time.Minute, func() string { return "no dead letter listed:\n" + list }, func() bool {
		out, errOut, code := pipectlCmd(t, "dlq", "list", "--state", stateURL)
		list = out + errOut
		return code == 0 && strings.Contains(out, "orders") && !strings.Contains(out, "no dead letters")
	})
	sc := bufio.NewScanner(strings.NewReader(list))
	sc.Scan() // header
	sc.Scan()
	fields := strings.Fields(sc.Text())
	if len(fields) < 4 || fields[1] != "open" || fields[3] != "wms" {
		t.Fatalf("dlq list: want one open dead letter at wms:\n%s", list)
	}
	dlID := fields[0]
	before := wms.requests.Load()

	out, errOut, code := pipectlCmd(t, "dlq", "replay", dlID, "--dry-run", "--pipelines", pipeline, "--state", stateURL)
	if code != 0 || !strings.Contains(out, "BAD") || !strings.Contains(out, keyOf(id)) {
		t.Fatalf("dlq replay --dry-run: exit %d, want the ticket the sink would receive:\n%s%s", code, out, errOut)
	}
	if n := wms.requests.Load(); n != before {
		t.Fatalf("dlq replay --dry-run sent %d requests to the WMS", n-before)
	}

	out, errOut, code = pipectlCmd(t, "dlq", "edit", dlID, "--set", "sku=GOOD", "--pipelines", pipeline, "--state", stateURL)
	if code != 0 {
		t.Fatalf("dlq edit: exit %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = pipectlCmd(t, "dlq", "replay", dlID, "--pipelines", pipeline, "--state", stateURL)
	if code != 0 || !strings.Contains(out, "delivered") {
		t.Fatalf("dlq replay: exit %d:\n%s%s", code, out, errOut)
	}
	if wms.count(keyOf(id)) != 1 {
		t.Fatalf("after the replay the WMS has order %d %d times, want 1", id, wms.count(keyOf(id)))
	}
	var ticket map[string]any
	if err := json.Unmarshal(wms.body(keyOf(id)), &ticket); err != nil || ticket["sku"] != "GOOD" {
		t.Fatalf("the WMS got %s, want the edited ticket with sku GOOD", wms.body(keyOf(id)))
	}
	out, errOut, code = pipectlCmd(t, "dlq", "show", dlID, "--state", stateURL)
	var shown map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown["status"] != "resolved" {
		t.Fatalf("dlq show: exit %d, want status resolved:\n%s%s", code, out, errOut)
	}
	// The edit and the replay are in the audit log, newest first.
	out, errOut, code = pipectlCmd(t, "dlq", "history", dlID, "--state", stateURL)
	if code != 0 || !regexp.MustCompile(`(?s)dlq\.replay.*dlq\.edit`).MatchString(out) {
		t.Fatalf("dlq history: exit %d, want the replay then the edit:\n%s%s", code, out, errOut)
	}
}

// TestServeDrainOnSIGTERM stops serve under load: readiness turns false,
// the process exits 0, and every acknowledged order is at the WMS or is
// delivered by the next start.
func TestServeDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts processes")
	}
	wms := newStand(t, func([]byte) int {
		time.Sleep(5 * time.Millisecond) // a WMS that takes its time, so runs are in flight
		return 0
	})
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	stateDir := filepath.Join(dir, "state")
	addr := freeAddr(t)
	s := startServe(t, addr, stateDir, pipeline)
	url := "http://" + addr + "/hooks/orders"

	var (
		mu    sync.Mutex
		acked []string
		next  atomic.Int64
		stop  atomic.Bool
	)
	next.Store(6_000_000)
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for !stop.Load() {
				id := int(next.Add(1))
				body := orderBody(id, "A")
				code, err := postOnce(url, body, "evt-"+keyOf(id), shopifySign(body))
				if err != nil || code == http.StatusServiceUnavailable {
					continue // refused while draining: Shopify would retry later
				}
				if code != http.StatusOK {
					t.Errorf("order %d: %d", id, code)
					continue
				}
				mu.Lock()
				acked = append(acked, keyOf(id))
				mu.Unlock()
			}
		}()
	}
	eventuallyE2E(t, time.Minute, func() string { return "fewer than 300 orders acknowledged" }, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	s.signal(syscall.SIGTERM)
	eventuallyE2E(t, 30*time.Second, func() string { return "/readyz still 200 after SIGTERM" }, func() bool {
		return readyz(addr) != http.StatusOK
	})
	code := s.wait()
	stop.Store(true)
	senders.Wait()
	if code != 0 {
		t.Fatalf("pipectl serve exited %d after SIGTERM:\n%s", code, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "draining") {
		t.Errorf("stderr does not say it drained:\n%s", s.stderr.String())
	}
	mu.Lock()
	keys := append([]string(nil), acked...)
	mu.Unlock()
	atStop := len(keys) - wms.has(keys)

	startServe(t, addr, stateDir, pipeline)
	eventuallyE2E(t, 2*time.Minute, func() string {
		return fmt.Sprintf("%d of %d acknowledged orders never reached the WMS after the restart", wms.has(keys), len(keys))
	}, func() bool { return wms.has(keys) == 0 })
	t.Logf("%d orders acknowledged; %d at the WMS when serve exited, the rest delivered after the restart", len(keys), atStop)
}

// TestServeSIGHUPKeepsOldVersionOnError reloads a broken pipeline (refused,
// diagnostics printed, the old version still serving) then a fixed one (in
// force: the WMS sees the new field).
func TestServeSIGHUPKeepsOldVersionOnError(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts processes")
	}
	wms := newStand(t, nil)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	addr := freeAddr(t)
	s := startServe(t, addr, filepath.Join(dir, "state"), pipeline)
	url := "http://" + addr + "/hooks/orders"
	deliver := func(id int) map[string]any {
		t.Helper()
		body := orderBody(id, "A")
		if code := postUntilAnswered(t, url, body, "evt-"+keyOf(id), shopifySign(body)); code != http.StatusOK {
			t.Fatalf("order %d: %d", id, code)
		}
		eventuallyE2E(t, time.Minute, func() string { return fmt.Sprintf("order %d never reached the WMS", id) },
			func() bool { return wms.count(keyOf(id)) > 0 })
		var ticket map[string]any
		if err := json.Unmarshal(wms.body(keyOf(id)), &ticket); err != nil {
			t.Fatalf("the WMS got %s: %v", wms.body(keyOf(id)), err)
		}
		return ticket
	}
	if ticket := deliver(1); ticket["stage"] != nil {
		t.Fatalf("version 1 sent %v", ticket)
	}

	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, "      stage: nope_fn(id)\n"))
	s.signal(syscall.SIGHUP)
	eventuallyE2E(t, 30*time.Second, func() string { return "no diagnostic on stderr:\n" + s.stderr.String() }, func() bool {
		e := s.stderr.String()
		return strings.Contains(e, `unknown function "nope_fn"`) && strings.Contains(e, "reload refused")
	})
	if readyz(addr) != http.StatusOK {
		t.Fatal("/readyz not 200 after a refused reload")
	}
	if ticket := deliver(2); ticket["stage"] != nil || ticket["order_id"] != "2" {
		t.Fatalf("after a refused reload the WMS got %v, want version 1's ticket", ticket)
	}

	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, "      stage: '\"v2\"'\n"))
	s.signal(syscall.SIGHUP)
	eventuallyE2E(t, 30*time.Second, func() string { return "no reload logged:\n" + s.stderr.String() }, func() bool {
		return strings.Contains(s.stderr.String(), "msg=reloaded")
	})
	if ticket := deliver(3); ticket["stage"] != "v2" {
		t.Fatalf("after the fixed reload the WMS got %v, want stage v2", ticket)
	}
}

// TestServeRefusesBrokenPipelineExit1 pins the exit status testscript
// cannot: serve on a pipeline with an error exits 1 (not 2, a usage
// error), with the diagnostic on stderr. serve.txtar covers the rest.
func TestServeRefusesBrokenPipelineExit1(t *testing.T) {
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", "http://127.0.0.1:1", "      stage: nope_fn(id)\n"))
	t.Setenv("SECRET", e2eSecret)
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--listen", "127.0.0.1:0", "--state", "sqlite://" + dir + "/state/", pipeline}, strings.NewReader(""), &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), `unknown function "nope_fn"`) {
		t.Fatalf("serve on a broken pipeline: exit %d, want %d with the diagnostic; stderr:\n%s", code, exitError, stderr.String())
	}
}
