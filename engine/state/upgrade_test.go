package state_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestUpgradeFromScopelessKeys opens a store as pipectl left it before
// keys were scoped and backorders counted (schema version 3), with an
// order allocated and backordered under its bare key, another whose
// backorder was cancelled, and a receipt fed under a bare key. After the
// upgrade the backordered units are counted from the ledger, and the
// order and the receipt, replayed under their scoped keys, apply nothing.
func TestUpgradeFromScopelessKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			u := b.db(t)
			if err := state.MigrateOnly(ctx, u, 3); err != nil {
				t.Fatal(err)
			}
			rec := component.OutputRecord{Output: "shipments", Data: []byte(`{"order_id":"1001","location_id":"east"}`)}
			outcome, err := state.EncodeOutcome(component.Outcome{Records: []component.OutputRecord{rec}})
			if err != nil {
				t.Fatal(err)
			}
			// What version 3 wrote, statement for statement.
			writeOld(t, b.name, u, outcome)

			s := mustOpen(t, u, newClock())
			if l := level(t, s, "A", "east"); l.Backordered.String() != "3" || l.Committed.String() != "4" {
				t.Errorf("after the upgrade A at east: backordered %s committed %s, want 3 and 4", l.Backordered, l.Committed)
			}
			if l := level(t, s, "B", "east"); !l.Backordered.IsZero() {
				t.Errorf("B at east: backordered %s, want 0 (its backorder was cancelled)", l.Backordered)
			}
			req := component.ApplyRequest{IdempotencyKey: "allocate:shop/orders:1001", LegacyKey: "allocate:1001", Ref: "1001",
				SKUs: []string{"A"}, Fingerprint: "lines"}
			out, replayed, err := s.Apply(ctx, req, allocate("1001", line{"A", 1}))
			if err != nil || !replayed || len(out.Records) != 1 || string(out.Records[0].Data) != string(rec.Data) {
				t.Fatalf("replay of the order allocated before the upgrade: %+v replayed %v err %v", out, replayed, err)
			}
			wantLevel(t, s, "A", "east", "1", "4", "0", "0", "-3")
			ok, err := s.AdjustLevel(ctx, component.LevelUpdate{Key: "shop/feed:receipt-1", LegacyKey: "receipt-1", SKU: "A", Location: "east", Quantity: d("5")})
			if err != nil || ok {
				t.Fatalf("replay of the receipt fed before the upgrade: applied %v err %v", ok, err)
			}
			wantLevel(t, s, "A", "east", "1", "4", "0", "0", "-3")
		})
	}
}

// writeOld writes the rows of the old store: stock, ledger, one applied
// order and one applied feed key.
func writeOld(t *testing.T, backend, u string, outcome []byte) {
	t.Helper()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO stock (sku, location, on_hand, committed, safety_stock, updated_at) VALUES ($1, $2, $3, $4, 0, $5)`, []any{"A", "east", 10000, 40000}},
		{`INSERT INTO stock (sku, location, on_hand, committed, safety_stock, updated_at) VALUES ($1, $2, $3, $4, 0, $5)`, []any{"B", "east", 0, 0}},
		{`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES ($1, $2, 'committed', $3, $4, $5, $6, $7)`, []any{"A", "east", 10000, "allocate", "1001/1", "allocate:1001"}},
		{`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES ($1, $2, 'committed', $3, $4, $5, $6, $7)`, []any{"A", "east", 30000, "backorder", "1001/1", "allocate:1001"}},
		{`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES ($1, $2, 'committed', $3, $4, $5, $6, $7)`, []any{"B", "east", 20000, "backorder", "1002/1", "allocate:1002"}},
		{`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES ($1, $2, 'committed', $3, $4, $5, $6, $7)`, []any{"B", "east", -20000, "cancel", "1002/1", "cancel:1002:c1"}},
		{`INSERT INTO applied (key, ref, outcome, applied_at) VALUES ($1, $2, $3, $4)`, []any{"allocate:1001", "1001", outcome}},
		{`INSERT INTO feed_applied (key, applied_at) VALUES ($1, $2)`, []any{"receipt-1"}},
	}
	switch backend {
	case "sqlite":
		db, err := sql.Open("sqlite", strings.TrimPrefix(u, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, st := range stmts {
			// SQLite numbers ?NNN parameters; times are microseconds.
			q := st.sql
			for i := 9; i >= 1; i-- {
				q = strings.ReplaceAll(q, "$"+string(rune('0'+i)), "?"+string(rune('0'+i)))
			}
			if _, err := db.Exec(q, append(st.args, newClock().Now().UnixMicro())...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	case "postgres":
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := pu.Query()
		q.Del("pool_max_conns") // the pool's, not the server's
		pu.RawQuery = q.Encode()
		conn, err := pgx.Connect(context.Background(), pu.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for _, st := range stmts {
			if _, err := conn.Exec(ctx, st.sql, append(st.args, newClock().Now())...); err != nil {
				t.Fatalf("%s: %v", st.sql, err)
			}
		}
	}
}
