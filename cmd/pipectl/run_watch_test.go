package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// syncBuffer is a bytes.Buffer safe to write from the run and read from
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `pipectl run --watch-rules` reloads a changed rules file while the run
// waits for input: invalid rules are reported and rejected, valid ones put
// in force and reported with their version, and the orders read after
// that are allocated by them.
func TestRunWatchRules(t *testing.T) {
	dir := t.TempDir()
	stateURL := "sqlite://" + filepath.Join(dir, "state")
	st, err := state.Open(context.Background(), stateURL, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"wh-a", "wh-b"} {
		if _, err := st.SetLevel(context.Background(), component.LevelUpdate{SKU: "A", Location: loc, Quantity: decimal.NewFromInt(10)}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	rules := filepath.Join(dir, "rules.yaml")
	setRules := func(text string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(rules, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// A distinct modification time, whatever the file system's
		// resolution.
		at := time.Now().Add(age)
		if err := os.Chtimes(rules, at, at); err != nil {
			t.Fatal(err)
		}
	}
	setRules("rules:\n  f:\n    fulfillment: {allocation: {location_priority: [wh-a, wh-b]}}\n", -time.Hour)
	pipeline := filepath.Join(dir, "orders.yaml")
	if err := os.WriteFile(pipeline, []byte(`pipeline: orders
rules: rules.yaml
sources:
  orders:
    stdin: {}
steps:
  alloc:
    from: orders
    allocate: {rules: f, order_id: string(id), lines: lines}
sinks:
  out:
    from: alloc.allocations
    stdout: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	in, feed := io.Pipe()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"run", "--quiet", "--watch-rules", "--state", stateURL, pipeline}, in, &stdout, &stderr)
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on stderr after 15s:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("pipectl run: watching " + rules + ", rules version ")
	setRules("rules:\n  f:\n    fulfillment: {allocation: {strategy: nearest}}\n", -30*time.Minute)
	waitFor("rules rejected; the previous rules stay in force")
	if !strings.Contains(stderr.String(), `"nearest"`) {
		t.Errorf("the rejection shows no diagnostic naming the bad value:\n%s", stderr.String())
	}
	setRules("rules:\n  f:\n    fulfillment: {allocation: {location_priority: [wh-b, wh-a]}}\n", 0)
	waitFor("rules reloaded, version ")
	io.WriteString(feed, `{"id":1,"lines":[{"sku":"A","quantity":1}]}`+"\n")
	feed.Close()
	if code := <-exit; code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"location_id":"wh-b"`) {
		t.Errorf("the order was not allocated by the reloaded rules (wh-b first):\n%s", stdout.String())
	}
}
