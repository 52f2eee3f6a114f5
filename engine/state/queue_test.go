package state_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestOpenQueuePaths: the SQLite serve state is queue.db in the
// inventory file's directory, in WAL mode, wherever the URL points.
func TestOpenQueuePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ url, file string }{
		{"", filepath.Join(dir, state.DefaultDir, "queue.db")},
		{"sqlite://" + filepath.Join(dir, "a", "state.db"), filepath.Join(dir, "a", "queue.db")},
		{"sqlite://" + filepath.Join(dir, "b") + "/", filepath.Join(dir, "b", "queue.db")},
		{"sqlite://" + filepath.Join(dir, state.DefaultDir), filepath.Join(dir, state.DefaultDir, "queue.db")},
	} {
		q, err := state.OpenQueue(ctx, c.url, state.Options{})
		if err != nil {
			t.Fatalf("%q: %v", c.url, err)
		}
		enqueue(t, q, &state.Delivery{Pipeline: "orders"})
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.file); err != nil {
			t.Errorf("%q: %v", c.url, err)
			continue
		}
		db, err := sql.Open("sqlite", c.file)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal mode %q, %v; want wal", c.file, mode, err)
		}
		db.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "state.db")); err == nil {
		t.Error("opening the queue created the inventory file")
	}
}

func TestOpenQueueRejects(t *testing.T) {
	for _, u := range []string{"mysql://root:s3cret@localhost/db", "sqlite://", "queue.db", "postgres://root:s3cret@127.0.0.1:1/db?connect_timeout=1"} {
		q, err := state.OpenQueue(ctx, u, state.Options{})
		if err == nil {
			q.Close()
			t.Errorf("%s: opened", u)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the password is in the message: %v", u, err)
		}
	}
}

// TestQueueContext: an Enqueue whose context has ended returns its error
// (serve answers 503), and a closed queue refuses work instead of hanging.
func TestQueueContext(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			q := openQueue(t, b.db(t), newClock())
			done, cancel := context.WithCancel(ctx)
			cancel()
			if _, _, err := q.Enqueue(done, &state.Delivery{Pipeline: "orders"}); !errors.Is(err, context.Canceled) {
				t.Errorf("enqueue with an ended context: %v", err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders"}); err == nil {
				t.Error("a closed queue took a delivery")
			}
		})
	}
}

// TestQueueDedupePruned: event ids older than DedupeHorizon are deleted
// as deliveries keep coming, so the table does not grow without bound.
func TestQueueDedupePruned(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			u := b.db(t)
			clock := newClock()
			q := openQueue(t, u, clock)
			for i := range 10 {
				enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: fmt.Sprint("old-", i)})
			}
			clock.Advance(state.DedupeHorizon + time.Hour)
			enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "new"})
			if n := countEventIDs(t, b.name, u); n != 1 {
				t.Errorf("%d event ids kept; want only the new one", n)
			}
		})
	}
}

func countEventIDs(t *testing.T, backend, u string) int {
	t.Helper()
	var n int
	if backend == "sqlite" {
		db, err := sql.Open("sqlite", filepath.Join(filepath.Dir(strings.TrimPrefix(u, "sqlite://")), "queue.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow(`SELECT COUNT(*) FROM event_ids`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	delete(cfg.RuntimeParams, "pool_max_conns")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM event_ids`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkEnqueue queues deliveries on SQLite and reports deliveries per
// second: "serial" is one caller, each Enqueue its own commit and fsync,
// the baseline; "parallel" is 32 callers per GOMAXPROCS, as webhooks
// arriving at once are, which group commit folds into shared commits.
// Compare the two lines' deliveries/s.
//
//	go test ./engine/state -run '^$' -bench Enqueue -benchtime 2000x
func BenchmarkEnqueue(b *testing.B) {
	body := []byte(`{"id":820982911946154508,"email":"jon@example.com","line_items":[{"sku":"A-1","quantity":2}]}`)
	for _, parallel := range []bool{false, true} {
		name := "sqlite/serial"
		if parallel {
			name = "sqlite/parallel"
		}
		b.Run(name, func(b *testing.B) {
			q := openQueue(b, sqliteDB(b), component.SystemClock{})
			var seq atomic.Int64
			enq := func() error {
				n := seq.Add(1)
				_, _, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", Trigger: "shopify", EventID: fmt.Sprint("evt-", n), Body: body})
				return err
			}
			b.ResetTimer()
			start := time.Now()
			if parallel {
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := enq(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := enq(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
