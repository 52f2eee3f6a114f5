package state_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawExec runs statements on the database u names, around the store, as
// an operator's psql or a buggy program would. Statements are written with
// $N parameters for both databases.
func rawExec(t *testing.T, backend, u string) func(q string, args ...any) error {
	t.Helper()
	switch backend {
	case "sqlite":
		db, err := sql.Open("sqlite", strings.TrimPrefix(u, "sqlite://")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return func(q string, args ...any) error {
			for i := 9; i >= 1; i-- {
				q = strings.ReplaceAll(q, "$"+string(rune('0'+i)), "?"+string(rune('0'+i)))
			}
			_, err := db.Exec(q, args...)
			return err
		}
	default:
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := pu.Query()
		q.Del("pool_max_conns")
		pu.RawQuery = q.Encode()
		conn, err := pgx.Connect(context.Background(), pu.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return func(q string, args ...any) error {
			_, err := conn.Exec(ctx, q, args...)
			return err
		}
	}
}

// checkViolation reports whether err is the database refusing a row by
// the check stock_no_oversell: SQLSTATE 23514 on PostgreSQL,
// SQLITE_CONSTRAINT_CHECK on SQLite.
func checkViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23514" && pe.ConstraintName == "stock_no_oversell"
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_CHECK && strings.Contains(err.Error(), "stock_no_oversell")
}

// TestOversellCheckFires goes around the application: an UPDATE that
// commits more than is on hand is refused by the database itself (SQLSTATE
// 23514 on PostgreSQL), as is an INSERT of such a row and the same raise
// disguised as a backorder being settled; a backorder (committed and
// backordered together) is not an oversell and passes.
func TestOversellCheckFires(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			u := b.db(t)
			s := mustOpen(t, u, newClock())
			set(t, s, "f1", "A", "east", "10")
			raw := rawExec(t, b.name, u)
			for _, tc := range []struct {
				name, sql string
				refused   bool
			}{
				{"commit one more than on hand", `UPDATE stock SET committed = on_hand + 10000 WHERE sku = 'A'`, true},
				{"take stock away from what is committed", `UPDATE stock SET committed = 100000, on_hand = 90000 WHERE sku = 'A'`, true},
				{"a row born oversold", `INSERT INTO stock (sku, location, on_hand, committed, updated_at) VALUES ('B', 'east', 0, 10000, $1)`, true},
				{"a negative uncovered", `UPDATE stock SET uncovered = -1 WHERE sku = 'A'`, false},
				{"commit all that is on hand", `UPDATE stock SET committed = on_hand WHERE sku = 'A'`, false},
				{"a backorder beyond it", `UPDATE stock SET committed = committed + 30000, backordered = backordered + 30000 WHERE sku = 'A'`, false},
				{"the backorder turned allocation", `UPDATE stock SET backordered = 0 WHERE sku = 'A'`, true},
			} {
				var args []any
				if strings.Contains(tc.sql, "$1") {
					args = append(args, nowArg(b.name))
				}
				err := raw(tc.sql, args...)
				switch {
				case tc.name == "a negative uncovered":
					if err == nil {
						t.Errorf("%s: accepted, want the check stock_uncovered_not_negative to refuse it", tc.name)
					}
				case tc.refused && !checkViolation(err):
					t.Errorf("%s: err %v, want the check stock_no_oversell to refuse it", tc.name, err)
				case !tc.refused && err != nil:
					t.Errorf("%s: %v", tc.name, err)
				}
			}
			if b.name == "postgres" {
				err := raw(`UPDATE stock SET committed = on_hand + backordered + 1 WHERE sku = 'A'`)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "23514" {
					t.Errorf("err %v, want SQLSTATE 23514", err)
				}
			}
			wantLevel(t, s, "A", "east", "10", "13", "0", "0", "-3")
		})
	}
}

func nowArg(backend string) any {
	if backend == "sqlite" {
		return newClock().Now().UnixMicro()
	}
	return newClock().Now()
}

// TestCountBelowCommittedIsRecorded: a stock count that finds fewer units
// than are allocated is a fact, and is recorded; the row is then short by
// the difference, which the check tolerates and allocation cannot add to.
// A receipt covering the allocations again closes the gap, and then only
// what is on hand can be committed.
func TestCountBelowCommittedIsRecorded(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			u := b.db(t)
			s := mustOpen(t, u, newClock())
			set(t, s, "f1", "A", "east", "10")
			apply(t, s, "o1", "o1", allocate("o1", line{"A", 8}), "A")
			set(t, s, "count-1", "A", "east", "5") // the count
			wantLevel(t, s, "A", "east", "5", "8", "0", "0", "-3")
			if _, err := s.AdjustLevel(ctx, component.LevelUpdate{Key: "shrink-1", SKU: "A", Location: "east", Quantity: d("-7")}); err != nil {
				t.Fatalf("a shrink taking on hand below zero: %v", err)
			}
			wantLevel(t, s, "A", "east", "-2", "8", "0", "0", "-10")
			raw := rawExec(t, b.name, u)
			if err := raw(`UPDATE stock SET committed = committed + 10000 WHERE sku = 'A'`); !checkViolation(err) {
				t.Errorf("raising committed on a short row: err %v, want the check to refuse it", err)
			}
			// The application's own allocation of it is refused before
			// the database is asked.
			out, _ := apply(t, s, "o2", "o2", allocate("o2", line{"A", 1}), "A")
			if len(out.Adjustments) != 0 {
				t.Errorf("allocated on a short row: %+v", out.Adjustments)
			}
			set(t, s, "receipt-1", "A", "east", "9")
			wantLevel(t, s, "A", "east", "9", "8", "0", "0", "1")
			if err := raw(`UPDATE stock SET committed = committed + 20000 WHERE sku = 'A'`); !checkViolation(err) {
				t.Errorf("committing 2 with 1 left: err %v, want the check to refuse it", err)
			}
			if err := raw(`UPDATE stock SET committed = committed + 10000 WHERE sku = 'A'`); err != nil {
				t.Errorf("committing the last unit: %v", err)
			}
		})
	}
}

// TestApplyRefusedByOversellCheck: a change the guard lets through, since
// available does not move (a backorder turned into an allocation on a row
// with nothing on hand), is refused by the database; Apply returns an
// *OversellError naming the row, the whole event is rolled back (its other
// row, its ledger, its key), nothing is retried, and in a group the other
// events still commit.
func TestApplyRefusedByOversellCheck(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.db.open(t, newClock())
			set(t, s, "f1", "B", "east", "5")
			bo := func(snap component.Snapshot) (component.Outcome, error) {
				return component.Outcome{Adjustments: []component.Adjustment{
					{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("3"), AllowNegative: true, Backorder: true, Reason: "backorder", Ref: "o1/1"},
				}}, nil
			}
			apply(t, s, "o1", "o1", bo, "A")
			calls := 0
			convert := func(component.Snapshot) (component.Outcome, error) {
				calls++
				return component.Outcome{Adjustments: []component.Adjustment{
					{SKU: "B", Location: "east", Bucket: component.Committed, Delta: d("1"), Reason: "allocate", Ref: "o1/2"},
					{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("-3"), Backorder: true, Reason: "cancel", Ref: "o1/1"},
					{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("3"), Reason: "allocate", Ref: "o1/1"},
				}}, nil
			}
			_, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "o1-fix", Ref: "o1", SKUs: []string{"B", "A"}}, convert)
			var oe *state.OversellError
			if !errors.As(err, &oe) || oe.SKU != "A" || oe.Location != "east" || !checkViolation(err) {
				t.Fatalf("err %v, want an *OversellError for A at east wrapping the check violation", err)
			}
			if !strings.Contains(err.Error(), "A at east") || errors.Is(err, component.ErrInsufficientStock) {
				t.Errorf("err %q: want it to name A at east and not to pass for a shortfall", err)
			}
			if calls != 1 {
				t.Errorf("decide ran %d times, want 1 (a refused row is not retried)", calls)
			}
			wantLevel(t, s, "A", "east", "0", "3", "0", "0", "-3")
			wantLevel(t, s, "B", "east", "5", "0", "0", "0", "5")
			if l := level(t, s, "A", "east"); l.Backordered.String() != "3" {
				t.Errorf("A backordered %s, want 3", l.Backordered)
			}
			ms, err := s.OrderMovements(ctx, "o1")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.Key == "o1-fix" {
					t.Errorf("the refused event left a movement: %+v", m)
				}
			}
			// Its key was not kept: the event can run again, and a good
			// decision then applies.
			out, replayed := apply(t, s, "o1-fix", "o1", allocate("o1", line{"B", 1}), "B", "A")
			if replayed || len(out.Adjustments) != 1 {
				t.Errorf("after the refusal the key applied %+v replayed %v, want a fresh apply", out.Adjustments, replayed)
			}

			// In a group the refused event is undone alone.
			good := allocate("o3", line{"B", 2})
			res, err := s.ApplyGroup(ctx, []component.ApplyRequest{
				{IdempotencyKey: "o2-fix", Ref: "o1", SKUs: []string{"A", "B"}},
				{IdempotencyKey: "o3", Ref: "o3", SKUs: []string{"B"}},
			}, func(i int, snap component.Snapshot) (component.Outcome, error) {
				if i == 0 {
					return convert(snap)
				}
				return good(snap)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.As(res[0].Err, &oe) || oe.SKU != "A" {
				t.Errorf("group event 1: err %v, want an *OversellError for A", res[0].Err)
			}
			if res[1].Err != nil || len(res[1].Outcome.Adjustments) != 1 {
				t.Errorf("group event 2: %+v", res[1])
			}
			wantLevel(t, s, "A", "east", "0", "3", "0", "0", "-3")
			wantLevel(t, s, "B", "east", "5", "3", "0", "0", "2")
		})
	}
}

// TestUpgradeWithShortRows: a database whose rows are already counted
// below their allocations (committed − backordered > on_hand) migrates
// without error, the gap recorded as uncovered; such a row takes counts
// and receipts, and refuses a raise of its allocations.
func TestUpgradeWithShortRows(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			u := b.db(t)
			before := 9
			if b.name == "sqlite" {
				before = 4
			}
			if err := state.MigrateOnly(ctx, u, before); err != nil {
				t.Fatal(err)
			}
			raw := rawExec(t, b.name, u)
			if err := raw(`INSERT INTO stock (sku, location, on_hand, committed, safety_stock, backordered, updated_at) VALUES ('A', 'east', 10000, 40000, 0, 0, $1), ('A', 'west', -20000, 0, 0, 0, $1), ('B', 'east', 50000, 20000, 0, 0, $1)`, nowArg(b.name)); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, u, newClock())
			wantLevel(t, s, "A", "east", "1", "4", "0", "0", "-3")
			wantLevel(t, s, "A", "west", "-2", "0", "0", "0", "-2")
			if err := raw(`UPDATE stock SET committed = committed + 10000 WHERE sku = 'A' AND location = 'east'`); !checkViolation(err) {
				t.Errorf("raising committed on a row short before the upgrade: err %v, want the check to refuse it", err)
			}
			if err := raw(`UPDATE stock SET committed = committed + 40000 WHERE sku = 'A' AND location = 'west'`); !checkViolation(err) {
				t.Errorf("committing on a row negative before the upgrade: err %v, want the check to refuse it", err)
			}
			if _, err := s.AdjustLevel(ctx, component.LevelUpdate{Key: "count-1", SKU: "A", Location: "east", Quantity: d("-1")}); err != nil {
				t.Errorf("a count on the short row: %v", err)
			}
			set(t, s, "receipt-1", "A", "east", "6")
			wantLevel(t, s, "A", "east", "6", "4", "0", "0", "2")
			out, _ := apply(t, s, "o1", "o1", allocate("o1", line{"A", 2}, line{"B", 3}), "A", "B")
			if len(out.Adjustments) != 2 {
				t.Errorf("allocation after the upgrade: %+v", out)
			}
		})
	}
}
