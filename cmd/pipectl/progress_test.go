package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine"
)

// Once the input is read, a run still delivering (a WMS being retried)
// shows what it is waiting for, not 100% and ETA 0.
func TestProgressWhileDelivering(t *testing.T) {
	var out strings.Builder
	b := newProgressBar(&out)
	b.update(engine.Progress{Records: 50, Bytes: 900, TotalBytes: 900, Elapsed: 20 * time.Second, InFlight: 4, Retries: 22})
	line := out.String()
	if strings.Contains(line, "100%") || strings.Contains(line, "ETA") {
		t.Errorf("progress while delivering = %q, shows it done", line)
	}
	if !strings.Contains(line, "delivering 4") || !strings.Contains(line, "22 retries") {
		t.Errorf("progress while delivering = %q, want the deliveries in flight and the retries", line)
	}
	out.Reset()
	b.update(engine.Progress{Records: 25, Bytes: 450, TotalBytes: 900, Elapsed: 10 * time.Second})
	if line := out.String(); !strings.Contains(line, "(50%), ETA 10s") {
		t.Errorf("progress half way = %q", line)
	}
}
