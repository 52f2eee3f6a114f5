package serve

import (
	"strings"
	"testing"
)

func TestJSONDiffNamesWhatDiffers(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`, ""},
		{`{"total":1.50}`, `{"total":1.5}`, ""},
		{`{"id":820982911946154508}`, `{"id":820982911946154509}`, "id"},
		{`{"lines":[{"sku":"A","qty":1}]}`, `{"lines":[{"sku":"B","qty":1},{"sku":"C"}]}`, "lines[0].sku,lines[1]"},
		{`{"a":1}`, `{"b":1}`, "a,b"},
		{`{"a":{"x":1}}`, `{"a":"x"}`, "a"},
		{`[1]`, `{"a":1}`, "(the whole record)"},
		{`not json`, `{}`, "(the whole record)"},
	} {
		if got := strings.Join(jsonDiff([]byte(c.a), []byte(c.b), 8), ","); got != c.want {
			t.Errorf("jsonDiff(%s, %s) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	if got := jsonDiff([]byte(`{"a":1,"b":1,"c":1}`), []byte(`{"a":2,"b":2,"c":2}`), 2); len(got) != 2 {
		t.Errorf("limit 2 gave %v", got)
	}
}
