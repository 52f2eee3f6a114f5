package serve_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/schedule"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/pgtest"
)

// Two serve processes sharing one PostgreSQL keep the same cron trigger:
// each tick runs once, in one of them, and the run history says so.
func TestTwoServersOnPostgresRunEachTickOnce(t *testing.T) {
	url := pgtest.Schema(t, "servecron", nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	out := filepath.Join(dir, "out.ndjson")
	if err := os.WriteFile(in, []byte("{\"sku\":\"A\"}\n{\"sku\":\"B\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := `pipeline: export
triggers:
  nightly:
    cron: {schedule: "* * * * *", catch_up: none}
sources:
  stock: {trigger: nightly, file: {path: "` + in + `"}}
sinks:
  erp:
    from: stock
    file: {path: "` + out + `"}
`
	p := compile(t, t.TempDir(), text)
	start := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
	clock := schedule.NewFakeClock(start)
	var servers []*serve.Server
	var queues []state.Queue
	for i := 0; i < 2; i++ {
		q, err := state.OpenQueue(context.Background(), url, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		queues = append(queues, q)
		srv := serve.New(serve.Config{Queue: q, ScheduleClock: clock, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
		if err := srv.Load([]*serve.Pipeline{p}); err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
	}
	ctx := context.Background()
	for minute := 1; minute <= 5; minute++ {
		// Both schedulers wait for the next tick before the clock moves.
		if err := clock.BlockUntil(ctx, 2); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		eventually(t, "the tick's run recorded", func() bool {
			rs, err := queues[0].ListRuns(ctx, state.RunFilter{Pipeline: "export"})
			if err != nil {
				return false
			}
			ended := 0
			for _, r := range rs {
				if !r.Ended.IsZero() {
					ended++
				}
			}
			return ended >= minute
		})
	}
	rs, err := queues[1].ListRuns(ctx, state.RunFilter{Pipeline: "export"})
	if err != nil {
		t.Fatal(err)
	}
	ticks := map[time.Time]int{}
	for _, r := range rs {
		if r.Outcome != "ok" {
			t.Errorf("run %d of tick %s: outcome %q (%s)", r.ID, r.Tick, r.Outcome, r.Error)
		}
		ticks[r.Tick]++
	}
	if len(rs) != 5 || len(ticks) != 5 {
		t.Fatalf("%d runs over %d ticks, want 5 runs, one per tick: %v", len(rs), len(ticks), ticks)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 10 {
		t.Fatalf("the ERP file has %d lines after 5 runs of 2 records, want 10:\n%s", n, b)
	}
}

// A paused cron trigger skips its ticks (recorded as skipped, nothing
// written); resumed, the next tick runs.
func TestPausedCronTriggerSkipsItsTicks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	out := filepath.Join(dir, "out.ndjson")
	if err := os.WriteFile(in, []byte("{\"sku\":\"A\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compile(t, t.TempDir(), `pipeline: export
triggers:
  nightly:
    cron: {schedule: "* * * * *", catch_up: none}
sources:
  stock: {trigger: nightly, file: {path: "`+in+`"}}
sinks:
  erp:
    from: stock
    file: {path: "`+out+`"}
`)
	ctx := context.Background()
	q, err := state.OpenQueue(ctx, "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	clock := schedule.NewFakeClock(time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC))
	srv := serve.New(serve.Config{Queue: q, ScheduleClock: clock})
	if err := srv.Load([]*serve.Pipeline{p}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetPause(ctx, &state.Pause{Pipeline: "export", Trigger: "nightly", By: "ana", Reason: "month end"}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tickOnce := func(n int) []*state.RunRecord {
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		var rs []*state.RunRecord
		eventually(t, "the tick recorded", func() bool {
			rs, _ = q.ListRuns(ctx, state.RunFilter{Pipeline: "export"})
			return len(rs) == n && !rs[0].Ended.IsZero()
		})
		return rs
	}
	if rs := tickOnce(1); rs[0].Outcome != "skipped" {
		t.Fatalf("a paused trigger's tick: %q", rs[0].Outcome)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a paused trigger's tick wrote the ERP file")
	}
	if _, err := q.ClearPause(ctx, "export", "nightly"); err != nil {
		t.Fatal(err)
	}
	srv.PausesChanged()
	if rs := tickOnce(2); rs[0].Outcome != "ok" {
		t.Fatalf("the tick after resume: %q %s", rs[0].Outcome, rs[0].Error)
	}
}
