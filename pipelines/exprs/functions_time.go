package exprs

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

// ExampleClock is the instant the examples of now() are written against:
// run the library's examples with it, as the docs and tests do.
var ExampleClock = component.FixedClock(time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC))

// namedLayouts are the layout names accepted besides Go layouts, so that
// the common cases need no knowledge of Go's reference date.
var namedLayouts = map[string]string{
	"rfc3339":  time.RFC3339,
	"date":     time.DateOnly,
	"datetime": time.DateTime,
}

// maxAddDays bounds add_days to ±10,000 years, past which Go's calendar
// arithmetic silently wraps; results must also stay within years 1 to 9999,
// which is all RFC 3339 and JSON can write.
const maxAddDays = 3_652_500

func timeFunctions(clock component.Clock) []*Function {
	return []*Function{
		{
			Name:     "now",
			Category: "time",
			Summary: "Returns the current time from pipectl's clock, which pipeline tests fix, so mappings that " +
				"stamp a time stay testable. The examples assume 2024-03-01T09:30:00Z.",
			Signature: "now() time",
			Types:     []any{new(func() time.Time)},
			Fn: func(args ...any) (any, error) {
				if err := arity("now", args, 0, 0); err != nil {
					return nil, err
				}
				return clock.Now(), nil
			},
			Examples: []Example{
				{`now()`, `"2024-03-01T09:30:00Z"`},
				{`format_time(now(), "date", "Asia/Tokyo")`, `"2024-03-01"`},
			},
		},
		{
			Name:     "parse_time",
			Category: "time",
			Summary: "Reads a time written as text in layout: \"rfc3339\", \"date\" (2006-01-02), \"datetime\" " +
				"(2006-01-02 15:04:05) or a Go layout. Text without an offset is read in time zone tz (an IANA " +
				"name such as Europe/Berlin), or in UTC when tz is omitted.",
			Signature: "parse_time(s string, layout string[, tz string]) time",
			Types:     []any{new(func(string, string) time.Time), new(func(string, string, string) time.Time)},
			Fn:        parseTime,
			Literals:  []LiteralCheck{layoutLiteral(1), zoneLiteral(2)},
			Examples: []Example{
				{`parse_time("2024-03-01T10:00:00+01:00", "rfc3339")`, `"2024-03-01T10:00:00+01:00"`},
				{`parse_time("2024-03-01 10:00:00", "datetime", "Europe/Berlin")`, `"2024-03-01T10:00:00+01:00"`},
				{`parse_time("01.03.2024", "02.01.2006")`, `"2024-03-01T00:00:00Z"`},
			},
		},
		{
			Name:     "format_time",
			Category: "time",
			Summary: "Writes t in layout (\"rfc3339\", \"date\", \"datetime\" or a Go layout), in time zone tz " +
				"when given, else in t's own offset. t may be a time or RFC 3339 text.",
			Signature: "format_time(t time|string, layout string[, tz string]) string",
			Types: []any{
				new(func(time.Time, string) string), new(func(time.Time, string, string) string),
				new(func(string, string) string), new(func(string, string, string) string),
			},
			Fn:       formatTime,
			Literals: []LiteralCheck{layoutLiteral(1), zoneLiteral(2)},
			Examples: []Example{
				{`format_time(parse_time("2024-03-01T23:30:00Z", "rfc3339"), "date", "Europe/Berlin")`, `"2024-03-02"`},
				{`format_time("2024-03-01T10:00:00Z", "02/01/2006 15:04")`, `"01/03/2024 10:00"`},
				{`format_time(now(), "datetime")`, `"2024-03-01 09:30:00"`},
			},
		},
		{
			Name:     "add_days",
			Category: "time",
			Summary: "Adds n calendar days to t (n may be negative), keeping the wall-clock time in t's zone " +
				"across daylight-saving changes. t may be a time or RFC 3339 text.",
			Signature: "add_days(t time|string, n int) time",
			Types:     []any{new(func(time.Time, int) time.Time), new(func(string, int) time.Time)},
			Fn:        addDays,
			Examples: []Example{
				{`add_days(now(), 30)`, `"2024-03-31T09:30:00Z"`},
				{`add_days("2024-03-30T12:00:00+01:00", -1)`, `"2024-03-29T12:00:00+01:00"`},
				{`add_days(to_timezone("2024-03-30T12:00:00+01:00", "Europe/Berlin"), 1)`, `"2024-03-31T12:00:00+02:00"`},
			},
		},
		{
			Name:      "to_timezone",
			Category:  "time",
			Summary:   "Returns the same instant as seen in time zone tz (an IANA name such as America/New_York or UTC).",
			Signature: "to_timezone(t time|string, tz string) time",
			Types:     []any{new(func(time.Time, string) time.Time), new(func(string, string) time.Time)},
			Fn:        toTimezone,
			Literals:  []LiteralCheck{zoneLiteral(1)},
			Examples: []Example{
				{`to_timezone(now(), "America/New_York")`, `"2024-03-01T04:30:00-05:00"`},
				{`to_timezone("2024-07-01T12:00:00+02:00", "UTC")`, `"2024-07-01T10:00:00Z"`},
			},
		},
	}
}

// zones caches loaded locations: LoadLocation reads and parses the zone
// database on every call, and a pipeline converts the same few zones for
// every record. Only valid names are stored, so the cache stays as small as
// the zone database.
var zones sync.Map // string -> *time.Location

// location loads an IANA time zone. "Local" and "" are refused: they mean
// the machine's zone, which would make a pipeline's output depend on where
// it runs.
func location(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q depends on the machine; name an IANA zone such as Europe/Berlin or UTC", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q; use an IANA name such as Europe/Berlin or UTC", name)
	}
	zones.Store(name, l)
	return l, nil
}

// layoutLiteral checks a layout argument written as a literal, as the
// function would when it runs.
func layoutLiteral(arg int) LiteralCheck {
	return LiteralCheck{Arg: arg, Check: func(s string) error { _, err := layout(s); return err }}
}

// zoneLiteral checks a time zone argument written as a literal.
func zoneLiteral(arg int) LiteralCheck {
	return LiteralCheck{Arg: arg, Check: func(s string) error { _, err := location(s); return err }}
}

// layout resolves a layout name or checks a Go layout. A layout with no
// element of Go's reference date would format every time as the same
// constant text; it is almost always a layout from another language, such
// as YYYY-MM-DD, so it is refused with a hint.
func layout(s string) (string, error) {
	if l, ok := namedLayouts[s]; ok {
		return l, nil
	}
	ref := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	other := time.Date(2011, 11, 11, 11, 11, 11, 0, time.UTC)
	if s == "" || ref.Format(s) == other.Format(s) || strings.Contains(s, "YYYY") || strings.Contains(s, "yyyy") ||
		strings.Contains(s, "%Y") {
		return "", fmt.Errorf("layout %q is not a Go time layout; use rfc3339, date, datetime or a layout "+
			"written with Go's reference time such as 2006-01-02 15:04", s)
	}
	return s, nil
}

// argTime returns argument i as a time, reading RFC 3339 text, which is how
// times arrive in JSON when the schema does not type them.
func argTime(name string, args []any, i int) (time.Time, error) {
	switch t := args[i].(type) {
	case time.Time:
		return t, nil
	case string:
		p, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: t %q is not an RFC 3339 time; read it with parse_time", name, t)
		}
		return p, nil
	}
	return time.Time{}, fmt.Errorf("%s: t must be a time, not %s", name, kindOf(args[i]))
}

func parseTime(args ...any) (any, error) {
	if err := arity("parse_time", args, 2, 3); err != nil {
		return nil, err
	}
	s, err := argString("parse_time", args, 0, "s")
	if err != nil {
		return nil, err
	}
	l, err := argString("parse_time", args, 1, "layout")
	if err != nil {
		return nil, err
	}
	if l, err = layout(l); err != nil {
		return nil, fmt.Errorf("parse_time: %w", err)
	}
	loc := time.UTC
	if len(args) == 3 {
		tz, err := argString("parse_time", args, 2, "tz")
		if err != nil {
			return nil, err
		}
		if loc, err = location(tz); err != nil {
			return nil, fmt.Errorf("parse_time: %w", err)
		}
	}
	t, err := time.ParseInLocation(l, s, loc)
	if err != nil {
		return nil, fmt.Errorf("parse_time: %q does not match layout %q", s, l)
	}
	return t, nil
}

func formatTime(args ...any) (any, error) {
	if err := arity("format_time", args, 2, 3); err != nil {
		return nil, err
	}
	t, err := argTime("format_time", args, 0)
	if err != nil {
		return nil, err
	}
	l, err := argString("format_time", args, 1, "layout")
	if err != nil {
		return nil, err
	}
	if l, err = layout(l); err != nil {
		return nil, fmt.Errorf("format_time: %w", err)
	}
	if len(args) == 3 {
		tz, err := argString("format_time", args, 2, "tz")
		if err != nil {
			return nil, err
		}
		loc, err := location(tz)
		if err != nil {
			return nil, fmt.Errorf("format_time: %w", err)
		}
		t = t.In(loc)
	}
	return t.Format(l), nil
}

func addDays(args ...any) (any, error) {
	if err := arity("add_days", args, 2, 2); err != nil {
		return nil, err
	}
	t, err := argTime("add_days", args, 0)
	if err != nil {
		return nil, err
	}
	n, err := argInt("add_days", args, 1, "n")
	if err != nil {
		return nil, err
	}
	if n < -maxAddDays || n > maxAddDays {
		return nil, fmt.Errorf("add_days: n %d is outside ±%d", n, maxAddDays)
	}
	r := t.AddDate(0, 0, n)
	if y := r.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("add_days: result falls in year %d, outside 1 to 9999", y)
	}
	return r, nil
}

func toTimezone(args ...any) (any, error) {
	if err := arity("to_timezone", args, 2, 2); err != nil {
		return nil, err
	}
	t, err := argTime("to_timezone", args, 0)
	if err != nil {
		return nil, err
	}
	tz, err := argString("to_timezone", args, 1, "tz")
	if err != nil {
		return nil, err
	}
	loc, err := location(tz)
	if err != nil {
		return nil, fmt.Errorf("to_timezone: %w", err)
	}
	return t.In(loc), nil
}
