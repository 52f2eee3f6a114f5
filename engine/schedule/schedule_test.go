package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pipectl/pipectl/engine/schedule"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// every is a schedule ticking every d, aligned on d since the zero time
// (whole minutes for a minute), plus offset.
type every struct {
	d, offset        time.Duration
	loc              *time.Location
	catchUp, overlap string
}

func (every) TriggerKind() string { return "cron" }
func (s every) Next(t time.Time) time.Time {
	n := t.Add(-s.offset).Truncate(s.d).Add(s.d + s.offset)
	if !n.After(t) {
		n = n.Add(s.d)
	}
	return n.In(t.Location())
}
func (s every) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}
func (s every) CatchUp() string { return s.catchUp }
func (s every) Overlap() string { return s.overlap }

// cronSpec is a schedule read by robfig/cron, as the cron trigger is.
type cronSpec struct {
	cron.Schedule
	loc              *time.Location
	catchUp, overlap string
}

func newCron(t *testing.T, spec, zone string) cronSpec {
	t.Helper()
	sched, err := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor).Parse("CRON_TZ=" + zone + " " + spec)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return cronSpec{Schedule: sched, loc: loc}
}

func (cronSpec) TriggerKind() string        { return "cron" }
func (s cronSpec) Location() *time.Location { return s.loc }
func (s cronSpec) CatchUp() string          { return s.catchUp }
func (s cronSpec) Overlap() string          { return s.overlap }

// memStore is state.Ticks and state.Runs in memory, safe for concurrent
// use. It refuses claim keys that are not whole UTC seconds, which a
// process in another zone would compute differently.
type memStore struct {
	mu         sync.Mutex
	claims     map[string]bool
	last       map[string]time.Time
	runs       []state.RunRecord
	failClaims bool
}

func newStore() *memStore {
	return &memStore{claims: map[string]bool{}, last: map[string]time.Time{}}
}

func (m *memStore) ClaimTick(ctx context.Context, pipeline, trigger string, at time.Time) (bool, error) {
	if at.Location() != time.UTC || at.Nanosecond() != 0 {
		return false, fmt.Errorf("tick %v is not a whole UTC second", at)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failClaims {
		return false, errors.New("the store is down")
	}
	k := fmt.Sprintf("%s/%s/%d", pipeline, trigger, at.Unix())
	if m.claims[k] {
		return false, nil
	}
	m.claims[k] = true
	if l := m.last[pipeline+"/"+trigger]; at.After(l) {
		m.last[pipeline+"/"+trigger] = at
	}
	return true, nil
}

func (m *memStore) LastTick(ctx context.Context, pipeline, trigger string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.last[pipeline+"/"+trigger]
	return at, ok, nil
}

func (m *memStore) StartRun(ctx context.Context, r *state.RunRecord) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *r
	c.ID = int64(len(m.runs) + 1)
	m.runs = append(m.runs, c)
	return c.ID, nil
}

func (m *memStore) EndRun(ctx context.Context, r *state.RunRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ID < 1 || int(r.ID) > len(m.runs) {
		return state.ErrNotFound
	}
	m.runs[r.ID-1] = *r
	return nil
}

func (m *memStore) ListRuns(ctx context.Context, f state.RunFilter) ([]*state.RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*state.RunRecord
	for i := len(m.runs) - 1; i >= 0; i-- {
		out = append(out, &m.runs[i])
	}
	return out, nil
}

func (m *memStore) Run(ctx context.Context, id int64) (*state.RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || int(id) > len(m.runs) {
		return nil, state.ErrNotFound
	}
	r := m.runs[id-1]
	return &r, nil
}

// records returns the run records, oldest first, as "tick outcome".
func (m *memStore) records() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.runs {
		out = append(out, r.Tick.Format(time.RFC3339)+" "+r.Outcome)
	}
	return out
}

// runner is a RunFunc that records the ticks it ran; with block, each run
// announces itself on started and waits for release (or its context).
type runner struct {
	mu      sync.Mutex
	ticks   []time.Time
	block   bool
	started chan time.Time
	release chan struct{}
	// cancelled, when not nil, is closed when a blocked run sees its
	// context end; the run then waits for proceed before it returns.
	cancelled, proceed chan struct{}
}

func newRunner(block bool) *runner {
	return &runner{block: block, started: make(chan time.Time, 16), release: make(chan struct{})}
}

func (r *runner) run(ctx context.Context, tick time.Time) (string, []byte, error) {
	r.mu.Lock()
	r.ticks = append(r.ticks, tick)
	r.mu.Unlock()
	if !r.block {
		return "", []byte(`{"n":1}`), nil
	}
	r.started <- tick
	select {
	case <-r.release:
		return "ok", nil, nil
	case <-ctx.Done():
		if r.cancelled != nil {
			close(r.cancelled)
			<-r.proceed
		}
		return "", nil, ctx.Err()
	}
}

func (r *runner) ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.ticks {
		out = append(out, t.Format(time.RFC3339))
	}
	return out
}

// running is a Scheduler whose Run goes on in the background.
type running struct {
	*schedule.Scheduler
	stop func() // cancels Run and waits for it to return
}

func start(t *testing.T, clock schedule.Clock, store *memStore, sched component.Schedule, run schedule.RunFunc) running {
	t.Helper()
	s, err := schedule.New(schedule.Config{
		Pipeline: "orders",
		Trigger:  "nightly",
		Schedule: sched,
		Clock:    clock,
		Ticks:    store,
		Runs:     store,
		Run:      run,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return running{s, stop}
}

// waitFor waits until cond holds of s's stats. It polls: the Scheduler
// updates them on its own goroutine.
func waitFor(t *testing.T, s *schedule.Scheduler, what string, cond func(schedule.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats are %+v", what, s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// waiting returns once n Schedulers wait on clock.
func waiting(t *testing.T, clock *schedule.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d schedulers to wait on the clock: %v", n, err)
	}
}

// settled waits until s has ended ran runs and is waiting for a tick.
func settled(t *testing.T, clock *schedule.FakeClock, s *schedule.Scheduler, ran int64) {
	t.Helper()
	waiting(t, clock, 1)
	waitFor(t, s, fmt.Sprintf("%d runs ended", ran), func(st schedule.Stats) bool {
		return st.Ran == ran && !st.Running && st.Waiting == 0
	})
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// minutes returns the RFC 3339 forms of t0 + i minutes for i in [from, to].
func minutes(t0 time.Time, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	return out
}

// acrossDST walks the fake clock in ten-minute steps from `from` to `to`
// with a daily Europe/Berlin 02:30 schedule, and checks that exactly want
// ran, once each, claimed by their UTC instant.
func acrossDST(t *testing.T, from, to string, want []string) {
	sched := newCron(t, "30 2 * * *", "Europe/Berlin")
	clock := schedule.NewFakeClock(at(t, from))
	store := newStore()
	r := newRunner(false)
	s := start(t, clock, store, sched, r.run)
	end := at(t, to)
	for now := clock.Now(); now.Before(end); {
		waiting(t, clock, 1)
		now = now.Add(10 * time.Minute)
		clock.Set(now)
		n := int64(0)
		for _, w := range want {
			if !at(t, w).After(now) {
				n++
			}
		}
		settled(t, clock, s.Scheduler, n)
	}
	s.stop()
	same(t, "ticks run", r.ran(), want)
	var recs []string
	for _, w := range want {
		recs = append(recs, w+" ok")
	}
	same(t, "run records", store.records(), recs)
	if st := s.Stats(); st.Skipped != 0 || st.Missed != 0 || st.StoreErrors != 0 {
		t.Errorf("stats %+v: want nothing skipped, missed or failed", st)
	}
}

// 2026-03-29 02:00 CET the clocks go to 03:00 CEST: 02:30 does not exist,
// and robfig/cron has no tick that day.
func TestDaylightSavingStarts(t *testing.T) {
	acrossDST(t, "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z", []string{
		"2026-03-28T01:30:00Z", // 02:30 CET
		"2026-03-30T00:30:00Z", // 02:30 CEST
		"2026-03-31T00:30:00Z",
	})
}

// 2026-10-25 03:00 CEST the clocks go back to 02:00 CET: 02:30 comes
// twice, an hour apart, and robfig/cron ticks at both. Each instant runs
// once: the second 02:30 is another tick, not the first again.
func TestDaylightSavingEnds(t *testing.T) {
	acrossDST(t, "2026-10-23T12:00:00Z", "2026-10-26T12:00:00Z", []string{
		"2026-10-24T00:30:00Z", // 02:30 CEST
		"2026-10-25T00:30:00Z", // 02:30 CEST
		"2026-10-25T01:30:00Z", // 02:30 CET
		"2026-10-26T01:30:00Z", // 02:30 CET
	})
}

// A process starting during the repeated hour, after the first 02:30 ran
// and with the wall clock before 02:30 again, catches up nothing and runs
// the second 02:30 once.
func TestRestartInRepeatedHour(t *testing.T) {
	sched := newCron(t, "30 2 * * *", "Europe/Berlin")
	sched.catchUp = schedule.CatchUpAll
	store := newStore()
	if ok, err := store.ClaimTick(t.Context(), "orders", "nightly", at(t, "2026-10-25T00:30:00Z")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	clock := schedule.NewFakeClock(at(t, "2026-10-25T01:10:00Z")) // 02:10 CET
	r := newRunner(false)
	s := start(t, clock, store, sched, r.run)
	settled(t, clock, s.Scheduler, 0)
	for _, step := range []string{"2026-10-25T01:20:00Z", "2026-10-25T01:30:00Z", "2026-10-25T01:40:00Z"} {
		waiting(t, clock, 1)
		clock.Set(at(t, step))
	}
	settled(t, clock, s.Scheduler, 1)
	s.stop()
	same(t, "ticks run", r.ran(), []string{"2026-10-25T01:30:00Z"})
}

// A tick is claimed and run as its scheduled second in UTC, not as the
// time the process woke for it nor in the schedule's zone.
func TestTickIsScheduledSecondInUTC(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(10 * time.Second).In(tokyo))
	store := newStore()
	r := newRunner(false)
	s := start(t, clock, store, every{d: time.Minute, offset: 500 * time.Millisecond, loc: tokyo}, r.run)
	waiting(t, clock, 1)
	clock.Set(t0.Add(time.Minute + 2500*time.Millisecond)) // woken two seconds late
	settled(t, clock, s.Scheduler, 1)
	s.stop()
	same(t, "ticks run", r.ran(), []string{"2026-05-04T10:01:00Z"})
	rec, err := store.Run(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Tick.Equal(t0.Add(time.Minute)) || rec.Tick.Location() != time.UTC || rec.Outcome != "ok" || string(rec.Nodes) != `{"n":1}` {
		t.Errorf("run record %+v", rec)
	}
	if !rec.Started.Equal(t0.Add(time.Minute+2500*time.Millisecond)) || rec.Ended.IsZero() {
		t.Errorf("run record started %v ended %v: want the clock's time", rec.Started, rec.Ended)
	}
}

// After a downtime, the catch-up policy decides which of the ticks missed
// since the last claimed one run.
func TestCatchUp(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	for _, tc := range []struct {
		policy string
		ran    []string
		missed int64
	}{
		{schedule.CatchUpNone, minutes(t0, 6, 6), 5},
		{schedule.CatchUpLatest, minutes(t0, 5, 6), 4},
		{"", minutes(t0, 5, 6), 4}, // latest is the default
		{schedule.CatchUpAll, minutes(t0, 1, 6), 0},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			store := newStore()
			// The last process claimed t0, then nothing served for 5m30s.
			if ok, err := store.ClaimTick(t.Context(), "orders", "nightly", t0); !ok || err != nil {
				t.Fatal(ok, err)
			}
			clock := schedule.NewFakeClock(t0.Add(5*time.Minute + 30*time.Second))
			r := newRunner(false)
			s := start(t, clock, store, every{d: time.Minute, catchUp: tc.policy}, r.run)
			settled(t, clock, s.Scheduler, int64(len(tc.ran)-1))
			clock.Set(t0.Add(6 * time.Minute))
			settled(t, clock, s.Scheduler, int64(len(tc.ran)))
			s.stop()
			same(t, "ticks run", r.ran(), tc.ran)
			if st := s.Stats(); st.Missed != tc.missed || st.Skipped != 0 || st.ClaimedElsewhere != 0 {
				t.Errorf("stats %+v: want %d missed", st, tc.missed)
			}
		})
	}
}

// catch_up "all" runs at most MaxCatchUp ticks: the latest ones.
func TestCatchUpAllIsBounded(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	store := newStore()
	if ok, err := store.ClaimTick(t.Context(), "orders", "nightly", t0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	n := schedule.MaxCatchUp + 500
	clock := schedule.NewFakeClock(t0.Add(time.Duration(n)*time.Minute + 30*time.Second))
	r := newRunner(false)
	s := start(t, clock, store, every{d: time.Minute, catchUp: schedule.CatchUpAll}, r.run)
	settled(t, clock, s.Scheduler, schedule.MaxCatchUp)
	s.stop()
	same(t, "ticks run", r.ran(), minutes(t0, n-schedule.MaxCatchUp+1, n))
	if st := s.Stats(); st.Missed != 500 {
		t.Errorf("stats %+v: want 500 missed", st)
	}
}

// A schedule never claimed catches up nothing, whatever the policy: it
// starts with the first tick after it is first served.
func TestNeverClaimedCatchesUpNothing(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(5*time.Minute + 30*time.Second))
	store := newStore()
	r := newRunner(false)
	s := start(t, clock, store, every{d: time.Minute, catchUp: schedule.CatchUpAll}, r.run)
	settled(t, clock, s.Scheduler, 0)
	clock.Set(t0.Add(6 * time.Minute))
	settled(t, clock, s.Scheduler, 1)
	s.stop()
	same(t, "ticks run", r.ran(), minutes(t0, 6, 6))
	if st := s.Stats(); st.Missed != 0 {
		t.Errorf("stats %+v: want nothing missed", st)
	}
}

// A wake-up that finds several ticks due (the host slept) catches them up
// like a downtime rather than running each.
func TestSeveralTicksAtOnceAreCaughtUp(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(30 * time.Second))
	store := newStore()
	r := newRunner(false)
	s := start(t, clock, store, every{d: time.Minute}, r.run)
	waiting(t, clock, 1)
	clock.Set(t0.Add(3*time.Hour + 10*time.Second))
	settled(t, clock, s.Scheduler, 1)
	s.stop()
	same(t, "ticks run", r.ran(), minutes(t0, 180, 180))
	if st := s.Stats(); st.Missed != 179 {
		t.Errorf("stats %+v: want 179 missed", st)
	}
}

// overlapping starts a blocking run at t0+1m and lets the ticks at t0+2m
// and t0+3m come while it goes.
func overlapping(t *testing.T, overlap string, r *runner) (*schedule.FakeClock, *memStore, running, time.Time) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(30 * time.Second))
	store := newStore()
	s := start(t, clock, store, every{d: time.Minute, overlap: overlap}, r.run)
	waiting(t, clock, 1)
	clock.Set(t0.Add(time.Minute))
	if got := <-r.started; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("started %v", got)
	}
	waiting(t, clock, 1)
	clock.Set(t0.Add(2 * time.Minute))
	waiting(t, clock, 1)
	clock.Set(t0.Add(3 * time.Minute))
	waiting(t, clock, 1)
	return clock, store, s, t0
}

func TestOverlapSkip(t *testing.T) {
	r := newRunner(true)
	clock, store, s, t0 := overlapping(t, "", r)
	waitFor(t, s.Scheduler, "two ticks skipped", func(st schedule.Stats) bool { return st.Skipped == 2 })
	r.release <- struct{}{}
	settled(t, clock, s.Scheduler, 1)
	clock.Set(t0.Add(4 * time.Minute))
	<-r.started
	r.release <- struct{}{}
	settled(t, clock, s.Scheduler, 2)
	s.stop()
	same(t, "ticks run", r.ran(), []string{"2026-05-04T10:01:00Z", "2026-05-04T10:04:00Z"})
	same(t, "run records", store.records(), []string{
		"2026-05-04T10:01:00Z ok",
		"2026-05-04T10:02:00Z skipped",
		"2026-05-04T10:03:00Z skipped",
		"2026-05-04T10:04:00Z ok",
	})
	// Skipped ticks are claimed: no other process runs them.
	for i := 1; i <= 4; i++ {
		if ok, _ := store.ClaimTick(t.Context(), "orders", "nightly", t0.Add(time.Duration(i)*time.Minute)); ok {
			t.Errorf("tick %d was not claimed", i)
		}
	}
}

func TestOverlapQueue(t *testing.T) {
	r := newRunner(true)
	clock, store, s, _ := overlapping(t, schedule.OverlapQueue, r)
	waitFor(t, s.Scheduler, "one tick queued, one skipped", func(st schedule.Stats) bool {
		return st.Waiting == 1 && st.Skipped == 1
	})
	r.release <- struct{}{}
	if got := <-r.started; got.Format(time.RFC3339) != "2026-05-04T10:02:00Z" {
		t.Fatalf("queued run started for %v", got)
	}
	r.release <- struct{}{}
	settled(t, clock, s.Scheduler, 2)
	s.stop()
	same(t, "ticks run", r.ran(), []string{"2026-05-04T10:01:00Z", "2026-05-04T10:02:00Z"})
	same(t, "run records", store.records(), []string{
		"2026-05-04T10:01:00Z ok",
		"2026-05-04T10:03:00Z skipped",
		"2026-05-04T10:02:00Z ok",
	})
}

// Two processes sharing one store run each tick once.
func TestSharedStoreRunsEachTickOnce(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(30 * time.Second))
	store := newStore()
	r := newRunner(false)
	a := start(t, clock, store, every{d: time.Minute}, r.run)
	b := start(t, clock, store, every{d: time.Minute}, r.run)
	const ticks = 30
	for i := 1; i <= ticks; i++ {
		waiting(t, clock, 2)
		clock.Set(t0.Add(time.Duration(i) * time.Minute))
		waiting(t, clock, 2)
		waitFor(t, a.Scheduler, "both settled", func(sa schedule.Stats) bool {
			sb := b.Stats()
			return sa.Ran+sb.Ran == int64(i) && !sa.Running && !sb.Running &&
				sa.ClaimedElsewhere+sb.ClaimedElsewhere == int64(i)
		})
	}
	a.stop()
	b.stop()
	got := r.ran()
	slices.Sort(got)
	same(t, "ticks run", got, minutes(t0, 1, ticks))
}

// Two processes starting together after a downtime share the catch-up:
// each missed tick runs once. (The second may start after the first
// claimed some, and then catches up from there.)
func TestSharedStoreCatchesUpOnce(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	store := newStore()
	if ok, err := store.ClaimTick(t.Context(), "orders", "nightly", t0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	clock := schedule.NewFakeClock(t0.Add(50*time.Minute + 30*time.Second))
	r := newRunner(false)
	sched := every{d: time.Minute, catchUp: schedule.CatchUpAll}
	a := start(t, clock, store, sched, r.run)
	b := start(t, clock, store, sched, r.run)
	waiting(t, clock, 2)
	waitFor(t, a.Scheduler, "catch-up done", func(sa schedule.Stats) bool {
		sb := b.Stats()
		return sa.Ran+sb.Ran >= 50 && sa.Waiting+sb.Waiting == 0 && !sa.Running && !sb.Running
	})
	a.stop()
	b.stop()
	got := r.ran()
	slices.Sort(got)
	same(t, "ticks run", got, minutes(t0, 1, 50))
}

// Stopping waits for the run going, which sees its context end, and
// records the tick waiting its turn as skipped.
func TestStopWaitsForTheRun(t *testing.T) {
	r := newRunner(true)
	r.cancelled, r.proceed = make(chan struct{}), make(chan struct{})
	_, store, s, _ := overlapping(t, schedule.OverlapQueue, r)
	waitFor(t, s.Scheduler, "one tick queued", func(st schedule.Stats) bool { return st.Waiting == 1 })
	returned := make(chan struct{})
	go func() { s.stop(); close(returned) }()
	// The run sees its context end and holds on: Run must not return
	// before it does.
	<-r.cancelled
	select {
	case <-returned:
		t.Fatal("Run returned while its run was going")
	default:
	}
	close(r.proceed)
	<-returned
	same(t, "ticks run", r.ran(), []string{"2026-05-04T10:01:00Z"})
	same(t, "run records", store.records(), []string{
		"2026-05-04T10:01:00Z error",
		"2026-05-04T10:03:00Z skipped",
		"2026-05-04T10:02:00Z skipped",
	})
	if st := s.Stats(); st.Ran != 1 || st.Running || st.Waiting != 0 {
		t.Errorf("stats after stop %+v", st)
	}
}

// A run that panics is an error run; the next tick runs.
func TestPanickingRun(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(30 * time.Second))
	store := newStore()
	calls := 0
	s := start(t, clock, store, every{d: time.Minute}, func(ctx context.Context, tick time.Time) (string, []byte, error) {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return "failed", nil, nil
	})
	for i := 1; i <= 2; i++ {
		waiting(t, clock, 1)
		clock.Set(t0.Add(time.Duration(i) * time.Minute))
		settled(t, clock, s.Scheduler, int64(i))
	}
	s.stop()
	same(t, "run records", store.records(), []string{"2026-05-04T10:01:00Z error", "2026-05-04T10:02:00Z failed"})
	if rec, _ := store.Run(t.Context(), 1); !strings.Contains(rec.Error, "boom") {
		t.Errorf("error %q does not say what the panic was", rec.Error)
	}
}

// A tick whose claim fails does not run: it could be running elsewhere.
func TestClaimFailureDoesNotRun(t *testing.T) {
	t0 := at(t, "2026-05-04T10:00:00Z")
	clock := schedule.NewFakeClock(t0.Add(30 * time.Second))
	store := newStore()
	store.failClaims = true
	r := newRunner(false)
	s := start(t, clock, store, every{d: time.Minute}, r.run)
	waiting(t, clock, 1)
	clock.Set(t0.Add(time.Minute))
	waiting(t, clock, 1)
	waitFor(t, s.Scheduler, "a store error", func(st schedule.Stats) bool { return st.StoreErrors == 1 })
	s.stop()
	same(t, "ticks run", r.ran(), nil)
}

func TestConfigErrors(t *testing.T) {
	store := newStore()
	base := schedule.Config{Pipeline: "orders", Trigger: "nightly", Schedule: every{d: time.Minute}, Ticks: store, Runs: store,
		Run: func(context.Context, time.Time) (string, []byte, error) { return "", nil, nil }}
	for _, tc := range []struct {
		edit func(*schedule.Config)
		want string
	}{
		{func(c *schedule.Config) { c.Schedule = every{d: time.Minute, catchUp: "some"} }, `pipeline "orders" trigger "nightly": catch_up "some" is not one of none, latest, all`},
		{func(c *schedule.Config) { c.Schedule = every{d: time.Minute, overlap: "wait"} }, `overlap "wait" is not one of skip, queue`},
		{func(c *schedule.Config) { c.Run = nil }, "nothing to run"},
		{func(c *schedule.Config) { c.Ticks = nil }, "no state store"},
	} {
		c := base
		tc.edit(&c)
		if _, err := schedule.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one saying %q", err, tc.want)
		}
	}
	if _, err := schedule.New(base); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
