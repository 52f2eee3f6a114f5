package connectors

import (
	"fmt"
	"strings"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/robfig/cron/v3"
)

// cronParser reads schedules as the loader validates them (the CronField
// kind, pipelines.ParseCron): five fields, an optional leading seconds
// field, or a descriptor.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronSchedule is a built cron trigger: component.Schedule.
//
// robfig/cron steps through real time in the schedule's zone, which goes
// wrong on the two days a year the clocks change: in Europe/Berlin a 02:30
// daily schedule never runs on 2026-03-29 (02:00 jumps to 03:00) and runs
// twice on 2026-10-25 (03:00 falls back to 02:00). A schedule that names
// hours is meant for a time of day, so pipectl reads it on the wall clock
// instead (see wallNext): it runs once on both days. A schedule that runs
// in every hour (*/15 * * * *, @hourly) is meant as a rhythm, and robfig's
// stepping is right for it: every hour of real time, the repeated one too,
// has its ticks. @every counts real time and knows nothing of zones.
type cronSchedule struct {
	loc              *time.Location
	spec             *cron.SpecSchedule // nil for @every
	wall             *cron.SpecSchedule // spec read in UTC: the wall clock without changes
	every            time.Duration
	catchUp, overlap string
}

func newCronTrigger(ctx component.BuildContext) (component.Trigger, error) {
	cfg := ctx.Config
	sv := cfg.Get("schedule")
	if sv == nil || sv.Str == "" {
		return nil, component.SettingErrorf(cfg, "missing-field", "cron trigger %q has no schedule", ctx.Name)
	}
	tz := strSetting(cfg, "timezone", "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, component.SettingErrorf(cfg.Get("timezone"), "invalid-timezone", "cron trigger %q: unknown time zone %q", ctx.Name, tz)
	}
	s, err := newCronSchedule(sv.Str, loc)
	if err != nil {
		return nil, component.SettingErrorf(sv, "invalid-cron", "cron trigger %q: %v", ctx.Name, err)
	}
	s.catchUp = strSetting(cfg, "catch_up", "latest")
	s.overlap = strSetting(cfg, "overlap", "skip")
	return s, nil
}

// newCronSchedule parses a schedule read in loc.
func newCronSchedule(expr string, loc *time.Location) (*cronSchedule, error) {
	if err := checkCron(expr); err != nil {
		return nil, err
	}
	parsed, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %v", expr, err)
	}
	s := &cronSchedule{loc: loc, catchUp: "latest", overlap: "skip"}
	switch p := parsed.(type) {
	case cron.ConstantDelaySchedule:
		s.every = p.Delay
	case *cron.SpecSchedule:
		inLoc, inUTC := *p, *p
		inLoc.Location, inUTC.Location = loc, time.UTC
		s.spec, s.wall = &inLoc, &inUTC
	default:
		return nil, fmt.Errorf("unsupported cron schedule %q", expr)
	}
	return s, nil
}

// checkCron refuses what the parser takes but a schedule should not say:
// a zone prefix, which would contradict `timezone`, and @every shorter than
// a second, which robfig silently runs every second.
func checkCron(expr string) error {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return fmt.Errorf("the schedule names its time zone: write it in `timezone` instead")
	}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err == nil && d < time.Second {
			return fmt.Errorf("@every %s is shorter than a second", strings.TrimSpace(rest))
		}
	}
	return nil
}

// neverBefore is where validation looks for a schedule's first tick: any
// fixed time works, since a schedule that matches a real date matches one
// within the five years robfig searches.
var neverBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// validateCron reports schedules the engine could not keep.
func validateCron(cfg *component.Value, report component.Reporter) {
	sv := cfg.Get("schedule")
	if sv == nil || sv.Str == "" || sv.Unresolved {
		return
	}
	if err := checkCron(sv.Str); err != nil {
		report.Errorf(sv, "invalid-cron", "invalid cron schedule %s: %v", quoted(sv), err)
		return
	}
	s, err := newCronSchedule(sv.Str, time.UTC)
	if err != nil {
		return // the loader reports schedules that do not parse
	}
	if s.Next(neverBefore).IsZero() {
		report.Errorf(sv, "invalid-cron", "cron schedule %s never runs: no date matches it", quoted(sv))
	}
}

func (s *cronSchedule) TriggerKind() string      { return "cron" }
func (s *cronSchedule) Location() *time.Location { return s.loc }
func (s *cronSchedule) CatchUp() string          { return s.catchUp }
func (s *cronSchedule) Overlap() string          { return s.overlap }

// Next is the first tick strictly after t, in t's location; the zero time
// when the schedule never runs again.
func (s *cronSchedule) Next(t time.Time) time.Time {
	var next time.Time
	switch {
	case s.spec == nil:
		next = t.Truncate(time.Second).Add(s.every)
	case everyHour(s.spec):
		next = s.spec.Next(t)
	default:
		next = s.wallNext(t)
	}
	if next.IsZero() {
		return next
	}
	return next.In(t.Location())
}

// everyHour reports a schedule whose hour field allows every hour.
func everyHour(s *cron.SpecSchedule) bool {
	const all = 1<<24 - 1
	return s.Hour&all == all
}

// wallNext finds the next tick on the wall clock of s.loc. The schedule is
// matched against wall-clock readings (the spec read in UTC, which has no
// changes), and the reading found is then placed in real time:
//   - a reading the clocks skip (02:30 when 02:00 jumps to 03:00) is the
//     instant they jump, so the tick is late but not lost;
//   - a reading they repeat (02:30 twice when 03:00 falls back to 02:00) is
//     its first instant only, so the tick is not run twice; a t between
//     the two means that day's tick has passed.
func (s *cronSchedule) wallNext(t time.Time) time.Time {
	w := wallReading(t.In(s.loc))
	// Each round moves past one reading; two rounds cover any change, a
	// few more make room for zones that change twice in a row.
	for range 8 {
		c := s.wall.Next(w)
		if c.IsZero() {
			return c
		}
		if u := firstInstant(c, s.loc); u.After(t) {
			return u
		}
		w = c
	}
	return time.Time{}
}

// wallReading is t's clock reading in its location, as a UTC time.
func wallReading(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// firstInstant is the first instant loc's clock reads r (a wall reading
// as UTC), or, when its clock skips r, the instant it skips it at.
func firstInstant(r time.Time, loc *time.Location) time.Time {
	// The offsets in force around r are those a day either side: no zone
	// changes twice within two days.
	var first time.Time
	for _, probe := range []time.Time{r.Add(-24 * time.Hour), r, r.Add(24 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		u := r.Add(-time.Duration(off) * time.Second)
		if wallReading(u.In(loc)).Equal(r) && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	if !first.IsZero() {
		return first.In(loc)
	}
	// Skipped: the change happens between r read at the offset before it
	// (too late) and at the offset after it (too early). The zone in force
	// at the earlier instant ends at the change.
	_, before := r.Add(-24 * time.Hour).In(loc).Zone()
	_, after := r.Add(24 * time.Hour).In(loc).Zone()
	early := r.Add(-time.Duration(max(before, after)) * time.Second)
	_, end := early.In(loc).ZoneBounds()
	return end
}
