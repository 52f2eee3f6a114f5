package exprs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

func TestTimeFunctions(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src  string
		want string // JSON
	}{
		// Text without an offset is read in the zone given, with its
		// summer time.
		{`parse_time("2024-07-01 10:00:00", "datetime", "Europe/Berlin")`, `"2024-07-01T10:00:00+02:00"`},
		{`parse_time("2024-07-01", "date")`, `"2024-07-01T00:00:00Z"`},
		// An offset in the text wins over the zone.
		{`parse_time("2024-07-01T10:00:00-04:00", "rfc3339", "Europe/Berlin")`, `"2024-07-01T10:00:00-04:00"`},
		{`parse_time("2024-07-01T10:00:00.123Z", "rfc3339")`, `"2024-07-01T10:00:00.123Z"`},
		{`format_time("2024-12-31T23:30:00-08:00", "date", "UTC")`, `"2025-01-01"`},
		{`format_time("2024-12-31T23:30:00-08:00", "date")`, `"2024-12-31"`},
		{`format_time(now(), "rfc3339", "Australia/Sydney")`, `"2024-03-01T20:30:00+11:00"`},
		{`format_time(now(), "Mon 2 Jan 2006")`, `"Fri 1 Mar 2024"`},
		// Across the spring-forward night the wall-clock time stays.
		{`add_days(parse_time("2024-03-30 09:00:00", "datetime", "Europe/Berlin"), 1)`, `"2024-03-31T09:00:00+02:00"`},
		{`add_days("2024-02-28T00:00:00Z", 1)`, `"2024-02-29T00:00:00Z"`},
		{`add_days(now(), -366)`, `"2023-03-01T09:30:00Z"`},
		{`to_timezone("2024-03-31T01:30:00Z", "Europe/Berlin")`, `"2024-03-31T03:30:00+02:00"`},
		{`to_timezone(now(), "UTC") == now()`, `true`},
		{`now() + duration("36h") > now()`, `true`},
	}
	for _, tt := range tests {
		out, err := run(t, lib, tt.src, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if got, _ := json.Marshal(out); string(got) != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestTimeErrors(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src, msg string
	}{
		{`to_timezone(now(), "Europe/Berlinn")`, `to_timezone: unknown time zone "Europe/Berlinn"`},
		{`to_timezone(now(), "CEST")`, `unknown time zone "CEST"`},
		{`to_timezone(now(), "../../etc/passwd")`, `unknown time zone`},
		{`to_timezone(now(), "Local")`, `time zone "Local" depends on the machine`},
		{`to_timezone(now(), "")`, `time zone "" depends on the machine`},
		{`format_time(now(), "date", "Mars/Olympus_Mons")`, `format_time: unknown time zone`},
		{`parse_time("2024-01-01", "date", "Nowhere")`, `parse_time: unknown time zone "Nowhere"`},
		{`format_time(now(), "YYYY-MM-DD")`, `format_time: layout "YYYY-MM-DD" is not a Go time layout`},
		{`format_time(now(), "%Y-%m-%d")`, `layout "%Y-%m-%d" is not a Go time layout`},
		{`format_time(now(), "iso")`, `layout "iso" is not a Go time layout`},
		{`parse_time("2024-01-01", "")`, `parse_time: layout "" is not a Go time layout`},
		{`parse_time("01/02/2024", "date")`, `parse_time: "01/02/2024" does not match layout "2006-01-02"`},
		{`parse_time("2024-02-30", "date")`, `does not match layout`},
		{`parse_time("2024-01-01 10:00", "rfc3339")`, `does not match layout`},
		{`format_time("yesterday", "date")`, `format_time: t "yesterday" is not an RFC 3339 time; read it with parse_time`},
		{`add_days("2024-01-01", 1)`, `add_days: t "2024-01-01" is not an RFC 3339 time`},
		{`add_days(now(), 100000000)`, `add_days: n 100000000 is outside`},
		{`add_days(now(), 3000000)`, `add_days: result falls in year 10237`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			// A layout or zone written as a literal is checked when the
			// expression compiles, with the message the function gives.
			if _, probs := lib.Compile(tt.src, nil, nil); len(probs) > 0 {
				_, msg, _ := strings.Cut(tt.msg, ": ")
				if !strings.HasPrefix(tt.msg, tt.src[:strings.Index(tt.src, "(")]) {
					msg = tt.msg
				}
				if probs[0].Code != exprs.CodeBadArgument || !strings.Contains(probs[0].Summary, msg) {
					t.Errorf("compile: %+v, want %s containing %q", probs, exprs.CodeBadArgument, msg)
				}
				return
			}
			out, err := run(t, lib, tt.src, nil)
			if err == nil {
				t.Fatalf("= %v, want an error containing %q", out, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

// TestTimeZoneCacheIsConcurrent runs conversions from many goroutines, one
// VM each as workers have, for the race detector to check the zone cache.
func TestTimeZoneCacheIsConcurrent(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	var progs []*exprs.Program
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"} {
		p, probs := lib.Compile(`format_time(now(), "15:04", "`+zone+`")`, nil, nil)
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		progs = append(progs, p)
	}
	want := []string{"10:30", "04:30", "18:30", "09:30"}
	errs := make(chan error)
	for i := range 16 {
		go func() {
			out, err := progs[i%len(progs)].Run(&vm.VM{}, map[string]any{})
			if err == nil && out != want[i%len(want)] {
				err = fmt.Errorf("goroutine %d: got %v, want %s", i, out, want[i%len(want)])
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
