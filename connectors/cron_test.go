package connectors_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// cronPipeline is a pipeline whose file source a cron trigger with the
// given settings starts.
func cronPipeline(settings string) string {
	return `pipeline: nightly
triggers:
  nightly:
    cron: ` + settings + `
sources:
  stock:
    trigger: nightly
    file: {path: stock.ndjson}
sinks:
  out:
    from: stock
    stdout: {}
`
}

func buildCron(t *testing.T, settings string) component.Schedule {
	t.Helper()
	p := compile(t, cronPipeline(settings), nil)
	n := p.Triggers[0]
	tr, err := n.Spec.NewTrigger(component.BuildContext{Name: n.Name, Config: n.Config})
	if err != nil {
		t.Fatalf("build trigger: %v", err)
	}
	s, ok := tr.(component.Schedule)
	if !ok {
		t.Fatalf("cron trigger builds a %T, not a component.Schedule", tr)
	}
	return s
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not installed: %v", name, err)
	}
	return loc
}

// ticks lists the schedule's ticks after from, up to and including to.
func ticks(s component.Schedule, from, to time.Time) []time.Time {
	var out []time.Time
	for t := s.Next(from); !t.IsZero() && !t.After(to); t = s.Next(t) {
		out = append(out, t)
		if len(out) > 20000 {
			break
		}
	}
	return out
}

func show(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format("2006-01-02 15:04:05 MST"))
	}
	return strings.Join(s, ", ")
}

func wantTicks(t *testing.T, what string, got []time.Time, want ...string) {
	t.Helper()
	if show(got) != strings.Join(want, ", ") {
		t.Errorf("%s:\n got  %s\n want %s", what, show(got), strings.Join(want, ", "))
	}
}

// TestCronSpringForward: on 2026-03-29 Berlin's clocks jump from 02:00 to
// 03:00. robfig/cron alone never runs a 02:30 schedule that day; pipectl
// runs it once, when the clocks jump.
func TestCronSpringForward(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	to := time.Date(2026, 3, 30, 12, 0, 0, 0, berlin)
	for _, spec := range []string{"30 2 * * *", "0 30 2 * * *"} {
		s := buildCron(t, `{schedule: "`+spec+`", timezone: Europe/Berlin}`)
		wantTicks(t, spec, ticks(s, from, to), "2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST")
	}
	// Two times, one skipped, the other where the clocks land: one run.
	s := buildCron(t, `{schedule: "0 2,3 * * *", timezone: Europe/Berlin}`)
	wantTicks(t, "0 2,3 * * *", ticks(s, from, to),
		"2026-03-29 03:00:00 CEST", "2026-03-30 02:00:00 CEST", "2026-03-30 03:00:00 CEST")
	// Several times in the skipped hour: one run for them all.
	s = buildCron(t, `{schedule: "*/20 2 * * *", timezone: Europe/Berlin}`)
	wantTicks(t, "*/20 2 * * *", ticks(s, time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Date(2026, 3, 29, 23, 0, 0, 0, berlin)),
		"2026-03-29 03:00:00 CEST")
}

// TestCronFallBack: on 2026-10-25 Berlin's clocks fall back from 03:00 to
// 02:00, so 02:30 happens twice. robfig/cron alone runs a 02:30 schedule
// at both; pipectl at the first only.
func TestCronFallBack(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	from := time.Date(2026, 10, 24, 12, 0, 0, 0, berlin)
	to := time.Date(2026, 10, 26, 12, 0, 0, 0, berlin)
	for _, spec := range []string{"30 2 * * *", "0 30 2 * * *"} {
		s := buildCron(t, `{schedule: "`+spec+`", timezone: Europe/Berlin}`)
		wantTicks(t, spec, ticks(s, from, to), "2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET")
		// Started between the two 02:30s: that day's run is behind it.
		between := time.Date(2026, 10, 25, 1, 10, 0, 0, time.UTC) // 02:10 CET
		if got := s.Next(between); !got.Equal(time.Date(2026, 10, 26, 2, 30, 0, 0, berlin)) {
			t.Errorf("%s: Next(02:10 CET) = %s, want 2026-10-26 02:30 CET", spec, got)
		}
	}
	// 03:00 happens once (02:59 CEST is followed by 02:00 CET).
	s := buildCron(t, `{schedule: "0 3 * * *", timezone: Europe/Berlin}`)
	wantTicks(t, "0 3 * * *", ticks(s, from, to), "2026-10-25 03:00:00 CET", "2026-10-26 03:00:00 CET")
}

// TestCronEveryHourAcrossChanges: a schedule running in every hour keeps
// its rhythm in real time through both changes, the repeated hour too.
func TestCronEveryHourAcrossChanges(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	s := buildCron(t, `{schedule: "*/30 * * * *", timezone: Europe/Berlin}`)
	wantTicks(t, "fall back", ticks(s, time.Date(2026, 10, 25, 1, 10, 0, 0, berlin), time.Date(2026, 10, 25, 3, 0, 0, 0, berlin)),
		"2026-10-25 01:30:00 CEST", "2026-10-25 02:00:00 CEST", "2026-10-25 02:30:00 CEST",
		"2026-10-25 02:00:00 CET", "2026-10-25 02:30:00 CET", "2026-10-25 03:00:00 CET")
	wantTicks(t, "spring forward", ticks(s, time.Date(2026, 3, 29, 1, 10, 0, 0, berlin), time.Date(2026, 3, 29, 4, 0, 0, 0, berlin)),
		"2026-03-29 01:30:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-29 03:30:00 CEST", "2026-03-29 04:00:00 CEST")
	h := buildCron(t, `{schedule: "@hourly", timezone: Europe/Berlin}`)
	got := ticks(h, time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 4, 0, 0, 0, time.UTC))
	if len(got) != 6 {
		t.Errorf("@hourly over 5.5 hours of real time: %d ticks (%s)", len(got), show(got))
	}
}

// TestCronEvery: @every counts real time; the zone changing its clocks
// makes no difference.
func TestCronEvery(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	s := buildCron(t, `{schedule: "@every 15m", timezone: Europe/Berlin}`)
	at := time.Date(2026, 3, 29, 1, 40, 0, 0, berlin)
	got := ticks(s, at, at.Add(time.Hour))
	wantTicks(t, "@every 15m", got,
		"2026-03-29 01:55:00 CET", "2026-03-29 03:10:00 CEST", "2026-03-29 03:25:00 CEST", "2026-03-29 03:40:00 CEST")
	if next := s.Next(at.Add(500 * time.Millisecond)); !next.Equal(at.Add(15 * time.Minute)) {
		t.Errorf("Next(01:40:00.5) = %s, want 15 minutes after 01:40:00", next)
	}
}

// TestCronOncePerDay runs daily schedules that name a time through a year
// in zones with one-hour, half-hour and midnight changes, north and south:
// each local day has exactly one tick, and ticks only go forward.
func TestCronOncePerDay(t *testing.T) {
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "UTC"}
	specs := []string{"30 2 * * *", "15 2 * * *", "0 0 * * *", "59 23 * * *", "15 1 * * *", "@daily", "0 30 2 * * *"}
	for _, zone := range zones {
		loc := mustZone(t, zone)
		for _, spec := range specs {
			s := buildCron(t, `{schedule: "`+spec+`", timezone: `+zone+`}`)
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Add(-time.Second)
			to := time.Date(2027, 1, 1, 0, 0, 0, 0, loc).Add(-time.Second)
			days := map[string]int{}
			prev := from
			for _, tk := range ticks(s, from, to) {
				if !tk.After(prev) {
					t.Errorf("%s in %s: tick %s after %s", spec, zone, tk, prev)
				}
				prev = tk
				days[tk.In(loc).Format(time.DateOnly)]++
			}
			for d := time.Date(2026, 1, 1, 12, 0, 0, 0, loc); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
				if n := days[d.Format(time.DateOnly)]; n != 1 {
					t.Errorf("%s in %s: %d ticks on %s", spec, zone, n, d.Format(time.DateOnly))
				}
			}
		}
	}
}

func TestCronSettings(t *testing.T) {
	s := buildCron(t, `"@daily"`)
	if s.Location() != time.UTC || s.CatchUp() != "latest" || s.Overlap() != "skip" || s.TriggerKind() != "cron" {
		t.Errorf("defaults: zone %s, catch_up %q, overlap %q, kind %q", s.Location(), s.CatchUp(), s.Overlap(), s.TriggerKind())
	}
	// Next answers in the location of the time it is given.
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	if next := s.Next(at); next.Location() != time.UTC || !next.Equal(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Next(%s) = %s", at, next)
	}
	s = buildCron(t, `{schedule: "0 6 * * 1-5", timezone: America/New_York, catch_up: all, overlap: queue}`)
	if s.Location().String() != "America/New_York" || s.CatchUp() != "all" || s.Overlap() != "queue" {
		t.Errorf("set: zone %s, catch_up %q, overlap %q", s.Location(), s.CatchUp(), s.Overlap())
	}
	// Friday 2026-06-05 12:00 UTC: next is Monday 06:00 in New York (EDT).
	if next := s.Next(time.Date(2026, 6, 5, 12, 0, 0, 0, time.UTC)); !next.Equal(time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("weekday schedule: %s", next)
	}
}

func TestCronSettingErrors(t *testing.T) {
	cases := []struct{ settings, code, text string }{
		{`"0 0 30 2 *"`, pipelines.CodeInvalidCron, "never runs"},
		{`"TZ=Europe/Berlin 0 2 * * *"`, pipelines.CodeInvalidCron, "timezone"},
		{`"CRON_TZ=UTC 0 2 * * *"`, pipelines.CodeInvalidCron, "timezone"},
		{`"@every 500ms"`, pipelines.CodeInvalidCron, "shorter than a second"},
		{`"@every 0s"`, pipelines.CodeInvalidCron, "shorter than a second"},
		{`{schedule: "@daily", catch_up: some}`, pipelines.CodeInvalidValue, "catch_up"},
		{`{schedule: "@daily", overlap: wait}`, pipelines.CodeInvalidValue, "overlap"},
	}
	for _, c := range cases {
		_, ds := diagnose(t, cronPipeline(c.settings), nil)
		found := false
		for _, d := range ds {
			found = found || (d.Code == c.code && strings.Contains(d.Summary, c.text))
		}
		if !found {
			t.Errorf("%s: no %s diagnostic saying %q in %v", c.settings, c.code, c.text, ds)
		}
	}
	for _, ok := range []string{`"@every 1s"`, `"0 0 29 2 *"`, `"@yearly"`, `"*/5 * * * * *"`} {
		if _, ds := diagnose(t, cronPipeline(ok), nil); ds.HasErrors() {
			t.Errorf("%s: %v", ok, ds)
		}
	}
}

// TestCronEveryHourMatchesTheClock checks schedules that run in every hour
// against brute force through a year: their ticks are exactly the minutes
// of real time at which the zone's clock reads a matching time, whatever
// the zone's changes do (Santiago changes at midnight, Lord Howe by half an
// hour, both on weekends that a weekday schedule skips).
func TestCronEveryHourMatchesTheClock(t *testing.T) {
	specs := []struct {
		spec  string
		match func(time.Time) bool
	}{
		{"*/30 * * * 1-5", func(w time.Time) bool {
			return w.Minute()%30 == 0 && w.Weekday() >= time.Monday && w.Weekday() <= time.Friday
		}},
		{"15 * * * *", func(w time.Time) bool { return w.Minute() == 15 }},
		{"0 * 1,15 * *", func(w time.Time) bool { return w.Minute() == 0 && (w.Day() == 1 || w.Day() == 15) }},
	}
	for _, zone := range []string{"Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"} {
		loc := mustZone(t, zone)
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		to := from.AddDate(1, 0, 0)
		for _, c := range specs {
			s := buildCron(t, `{schedule: "`+c.spec+`", timezone: `+zone+`}`)
			var want []time.Time
			for u := from.Add(time.Minute); !u.After(to); u = u.Add(time.Minute) {
				if c.match(u.In(loc)) {
					want = append(want, u)
				}
			}
			got := ticks(s, from, to)
			if len(got) != len(want) {
				t.Errorf("%s in %s: %d ticks, want %d", c.spec, zone, len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if !got[i].Equal(want[i]) {
					t.Errorf("%s in %s: tick %d is %s, want %s", c.spec, zone, i, got[i].In(loc), want[i].In(loc))
					break
				}
			}
		}
	}
}
