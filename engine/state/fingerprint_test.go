package state_test

import (
	"errors"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
)

// The conformance tests of fingerprints, legacy keys, backordered units
// and audited feed updates (TestConformance runs them).

// testApplyFingerprint: a key applied again with the same fingerprint
// replays; with another it is refused with ErrConflict, changing nothing,
// alone or in a group.
func testApplyFingerprint(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "", "A", "east", "5")
	req := component.ApplyRequest{IdempotencyKey: "allocate:p/s:1001", Ref: "1001", SKUs: []string{"A"}, Fingerprint: "lines-A-2"}
	first, replayed, err := s.Apply(ctx, req, allocate("1001", line{"A", 2}))
	if err != nil || replayed || first.Fingerprint != "lines-A-2" {
		t.Fatalf("first apply: fingerprint %q replayed %v err %v", first.Fingerprint, replayed, err)
	}
	again, replayed, err := s.Apply(ctx, req, allocate("1001", line{"A", 2}))
	if err != nil || !replayed || again.Fingerprint != "lines-A-2" || string(again.Records[0].Data) != string(first.Records[0].Data) {
		t.Fatalf("replay: %+v replayed %v err %v", again, replayed, err)
	}
	edited := req
	edited.Fingerprint = "lines-A-3"
	if _, _, err := s.Apply(ctx, edited, allocate("1001", line{"A", 3})); !errors.Is(err, component.ErrConflict) {
		t.Fatalf("another event under the key: err %v, want ErrConflict", err)
	}
	// No fingerprint asked: an unchecked replay, as before fingerprints.
	if _, replayed, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: req.IdempotencyKey, Ref: "1001", SKUs: []string{"A"}}, allocate("1001", line{"A", 3})); err != nil || !replayed {
		t.Fatalf("replay without a fingerprint: replayed %v err %v", replayed, err)
	}
	wantLevel(t, s, "A", "east", "5", "2", "0", "0", "3")

	g := s.(component.GroupApplier)
	res, err := g.ApplyGroup(ctx, []component.ApplyRequest{edited, {IdempotencyKey: "k2", Ref: "o2", SKUs: []string{"A"}, Fingerprint: "x"}},
		func(i int, snap component.Snapshot) (component.Outcome, error) {
			return allocate([]string{"1001", "o2"}[i], line{"A", 1})(snap)
		})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, component.ErrConflict) || res[1].Err != nil || res[1].Replayed {
		t.Fatalf("group: %+v", res)
	}
	wantLevel(t, s, "A", "east", "5", "3", "0", "0", "2")
}

// testApplyLegacyKey: a key never applied whose legacy key was replays the
// legacy outcome, moves no stock, and refuses another event as a conflict
// when the legacy event has a fingerprint.
func testApplyLegacyKey(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "", "A", "east", "5")
	// As an older pipectl applied it: the bare key, no fingerprint.
	old, _ := apply(t, s, "allocate:1001", "1001", allocate("1001", line{"A", 2}), "A")
	req := component.ApplyRequest{IdempotencyKey: "allocate:p/s:1001", LegacyKey: "allocate:1001", Ref: "1001", SKUs: []string{"A"}, Fingerprint: "f"}
	for range 2 {
		out, replayed, err := s.Apply(ctx, req, allocate("1001", line{"A", 2}))
		if err != nil || !replayed || out.Fingerprint != "" || string(out.Records[0].Data) != string(old.Records[0].Data) {
			t.Fatalf("legacy replay: %+v replayed %v err %v", out, replayed, err)
		}
	}
	wantLevel(t, s, "A", "east", "5", "2", "0", "0", "3")
	// In a group as well.
	res, err := s.(component.GroupApplier).ApplyGroup(ctx, []component.ApplyRequest{req}, func(int, component.Snapshot) (component.Outcome, error) {
		return allocate("1001", line{"A", 2})(component.Snapshot{})
	})
	if err != nil || res[0].Err != nil || !res[0].Replayed {
		t.Fatalf("legacy replay in a group: %+v %v", res, err)
	}
	// A legacy key that was never applied: the event is new.
	fresh := component.ApplyRequest{IdempotencyKey: "allocate:p/s:1002", LegacyKey: "allocate:1002", Ref: "1002", SKUs: []string{"A"}, Fingerprint: "g"}
	if _, replayed, err := s.Apply(ctx, fresh, allocate("1002", line{"A", 1})); err != nil || replayed {
		t.Fatalf("new event: replayed %v err %v", replayed, err)
	}
	wantLevel(t, s, "A", "east", "5", "3", "0", "0", "2")
	// A legacy key stored with a fingerprint is checked like any other.
	other := component.ApplyRequest{IdempotencyKey: "allocate:q/s:1002", LegacyKey: "allocate:p/s:1002", Ref: "1002", SKUs: []string{"A"}, Fingerprint: "h"}
	if _, _, err := s.Apply(ctx, other, allocate("1002", line{"A", 1})); !errors.Is(err, component.ErrConflict) {
		t.Fatalf("legacy key of other content: err %v, want ErrConflict", err)
	}
}

// testFeedFingerprint: a feed key applied again to another row or quantity
// is a conflict; a legacy key applied before makes the update a no-op.
func testFeedFingerprint(t *testing.T, db backend) {
	s := db.open(t, newClock())
	u := component.LevelUpdate{Key: "receipt-7", SKU: "A", Location: "east", Quantity: d("4")}
	if ok, err := s.AdjustLevel(ctx, u); err != nil || !ok {
		t.Fatalf("first receipt: %v %v", ok, err)
	}
	if ok, err := s.AdjustLevel(ctx, u); err != nil || ok {
		t.Fatalf("the receipt again: applied %v err %v", ok, err)
	}
	for _, changed := range []component.LevelUpdate{
		{Key: "receipt-7", SKU: "A", Location: "east", Quantity: d("5")},
		{Key: "receipt-7", SKU: "B", Location: "east", Quantity: d("4")},
		{Key: "receipt-7", SKU: "A", Location: "west", Quantity: d("4")},
	} {
		if _, err := s.AdjustLevel(ctx, changed); !errors.Is(err, component.ErrConflict) {
			t.Errorf("%+v: err %v, want ErrConflict", changed, err)
		}
	}
	if _, err := s.SetLevel(ctx, u); !errors.Is(err, component.ErrConflict) {
		t.Errorf("a set under an adjustment's key: err %v, want ErrConflict", err)
	}
	scoped := component.LevelUpdate{Key: "p/s:receipt-7", LegacyKey: "receipt-7", SKU: "A", Location: "east", Quantity: d("4")}
	if ok, err := s.AdjustLevel(ctx, scoped); err != nil || ok {
		t.Fatalf("scoped key of a legacy receipt: applied %v err %v", ok, err)
	}
	scoped.Quantity = d("6")
	if _, err := s.AdjustLevel(ctx, scoped); !errors.Is(err, component.ErrConflict) {
		t.Errorf("scoped key, legacy receipt of another quantity: err %v, want ErrConflict", err)
	}
	wantLevel(t, s, "A", "east", "4", "0", "0", "0", "4")
	fresh := component.LevelUpdate{Key: "p/s:receipt-8", LegacyKey: "receipt-8", SKU: "A", Location: "east", Quantity: d("1")}
	if ok, err := s.AdjustLevel(ctx, fresh); err != nil || !ok {
		t.Fatalf("new scoped receipt: applied %v err %v", ok, err)
	}
	wantLevel(t, s, "A", "east", "5", "0", "0", "0", "5")
}

// testFeedAudited: an update with By records its change in the audit log,
// in the same transaction; one that changes nothing records nothing.
func testFeedAudited(t *testing.T, db backend) {
	s := db.open(t, newClock())
	by := &component.Change{Actor: "alice", Reason: "cycle count"}
	if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("5"), By: by}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("7"), By: by}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("7"), By: by}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Bucket: component.SafetyStock, Quantity: d("1"), By: by}); err != nil {
		t.Fatal(err)
	}
	h, err := s.RuleHistory(ctx, "level/A@east")
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]string
	for _, c := range h {
		got = append(got, [3]string{c.Actor + ": " + c.Reason, c.Old, c.New})
	}
	want := [][3]string{
		{"alice: cycle count", "", "on_hand=5"},
		{"alice: cycle count", "on_hand=5", "on_hand=7"},
		{"alice: cycle count", "safety_stock=0", "safety_stock=1"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit log %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("1"), By: &component.Change{}}); err == nil {
		t.Error("an audited change without an actor was accepted")
	}
}

// testBackordered: backorder movements keep the row's backordered units:
// booked, settled by a ship or cancel of them, never below zero, and
// Available is not changed by them.
func testBackordered(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "", "A", "east", "1")
	move := func(k string, adjs ...component.Adjustment) {
		t.Helper()
		apply(t, s, k, "o1", func(component.Snapshot) (component.Outcome, error) {
			return component.Outcome{Adjustments: adjs}, nil
		}, "A")
	}
	commit := func(delta string, reason string, backorder bool) component.Adjustment {
		return component.Adjustment{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d(delta), Reason: reason,
			Ref: "o1/1", AllowNegative: backorder, Backorder: backorder}
	}
	move("o1", commit("1", "allocate", false), commit("3", "backorder", true))
	wantBackordered := func(want string) {
		t.Helper()
		if l := level(t, s, "A", "east"); l.Backordered.String() != want {
			t.Errorf("backordered %s, want %s", l.Backordered, want)
		}
	}
	wantBackordered("3")
	wantLevel(t, s, "A", "east", "1", "4", "0", "0", "-3")
	move("cancel-1", commit("-1", "cancel", true))
	wantBackordered("2")
	// A settlement larger than what is booked stops at zero.
	move("cancel-2", commit("-1", "cancel", true), commit("-1", "cancel", true), component.Adjustment{
		SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("-1"), Reason: "cancel", Ref: "o1/1", Backorder: true})
	wantBackordered("0")
	// A new row booked as a backorder.
	apply(t, s, "o2", "o2", func(component.Snapshot) (component.Outcome, error) {
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "B", Location: "west", Bucket: component.Committed, Delta: d("2"),
			AllowNegative: true, Backorder: true, Reason: "backorder", Ref: "o2/1"}}}, nil
	}, "B")
	if l := level(t, s, "B", "west"); l.Backordered.String() != "2" || l.Available().String() != "-2" {
		t.Errorf("B at west: backordered %s available %s, want 2 and -2", l.Backordered, l.Available())
	}
}
