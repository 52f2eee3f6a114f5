package connectors_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// shopifyLevels is go-shopify's inventory_levels.json fixture
// (shared/fixtures/go-shopify), admin_graphql_api_id left out.
const shopifyLevels = `{"inventory_levels":[
{"inventory_item_id":808950810,"location_id":487838322,"available":9,"updated_at":"2020-04-06T10:51:36-04:00"},
{"inventory_item_id":39072856,"location_id":487838322,"available":27,"updated_at":"2020-04-06T10:51:36-04:00"},
{"inventory_item_id":808950810,"location_id":905684977,"available":1,"updated_at":"2020-04-06T10:51:36-04:00"},
{"inventory_item_id":39072856,"location_id":905684977,"available":3,"updated_at":"2020-04-06T10:51:36-04:00"}]}`

const shopifyLevelsPipeline = `pipeline: levels
sources:
  levels:
    file: {path: "${IN}", format: json}
steps:
  rows:
    from: levels
    split: {items: inventory_levels, as: level}
sinks:
  stock:
    from: rows
    inventory:
      sku: level.inventory_item_id
      location: level.location_id
      quantity: level.available
      idempotency_key: '"shopify-" + string(level.inventory_item_id) + "-" + string(level.location_id) + "-" + level.updated_at'
      reason: shopify-levels
`

func openStore(t *testing.T) state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runWithStore runs a pipeline with inv as the run's inventory store.
func runWithStore(t *testing.T, src string, env map[string]string, inv component.Inventory) *engine.Result {
	t.Helper()
	p := compile(t, src, env)
	res, err := engine.Run(context.Background(), p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: inv}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// levels prints every stock row as "sku@location on_hand/safety".
func levels(t *testing.T, s component.Inventory) []string {
	t.Helper()
	ls, err := s.Levels(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.SKU+"@"+l.Location+" "+l.OnHand.String()+"/"+l.SafetyStock.String())
	}
	return out
}

func TestInventorySinkShopifyLevels(t *testing.T) {
	s := openStore(t)
	in := write(t, tempPath(t, "levels.json"), shopifyLevels)
	want := []string{
		"39072856@487838322 27/0", "39072856@905684977 3/0",
		"808950810@487838322 9/0", "808950810@905684977 1/0",
	}
	for run := range 2 {
		res := runWithStore(t, shopifyLevelsPipeline, map[string]string{"IN": in}, s)
		if len(res.Unhandled) > 0 {
			t.Fatalf("run %d: unhandled %s", run, res.Unhandled[0].Raw)
		}
		if diff := cmp.Diff(want, levels(t, s)); diff != "" {
			t.Errorf("run %d: levels (-want +got):\n%s", run, diff)
		}
	}
	// The replayed feed wrote nothing: one ledger entry per row.
	ms, err := s.Movements(context.Background(), "808950810")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Reason != "shopify-levels" || ms[0].Key != "levels/levels:shopify-808950810-487838322-2020-04-06T10:51:36-04:00" {
		t.Errorf("ledger of 808950810: %+v", ms)
	}
	// Stock moved since, then the same snapshot arrives again: a replay,
	// not a new count.
	if _, err := s.AdjustLevel(context.Background(), component.LevelUpdate{Key: "ship-1", SKU: "808950810", Location: "487838322", Quantity: decimal.NewFromInt(-2)}); err != nil {
		t.Fatal(err)
	}
	runWithStore(t, shopifyLevelsPipeline, map[string]string{"IN": in}, s)
	if got := levels(t, s)[2]; got != "808950810@487838322 7/0" {
		t.Errorf("a replayed snapshot overwrote later stock: %s", got)
	}
}

const wmsPipeline = `pipeline: wms
sources:
  rows:
    file: {path: "${IN}", format: csv, columns: {qty: decimal}}
sinks:
  stock:
    from: rows
    inventory:
      mode: ${MODE}
      bucket: ${BUCKET}
      sku: normalize_sku(sku)
      location: '"wh-east"'
      quantity: qty
      idempotency_key: batch + "-" + sku + "-" + line
  bad:
    from: stock.error
    file: {path: "${BAD}"}
`

func TestInventorySinkWMS(t *testing.T) {
	s := openStore(t)
	if err := s.SetSKU(context.Background(), component.SKU{SKU: "ROPE-M", Tracked: true, QtyDecimal: true}, component.Change{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ndjson")
	run := func(mode, bucket, batch string) {
		t.Helper()
		csv := write(t, filepath.Join(dir, batch+".csv"), "batch,line,sku,qty\n"+
			batch+",1,bolt-10,120\n"+batch+",2,rope m,16.5\n"+batch+",3,nut-5,2.5\n"+batch+",4,,3\n"+batch+",5,washer,-1\n")
		res := runWithStore(t, wmsPipeline, map[string]string{"IN": csv, "BAD": bad, "MODE": mode, "BUCKET": bucket}, s)
		if len(res.Unhandled) > 0 {
			t.Fatalf("unhandled %s", res.Unhandled[0].Raw)
		}
	}
	run("set", "on_hand", "snap-1")
	if diff := cmp.Diff([]string{"BOLT-10@wh-east 120/0", "ROPE-M@wh-east 16.5/0", "WASHER@wh-east -1/0"}, levels(t, s)); diff != "" {
		t.Errorf("after the snapshot (-want +got):\n%s", diff)
	}
	// A fraction for a whole-unit SKU and an empty SKU go to the error
	// output, each with its reason.
	errs := strings.Split(strings.TrimSpace(readFile(t, bad)), "\n")
	if len(errs) != 2 || !strings.Contains(errs[0], "NUT-5") || !strings.Contains(errs[0], "whole units") || !strings.Contains(errs[1], "sku is empty") {
		t.Errorf("error output:\n%s", strings.Join(errs, "\n"))
	}
	// Receipts adjust; the same batch twice counts once.
	run("adjust", "on_hand", "receipt-7")
	run("adjust", "on_hand", "receipt-7")
	if diff := cmp.Diff([]string{"BOLT-10@wh-east 240/0", "ROPE-M@wh-east 33/0", "WASHER@wh-east -2/0"}, levels(t, s)); diff != "" {
		t.Errorf("after the receipts (-want +got):\n%s", diff)
	}
	// Safety stock is a bucket of its own; a negative one is refused.
	run("set", "safety_stock", "ss-1")
	if diff := cmp.Diff([]string{"BOLT-10@wh-east 240/120", "ROPE-M@wh-east 33/16.5", "WASHER@wh-east -2/0"}, levels(t, s)); diff != "" {
		t.Errorf("after safety stock (-want +got):\n%s", diff)
	}
	if out := readFile(t, bad); !strings.Contains(out, "safety stock -1 is negative") {
		t.Errorf("negative safety stock not refused:\n%s", out)
	}
}

func TestInventorySinkSettings(t *testing.T) {
	src := func(settings string) string {
		return "pipeline: t\nsources:\n  in:\n    file: {path: x.ndjson}\nsinks:\n  stock:\n    from: in\n    inventory: {" + settings + "}\n"
	}
	for _, tc := range []struct{ settings, code string }{
		{`mode: adjust, sku: sku, location: loc, quantity: qty`, "missing-field"},
		{`sku: sku, location: loc`, "missing-field"},
		{`sku: sku, location: loc, quantity: qty, bucket: committed`, "invalid-value"},
		{`sku: sku, location: loc, quantity: '"a" == "b"'`, "expr-result-type"},
	} {
		_, ds := diagnose(t, src(tc.settings), nil)
		var codes []string
		for _, d := range ds {
			codes = append(codes, d.Code)
		}
		if !strings.Contains(strings.Join(codes, " "), tc.code) {
			t.Errorf("%s: codes %v, want %s\n%v", tc.settings, codes, tc.code, ds)
		}
	}
	// Built for a real run without a store, the sink says so at once; a
	// dry run needs none and describes each update.
	p := compile(t, src(`mode: adjust, sku: sku, location: string(loc), quantity: qty, idempotency_key: id`), nil)
	n := node(t, p, "stock")
	if _, err := n.Spec.NewSink(component.BuildContext{Name: "stock", Config: n.Config, Input: n.Input, Runtime: &component.Runtime{}}); err == nil ||
		!strings.Contains(err.Error(), "no inventory store") {
		t.Errorf("build without a store: %v", err)
	}
	sink := newSink(t, p, "stock", &component.Runtime{DryRun: true}, nil)
	got, err := sink.(component.Describer).Describe(record.New([]byte(`{"sku":"A-1","loc":7,"qty":2.25,"id":"r-1"}`), nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &connectors.InventoryUpdate{Mode: "adjust", SKU: "A-1", Location: "7", Bucket: "on_hand", Quantity: "2.25", IdempotencyKey: "/:r-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	for _, rec := range []string{`{"sku":"A-1","loc":7,"qty":"x","id":"r-1"}`, `{"sku":1.5,"loc":7,"qty":1,"id":"r-1"}`, `{"sku":"A","loc":7,"qty":1,"id":""}`} {
		if _, err := sink.(component.Describer).Describe(record.New([]byte(rec), nil)); err == nil {
			t.Errorf("%s: described without an error", rec)
		}
	}
}

// receiptsPipeline adjusts stock by receipts {id, sku, qty} at wh-a.
func receiptsPipeline(name string) string {
	return `pipeline: ` + name + `
sources:
  receipts:
    file: {path: "${IN}", format: ndjson}
sinks:
  stock:
    from: receipts
    inventory: {mode: adjust, sku: sku, location: '"wh-a"', quantity: qty, idempotency_key: id, reason: receipt}
`
}

// Keys are scoped by pipeline and source: two pipelines' receipt r-1 are
// two receipts. A key sent again with another quantity is refused, and
// a key an older pipectl applied unscoped still counts once.
func TestInventorySinkKeysAreScoped(t *testing.T) {
	s := openStore(t)
	in := write(t, tempPath(t, "r.ndjson"), `{"id":"r-1","sku":"A","qty":2}`+"\n")
	for _, p := range []string{"wms-a", "wms-b", "wms-a"} {
		if res := runWithStore(t, receiptsPipeline(p), map[string]string{"IN": in}, s); len(res.Unhandled) > 0 {
			t.Fatalf("%s: %s", p, res.Unhandled[0].Raw)
		}
	}
	if got := levels(t, s); !cmp.Equal(got, []string{"A@wh-a 4/0"}) {
		t.Errorf("levels %v, want 4: one receipt of 2 per pipeline", got)
	}
	edited := write(t, tempPath(t, "r2.ndjson"), `{"id":"r-1","sku":"A","qty":5}`+"\n")
	res := runWithStore(t, receiptsPipeline("wms-a"), map[string]string{"IN": edited}, s)
	if len(res.Unhandled) != 1 || !strings.Contains(string(res.Unhandled[0].Raw), "different content") {
		t.Errorf("r-1 sent again with 5: unhandled %v, want it refused", res.Unhandled)
	}
	// As an older pipectl applied it: the bare key.
	if _, err := s.AdjustLevel(context.Background(), component.LevelUpdate{Key: "r-9", SKU: "A", Location: "wh-a", Quantity: decimal.NewFromInt(3)}); err != nil {
		t.Fatal(err)
	}
	old := write(t, tempPath(t, "r3.ndjson"), `{"id":"r-9","sku":"A","qty":3}`+"\n")
	if res := runWithStore(t, receiptsPipeline("wms-a"), map[string]string{"IN": old}, s); len(res.Unhandled) > 0 {
		t.Fatalf("replay of r-9: %s", res.Unhandled[0].Raw)
	}
	if got := levels(t, s); !cmp.Equal(got, []string{"A@wh-a 7/0"}) {
		t.Errorf("levels %v, want 7: r-9 counted once", got)
	}
}
