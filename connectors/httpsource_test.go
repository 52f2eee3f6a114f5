package connectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

// The Shopify pages served here are real API responses (testdata/shopify,
// MIT, see the LICENSE there). The WooCommerce ones are GPL-2.0 and are
// read in place from ../shared/fixtures, never copied.
const wooFixtures = "../../shared/fixtures/woocommerce-ios"

func shopifyFixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "shopify", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wooFixture reads a WooCommerce response in place, or skips the test when
// the shared fixtures are absent (fails with PIPECTL_REQUIRE_SERVICES=1).
func wooFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wooFixtures, name))
	if err != nil {
		abs, _ := filepath.Abs(wooFixtures)
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("WooCommerce fixtures not found at %s (PIPECTL_REQUIRE_SERVICES=1): %v", abs, err)
		}
		t.Skipf("WooCommerce fixtures not found at %s: skipping (lay shared/ beside the checkout)", abs)
	}
	return b
}

// memCheckpoints keeps checkpoints in memory, as the state store keeps
// them across runs.
type memCheckpoints struct {
	mu    sync.Mutex
	m     map[string]string
	saves int
}

func (c *memCheckpoints) Checkpoint(_ context.Context, pipeline, source string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[pipeline+"/"+source]
	return v, ok, nil
}

func (c *memCheckpoints) SaveCheckpoint(_ context.Context, pipeline, source, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[pipeline+"/"+source] = value
	c.saves++
	return nil
}

func (c *memCheckpoints) get(pipeline, source string) string {
	v, _, _ := c.Checkpoint(context.Background(), pipeline, source)
	return v
}

// api is an httptest server that records every request it answers.
type api struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newAPI(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r.Clone(context.Background()))
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs)
}

// httpSourcePlan compiles a pipeline whose source `orders` is an http
// source with the given settings (a YAML flow mapping).
func httpSourcePlan(t *testing.T, settings string, env map[string]string) *pipelines.Plan {
	t.Helper()
	return compile(t, "pipeline: reconcile\nsources:\n  orders:\n    http: "+settings+"\nsinks:\n  out:\n    from: orders\n    stdout: {}\n", env)
}

// buildHTTPSource builds the plan's source as the engine does, with store
// as the run's checkpoints (nil for none).
func buildHTTPSource(t *testing.T, p *pipelines.Plan, store component.Checkpoints) component.Source {
	t.Helper()
	n := node(t, p, "orders")
	rt := &component.Runtime{Clock: component.SystemClock{}}
	if store != nil {
		rt.Checkpoints = store
	}
	s, err := n.Spec.NewSource(component.BuildContext{Name: "orders", Config: n.Config, Input: n.Input, Runtime: rt, Pipeline: p.Name})
	if err != nil {
		t.Fatalf("build source: %v", err)
	}
	return s
}

// read runs a source to its end and returns the records it emitted.
func read(t *testing.T, s component.Source) ([]*record.Record, []*record.Record, error) {
	t.Helper()
	var recs, errs []*record.Record
	err := s.Read(context.Background(),
		func(r *record.Record) error { recs = append(recs, r); return nil },
		func(r *record.Record) error { errs = append(errs, r); return nil })
	return recs, errs, err
}

func ack(t *testing.T, s component.Source) {
	t.Helper()
	a, ok := s.(component.Acker)
	if !ok {
		t.Fatal("the http source is not a component.Acker")
	}
	if err := a.Ack(context.Background()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func ids(recs []*record.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, gjson.GetBytes(r.Raw, "id").Int())
	}
	return out
}

func compact(t *testing.T, raw string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// shopifyPages serves three real pages of orders linked by Link headers, as
// Shopify's cursor pagination does: the first page is asked for with the
// source's parameters, the others by their page_info cursor alone.
func shopifyPages(t *testing.T) (*api, [][]byte) {
	t.Helper()
	single := gjson.GetBytes(shopifyFixture(t, "shopify_python_api/order.json"), "order").Raw
	pages := [][]byte{
		shopifyFixture(t, "go-shopify/orders.json"),
		shopifyFixture(t, "shopify_python_api/orders.json"),
		[]byte(`{"orders":[` + single + `]}`),
	}
	var a *api
	a = newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		link := func(info, rel string) string {
			return fmt.Sprintf(`<%s%s?limit=2&page_info=%s>; rel="%s"`, a.URL, r.URL.Path, info, rel)
		}
		switch r.URL.Query().Get("page_info") {
		case "":
			w.Header().Set("Link", link("p2", "next"))
			w.Write(pages[0])
		case "p2":
			w.Header().Set("Link", link("p1", "previous")+", "+link("p3", "next"))
			w.Write(pages[1])
		case "p3":
			w.Header().Set("Link", link("p2", "previous"))
			w.Write(pages[2])
		default:
			t.Errorf("unexpected request %s", r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	})
	return a, pages
}

const shopifySettings = `{url: "${SHOP}/admin/api/2024-10/orders.json?status=any", auth: {type: api_key, header: X-Shopify-Access-Token, token: "${TOKEN}"}, records: orders, per_page: 2`

func TestHTTPSourceFollowsShopifyLinkPages(t *testing.T) {
	a, pages := shopifyPages(t)
	p := httpSourcePlan(t, shopifySettings+"}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	recs, errs, err := read(t, buildHTTPSource(t, p, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("error records: %d", len(errs))
	}
	if got, want := ids(recs), []int64{123456, 450789469, 450789469}; !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	for i, r := range recs {
		want := compact(t, gjson.GetBytes(pages[i], "orders.0").Raw)
		if string(r.Raw) != want {
			t.Errorf("record %d is not the page's order, compacted:\n got %.200s\nwant %.200s", i, r.Raw, want)
		}
		if r.Origin == nil || r.Origin.Source != "orders" || r.Origin.Seq != int64(i+1) || string(r.Origin.Raw) != want {
			t.Errorf("record %d origin %+v", i, r.Origin)
		}
	}
	reqs := a.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if q := reqs[0].URL.Query(); q.Get("status") != "any" || q.Get("limit") != "2" || q.Has("page_info") {
		t.Errorf("first request %s: want url's status=any and limit=2", reqs[0].URL)
	}
	for i, r := range reqs[1:] {
		// Next links are followed as given: Shopify refuses other
		// parameters beside page_info.
		if want := fmt.Sprintf("limit=2&page_info=p%d", i+2); r.URL.RawQuery != want {
			t.Errorf("request %d asked for %s, want the next link's %s", i+2, r.URL.RawQuery, want)
		}
	}
	for i, r := range reqs {
		if got := r.Header.Get("X-Shopify-Access-Token"); got != "shpat_0123456789" {
			t.Errorf("request %d: X-Shopify-Access-Token %q", i+1, got)
		}
		if r.Method != http.MethodGet {
			t.Errorf("request %d: method %s", i+1, r.Method)
		}
	}
}

// wooPages serves the given bodies as pages 1, 2, … of a WooCommerce
// collection, with X-WP-TotalPages when total > 0.
func wooPages(t *testing.T, total int, bodies ...[]byte) *api {
	t.Helper()
	return newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("page"), &n)
		if n < 1 || n > len(bodies) {
			t.Errorf("unexpected request for page %q", r.URL.Query().Get("page"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if total > 0 {
			w.Header().Set("X-WP-TotalPages", fmt.Sprint(total))
		}
		w.Write(bodies[n-1])
	})
}

const wooSettings = `{url: "${WC}/wp-json/wc/v3/products/1/variations", auth: {type: basic, username: ck_test, password: "${WC_SECRET}"}, records: data, pagination: page, per_page: 8, checkpoint: {field: date_modified_gmt, param: modified_after, initial: "2019-01-01T00:00:00"}}`

func TestHTTPSourcePagesWooCommerceUntilTotalPages(t *testing.T) {
	variations := wooFixture(t, "product-variations-load-all.json")
	refunds := wooFixture(t, "refunds-all.json")
	a := wooPages(t, 2, variations, refunds)
	store := &memCheckpoints{}
	p := httpSourcePlan(t, wooSettings, map[string]string{"WC": a.URL, "WC_SECRET": "cs_secret"})
	src := buildHTTPSource(t, p, store)
	recs, _, err := read(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1275, 1274, 1273, 1272, 1271, 1270, 1269, 1268, 590, 562}
	if got := ids(recs); !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	reqs := a.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2: page 2 of 2 is the last", len(reqs))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		if q.Get("page") != fmt.Sprint(i+1) || q.Get("per_page") != "8" || q.Get("modified_after") != "2019-01-01T00:00:00" {
			t.Errorf("request %d: %s", i+1, r.URL.RawQuery)
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != "ck_test" || pass != "cs_secret" {
			t.Errorf("request %d: basic auth %q %q %v", i+1, user, pass, ok)
		}
	}
	ack(t, src)
	// The variations were modified last; the refunds have no
	// date_modified_gmt and do not count.
	if got := store.get("reconcile", "orders"); got != "2019-11-14T13:06:42" {
		t.Errorf("checkpoint %q after Ack", got)
	}
}

func TestHTTPSourceStopsAtAnEmptyPage(t *testing.T) {
	variations := wooFixture(t, "product-variations-load-all.json")
	a := wooPages(t, 0, variations, []byte(`{"data":[]}`))
	p := httpSourcePlan(t, wooSettings, map[string]string{"WC": a.URL, "WC_SECRET": "cs_secret"})
	recs, _, err := read(t, buildHTTPSource(t, p, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || len(a.requests()) != 2 {
		t.Errorf("%d records in %d requests, want 8 in 2", len(recs), len(a.requests()))
	}
}

func TestHTTPSourceWaitsOutA429(t *testing.T) {
	page := shopifyFixture(t, "go-shopify/orders.json")
	var n int
	var mu sync.Mutex
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`))
			return
		}
		w.Write(page)
	})
	p := httpSourcePlan(t, shopifySettings+"}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	recs, _, err := read(t, buildHTTPSource(t, p, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recs); !slices.Equal(got, []int64{123456}) {
		t.Errorf("ids %v", got)
	}
	reqs := a.requests()
	if len(reqs) != 2 || reqs[0].URL.String() != reqs[1].URL.String() {
		t.Fatalf("want the page asked for twice, got %d requests", len(reqs))
	}
}

func TestHTTPSourceGivesUpNamingTheURLWithCredentialsMasked(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		// A server that echoes the request's credentials.
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "maintenance; token %s", r.Header.Get("X-Shopify-Access-Token"))
	})
	settings := `{url: "${SHOP}/admin/api/2024-10/orders.json?status=any&consumer_key=ck_live_1234", auth: {type: api_key, header: X-Shopify-Access-Token, token: "${TOKEN}"}, records: orders, max_attempts: 3, backoff: 1ms}`
	p := httpSourcePlan(t, settings, map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	_, _, err := read(t, buildHTTPSource(t, p, nil))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"GET " + a.URL + "/admin/api/2024-10/orders.json?", "503 Service Unavailable", "gave up after 3 attempts", "maintenance; token [redacted]", "consumer_key=[redacted]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	for _, secret := range []string{"shpat_0123456789", "ck_live_1234"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q shows %s", msg, secret)
		}
	}
	if n := len(a.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestHTTPSourceDoesNotRetryARefusal(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`))
	})
	p := httpSourcePlan(t, shopifySettings+", backoff: 1ms}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	_, _, err := read(t, buildHTTPSource(t, p, nil))
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "Invalid API key") {
		t.Fatalf("error %v, want the 401 and its body", err)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestHTTPSourceNetworkErrorNamesTheURL(t *testing.T) {
	a := newAPI(t, func(http.ResponseWriter, *http.Request) {})
	addr := a.URL
	a.Close()
	p := httpSourcePlan(t, shopifySettings+", max_attempts: 2, backoff: 1ms}", map[string]string{"SHOP": addr, "TOKEN": "shpat_0123456789"})
	_, _, err := read(t, buildHTTPSource(t, p, nil))
	if err == nil || !strings.Contains(err.Error(), "GET "+addr+"/admin/api/2024-10/orders.json") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Fatalf("error %v, want the URL and the attempts", err)
	}
}

func TestHTTPSourceCheckpointAdvancesOnlyOnAck(t *testing.T) {
	a, _ := shopifyPages(t)
	settings := shopifySettings + `, checkpoint: {field: updated_at, param: updated_at_min, initial: "2008-01-01T00:00:00Z"}}`
	p := httpSourcePlan(t, settings, map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	store := &memCheckpoints{}

	src := buildHTTPSource(t, p, store)
	if _, _, err := read(t, src); err != nil {
		t.Fatal(err)
	}
	reqs := a.requests()
	if got := reqs[0].URL.Query().Get("updated_at_min"); got != "2008-01-01T00:00:00Z" {
		t.Errorf("first run asked from %q, want the initial value", got)
	}
	if store.saves != 0 {
		t.Fatalf("checkpoint saved before Ack: %v", store.m)
	}
	ack(t, src)
	// go-shopify's order was updated in 2016, the others in 2008.
	if got := store.get("reconcile", "orders"); got != "2016-05-17T04:14:36-04:00" {
		t.Fatalf("checkpoint %q after Ack", got)
	}
	ack(t, src)
	if store.saves != 1 {
		t.Errorf("a second Ack saved again (%d saves)", store.saves)
	}

	// The next run starts from it; the page_info links carry nothing else.
	next := buildHTTPSource(t, p, store)
	if _, _, err := read(t, next); err != nil {
		t.Fatal(err)
	}
	reqs = a.requests()[3:]
	if got := reqs[0].URL.Query().Get("updated_at_min"); got != "2016-05-17T04:14:36-04:00" {
		t.Errorf("second run asked from %q, want the saved checkpoint", got)
	}
	if reqs[1].URL.Query().Has("updated_at_min") {
		t.Errorf("a next link was changed: %s", reqs[1].URL)
	}
}

func TestHTTPSourceFailedRunKeepsTheCheckpoint(t *testing.T) {
	page := shopifyFixture(t, "go-shopify/orders.json")
	var a *api
	a = newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("page_info") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?page_info=p2>; rel="next"`, a.URL, r.URL.Path))
		w.Write(page)
	})
	settings := shopifySettings + `, max_attempts: 1, checkpoint: {field: updated_at, param: updated_at_min}}`
	p := httpSourcePlan(t, settings, map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	store := &memCheckpoints{}
	src := buildHTTPSource(t, p, store)
	recs, _, err := read(t, src)
	if err == nil || !strings.Contains(err.Error(), "page_info=p2") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("error %v, want page 2's 500", err)
	}
	if len(recs) != 1 {
		t.Errorf("%d records, want page 1's before the failure", len(recs))
	}
	if a.requests()[0].URL.Query().Has("updated_at_min") {
		t.Error("no checkpoint and no initial, yet updated_at_min was sent")
	}
	// The engine does not acknowledge a failed run; a source told to
	// anyway keeps the checkpoint where it was.
	ack(t, src)
	if store.saves != 0 {
		t.Errorf("a failed run saved checkpoint %v", store.m)
	}
}

func TestHTTPSourceBadPages(t *testing.T) {
	page := shopifyFixture(t, "go-shopify/orders.json")
	for _, tc := range []struct {
		name, body, want string
	}{
		{"cut short", `{"orders":[{"id":1,`, `the page is not JSON (unexpected end of JSON input at byte 19): {"orders":[{"id":1,`},
		{"HTML", "<html>Service temporarily unavailable</html>", `the page is not JSON (invalid character '<' looking for beginning of value at byte 1): <html>`},
		{"no records", `{"errors":"Not Found"}`, `the page has nothing at "orders": {"errors":"Not Found"}`},
		{"not an array", `{"orders":{"id":1}}`, `"orders" in the page is an object, not an array of records`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a *api
			a = newAPI(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Has("page_info") {
					w.Write([]byte(tc.body))
					return
				}
				w.Header().Set("Link", fmt.Sprintf(`<%s%s?page_info=p2>; rel="next"`, a.URL, r.URL.Path))
				w.Write(page)
			})
			p := httpSourcePlan(t, shopifySettings+"}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
			recs, _, err := read(t, buildHTTPSource(t, p, nil))
			if err == nil {
				t.Fatal("want an error")
			}
			want := "GET " + a.URL + "/admin/api/2024-10/orders.json?page_info=p2: " + tc.want
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n %s\nwant it to contain\n %s", err, want)
			}
			if len(recs) != 1 {
				t.Errorf("%d records, want page 1's", len(recs))
			}
		})
	}
}

func TestHTTPSourceKeepsCredentialsOnItsHost(t *testing.T) {
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"orders":[]}`)) })
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/orders.json?page_info=p2>; rel="next"`, other.URL))
		w.Write([]byte(`{"orders":[]}`))
	})
	p := httpSourcePlan(t, shopifySettings+"}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	_, _, err := read(t, buildHTTPSource(t, p, nil))
	if err == nil || !strings.Contains(err.Error(), "not url's host") {
		t.Fatalf("error %v, want the other host refused", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

func TestHTTPSourceValidation(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"page_param with link pagination", `{url: "https://shop.example/orders.json", page_param: p}`, "page_param applies to pagination: page"},
		{"per_page below 1", `{url: "https://shop.example/orders.json", per_page: 0}`, "per_page must be at least 1"},
		{"checkpoint without param", `{url: "https://shop.example/orders.json", checkpoint: {field: updated_at}}`, `missing required setting "param"`},
		{"checkpoint param clashing", `{url: "https://shop.example/orders.json", pagination: page, checkpoint: {field: updated_at, param: page}}`, `checkpoint param "page" is already the page_param`},
		{"bad url", `{url: "shop.example/orders.json"}`, "must start with http:// or https://"},
		{"basic without password", `{url: "https://shop.example/orders.json", auth: {type: basic, username: u}}`, "auth type basic needs `username` and `password`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := diagnose(t, "pipeline: p\nsources:\n  orders:\n    http: "+tc.src+"\nsinks:\n  out:\n    from: orders\n    stdout: {}\n", nil)
			if !strings.Contains(fmt.Sprint(ds), tc.want) {
				t.Errorf("diagnostics %v, want %q", ds, tc.want)
			}
		})
	}
	src := `pipeline: p
triggers:
  every_15m: {cron: "@every 15m"}
  hook: {webhook: {path: /hooks/orders}}
sources:
  polled: {trigger: every_15m, http: {url: "https://shop.example/orders.json"}}
  pushed: {trigger: hook, http: {url: "https://shop.example/orders.json"}}
sinks:
  out: {from: [polled, pushed], stdout: {}}
`
	_, ds := diagnose(t, src, nil)
	if got := fmt.Sprint(ds); !strings.Contains(got, "a http source cannot be started by a webhook trigger") || strings.Contains(got, "cron trigger") {
		t.Errorf("diagnostics %v, want the webhook refused and the cron trigger accepted", ds)
	}
}

// TestHTTPSourceInAPipeline runs a whole pipeline reading the API into a
// file, with the engine.
func TestHTTPSourceInAPipeline(t *testing.T) {
	a, _ := shopifyPages(t)
	out := tempPath(t, "orders.ndjson")
	src := "pipeline: reconcile\nsources:\n  orders:\n    http: " + shopifySettings + "}\nsinks:\n  out:\n    from: orders\n    file: {path: \"${OUT}\"}\n"
	runPipeline(t, src, map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789", "OUT": out})
	lines := strings.Split(strings.TrimSpace(readFile(t, out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines written, want 3", len(lines))
	}
	if n := len(a.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestHTTPSourceSlowsDownNearShopifysCallLimit(t *testing.T) {
	page := shopifyFixture(t, "go-shopify/orders.json")
	var a *api
	a = newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.Query().Has("page_info") {
			w.Header().Set("X-Shopify-Shop-Api-Call-Limit", "33/40")
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?page_info=p2>; rel="next"`, a.URL, r.URL.Path))
		} else {
			w.Header().Set("X-Shopify-Shop-Api-Call-Limit", "34/40") // the last page: no wait after it
		}
		w.Write(page)
	})
	p := httpSourcePlan(t, shopifySettings+"}", map[string]string{"SHOP": a.URL, "TOKEN": "shpat_0123456789"})
	var logs bytes.Buffer
	n := node(t, p, "orders")
	rt := &component.Runtime{Clock: component.SystemClock{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	src, err := n.Spec.NewSource(component.BuildContext{Name: "orders", Config: n.Config, Runtime: rt, Pipeline: p.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(t, src); err != nil {
		t.Fatal(err)
	}
	// One call over 80% of the 40-call bucket: half a second before page 2.
	if got := logs.String(); strings.Count(got, "near the API call limit") != 1 || !strings.Contains(got, "call_limit=33/40 wait=500ms") {
		t.Errorf("logs:\n%s\nwant one slow-down of 500ms, after page 1", got)
	}
}
