package jsintake_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/engine/state/jsintake"
	"github.com/pipectl/pipectl/internal/natstest"
	"github.com/pipectl/pipectl/internal/pgtest"
)

var ctx = context.Background()

// open opens a queue on the test's stream and schema; both halves of one
// test share them.
type env struct {
	stream, prefix, pg string
}

func newEnv(t *testing.T) env {
	stream, prefix := natstest.Stream(t)
	return env{stream, prefix, pgtest.Schema(t, "pipectl_js_", url.Values{"pool_max_conns": {"8"}})}
}

func (e env) open(t *testing.T, natsURL string, cfg jsintake.Config) *jsintake.Queue {
	t.Helper()
	rest, err := state.OpenQueue(ctx, e.pg, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream, cfg.Prefix = e.stream, e.prefix
	q, err := jsintake.Open(ctx, natsURL, rest, cfg)
	if err != nil {
		rest.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func claim(t *testing.T, q state.Queue, max int, lease time.Duration) []*state.Delivery {
	t.Helper()
	ds, err := q.Claim(ctx, "orders", max, lease)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestDedupePastTheWindow: past the stream's duplicate window a repeated
// event id is stored again, and the processed-message key PostgreSQL kept
// keeps it from running: Claim passes it over and it stops counting.
func TestDedupePastTheWindow(t *testing.T) {
	e := newEnv(t)
	q := e.open(t, natstest.URL(), jsintake.Config{DuplicateWindow: 500 * time.Millisecond})
	id, _, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", EventID: "e1", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	ds := claim(t, q, 10, time.Minute)
	if len(ds) != 1 || ds[0].ID != id {
		t.Fatalf("claimed %+v", ds)
	}
	if err := q.Finish(ctx, []int64{id}, nil, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	again, dup, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", EventID: "e1", Body: []byte(`{}`)})
	if err != nil || dup || again == id {
		t.Fatalf("past the window: %d %v %v; want a new message", again, dup, err)
	}
	other, _, _ := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", EventID: "e2"})
	ds = claim(t, q, 10, time.Minute)
	if len(ds) != 1 || ds[0].ID != other {
		t.Fatalf("claimed %+v; want only %d (e1 was processed)", ds, other)
	}
	if err := q.Finish(ctx, []int64{other}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if qd, err := q.Depth(ctx, "orders"); err != nil || qd.Queued != 0 {
		t.Errorf("depth %+v %v; want nothing queued", qd, err)
	}
}

// TestCommittedNotAcknowledged: a worker that committed a run and died
// before acknowledging it leaves a redelivery that another process
// acknowledges without running it again.
func TestCommittedNotAcknowledged(t *testing.T) {
	e := newEnv(t)
	a := e.open(t, natstest.URL(), jsintake.Config{})
	id, _, _ := a.Enqueue(ctx, &state.Delivery{Pipeline: "orders", Body: []byte(`{"n":1}`)})
	ds := claim(t, a, 1, time.Second)
	if len(ds) != 1 {
		t.Fatalf("claimed %+v", ds)
	}
	keys, _ := state.AsProcessedKeys(a.Queue)
	if err := keys.FinishProcessed(ctx, jsintake.ConsumerName("orders"), []string{"seq:" + strconv.FormatInt(id, 10)},
		[]*state.Retry{{Pipeline: "orders", Sink: "wms"}}, nil); err != nil {
		t.Fatal(err)
	}
	a.Close() // died before the acknowledgement
	b := e.open(t, natstest.URL(), jsintake.Config{})
	time.Sleep(1500 * time.Millisecond)
	if ds := claim(t, b, 10, time.Second); len(ds) != 0 {
		t.Fatalf("a committed delivery ran again: %+v", ds)
	}
	qd, err := b.Depth(ctx, "orders")
	if err != nil || qd.Queued != 0 || qd.Retries != 1 {
		t.Errorf("depth %+v %v; want nothing queued and the one retry", qd, err)
	}
}

// TestStaleWorkerDoesNotNak: a worker past its lease gives nothing back:
// the redelivery another worker holds is not disturbed by its release.
func TestStaleWorkerDoesNotNak(t *testing.T) {
	e := newEnv(t)
	a := e.open(t, natstest.URL(), jsintake.Config{})
	b := e.open(t, natstest.URL(), jsintake.Config{})
	id, _, _ := a.Enqueue(ctx, &state.Delivery{Pipeline: "orders"})
	claim(t, a, 1, time.Second)
	time.Sleep(1500 * time.Millisecond)
	ds := claim(t, b, 1, 5*time.Second)
	if len(ds) != 1 || ds[0].ID != id || ds[0].Attempts != 2 {
		t.Fatalf("redelivery: %+v", ds)
	}
	if err := a.Release(ctx, []int64{id}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ds := claim(t, a, 1, 5*time.Second); len(ds) != 0 {
		t.Fatalf("the stale release handed the delivery out again: %+v", ds)
	}
	if err := b.Finish(ctx, []int64{id}, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestEnqueueWithoutJetStream: with the NATS server gone, Enqueue fails
// within its context (serve answers 503) and succeeds again once the
// server is back, with what it acknowledged before still there.
func TestEnqueueWithoutJetStream(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			pgtest.Unavailable(t, "no nats-server binary to start")
		}
	}
	e := newEnv(t)
	dir := t.TempDir()
	port := freePort(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(dir, "js"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitPort(t, port)
		return cmd
	}
	srv := start()
	u := "nats://127.0.0.1:" + strconv.Itoa(port)
	q := e.open(t, u, jsintake.Config{})
	id, _, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", EventID: "before", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Process.Kill()
	srv.Wait()
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	began := time.Now()
	_, _, err = q.Enqueue(tctx, &state.Delivery{Pipeline: "orders", EventID: "during"})
	cancel()
	if err == nil {
		t.Fatal("Enqueue succeeded with the server down")
	}
	if waited := time.Since(began); waited > 2*time.Second {
		t.Errorf("Enqueue took %s to fail; want its context's 500 ms", waited)
	}
	start()
	var again int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		again, _, err = q.Enqueue(tctx, &state.Delivery{Pipeline: "orders", EventID: "after"})
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	ds := claim(t, q, 10, time.Minute)
	if len(ds) != 2 || ds[0].ID != id || ds[1].ID != again {
		t.Errorf("after the restart claimed %+v; want %d and %d", ds, id, again)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	q := e.open(t, natstest.URL(), jsintake.Config{})
	if _, _, err := q.Enqueue(ctx, &state.Delivery{}); err == nil {
		t.Error("a delivery without its pipeline accepted")
	}
	if _, err := q.Claim(ctx, "orders", 0, time.Minute); err == nil {
		t.Error("max 0 accepted")
	}
	if _, err := jsintake.Open(ctx, natstest.URL(), sqliteQueue(t), jsintake.Config{}); err == nil {
		t.Error("a JetStream intake on SQLite state accepted")
	}
}

func sqliteQueue(t *testing.T) state.Queue {
	q, err := state.OpenQueue(ctx, "sqlite://"+t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}
