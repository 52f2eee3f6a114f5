package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// The jq example in `dry-run --help` reads keys the JSON report has: a
// consultant pasting it gets the records, not null.
func TestDryRunHelpJQExampleReadsRealKeys(t *testing.T) {
	var help, stderr bytes.Buffer
	run([]string{"dry-run", "--help"}, strings.NewReader(""), &help, &stderr)
	m := regexp.MustCompile(`jq '([^']+)'`).FindStringSubmatch(help.String())
	if m == nil {
		t.Fatal("dry-run --help has no jq example")
	}
	var out bytes.Buffer
	stderr.Reset()
	if code := run([]string{"dry-run", "../../examples/reference-orders/pipeline.yaml", "--input", "../../examples/reference-orders/testdata/orders.ndjson", "--format", "json"},
		strings.NewReader(""), &out, &stderr); code != exitOK {
		t.Fatalf("dry-run exit %d: %s", code, stderr.String())
	}
	var doc any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got := jqPath(doc, m[1])
	if len(got) == 0 {
		t.Fatalf("jq %s on the report gives nothing", m[1])
	}
	for _, v := range got {
		if _, ok := v.(map[string]any); !ok {
			t.Errorf("jq %s gives %v, want records", m[1], v)
		}
	}
}

// jqPath evaluates the jq paths the help uses: .key, .key[], chained.
func jqPath(v any, path string) []any {
	cur := []any{v}
	for _, step := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		iterate := strings.HasSuffix(step, "[]")
		key := strings.TrimSuffix(step, "[]")
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			x, ok := m[key]
			if !ok {
				continue
			}
			if !iterate {
				next = append(next, x)
				continue
			}
			if l, ok := x.([]any); ok {
				next = append(next, l...)
			}
		}
		cur = next
	}
	return cur
}
