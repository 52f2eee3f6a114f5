package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

var httpSourceSpec = &component.Spec{
	Kind:    "http",
	Section: component.SourceSection,
	Summary: "Polls a paginated REST API, from where the last successful run left off: how a pipeline catches what webhooks missed.",
	Description: "Shopify does not guarantee webhook delivery and WooCommerce never sends a failed webhook again, so an " +
		"integration that must not lose an order also reads the store's REST API on a schedule. Each run GETs `url` " +
		"and every page after it; each element of the array at `records` in a page is one record, typed by the " +
		"source's `schema:`.\n\n" +
		"- `pagination: link` (Shopify) follows the `Link: <…>; rel=\"next\"` header until a page has none. The " +
		"first request carries `per_page` as `per_page_param` (default `limit`) and the checkpoint; the next " +
		"links are followed as given, since Shopify refuses other parameters beside its `page_info` cursor. A " +
		"next link to another host or scheme stops the run: the credentials are meant for `url`'s host only.\n" +
		"- `pagination: page` (WooCommerce) asks for `page_param` (default `page`) 1, 2, … with `per_page` as " +
		"`per_page_param` (default `per_page`) and the checkpoint on every request, until a page is empty or the " +
		"page number reaches the `X-WP-TotalPages` header.\n\n" +
		"**Checkpoint.** With `checkpoint`, the source keeps the greatest value of `checkpoint.field` among the " +
		"records it read (compared as instants when both values are RFC 3339 times, a time without a zone, such as " +
		"WooCommerce's `date_modified_gmt`, read as UTC; as integers when both are integers; else as text) and " +
		"sends it as the query parameter `checkpoint.param` on the next run, `checkpoint.initial` when there is " +
		"none yet. The value is saved in the state store, by pipeline and source, only once every sink has " +
		"committed the run; a run that fails or is interrupted saves nothing, so the next run reads the same " +
		"records again. Without a state store (dry runs, `pipectl test`) every run starts from `initial`.\n\n" +
		"APIs filter with *at or after* (`updated_at_min`, `modified_after`), so the record holding the checkpoint " +
		"is read again by the next run, as is every record of a run that failed. That is by design — an order " +
		"updated in the same second as the checkpoint is never skipped — and it is why a polling pipeline has a " +
		"`dedupe` step with `persist: true` keyed on the record's id and its checkpoint field, such as " +
		"`string(id) + \":\" + updated_at`: a repeated version is dropped, a changed order passes.\n\n" +
		"**Rate limits and failures.** A 429 is retried after the seconds its Retry-After header asks (fractions " +
		"allowed, as Shopify sends them; `backoff` when absent), at most `max_backoff`. Shopify's " +
		"`X-Shopify-Shop-Api-Call-Limit: used/size` header is read after each page: above 80% of the bucket the " +
		"source waits half a second for every call over that mark before the next request (Shopify's bucket " +
		"drains two calls a second), so a long reconciliation does not run into 429s. 5xx, 408 and network " +
		"errors are retried with exponential backoff and jitter (before retry n a random wait between half and " +
		"all of `backoff`·2^(n-1), at most `max_backoff`). A page gets `max_attempts` attempts in all; then, or at " +
		"once for any other status, the run fails with an error naming the URL, the status and the response " +
		"body, credentials masked. A page that is not JSON, or has no array at `records`, fails the run too, " +
		"after the records of the pages before it: the run is not committed and the checkpoint stays where it " +
		"was.\n\n" +
		"Authentication is the http sink's: `bearer`, `basic`, or `api_key` in a header (`X-Shopify-Access-Token`, " +
		"or basic auth with a WooCommerce consumer key and secret); credentials come from the environment and are " +
		"never printed. `pipectl test` and `pipectl dry-run --input` feed the source JSON records (a saved page " +
		"with `unwrap: orders`).",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "HTTP source settings.",
		Fields: []*component.Field{
			{Name: "url", Kind: component.StringField, Required: true,
				Doc:      "The collection's URL, http or https, with any fixed query parameters; ${VAR} allowed.",
				Examples: []any{"${SHOPIFY_SHOP_URL}/admin/api/2024-10/orders.json?status=any", "${WC_URL}/wp-json/wc/v3/orders"}},
			{Name: "headers", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "header value"},
				Doc: "Extra request headers; ${VAR} allowed."},
			httpSinkSpec.Config.Sub("auth"),
			{Name: "records", Kind: component.StringField,
				Doc:      "Dot path of the array of records in each page: `orders` for Shopify's `{\"orders\": [...]}`; empty when the page is the array (WooCommerce).",
				Examples: []any{"orders", "data"}},
			{Name: "pagination", Kind: component.EnumField, Enum: []string{"link", "page"}, Default: "link",
				Doc: "How the next page is found: the Link header's rel=\"next\" (Shopify), or page numbers (WooCommerce)."},
			{Name: "per_page", Kind: component.IntField, Default: 100, Doc: "Records asked for per page (Shopify allows up to 250, WooCommerce 100)."},
			{Name: "per_page_param", Kind: component.StringField,
				Doc: "Query parameter carrying `per_page`: `limit` with link pagination, `per_page` with page pagination, unless set."},
			{Name: "page_param", Kind: component.StringField, Default: "page", Doc: "Query parameter carrying the page number, with page pagination."},
			{Name: "checkpoint", Kind: component.ObjectField, Doc: "Where the next run starts: the greatest value of a record field, sent as a query parameter.",
				Fields: []*component.Field{
					{Name: "field", Kind: component.StringField, Required: true, Doc: "Dot path of the record field whose greatest value is kept.",
						Examples: []any{"updated_at", "date_modified_gmt"}},
					{Name: "param", Kind: component.StringField, Required: true, Doc: "Query parameter the kept value is sent as.",
						Examples: []any{"updated_at_min", "modified_after"}},
					{Name: "initial", Kind: component.StringField, Doc: "Value sent when no checkpoint is kept yet; without it the first run reads everything.",
						Examples: []any{"2024-01-01T00:00:00Z"}},
				}},
			{Name: "timeout", Kind: component.DurationField, Default: 30 * time.Second, Doc: "Timeout of one request, reading the page included."},
			{Name: "max_attempts", Kind: component.IntField, Default: 5, Doc: "Attempts per page (429s, 5xx and network errors retried) before the run fails."},
			{Name: "backoff", Kind: component.DurationField, Default: time.Second, Doc: "Longest wait before the first retry; doubles after each attempt."},
			{Name: "max_backoff", Kind: component.DurationField, Default: time.Minute, Doc: "Longest wait between attempts, Retry-After included."},
		}},
	Validate:  validateHTTPSource,
	Triggers:  []string{"cron", "manual"},
	NewSource: newHTTPSource,
	UsesState: func(cfg *component.Value) bool { return checkpointSet(cfg) },
	Examples: []component.Example{{
		Title: "Shopify orders updated since the last poll",
		YAML: `triggers:
  every_15m:
    cron: "@every 15m"
sources:
  orders:
    trigger: every_15m
    http:
      url: "${SHOPIFY_SHOP_URL}/admin/api/2024-10/orders.json?status=any"
      auth: {type: api_key, header: X-Shopify-Access-Token, token: "${SHOPIFY_TOKEN}"}
      records: orders
      per_page: 250
      checkpoint: {field: updated_at, param: updated_at_min, initial: "2024-01-01T00:00:00Z"}
    schema: shopify/order
steps:
  changed:
    from: orders
    dedupe: {key: 'string(id) + ":" + updated_at', persist: true, ttl: 720h}`,
	}, {
		Title: "WooCommerce orders, page by page",
		YAML: `sources:
  orders:
    trigger: hourly
    http:
      url: "${WC_URL}/wp-json/wc/v3/orders?dates_are_gmt=true"
      auth: {type: basic, username: "${WC_CONSUMER_KEY}", password: "${WC_CONSUMER_SECRET}"}
      pagination: page
      checkpoint: {field: date_modified_gmt, param: modified_after}
    schema: woocommerce/order`,
	}},
}

// checkpointSet reports whether a source's settings have a checkpoint.
func checkpointSet(cfg *component.Value) bool {
	cp := cfg.Get("checkpoint")
	return cp != nil && cp.Set
}

func validateHTTPSource(cfg *component.Value, report component.Reporter) {
	// url, headers, auth, timeouts and max_attempts are checked as the
	// sink checks them.
	validateHTTP(cfg, report)
	if v := cfg.Get("per_page"); v != nil && v.Set && v.Int < 1 {
		report.Errorf(v, "invalid-value", "per_page must be at least 1")
	}
	if v := cfg.Get("records"); v != nil && v.Set && v.Str != "" {
		if err := record.UnwrapPath(v.Str); err != nil {
			report.Errorf(v, "invalid-value", "records: %v", err)
		}
	}
	pagination := str(cfg, "pagination", "link")
	if v := cfg.Get("page_param"); v != nil && v.Set && pagination != "page" {
		report.Errorf(v, "invalid-value", "page_param applies to pagination: page, and the pagination is %s", pagination)
	}
	perPageParam := str(cfg, "per_page_param", defaultPerPageParam(pagination))
	if v := cfg.Get("per_page_param"); v != nil && v.Set && strings.TrimSpace(v.Str) == "" {
		report.Errorf(v, "invalid-value", "per_page_param must not be empty")
	}
	// The parameters the source sets itself, by name: the checkpoint's may
	// not be one of them.
	params := map[string]string{perPageParam: "per_page_param"}
	if pagination == "page" {
		pageParam := str(cfg, "page_param", "page")
		if pageParam == perPageParam {
			report.Errorf(cfg.Get("page_param"), "invalid-value", "page_param and per_page_param are both %q", pageParam)
		}
		params[pageParam] = "page_param"
	}
	if !checkpointSet(cfg) {
		return
	}
	cp := cfg.Get("checkpoint")
	if f := cp.Get("field"); f != nil && f.Str != "" {
		if err := record.UnwrapPath(f.Str); err != nil {
			report.Errorf(f, "invalid-value", "checkpoint field: %v", err)
		}
	}
	if p := cp.Get("param"); p != nil && p.Str != "" {
		if other, clash := params[p.Str]; clash {
			report.Errorf(p, "invalid-value", "checkpoint param %s is already the %s", p.Display(), other)
		}
	}
}

func defaultPerPageParam(pagination string) string {
	if pagination == "page" {
		return "per_page"
	}
	return "limit"
}

// httpSource reads a REST collection page by page. It keeps the checkpoint
// it started from and the greatest value it has read since, and saves the
// latter only from Ack.
type httpSource struct {
	name, pipeline string
	base           *url.URL
	urlSecret      bool
	headers        []header
	secrets        *strings.Replacer
	records        string // gjson path of the records' array; "" for the page itself
	pagination     string
	perPage        int64
	perPageParam   string
	pageParam      string
	cpPath         string // gjson path of the checkpoint field; "" for none
	cpParam        string
	cpInitial      string
	store          component.Checkpoints
	dryRun         bool
	timeout        time.Duration
	backoff        time.Duration
	maxBackoff     time.Duration
	maxAttempts    int
	logger         *slog.Logger
	client         *http.Client
	transport      *http.Transport

	mu       sync.Mutex
	from     string // the checkpoint this run started from
	greatest string // the greatest checkpoint value among the records emitted
	complete bool   // the last Read reached the last page
}

func newHTTPSource(ctx component.BuildContext) (component.Source, error) {
	cfg := ctx.Config
	u, base, err := urlSetting(cfg)
	if err != nil {
		return nil, err
	}
	pagination := str(cfg, "pagination", "link")
	if pagination != "link" && pagination != "page" {
		return nil, fmt.Errorf("pagination %q is not link or page", pagination)
	}
	s := &httpSource{
		name:         ctx.Name,
		pipeline:     ctx.Pipeline,
		base:         base,
		urlSecret:    u.Secret,
		pagination:   pagination,
		perPage:      intSetting(cfg, "per_page", 100),
		perPageParam: str(cfg, "per_page_param", defaultPerPageParam(pagination)),
		pageParam:    str(cfg, "page_param", "page"),
		timeout:      durSetting(cfg, "timeout", 30*time.Second),
		backoff:      durSetting(cfg, "backoff", time.Second),
		maxBackoff:   durSetting(cfg, "max_backoff", time.Minute),
		maxAttempts:  int(intSetting(cfg, "max_attempts", 5)),
	}
	if s.perPage < 1 || s.maxAttempts < 1 {
		return nil, errors.New("per_page and max_attempts must be at least 1")
	}
	if s.timeout <= 0 || s.backoff < 0 || s.maxBackoff < 0 {
		return nil, errors.New("timeout must be positive, backoff and max_backoff not negative")
	}
	if p := str(cfg, "records", ""); p != "" {
		if err := record.UnwrapPath(p); err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		s.records = gjsonPath(p)
	}
	if checkpointSet(cfg) {
		cp := cfg.Get("checkpoint")
		field, param := str(cp, "field", ""), str(cp, "param", "")
		if field == "" || param == "" {
			return nil, errors.New("checkpoint needs `field` and `param`")
		}
		if err := record.UnwrapPath(field); err != nil {
			return nil, fmt.Errorf("checkpoint field: %w", err)
		}
		s.cpPath, s.cpParam, s.cpInitial = gjsonPath(field), param, str(cp, "initial", "")
	}
	if rt := ctx.Runtime; rt != nil {
		s.store, s.dryRun, s.logger = rt.Checkpoints, rt.DryRun, rt.Logger
	}
	// The sink's header handling, for a request without a body: extra
	// headers, User-Agent and the auth scheme's header, secrets marked.
	hs := &httpSink{}
	if err := hs.setHeaders(cfg); err != nil {
		return nil, err
	}
	s.headers = hs.headers
	if !slices.ContainsFunc(s.headers, func(h header) bool { return h.name == "Accept" }) {
		s.headers = append(s.headers, header{"Accept", "application/json", false})
	}
	s.secrets = secretMasker(s.headers, cfg)
	// Building a transport opens nothing: connections are made on the first
	// request.
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
	s.client = &http.Client{Transport: s.transport, CheckRedirect: sameMethodSameHost}
	return s, nil
}

// gjsonPath turns a dot path into a gjson path matching its keys literally.
func gjsonPath(p string) string {
	keys := strings.Split(p, ".")
	for i, k := range keys {
		keys[i] = gjson.Escape(k)
	}
	return strings.Join(keys, ".")
}

// Read emits the records of every page, in order. It fails, naming the
// page, when a page cannot be fetched within its attempts or is not a page
// of records; the records of the pages before it have been emitted by then.
func (s *httpSource) Read(ctx context.Context, emit, emitErr func(*record.Record) error) error {
	defer s.transport.CloseIdleConnections()
	from, err := s.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.from, s.greatest, s.complete = from, from, false
	s.mu.Unlock()

	var seq int64
	next := s.pageURL(from, 1)
	visited := map[string]bool{}
	// pause is the wait Shopify's call limit asks for before the next
	// request, callLimit the header that asked.
	var pause time.Duration
	var callLimit string
	for page := 1; ; page++ {
		if pause > 0 {
			if s.logger != nil {
				s.logger.Info("near the API call limit, slowing down", "source", s.name, "call_limit", callLimit, "wait", pause.String())
			}
			if err := sleep(ctx, pause); err != nil {
				return fmt.Errorf("GET %s: %w", s.show(next), err)
			}
		}
		visited[next] = true
		body, hdr, err := s.fetch(ctx, next)
		if err != nil {
			return err
		}
		n, err := s.emitPage(body, next, &seq, emit, emitErr)
		if err != nil {
			return err
		}
		callLimit = hdr.Get("X-Shopify-Shop-Api-Call-Limit")
		pause = callLimitPause(callLimit)
		switch s.pagination {
		case "link":
			link := nextLink(hdr.Values("Link"))
			if link == "" {
				return s.finish()
			}
			if next, err = s.follow(next, link); err != nil {
				return err
			}
			if visited[next] {
				return fmt.Errorf("GET %s: the next link leads back to a page already read", s.show(next))
			}
		case "page":
			if n == 0 {
				return s.finish()
			}
			if total, err := strconv.Atoi(strings.TrimSpace(hdr.Get("X-WP-TotalPages"))); err == nil && page >= total {
				return s.finish()
			}
			next = s.pageURL(from, page+1)
		}
	}
}

func (s *httpSource) finish() error {
	s.mu.Lock()
	s.complete = true
	s.mu.Unlock()
	return nil
}

// loadCheckpoint is the value this run starts from: the kept checkpoint,
// or `initial` when none is kept (or there is no store to keep one).
func (s *httpSource) loadCheckpoint(ctx context.Context) (string, error) {
	if s.cpParam == "" {
		return "", nil
	}
	if s.store != nil {
		v, ok, err := s.store.Checkpoint(ctx, s.pipeline, s.name)
		if err != nil {
			return "", fmt.Errorf("reading the checkpoint of source %s: %w", s.name, err)
		}
		if ok {
			return v, nil
		}
	}
	return s.cpInitial, nil
}

// Ack saves the greatest checkpoint value read, now that every record the
// run read is committed. Nothing is saved when the last Read did not reach
// the last page, in a dry run, or without a state store.
func (s *httpSource) Ack(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.complete || s.dryRun || s.store == nil || s.greatest == "" || s.greatest == s.from {
		return nil
	}
	if err := s.store.SaveCheckpoint(ctx, s.pipeline, s.name, s.greatest); err != nil {
		return fmt.Errorf("saving the checkpoint of source %s: %w", s.name, err)
	}
	s.from = s.greatest
	return nil
}

// pageURL is the URL of page n (1 for the first request): url with
// per_page, the checkpoint and, with page pagination, the page number.
func (s *httpSource) pageURL(from string, n int) string {
	u := *s.base
	q := u.Query()
	q.Set(s.perPageParam, strconv.FormatInt(s.perPage, 10))
	if s.pagination == "page" {
		q.Set(s.pageParam, strconv.Itoa(n))
	}
	if s.cpParam != "" && from != "" {
		q.Set(s.cpParam, from)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// follow resolves a next link against the page it came from. It must stay
// on url's scheme and host, where the credentials are meant to go.
func (s *httpSource) follow(from, link string) (string, error) {
	cur, err := url.Parse(from)
	if err != nil {
		return "", err
	}
	u, err := cur.Parse(link)
	if err != nil {
		return "", fmt.Errorf("GET %s: the next link %q is not a URL", s.show(from), s.secrets.Replace(link))
	}
	if u.Scheme != s.base.Scheme || u.Host != s.base.Host {
		return "", fmt.Errorf("GET %s: the next link leads to %s://%s, not url's host: not followed with its credentials", s.show(from), u.Scheme, u.Host)
	}
	return u.String(), nil
}

// show is a URL as it may appear in messages and logs: without user info,
// query parameters named like credentials, or any configured secret.
func (s *httpSource) show(raw string) string {
	if s.urlSecret {
		return component.Redacted
	}
	u, err := url.Parse(raw)
	if err != nil {
		return component.Redacted
	}
	if q := u.Query(); len(q) > 0 {
		masked := false
		for k := range q {
			if sensitiveParam(k) {
				q.Set(k, "REDACTED")
				masked = true
			}
		}
		if masked {
			u.RawQuery = strings.ReplaceAll(q.Encode(), "REDACTED", component.Redacted)
		}
	}
	return s.secrets.Replace(u.Redacted())
}

// sensitiveParam reports whether a query parameter's name says it carries a
// credential, such as WooCommerce's consumer_key and consumer_secret.
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"key", "secret", "token", "password", "signature", "auth"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// fetch GETs a page, retrying what may succeed when tried again, and
// returns its body and headers.
func (s *httpSource) fetch(ctx context.Context, u string) ([]byte, http.Header, error) {
	for attempt := 1; ; attempt++ {
		body, hdr, retryAfter, err := s.attempt(ctx, u)
		if err == nil {
			return body, hdr, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("GET %s: stopped after %d attempt(s): %w", s.show(u), attempt, context.Cause(ctx))
		}
		var se *statusError
		limited := false
		if errors.As(err, &se) {
			if !retryable(se.status) {
				return nil, nil, err
			}
			limited = se.status == http.StatusTooManyRequests
		}
		if attempt >= s.maxAttempts {
			if s.maxAttempts > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return nil, nil, err
		}
		wait := s.delay(attempt)
		if limited && retryAfter > 0 {
			wait = min(retryAfter, s.maxBackoff)
		}
		if s.logger != nil {
			s.logger.Warn("retrying", "source", s.name, "attempt", attempt, "of", s.maxAttempts, "wait", wait.Round(time.Millisecond).String(), "error", err.Error())
		}
		if serr := sleep(ctx, wait); serr != nil {
			return nil, nil, fmt.Errorf("%w; stopped waiting to retry: %w", err, serr)
		}
	}
}

// delay is the wait after failed attempt n when the server asked for none,
// as the http sink waits (component.RetryPolicy.Delay).
func (s *httpSource) delay(attempt int) time.Duration {
	return component.RetryPolicy{Backoff: s.backoff, MaxBackoff: s.maxBackoff}.Delay(attempt, 0)
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// attempt GETs a page once. It returns the body of a 2xx response, or the
// wait a Retry-After header asks for and the error: a *statusError for
// another status, the cause for a request that got no whole response.
func (s *httpSource) attempt(ctx context.Context, u string) ([]byte, http.Header, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	shown := s.show(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("GET %s: cannot make the request", shown)
	}
	for _, h := range s.headers {
		req.Header.Set(h.name, h.value)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("GET %s: %s", shown, s.secrets.Replace(networkError(err, s.timeout)))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		text := s.secrets.Replace(readSnippet(resp.Body, 1024))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, retryAfterSeconds(resp.Header.Get("Retry-After")), &statusError{method: http.MethodGet, url: shown, status: resp.StatusCode, body: text}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRecordSize+1))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("GET %s: reading the page: %s", shown, s.secrets.Replace(networkError(err, s.timeout)))
	}
	if len(body) > maxRecordSize {
		return nil, nil, 0, fmt.Errorf("GET %s: the page is larger than %s", shown, sizeText(maxRecordSize))
	}
	return body, resp.Header, 0, nil
}

// retryAfterSeconds reads a Retry-After header: seconds, which Shopify
// writes with a fraction ("2.0"), or an HTTP date.
func retryAfterSeconds(v string) time.Duration {
	v = strings.TrimSpace(v)
	if strings.Contains(v, ".") {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return time.Duration(min(f, 24*3600) * float64(time.Second))
		}
		return 0
	}
	return parseRetryAfter(v, time.Now())
}

// callLimitPause is how long to wait before the next request after a
// response whose X-Shopify-Shop-Api-Call-Limit header says `used/size` of
// Shopify's leaky bucket are taken: nothing up to 80% of the bucket, then
// half a second per call above it, the time Shopify takes to drain them at
// two calls a second.
func callLimitPause(v string) time.Duration {
	u, sz, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return 0
	}
	used, err1 := strconv.Atoi(strings.TrimSpace(u))
	size, err2 := strconv.Atoi(strings.TrimSpace(sz))
	if err1 != nil || err2 != nil || size <= 0 {
		return 0
	}
	mark := size * 4 / 5
	if used <= mark {
		return 0
	}
	return time.Duration(min(used, size)-mark) * 500 * time.Millisecond
}

// nextLink finds the rel="next" target of Link headers
// (`<https://…?page_info=x>; rel="next", <…>; rel="previous"`), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for v != "" {
			open := strings.IndexByte(v, '<')
			if open < 0 {
				break
			}
			end := strings.IndexByte(v[open:], '>')
			if end < 0 {
				break
			}
			target := v[open+1 : open+end]
			rest := v[open+end+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(p), ",")), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
			v = rest
		}
	}
	return ""
}

// emitPage emits the records of one page and returns how many elements the
// page held. A page that is not JSON, or has no array at `records`, is an
// error naming the page.
func (s *httpSource) emitPage(body []byte, u string, seq *int64, emit, emitErr func(*record.Record) error) (int, error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			err = fmt.Errorf("%v at byte %d", se, se.Offset)
		}
		return 0, fmt.Errorf("GET %s: the page is not JSON (%v): %s", s.show(u), err, s.secrets.Replace(readSnippet(bytes.NewReader(body), 200)))
	}
	arr := gjson.ParseBytes(body)
	where := "the page"
	if s.records != "" {
		arr = arr.Get(s.records)
		where = fmt.Sprintf("%q in the page", s.records)
		if !arr.Exists() {
			return 0, fmt.Errorf("GET %s: the page has nothing at %q: %s", s.show(u), s.records, s.secrets.Replace(readSnippet(bytes.NewReader(body), 200)))
		}
	}
	if !arr.IsArray() {
		return 0, fmt.Errorf("GET %s: %s is %s, not an array of records", s.show(u), where, jsonKind(arr))
	}
	n := 0
	var err error
	arr.ForEach(func(_, e gjson.Result) bool {
		n++
		*seq++
		var b bytes.Buffer
		b.Grow(len(e.Raw))
		json.Compact(&b, []byte(e.Raw)) // valid: the page is
		raw := b.Bytes()
		origin := &record.Origin{Source: s.name, Seq: *seq, Raw: raw}
		if !utf8.Valid(raw) {
			err = reject(emitErr, raw, origin, fmt.Errorf("GET %s: record %d of the page is not valid UTF-8", s.show(u), n))
			return err == nil
		}
		if err = emit(record.New(raw, origin)); err != nil {
			return false
		}
		s.track(raw)
		return true
	})
	return n, err
}

// track keeps the record's checkpoint value if it is the greatest yet.
func (s *httpSource) track(raw []byte) {
	if s.cpPath == "" {
		return
	}
	v := gjson.GetBytes(raw, s.cpPath)
	if !v.Exists() || v.Type == gjson.Null || v.String() == "" {
		return
	}
	val := v.String()
	s.mu.Lock()
	if s.greatest == "" || checkpointAfter(val, s.greatest) {
		s.greatest = val
	}
	s.mu.Unlock()
}

// checkpointAfter reports whether checkpoint value a comes after b: as
// instants when both are RFC 3339 times (or times without a zone, read as
// UTC), as integers when both are integers, else as text.
func checkpointAfter(a, b string) bool {
	if ta, ok := parseCheckpointTime(a); ok {
		if tb, ok := parseCheckpointTime(b); ok {
			return ta.After(tb)
		}
	}
	if ia, err := strconv.ParseInt(a, 10, 64); err == nil {
		if ib, err := strconv.ParseInt(b, 10, 64); err == nil {
			return ia > ib
		}
	}
	return a > b
}

func parseCheckpointTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
