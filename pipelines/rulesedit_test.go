package pipelines

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const editSrc = `# Owned by ops.
rules:
  fulfillment:
    fulfillment:

      split:
        mode: ship_partial   # ship what is there
        max_shipments: 2
      allocation:
        location_priority: [wh-east, wh-west] # east first
      backorder:
        policy: "allow_notify"
`

// valueAt decodes out and returns the value at path as YAML text.
func valueAt(t *testing.T, out []byte, path ...string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("result does not parse: %v\n%s", err, out)
	}
	n := doc.Content[0]
	for _, k := range path {
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("no %s in\n%s", strings.Join(path, "."), out)
		}
		n = next
	}
	return nodeText(n)
}

func TestSetYAMLValueSplicesScalars(t *testing.T) {
	for _, tc := range []struct {
		path       []string
		value, old string
		line       string // the edited line as it must read
	}{
		{[]string{"rules", "fulfillment", "fulfillment", "split", "max_shipments"}, "1", "2", "        max_shipments: 1\n"},
		{[]string{"rules", "fulfillment", "fulfillment", "split", "mode"}, "ship_complete", "ship_partial", "        mode: ship_complete   # ship what is there\n"},
		{[]string{"rules", "fulfillment", "fulfillment", "backorder", "policy"}, "deny", "allow_notify", "        policy: deny\n"},
		{[]string{"rules", "fulfillment", "fulfillment", "backorder", "policy"}, `"allow"`, "allow_notify", "        policy: \"allow\"\n"},
	} {
		out, old, err := SetYAMLValue([]byte(editSrc), tc.path, tc.value)
		if err != nil {
			t.Fatal(err)
		}
		if old != tc.old {
			t.Errorf("%v: old = %q, want %q", tc.path, old, tc.old)
		}
		want := strings.Replace(editSrc, lineOf(editSrc, tc.path[len(tc.path)-1]+":"), tc.line, 1)
		if string(out) != want {
			t.Errorf("%v = %s: only the value may change; got\n%s\nwant\n%s", tc.path, tc.value, out, want)
		}
	}
}

func lineOf(src, prefix string) string {
	for _, l := range strings.SplitAfter(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}

func TestSetYAMLValueCreatesNestedKeys(t *testing.T) {
	path := []string{"rules", "fulfillment", "fulfillment", "inventory", "safety_stock"}
	out, old, err := SetYAMLValue([]byte(editSrc), path, "3")
	if err != nil {
		t.Fatal(err)
	}
	if old != "" {
		t.Errorf("old = %q for a key that was absent", old)
	}
	if got := valueAt(t, out, path...); got != "3" {
		t.Errorf("safety_stock = %q, want 3\n%s", got, out)
	}
	// Everything else survives, comments included.
	for _, keep := range []string{"# Owned by ops.", "# ship what is there", "# east first", "max_shipments: 2", "[wh-east, wh-west]"} {
		if !strings.Contains(string(out), keep) {
			t.Errorf("lost %q:\n%s", keep, out)
		}
	}
	// A key in an empty file.
	out, _, err = SetYAMLValue(nil, []string{"rules", "f", "fulfillment", "split", "mode"}, "ship_complete")
	if err != nil {
		t.Fatal(err)
	}
	if got := valueAt(t, out, "rules", "f", "fulfillment", "split", "mode"); got != "ship_complete" {
		t.Errorf("mode = %q\n%s", got, out)
	}
}

func TestSetYAMLValueLists(t *testing.T) {
	path := []string{"rules", "fulfillment", "fulfillment", "allocation", "location_priority"}
	out, old, err := SetYAMLValue([]byte(editSrc), path, "[wh-west, wh-east, wh-eu]")
	if err != nil {
		t.Fatal(err)
	}
	if old != "[wh-east, wh-west]" {
		t.Errorf("old = %q", old)
	}
	if !strings.Contains(string(out), "location_priority: [wh-west, wh-east, wh-eu] # east first\n") {
		t.Errorf("list not replaced in flow style with its comment:\n%s", out)
	}
	if !strings.Contains(string(out), "# ship what is there") || !strings.Contains(string(out), "# Owned by ops.") {
		t.Errorf("comments lost:\n%s", out)
	}
	// A list replaced by a scalar, and a scalar by a list.
	out, _, err = SetYAMLValue(out, path, "wh-eu")
	if err != nil {
		t.Fatal(err)
	}
	if got := valueAt(t, out, path...); got != "wh-eu" {
		t.Errorf("got %q", got)
	}
	mode := []string{"rules", "fulfillment", "fulfillment", "split", "mode"}
	out, _, err = SetYAMLValue(out, mode, "[a, b]")
	if err != nil {
		t.Fatal(err)
	}
	if got := valueAt(t, out, mode...); got != "[a, b]" {
		t.Errorf("got %q", got)
	}
}

func TestSetYAMLValueRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		src   string
		path  []string
		value string
	}{
		"through a scalar": {editSrc, []string{"rules", "fulfillment", "fulfillment", "split", "mode", "x"}, "1"},
		"bad value":        {editSrc, []string{"rules", "x"}, "[a, "},
		"alias":            {"a: &x {b: 1}\nc: *x\n", []string{"c", "b"}, "2"},
		"not YAML":         {"a: [\n", []string{"a"}, "1"},
		"empty path":       {editSrc, nil, "1"},
	} {
		if _, _, err := SetYAMLValue([]byte(tc.src), tc.path, tc.value); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
