package connectors

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"-5", 0},
		{"99999999999", 24 * time.Hour},
		{"Sun, 01 Mar 2026 09:30:30 GMT", 30 * time.Second},
		{"Sun, 01 Mar 2026 09:00:00 GMT", 0}, // in the past
		{"soon", 0},
	} {
		if got := parseRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	s := &httpSink{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt := 1; attempt <= 8; attempt++ {
		ceil := min(100*time.Millisecond<<(attempt-1), time.Second)
		var most time.Duration
		for range 200 {
			d := s.delay(attempt, 0)
			if d < ceil/2 || d > ceil {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, ceil/2, ceil)
			}
			most = max(most, d)
		}
		if most < ceil/2 {
			t.Errorf("attempt %d: 200 delays all below %s: no jitter over the full range", attempt, ceil/2)
		}
	}
	if d := s.delay(1, 700*time.Millisecond); d < 700*time.Millisecond || d > time.Second {
		t.Errorf("Retry-After 700ms gave %s", d)
	}
	if d := s.delay(1, time.Hour); d != time.Second {
		t.Errorf("Retry-After 1h gave %s, want the 1s cap", d)
	}
	if d := (&httpSink{}).delay(3, 0); d != 0 {
		t.Errorf("zero backoff gave %s", d)
	}
}

// With the default settings a record is retried for at least two minutes
// in all, whatever the jitter draws, so a destination restarting for a
// minute or two loses nothing.
func TestDefaultRetriesRideOutARestart(t *testing.T) {
	def := func(name string) any { return httpSinkSpec.Config.Sub(name).Default }
	s := &httpSink{backoff: def("backoff").(time.Duration), maxBackoff: def("max_backoff").(time.Duration), maxAttempts: def("max_attempts").(int)}
	for range 50 {
		var total time.Duration
		for attempt := 1; attempt < s.maxAttempts; attempt++ {
			total += s.delay(attempt, 0)
		}
		if total < 2*time.Minute {
			t.Fatalf("default retries waited %s in all, want at least 2m", total)
		}
	}
}
