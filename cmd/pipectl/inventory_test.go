package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/internal/pgtest"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestInventoryPostgres runs `inventory location set` and `locations`
// against PostgreSQL, the store shared between machines, in a schema of its
// own. Without a server it skips, unless PIPECTL_REQUIRE_SERVICES=1 makes
// that a failure (DESIGN.md §9).
func TestInventoryPostgres(t *testing.T) {
	stateURL := pgtest.Schema(t, "pipectl_cli_test_", nil)
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
