package connectors

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var httpSinkSpec = &component.Spec{
	Kind:    "http",
	Section: component.SinkSection,
	Summary: "Sends each record to an HTTP API: the way a consultant reaches a WMS, OMS or ERP.",
	Description: "Each record is one request: the `body` mapping, or the record itself, as JSON (DELETE sends no body " +
		"unless `body` is set). The URL is `url` followed by `path`, when set, evaluated per record; a `path` may " +
		"not change the URL's scheme or host.\n\n" +
		"Success is any 2xx. 5xx, 408, 429 and network errors are retried up to `max_attempts` with exponential " +
		"backoff and jitter (before retry n a random wait between half and all of `backoff`·2^(n-1), at most " +
		"`max_backoff`), waiting at least what a Retry-After header asks, also capped at `max_backoff`. With the " +
		"defaults a record is retried for at least two minutes (two to four), which rides out a restart of the " +
		"destination; each retry is logged with the status and the wait, and the run's summary counts attempts " +
		"and retries per sink. Other statuses go straight to the sink's `error` output, as does a record whose " +
		"attempts run out: its error record carries `status` (the last HTTP status, absent when no response came) " +
		"and `attempts`, so a route can tell a rejected record (422) from an outage, and the response body with " +
		"the sink's credentials masked. " +
		"Requests run `concurrency` at a time; every record's attempts carry the same Idempotency-Key, so a " +
		"retried request has one effect. Redirects are followed only when they keep the method (307, 308) and " +
		"the host.\n\n" +
		"Credentials come from the environment and are never printed: dry runs show each request with " +
		"Authorization, the API key header and every secret value redacted.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "HTTP sink settings.",
		Fields: []*component.Field{
			{Name: "url", Kind: component.StringField, Required: true, Doc: "Endpoint URL, http or https; ${VAR} allowed.", Examples: []any{"${WMS_URL}/pick-tickets"}},
			{Name: "path", Kind: component.ExprField, Result: component.StringType,
				Doc:      "Expression appended to `url` for each record, for APIs that address a resource per record. Written as is: escape what needs it.",
				Examples: []any{`"/orders/" + order_id + "/fulfillments"`}},
			{Name: "method", Kind: component.EnumField, Enum: []string{"POST", "PUT", "PATCH", "DELETE"}, Default: "POST", Doc: "HTTP method."},
			{Name: "headers", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "header value"}, Doc: "Extra request headers; ${VAR} allowed. Content-Type is application/json unless set here."},
			{Name: "auth", Kind: component.ObjectField, Doc: "Authentication.", Fields: []*component.Field{
				{Name: "type", Kind: component.EnumField, Enum: []string{"none", "bearer", "basic", "api_key"}, Default: "none", Doc: "Scheme."},
				{Name: "token", Kind: component.StringField, Secret: true, Doc: "Bearer token or API key.", Examples: []any{"${WMS_TOKEN}"}},
				{Name: "username", Kind: component.StringField, Doc: "Basic auth user."},
				{Name: "password", Kind: component.StringField, Secret: true, Doc: "Basic auth password.", Examples: []any{"${WMS_PASSWORD}"}},
				{Name: "header", Kind: component.StringField, Default: "X-API-Key", Doc: "Header carrying an api_key."},
			}},
			{Name: "body", Kind: component.MappingField, Doc: "Request body as a mapping of fields to expressions; the record itself when absent."},
			{Name: "idempotency_key", Kind: component.ExprField, Result: component.StringType,
				Doc: "Expression sent as the Idempotency-Key header, so a retried request has one effect.", Examples: []any{"shipment_id"}},
			{Name: "concurrency", Kind: component.IntField, Default: 4, Doc: "Requests in flight at once."},
			{Name: "timeout", Kind: component.DurationField, Default: 30 * time.Second, Doc: "Timeout of one attempt."},
			{Name: "max_attempts", Kind: component.IntField, Default: 10, Doc: "Attempts before a record goes to the error output."},
			{Name: "backoff", Kind: component.DurationField, Default: time.Second, Doc: "Longest wait before the first retry; doubles after each attempt."},
			{Name: "max_backoff", Kind: component.DurationField, Default: time.Minute, Doc: "Longest wait between attempts, Retry-After included."},
			{Name: "max_age", Kind: component.DurationField, Default: 24 * time.Hour,
				Doc: "Under `pipectl serve`, how long a record keeps being retried (its retries are kept in the state store across restarts) before it becomes a dead letter, whatever `max_attempts` says."},
		}},
	Validate: validateHTTP,
	NewSink:  newHTTPSink,
	Examples: []component.Example{{
		Title: "Pick tickets to a WMS",
		YAML: `sinks:
  wms:
    from: allocate.shipments
    http:
      url: "${WMS_URL}/pick-tickets"
      auth: {type: bearer, token: "${WMS_TOKEN}"}
      idempotency_key: shipment_id`,
	}, {
		Title: "Tracking numbers back to each order",
		YAML: `sinks:
  storefront:
    from: shipped
    http:
      url: "${STORE_URL}/admin/api/orders"
      path: '"/" + order_id + "/fulfillments.json"'
      auth: {type: api_key, header: X-Shopify-Access-Token, token: "${SHOPIFY_TOKEN}"}
      body:
        fulfillment:
          tracking_number: tracking_number
          notify_customer: "true"
      idempotency_key: '"fulfil-" + order_id'`,
	}},
}

func validateHTTP(cfg *component.Value, report component.Reporter) {
	// A URL naming a variable not set where validate runs is known only
	// where the pipeline runs; building the sink checks it then.
	if u := cfg.Get("url"); u != nil && !u.Unresolved && u.Str != "" {
		if _, err := parseBaseURL(u.Str); err != nil {
			report.Errorf(u, "invalid-value", "url %s: %v", displayURL(u), err)
		}
	}
	for _, k := range []string{"concurrency", "max_attempts"} {
		if v := cfg.Get(k); v != nil && v.Set && v.Int < 1 {
			report.Errorf(v, "invalid-value", "%s must be at least 1", k)
		}
	}
	for _, k := range []string{"timeout", "backoff", "max_backoff"} {
		if v := cfg.Get(k); v != nil && v.Set && (v.Dur < 0 || k == "timeout" && v.Dur == 0) {
			report.Errorf(v, "invalid-value", "%s must be positive", k)
		}
	}
	if h := cfg.Get("headers"); h != nil {
		for _, k := range h.Keys {
			if !validHeaderName(k) {
				report.Errorf(h.Map[k], "invalid-value", "%q is not a valid header name", k)
			} else if strings.ContainsAny(h.Map[k].Str, "\r\n\x00") {
				report.Errorf(h.Map[k], "invalid-value", "header %s holds a line break", k)
			}
		}
	}
	auth := cfg.Get("auth")
	if auth == nil || !auth.Set {
		return
	}
	switch typ := auth.Get("type"); {
	case typ == nil:
	case (typ.Str == "bearer" || typ.Str == "api_key") && auth.Get("token") == nil:
		report.Errorf(typ, "missing-field", "auth type %s needs `token`", typ.Str)
	case typ.Str == "basic" && (auth.Get("username") == nil || auth.Get("password") == nil):
		report.Errorf(typ, "missing-field", "auth type basic needs `username` and `password`")
	case typ.Str == "api_key":
		if h := auth.Get("header"); h != nil && !validHeaderName(h.Str) {
			report.Errorf(h, "invalid-value", "%q is not a valid header name", h.Str)
		}
	}
}

// parseBaseURL checks the url setting: absolute, http or https.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	return u, nil
}

// displayURL is the url setting as it may be printed.
func displayURL(v *component.Value) string {
	if v.Secret {
		return component.Redacted
	}
	return strconv.Quote(v.Str)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// HTTPRequest is what an http sink would send for a record: Describe's
// answer, printed by dry runs. Authorization, the API key header and any
// header holding a secret are component.Redacted, as is a URL built from a
// secret.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// header is a request header and whether its value may be printed.
type header struct {
	name, value string
	secret      bool
}

// bodyField is an output field of the body mapping.
type bodyField struct {
	name   string
	key    []byte // `"name":`
	prog   *exprs.Program
	nested []bodyField
}

// httpSink sends each record as one request. Write prepares the request on
// the caller's goroutine (expressions run there, on the sink's VM) and hands
// it to a goroutine of its own, blocking only while `concurrency` requests
// are in flight; Flush and a committing Close wait for them, a Close without
// commit stops them. Failures reach the engine through BuildContext.Fail.
type httpSink struct {
	name        string
	method      string
	base        string
	baseURL     *url.URL
	urlSecret   bool
	path        *exprs.Program
	headers     []header
	body        []bodyField
	sendRecord  bool // no body mapping: the record is the body
	idem        *exprs.Program
	decode      *record.Projection
	timeout     time.Duration
	backoff     time.Duration
	maxBackoff  time.Duration
	maxAttempts int
	maxAge      time.Duration
	// retryLater: serve keeps the retries (Runtime.RetryLater); the sink
	// makes one attempt per record.
	retryLater bool
	// answered is Runtime.Answered, or nil.
	answered  func(sink string, status int)
	client    *http.Client
	transport *http.Transport
	keepConns bool // the transport is Runtime.Connections', kept open across runs
	delivered func(sink string, rec *record.Record, detail string)
	logger    *slog.Logger
	fail      func(*record.Record, error)
	now       func() time.Time

	vm     vm.VM // Write's: Write is called from one goroutine
	dmu    sync.Mutex
	dvm    vm.VM // Describe's
	sem    chan struct{}
	wg     sync.WaitGroup
	fmu    sync.Mutex
	failed []error // failures when no Fail is wired (a sink built by hand)
	closed bool
	// stop ends every delivery in flight: a Close without commit.
	stopCtx context.Context
	stop    context.CancelFunc
	// secrets are the credential values the sink sends, masked wherever a
	// response is quoted: a server that echoes its request must not put
	// the token into an error record.
	secrets *strings.Replacer
	stats   deliveryStats
}

// urlSetting reads the `url` setting of an http sink or source: the value
// as set (for messages, which redact it when secret) and parsed.
func urlSetting(cfg *component.Value) (*component.Value, *url.URL, error) {
	u := cfg.Get("url")
	if u == nil || u.Str == "" {
		return nil, nil, fmt.Errorf("url is empty: set it, or the environment variable it names")
	}
	base, err := parseBaseURL(u.Str)
	if err != nil {
		return nil, nil, fmt.Errorf("url %s: %w", displayURL(u), err)
	}
	return u, base, nil
}

func newHTTPSink(ctx component.BuildContext) (component.Sink, error) {
	cfg := ctx.Config
	u, base, err := urlSetting(cfg)
	if err != nil {
		return nil, err
	}
	s := &httpSink{
		name:        ctx.Name,
		method:      str(cfg, "method", http.MethodPost),
		base:        u.Str,
		baseURL:     base,
		urlSecret:   u.Secret,
		decode:      ctx.Decode,
		timeout:     durSetting(cfg, "timeout", 30*time.Second),
		backoff:     durSetting(cfg, "backoff", time.Second),
		maxBackoff:  durSetting(cfg, "max_backoff", time.Minute),
		maxAttempts: int(intSetting(cfg, "max_attempts", 10)),
		maxAge:      durSetting(cfg, "max_age", 24*time.Hour),
		fail:        ctx.Fail,
		now:         time.Now,
	}
	if s.timeout <= 0 || s.backoff < 0 || s.maxBackoff < 0 {
		return nil, errors.New("timeout must be positive, backoff and max_backoff not negative")
	}
	if s.maxAttempts < 1 {
		return nil, errors.New("max_attempts must be at least 1")
	}
	conc := int(intSetting(cfg, "concurrency", 4))
	if conc < 1 {
		return nil, errors.New("concurrency must be at least 1")
	}
	s.sem = make(chan struct{}, conc)
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	if ctx.Runtime != nil {
		s.logger = ctx.Runtime.Logger
		s.retryLater = ctx.Runtime.RetryLater
		s.answered = ctx.Runtime.Answered
		s.delivered = ctx.Runtime.Delivered
	}
	if v := cfg.Get("path"); v != nil && v.Str != "" {
		if s.path, err = compiled(v, "path"); err != nil {
			return nil, err
		}
	}
	if v := cfg.Get("idempotency_key"); v != nil && v.Str != "" {
		if s.idem, err = compiled(v, "idempotency_key"); err != nil {
			return nil, err
		}
	}
	if v := cfg.Get("body"); v != nil && len(v.Keys) > 0 {
		if s.body, err = bodyFields(v); err != nil {
			return nil, err
		}
	} else {
		s.sendRecord = s.method != http.MethodDelete
	}
	if err := s.setHeaders(cfg); err != nil {
		return nil, err
	}
	s.secrets = secretMasker(s.headers, cfg)
	// Building a transport opens nothing: connections are made on the first
	// request.
	build := func() *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = conc
		return t
	}
	if ctx.Runtime != nil && ctx.Runtime.Connections != nil {
		s.transport = ctx.Runtime.Connections.Transport(ctx.Name+"\x00"+strconv.Itoa(conc), build)
		s.keepConns = true
	} else {
		s.transport = build()
	}
	s.client = &http.Client{Transport: s.transport, CheckRedirect: sameMethodSameHost}
	return s, nil
}

func durSetting(cfg *component.Value, key string, def time.Duration) time.Duration {
	if v := cfg.Get(key); v != nil && v.Str != "" {
		return v.Dur
	}
	return def
}

func intSetting(cfg *component.Value, key string, def int64) int64 {
	if v := cfg.Get(key); v != nil && v.Str != "" {
		return v.Int
	}
	return def
}

// compiled returns the compiled expression of a setting. The compiler has
// compiled every expression before a sink is built; a missing one is a bug
// in the caller, reported rather than panicking.
func compiled(v *component.Value, what string) (*exprs.Program, error) {
	p, ok := v.Expr.(*exprs.Program)
	if !ok || p == nil {
		return nil, fmt.Errorf("%s was not compiled", what)
	}
	return p, nil
}

func bodyFields(v *component.Value) ([]bodyField, error) {
	var out []bodyField
	for _, k := range v.Keys {
		child := v.Map[k]
		f := bodyField{name: k, key: append(record.AppendString(nil, k), ':')}
		if child.IsExpr {
			p, err := compiled(child, "body field "+k)
			if err != nil {
				return nil, err
			}
			f.prog = p
		} else {
			nested, err := bodyFields(child)
			if err != nil {
				return nil, err
			}
			f.nested = nested
		}
		out = append(out, f)
	}
	return out, nil
}

// sensitiveHeader reports whether a header's name says it carries a
// credential, so its value is redacted even when typed into the file.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "idempotency-key" {
		return false
	}
	for _, w := range []string{"authorization", "cookie", "token", "secret", "password", "api-key", "apikey", "api_key", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func (s *httpSink) setHeaders(cfg *component.Value) error {
	hasType := false
	if h := cfg.Get("headers"); h != nil {
		for _, k := range h.Keys {
			v := h.Map[k]
			if !validHeaderName(k) || strings.ContainsAny(v.Str, "\r\n\x00") {
				return fmt.Errorf("header %q is not a valid header", k)
			}
			name := http.CanonicalHeaderKey(k)
			hasType = hasType || name == "Content-Type"
			s.headers = append(s.headers, header{name, v.Str, v.Secret || sensitiveHeader(name)})
		}
	}
	if !hasType && (s.sendRecord || s.body != nil) {
		s.headers = append(s.headers, header{"Content-Type", "application/json", false})
	}
	s.headers = append(s.headers, header{"User-Agent", "pipectl", false})
	auth := cfg.Get("auth")
	if auth == nil {
		return nil
	}
	get := func(k string) string {
		if v := auth.Get(k); v != nil {
			return v.Str
		}
		return ""
	}
	switch get("type") {
	case "bearer":
		s.headers = append(s.headers, header{"Authorization", "Bearer " + get("token"), true})
	case "basic":
		cred := base64.StdEncoding.EncodeToString([]byte(get("username") + ":" + get("password")))
		s.headers = append(s.headers, header{"Authorization", "Basic " + cred, true})
	case "api_key":
		name := get("header")
		if name == "" {
			name = "X-API-Key"
		}
		if !validHeaderName(name) {
			return fmt.Errorf("auth header %q is not a valid header name", name)
		}
		s.headers = append(s.headers, header{http.CanonicalHeaderKey(name), get("token"), true})
	}
	if strings.ContainsAny(get("token")+get("username")+get("password"), "\r\n\x00") {
		return errors.New("auth holds a line break")
	}
	return nil
}

// sameMethodSameHost follows only redirects that keep the method and body
// (307, 308) and stay on the host the credentials were meant for; any other
// redirect is the response.
func sameMethodSameHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.Response == nil || (req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect) ||
		req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return http.ErrUseLastResponse
	}
	return nil
}

// prepared is a request built from a record, sent as many times as it takes.
type prepared struct {
	url  string
	key  string // Idempotency-Key, "" for none
	body []byte // nil for none
	// shown is the URL as it may appear in messages.
	shown string
}

// prepare evaluates the record's expressions: the request it would send.
func (s *httpSink) prepare(rec *record.Record, machine *vm.VM) (*prepared, error) {
	p := &prepared{url: s.base}
	var env map[string]any
	fields := func() map[string]any {
		if env == nil {
			env = rec.Fields(s.decode)
		}
		return env
	}
	if s.path != nil {
		v, err := s.path.Run(machine, fields())
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		ps, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("path gave %s, not a string", typeName(v))
		}
		p.url = s.base + ps
		u, err := url.Parse(p.url)
		if err != nil {
			return nil, fmt.Errorf("path %q does not make a valid URL", ps)
		}
		if u.Scheme != s.baseURL.Scheme || u.Host != s.baseURL.Host {
			return nil, fmt.Errorf("path %q changes the URL's host", ps)
		}
	}
	p.shown = p.url
	if s.urlSecret {
		p.shown = component.Redacted
	} else if u, err := url.Parse(p.url); err == nil {
		p.shown = u.Redacted()
	}
	if s.idem != nil {
		v, err := s.idem.Run(machine, fields())
		if err != nil {
			return nil, fmt.Errorf("idempotency_key: %w", err)
		}
		switch k := v.(type) {
		case string:
			p.key = k
		case int, int64, uint64:
			p.key = fmt.Sprint(k)
		default:
			return nil, fmt.Errorf("idempotency_key gave %s, not a string", typeName(v))
		}
		if p.key == "" || strings.ContainsAny(p.key, "\r\n\x00") {
			return nil, fmt.Errorf("idempotency_key gave %q: a key must be a non-empty line", p.key)
		}
	}
	switch {
	case s.body != nil:
		b, err := appendObject(make([]byte, 0, 256), s.body, fields(), machine, "")
		if err != nil {
			return nil, err
		}
		p.body = b
	case s.sendRecord:
		p.body = rec.Raw
	}
	return p, nil
}

// typeName names a value's type in the user's terms.
func typeName(v any) string { return exprs.KindOf(v) }

// appendObject appends the JSON object a body mapping makes of env: the
// http and nats sinks' `body`, a postgres sink's nested column.
func appendObject(b []byte, fields []bodyField, env map[string]any, machine *vm.VM, path string) ([]byte, error) {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		if f.nested != nil {
			var err error
			if b, err = appendObject(b, f.nested, env, machine, path+f.name+"."); err != nil {
				return b, err
			}
			continue
		}
		v, err := f.prog.Run(machine, env)
		if err != nil {
			return b, fmt.Errorf("body field %s%s: %w", path, f.name, err)
		}
		if b, err = record.AppendJSON(b, v); err != nil {
			return b, fmt.Errorf("body field %s%s: %w", path, f.name, err)
		}
	}
	return append(b, '}'), nil
}

// Describe returns the request the sink would send for rec, as an
// *HTTPRequest, with credentials redacted. It does no I/O.
func (s *httpSink) Describe(rec *record.Record) (any, error) {
	s.dmu.Lock()
	p, err := s.prepare(rec, &s.dvm)
	s.dmu.Unlock()
	if err != nil {
		return nil, err
	}
	d := &HTTPRequest{Method: s.method, URL: p.shown, Headers: map[string]string{}}
	for _, h := range s.headers {
		if h.secret {
			d.Headers[h.name] = component.Redacted
		} else {
			d.Headers[h.name] = h.value
		}
	}
	if p.key != "" {
		d.Headers["Idempotency-Key"] = p.key
	}
	if p.body != nil {
		d.Body = json.RawMessage(p.body)
	}
	return d, nil
}

// Write prepares the record's request and sends it in the background. An
// error preparing it (an expression that fails) is returned; a request that
// fails later is reported through Fail. ctx bounds the request, its retries
// and the wait for a free slot.
func (s *httpSink) Write(ctx context.Context, rec *record.Record) error {
	if s.closed {
		return errors.New("http sink written after Close")
	}
	p, err := s.prepare(rec, &s.vm)
	if err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", component.ErrNotDelivered, context.Cause(ctx))
	case <-s.stopCtx.Done():
		return component.ErrNotDelivered
	}
	s.wg.Add(1)
	s.stats.begin()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		defer s.stats.end()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.stopCtx, cancel)()
		if err := s.send(rctx, p); err != nil {
			s.report(rec, err)
		} else if s.delivered != nil {
			detail := p.shown
			if p.key != "" {
				detail += ", Idempotency-Key " + p.key
			}
			s.delivered(s.name, rec, detail)
		}
	}()
	return nil
}

func (s *httpSink) report(rec *record.Record, err error) {
	if s.fail != nil {
		s.fail(rec, err)
		return
	}
	s.fmu.Lock()
	s.failed = append(s.failed, err)
	s.fmu.Unlock()
}

// Flush waits for the requests in flight, or for ctx.
func (s *httpSink) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("requests still in flight: %w", context.Cause(ctx))
	}
}

// Close waits for the requests in flight; without commit it first stops
// them, and each is reported through Fail as not delivered.
func (s *httpSink) Close(ctx context.Context, commit bool) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !commit {
		s.stop()
	}
	err := s.Flush(ctx)
	s.stop()
	s.wg.Wait()
	if !s.keepConns {
		s.transport.CloseIdleConnections()
	}
	if err != nil {
		return err
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if len(s.failed) > 0 {
		return fmt.Errorf("%d request(s) failed, the first: %w", len(s.failed), s.failed[0])
	}
	return nil
}

// Delivery reports the sink's attempts, retries and busy time.
func (s *httpSink) Delivery() component.Delivery { return s.stats.snapshot() }

// deliveryStats counts a background sink's deliveries. Busy time is the
// wall time during which at least one delivery was in flight, which is what
// the sink cost the run: requests overlap, so summing them would overstate
// it, and the time Write took understates it.
type deliveryStats struct {
	mu                sync.Mutex
	attempts, retries int64
	inFlight          int64
	busy              time.Duration
	busySince         time.Time
}

func (d *deliveryStats) begin() {
	d.mu.Lock()
	if d.inFlight == 0 {
		d.busySince = time.Now()
	}
	d.inFlight++
	d.mu.Unlock()
}

func (d *deliveryStats) end() {
	d.mu.Lock()
	d.inFlight--
	if d.inFlight == 0 {
		d.busy += time.Since(d.busySince)
	}
	d.mu.Unlock()
}

func (d *deliveryStats) attempt(n int) {
	d.mu.Lock()
	d.attempts++
	if n > 1 {
		d.retries++
	}
	d.mu.Unlock()
}

func (d *deliveryStats) snapshot() component.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := component.Delivery{Attempts: d.attempts, Retries: d.retries, Busy: d.busy, InFlight: d.inFlight}
	if d.inFlight > 0 {
		out.Busy += time.Since(d.busySince)
	}
	return out
}

// secretMasker replaces the credentials the sink sends, as sent and as
// configured, with component.Redacted.
func secretMasker(headers []header, cfg *component.Value) *strings.Replacer {
	var values []string
	add := func(v string) {
		if len(v) >= 4 { // shorter values would mask ordinary words
			values = append(values, v)
		}
	}
	for _, h := range headers {
		if !h.secret {
			continue
		}
		add(h.value)
		if scheme, cred, ok := strings.Cut(h.value, " "); ok && (scheme == "Bearer" || scheme == "Basic") {
			add(cred)
		}
	}
	cfg.Walk(func(v *component.Value) {
		if v.Secret {
			add(v.Str)
		}
	})
	// Longest first, so a value containing another is masked whole.
	slices.SortFunc(values, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	values = slices.Compact(values)
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, component.Redacted)
	}
	return strings.NewReplacer(pairs...)
}

// statusError is a response that is not a success.
type statusError struct {
	method, url string
	status      int
	body        string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.method, e.url, e.status, http.StatusText(e.status))
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// observe reports an attempt's status (0: no answer) to Runtime.Answered.
func (s *httpSink) observe(status int) {
	if s.answered != nil {
		s.answered(s.name, status)
	}
}

// RetryPolicy is the sink's retry settings, for the retries serve keeps.
func (s *httpSink) RetryPolicy() component.RetryPolicy {
	return component.RetryPolicy{MaxAttempts: s.maxAttempts, Backoff: s.backoff, MaxBackoff: s.maxBackoff, MaxAge: s.maxAge}
}

// retryable reports whether a status may succeed when tried again.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// send makes the request's attempts: until a success, a status that will
// not change, max_attempts, or ctx. A failure is a *component.DeliveryError
// with the last status and the attempts made.
func (s *httpSink) send(ctx context.Context, p *prepared) error {
	var last error
	status := 0
	for attempt := 1; ; attempt++ {
		s.stats.attempt(attempt)
		retryAfter, err := s.attempt(ctx, p)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return &component.DeliveryError{Status: status, Attempts: attempt,
				Err: fmt.Errorf("%w: %s %s stopped after %d attempt(s)", component.ErrNotDelivered, s.method, p.shown, attempt)}
		}
		last = err
		var se *statusError
		if errors.As(err, &se) {
			status = se.status
			if !retryable(se.status) {
				return &component.DeliveryError{Status: status, Attempts: attempt, Err: err}
			}
		}
		if s.retryLater {
			return &component.DeliveryError{Status: status, Attempts: attempt, Err: err, Retryable: true, RetryAfter: retryAfter}
		}
		if attempt >= s.maxAttempts {
			if s.maxAttempts > 1 {
				last = fmt.Errorf("%w (gave up after %d attempts)", last, attempt)
			}
			return &component.DeliveryError{Status: status, Attempts: attempt, Err: last}
		}
		wait := s.delay(attempt, retryAfter)
		if s.logger != nil {
			s.logger.Warn("retrying", "sink", s.name, "attempt", attempt, "of", s.maxAttempts, "wait", wait.Round(time.Millisecond).String(), "error", err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &component.DeliveryError{Status: status, Attempts: attempt,
				Err: fmt.Errorf("%w: %s %s stopped waiting to retry after %d attempt(s): %w", component.ErrNotDelivered, s.method, p.shown, attempt, last)}
		}
	}
}

// delay is the wait after a failed attempt (1 for the first): the sink's
// backoff with jitter (component.RetryPolicy.Delay), at least what
// Retry-After asked, at most max_backoff. With the defaults the total wait
// over all attempts is at least two minutes.
func (s *httpSink) delay(attempt int, retryAfter time.Duration) time.Duration {
	return component.RetryPolicy{Backoff: s.backoff, MaxBackoff: s.maxBackoff}.Delay(attempt, retryAfter)
}

// attempt sends the request once. It returns the wait a Retry-After header
// asks for, and the error: a *statusError for a response that is not a
// success, the cause for a request that got no response.
func (s *httpSink) attempt(ctx context.Context, p *prepared) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var body io.Reader
	if p.body != nil {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, s.method, p.url, body)
	if err != nil {
		// The error would quote the URL, which may hold a secret.
		return 0, fmt.Errorf("%s %s: cannot make the request", s.method, p.shown)
	}
	for _, h := range s.headers {
		req.Header.Set(h.name, h.value)
	}
	if p.key != "" {
		req.Header.Set("Idempotency-Key", p.key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.observe(0)
		return 0, fmt.Errorf("%s %s: %s", s.method, p.shown, s.secrets.Replace(networkError(err, s.timeout)))
	}
	defer resp.Body.Close()
	s.observe(resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
		return 0, nil
	}
	text := s.secrets.Replace(readSnippet(resp.Body, 1024))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return parseRetryAfter(resp.Header.Get("Retry-After"), s.now()), &statusError{method: s.method, url: p.shown, status: resp.StatusCode, body: text}
}

// networkError words a failed round trip without the URL (which may hold a
// secret; the caller names it as it may be shown).
func networkError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no response within %s", timeout)
	}
	return err.Error()
}

// readSnippet reads up to n bytes of a response body for a message.
func readSnippet(r io.Reader, n int) string {
	b, _ := io.ReadAll(io.LimitReader(r, int64(n)+1))
	truncated := len(b) > n
	if truncated {
		b = b[:n]
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if truncated {
		text += "… (truncated)"
	}
	return text
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
// Anything else asks for no particular wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}
