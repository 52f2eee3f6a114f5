package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms/allocation"
	"github.com/shopspring/decimal"
)

// TestExplain stores an explanation the way the allocate step does, through
// Inventory.Apply, and reads it back with `pipectl explain`.
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "state.db")
	ctx := context.Background()
	store, err := state.Open(ctx, url, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := decimal.RequireFromString
	x := allocation.Explanation{
		Strategy:   "priority",
		Candidates: []string{"wh-east", "wh-west"},
		Excluded:   []allocation.ExcludedLocation{{LocationID: "wh-eu", Reason: "other_market"}},
		Snapshot: []allocation.SnapshotRow{
			{SKU: "MUG", LocationID: "wh-east", Exists: true, OnHand: d("2"), Committed: d("0"), Reserved: d("0"), SafetyStock: d("0"), Available: d("2"), Allocatable: d("2")},
			{SKU: "MUG", LocationID: "wh-west", Exists: true, OnHand: d("1"), Committed: d("0"), Reserved: d("0"), SafetyStock: d("0"), Available: d("1"), Allocatable: d("1")},
		},
		Rankings: []allocation.Ranking{{SKU: "MUG", Candidates: []allocation.RankedCandidate{
			{LocationID: "wh-east", Rank: 1, Allocatable: d("2")},
			{LocationID: "wh-west", Rank: 2, Allocatable: d("1")},
		}}},
		Lines: []allocation.LineDecision{{
			LineID: "1", ParentLineID: "1", SKU: "MUG", Qty: d("5"), Allocated: d("3"), Backordered: d("2"),
			Cancelled: d("0"), Held: d("0"), Rules: []string{"strategy:priority", "backorder:allow_notify"},
		}},
	}
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = store.Apply(ctx, component.ApplyRequest{IdempotencyKey: "shopify:evt-1", Ref: "1001", SKUs: []string{"MUG"}},
		func(component.Snapshot) (component.Outcome, error) {
			return component.Outcome{Explanation: data}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"explain", "1001", "--state", url}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"order 1001, event shopify:evt-1, decided ",
		"backordered: line 1",
		"strategy: priority",
		"candidate locations, in order: wh-east, wh-west",
		"not considered: wh-eu (another market, and allocation.same_market_only is on)",
		"strategy:priority, backorder:allow_notify",
		"MUG: 1. wh-east (2)  2. wh-west (1)",
		"stock seen (available = on hand - committed - reserved - safety stock):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}

	// JSON passes the stored explanation through.
	stdout.Reset()
	if code := run([]string{"explain", "1001", "--state", url, "--format", "json"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("json: exit %d, stderr:\n%s", code, stderr.String())
	}
	var got []struct {
		Ref            string                 `json:"ref"`
		IdempotencyKey string                 `json:"idempotency_key"`
		Explanation    allocation.Explanation `json:"explanation"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if len(got) != 1 || got[0].Ref != "1001" || got[0].IdempotencyKey != "shopify:evt-1" || len(got[0].Explanation.Lines) != 1 || !got[0].Explanation.Lines[0].Backordered.Equal(d("2")) {
		t.Errorf("json = %+v", got)
	}

	// An order the store has nothing for.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"explain", "1002", "--state", url}, strings.NewReader(""), &stdout, &stderr); code != exitError {
		t.Errorf("unknown order: exit %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr.String(), `no allocation recorded for order "1002"`) {
		t.Errorf("stderr = %q", stderr.String())
	}
}
