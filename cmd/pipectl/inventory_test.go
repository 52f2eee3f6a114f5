package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestInventoryPostgres runs `inventory location set` and `locations`
// against PostgreSQL, the store shared between machines, in a schema of its
// own. Without a server it skips, unless PIPECTL_REQUIRE_SERVICES=1 makes
// that a failure (DESIGN.md §9).
func TestInventoryPostgres(t *testing.T) {
	stateURL := postgresSchema(t)
	pipectl := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("pipectl %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	pipectl("inventory", "location", "set", "wh-east", "priority=2", "market=US", "lat=40.71", "lng=-74.01",
		"--reason", "new DC", "--actor", "alice", "--state", stateURL)
	pipectl("inventory", "location", "set", "wh-west", "priority=1", "pickup=true",
		"--reason", "new store", "--actor", "alice", "--state", stateURL)
	if out := pipectl("inventory", "location", "set", "wh-west", "priority=1",
		"--reason", "again", "--state", stateURL); !strings.Contains(out, "unchanged") {
		t.Errorf("setting what is there: got %q, want it unchanged", out)
	}

	var got []component.Location
	if err := json.Unmarshal([]byte(pipectl("inventory", "locations", "--format", "json", "--state", stateURL)), &got); err != nil {
		t.Fatal(err)
	}
	want := []component.Location{
		{ID: "wh-west", Priority: 1, Pickup: true},
		{ID: "wh-east", Priority: 2, Market: "US", Coords: &component.LatLng{Lat: 40.71, Lng: -74.01}},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("locations:\ngot  %s\nwant %s", g, w)
	}
	history := pipectl("rules", "history", "location", "--state", stateURL)
	if n := strings.Count(history, "location/"); n != 2 {
		t.Errorf("rules history has %d location changes, want 2:\n%s", n, history)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postgresSchema returns a state URL for a schema of the test's own in the
// test database, dropped when the test ends. The server is the one on this
// machine unless PIPECTL_TEST_POSTGRES_URL names another.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PIPECTL_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		if err = conn.Ping(ctx); err != nil {
			conn.Close(context.Background())
		}
	}
	if err != nil {
		msg := "PostgreSQL at " + base + " is not reachable (" + err.Error() + ")"
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s (PIPECTL_REQUIRE_SERVICES=1)", msg)
		}
		t.Skipf("%s: skipping (set PIPECTL_REQUIRE_SERVICES=1 to fail instead)", msg)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	schema := "pipectl_cli_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
