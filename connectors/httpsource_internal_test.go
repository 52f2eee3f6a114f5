package connectors

import (
	"testing"
	"time"
)

func TestCallLimitPause(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1/40", 0},
		{"32/40", 0}, // 80% of the bucket: full speed still
		{"33/40", 500 * time.Millisecond},
		{"39/40", 3500 * time.Millisecond},
		{"40/40", 4 * time.Second},
		{"64/80", 0}, // Shopify Plus bucket
		{"80/80", 8 * time.Second},
		{" 39 / 40 ", 3500 * time.Millisecond},
		{"39", 0},
		{"a/b", 0},
		{"5/0", 0},
	} {
		if got := callLimitPause(tc.header); got != tc.want {
			t.Errorf("call limit %q: pause %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{"2.0", 2 * time.Second}, // what Shopify sends
		{"0.5", 500 * time.Millisecond},
		{"-1.5", 0},
		{"soon", 0},
	} {
		if got := retryAfterSeconds(tc.header); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestCheckpointAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		// Instants, whatever the offset: 08:14:36Z is after 08:00:00Z
		// although its text sorts first.
		{"2016-05-17T04:14:36-04:00", "2016-05-17T09:00:00+01:00", true},
		{"2016-05-17T09:00:00+01:00", "2016-05-17T04:14:36-04:00", false},
		{"2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00Z", true},
		{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", false},
		// WooCommerce's zoneless GMT times.
		{"2019-11-14T13:06:42", "2019-10-09T16:18:23", true},
		{"2019-11-14T13:06:42", "2019-11-14T13:06:42Z", false},
		// Integers as numbers, not text.
		{"10", "9", true},
		{"9", "10", false},
		// Anything else as text.
		{"b", "a", true},
		{"2024-01-02", "2024-01-01", true},
	} {
		if got := checkpointAfter(tc.a, tc.b); got != tc.want {
			t.Errorf("checkpointAfter(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	const base = "https://shop.myshopify.com/admin/api/2024-10/orders.json"
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"none", nil, ""},
		{"next only", []string{`<` + base + `?limit=2&page_info=abc>; rel="next"`}, base + "?limit=2&page_info=abc"},
		{"previous and next", []string{`<` + base + `?page_info=a>; rel="previous", <` + base + `?page_info=b>; rel="next"`}, base + "?page_info=b"},
		{"previous only", []string{`<` + base + `?page_info=a>; rel="previous"`}, ""},
		{"unquoted, case", []string{`<` + base + `?page_info=c>; REL=Next`}, base + "?page_info=c"},
		{"rel list", []string{`<` + base + `?page_info=d>; rel="last next"`}, base + "?page_info=d"},
		{"comma in the URL", []string{`<` + base + `?fields=id,name&page_info=e>; rel="next"`}, base + "?fields=id,name&page_info=e"},
		{"several headers", []string{`<` + base + `?page_info=a>; rel="previous"`, `<` + base + `?page_info=f>; rel="next"`}, base + "?page_info=f"},
	} {
		if got := nextLink(tc.values); got != tc.want {
			t.Errorf("%s: next %q, want %q", tc.name, got, tc.want)
		}
	}
}
