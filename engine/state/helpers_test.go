package state_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// backend makes a fresh, empty database for a test and returns its URL;
// it is dropped when the test ends.
type backend func(t testing.TB) string

// open opens a store on a fresh database, closed when the test ends.
func (db backend) open(t testing.TB, clock component.Clock) state.Store {
	t.Helper()
	return mustOpen(t, db(t), clock)
}

func mustOpen(t testing.TB, u string, clock component.Clock) state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), u, state.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends are the implementations every conformance test runs against.
var backends = []struct {
	name string
	db   backend
}{{"sqlite", sqliteDB}, {"postgres", postgresDB}}

func sqliteDB(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "state.db")
}

// postgresURL is the server integration tests use: the one on this machine
// unless PIPECTL_TEST_POSTGRES_URL names another.
func postgresURL() string {
	if u := os.Getenv("PIPECTL_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// unavailable skips a test that needs a service that is not there, or fails
// it when PIPECTL_REQUIRE_SERVICES=1 (DESIGN.md §9).
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s (PIPECTL_REQUIRE_SERVICES=1)", msg)
	}
	t.Skipf("%s: skipping (set PIPECTL_REQUIRE_SERVICES=1 to fail instead)", msg)
}

var (
	pgOnce sync.Once
	pgErr  error
)

// postgresDB makes a schema of its own for a test, named with a random
// suffix in the test database and dropped when the test ends.
func postgresDB(t testing.TB) string {
	t.Helper()
	base := postgresURL()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		pgErr = err
	})
	if pgErr != nil {
		unavailable(t, "PostgreSQL at %s is not reachable (%v); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`", base, pgErr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "pipectl_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "16")
	u.RawQuery = q.Encode()
	return u.String()
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func key(sku, loc string) component.StockKey { return component.StockKey{SKU: sku, Location: loc} }
