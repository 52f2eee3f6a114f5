package state_test

import (
	"context"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/pgtest"
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

// postgresDB makes a schema of its own for a test, dropped when the test
// ends.
func postgresDB(t testing.TB) string {
	return pgtest.Schema(t, "pipectl_test_", url.Values{"pool_max_conns": {"16"}})
}

func sqliteDB(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "state.db")
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
