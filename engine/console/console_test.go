package console_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/console"
	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/shopspring/decimal"
)

const secret = "hush"

// env is a console over a real serve.Server on a real SQLite queue, its
// pipeline delivering to a stand-in WMS, all on loopback.
type env struct {
	t    *testing.T
	q    state.Queue
	srv  *serve.Server
	ui   *httptest.Server // the console and the webhooks, as serve mounts them
	wms  *httptest.Server
	opts console.Config
	dir  string // the pipeline's folder
	c    *console.Console
}

func newEnv(t *testing.T, readOnly bool) *env {
	t.Helper()
	return newEnvWith(t, readOnly, defaultPipeline, nil)
}

const defaultPipeline = `pipeline: orders
triggers:
  created:
    webhook: {path: /hooks/orders, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}, schema: order.schema.json}
steps:
  ticket:
    from: orders
    map: {order_id: string(id), email: email}
sinks:
  wms:
    from: ticket
    http: {url: "${WMS}/tickets", idempotency_key: order_id}
`

// newEnvWith serves text (its ${WMS} the stand-in's URL) with files
// beside it; with inventory, allocate runs against a store holding it.
func newEnvWith(t *testing.T, readOnly bool, text string, files map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	wms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(wms.Close)
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "${WMS}", wms.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	schema := `{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "email": {"type": "string"}}}`
	if err := os.WriteFile(filepath.Join(dir, "order.schema.json"), []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	lookup := func(k string) (string, bool) {
		if k == "SECRET" {
			return secret, true
		}
		return "", false
	}
	copts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: lookup},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(), Check: engine.Check,
	}
	plan, f, ds := pipelines.Validate(path, copts)
	if plan == nil || ds.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", ds.Err())
	}
	q, err := state.OpenQueue(context.Background(), "sqlite://"+dir+"/", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	var inv state.Store
	if plan.UsesState() {
		if inv, err = state.Open(context.Background(), "sqlite://"+dir+"/", state.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { inv.Close() })
		for _, l := range []struct {
			sku, loc string
			qty      int64
		}{{"RED", "wh-east", 1}, {"RED", "wh-west", 5}, {"BLUE", "wh-east", 0}} {
			if _, err := inv.SetLevel(context.Background(), component.LevelUpdate{SKU: l.sku, Location: l.loc, Quantity: decimal.NewFromInt(l.qty)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, PollEvery: 5 * time.Millisecond, LookupEnv: lookup})
	if err := srv.Load([]*serve.Pipeline{{Plan: plan, File: f, Path: path, Version: "v1", RulesVersion: f.RulesVersion()}}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := console.Config{Server: srv, ReadOnly: readOnly, Compile: &copts, Reload: func() error {
		plan, f, ds := pipelines.Validate(path, copts)
		if plan == nil || ds.HasErrors() {
			return ds.Err()
		}
		return srv.Load([]*serve.Pipeline{{Plan: plan, File: f, Path: path, Version: "v2", RulesVersion: f.RulesVersion()}})
	}}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := http.NewServeMux()
	h := c.Handler()
	root.Handle("/ui/", h)
	root.Handle("/api/v1/", h)
	root.Handle("/", srv.Handler())
	ui := httptest.NewServer(root)
	t.Cleanup(ui.Close)
	return &env{t: t, q: q, srv: srv, ui: ui, wms: wms, opts: cfg, dir: dir, c: c}
}

// token makes a token of role and returns it.
func (e *env) token(name, role string) string {
	e.t.Helper()
	tok, _, err := ops.CreateToken(context.Background(), e.q, name, role, "test", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// deadLetter stores an open dead letter and returns its id.
func (e *env) deadLetter(node, errText, payload string) int64 {
	e.t.Helper()
	ids, err := e.q.AddDeadLetters(context.Background(), []*state.DeadLetter{{Pipeline: "orders", Version: "v1", Trigger: "created",
		Node: node, Error: errText, Payload: []byte(payload), Status: state.DeadOpen}})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids[0]
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request; token "" sends none; hdr adds headers.
func (e *env) do(method, path, token, body string, hdr ...string) answer {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.ui.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) webhook(body, event string) {
	e.t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	a := e.do(http.MethodPost, "/hooks/orders", "", body, "X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)),
		"X-Shopify-Event-Id", event)
	if a.status != 200 {
		e.t.Fatalf("webhook: %d %s", a.status, a.body)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The overview answers "is anything wrong?" with no click: a pipeline
// with open dead letters is degraded and says why, and the dead letters
// are grouped by node and error with their count, in the page and in
// the API.
func TestOverviewShowsDegradedPipelinesAndDeadLetterGroups(t *testing.T) {
	e := newEnv(t, false)
	for range 3 {
		e.deadLetter("wms", "422 Unprocessable Entity: carrier code EXP unknown", `{"id": 1}`)
	}
	e.deadLetter("ticket", "email: not a string", `{"id": 2}`)
	a := e.do(http.MethodGet, "/ui/", "", "")
	if a.status != 200 {
		t.Fatalf("GET /ui/: %d %s", a.status, a.body)
	}
	for _, want := range []string{`1 degraded`, `4 open dead letters`, `carrier code EXP unknown</a></td><td class="num">3</td>`,
		`email: not a string</a></td><td class="num">1</td>`, `href="/ui/pipelines/orders"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the overview lacks %q:\n%s", want, a.body)
		}
	}
	var ov console.Overview
	api := e.do(http.MethodGet, "/api/v1/overview", "", "")
	if err := json.Unmarshal([]byte(api.body), &ov); err != nil {
		t.Fatalf("%v: %s", err, api.body)
	}
	if ov.Degraded != 1 || len(ov.Pipelines) != 1 || ov.Pipelines[0].DeadLetters != 4 || len(ov.Groups) != 2 || ov.Groups[0].Count != 3 {
		t.Errorf("overview JSON: %+v", ov)
	}
}

// The pipeline screen draws the DAG server-side with each node's counts
// and lists the same nodes as a keyboard-navigable list; the graph
// refreshes from its own URL.
func TestPipelineScreenDrawsTheDAGWithCounts(t *testing.T) {
	e := newEnv(t, false)
	e.webhook(`{"id": 7, "email": "ana@example.com"}`, "ev-7")
	eventually(t, "the delivery run", func() bool { return e.srv.NodeTotals("orders")["wms"].Out == 1 })
	a := e.do(http.MethodGet, "/ui/pipelines/orders", "", "")
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg" class="pipectl-dag"`, `data-node="wms"`, `in 1 · out 1`,
		`hx-get="/ui/pipelines/orders/graph.svg"`, `<li tabindex="0" data-node="ticket"><strong>ticket</strong> <em>map</em>`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the pipeline page lacks %q", want)
		}
	}
	if strings.Contains(a.body, "<style>") {
		t.Error("the inline SVG carries a <style>, which the CSP refuses")
	}
	svg := e.do(http.MethodGet, "/ui/pipelines/orders/graph.svg", "", "")
	if svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.body, "<svg") {
		t.Errorf("graph.svg: %s %.80s", svg.header.Get("Content-Type"), svg.body)
	}
	var pv console.PipelineView
	if err := json.Unmarshal([]byte(e.do(http.MethodGet, "/api/v1/pipelines/orders", "", "").body), &pv); err != nil {
		t.Fatal(err)
	}
	if len(pv.Nodes) != 4 || pv.Nodes[3].Name != "wms" || pv.Nodes[3].In != 1 || pv.Nodes[3].From[0] != "ticket" {
		t.Errorf("pipeline JSON nodes: %+v", pv.Nodes)
	}
	if got := e.do(http.MethodGet, "/ui/pipelines/nope", "", ""); got.status != 404 {
		t.Errorf("an unknown pipeline: %d", got.status)
	}
}

// Once a token is in force, nothing is shown without one: the API answers
// 401, a page sends the browser to sign in. A viewer reads; every write
// answers a viewer 403; an operator's write goes through ops and is
// audited under the token's name; a revoked token is refused at once.
func TestTokensAndRoles(t *testing.T) {
	e := newEnv(t, false)
	viewer := e.token("grafana", "viewer")
	operator := e.token("ops", "operator")
	id := e.deadLetter("wms", "422", `{"id": 1}`)

	if a := e.do(http.MethodGet, "/api/v1/overview", "", ""); a.status != 401 || a.header.Get("WWW-Authenticate") == "" {
		t.Errorf("the API without a token: %d", a.status)
	}
	if a := e.do(http.MethodGet, "/ui/dlq", "", ""); a.status != 303 || a.header.Get("Location") != "/ui/login?next=%2Fui%2Fdlq" {
		t.Errorf("a page without a token: %d to %s", a.status, a.header.Get("Location"))
	}
	if a := e.do(http.MethodGet, "/api/v1/overview", "pct_abc_wrong", ""); a.status != 401 {
		t.Errorf("a wrong token: %d", a.status)
	}
	for _, path := range []string{"/api/v1/overview", "/api/v1/pipelines/orders", "/api/v1/dlq", "/api/v1/dlq/1", "/ui/", "/ui/dlq"} {
		if a := e.do(http.MethodGet, path, viewer, ""); a.status != 200 {
			t.Errorf("viewer GET %s: %d %s", path, a.status, a.body)
		}
	}
	writes := []string{"/api/v1/dlq/1/resolve", "/ui/dlq/1/resolve"}
	for _, path := range writes {
		body := `{"reason": "test"}`
		if strings.HasPrefix(path, "/ui/") {
			body = "reason=test"
		}
		if a := e.do(http.MethodPost, path, viewer, body); a.status != 403 || !strings.Contains(a.body, "your role (viewer) may not do this") {
			t.Errorf("viewer POST %s: %d %s", path, a.status, a.body)
		}
	}
	if a := e.do(http.MethodPost, "/api/v1/dlq/1/resolve", operator, `{"reason": ""}`); a.status != 400 {
		t.Errorf("resolving without a reason: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/api/v1/dlq/1/resolve", operator, `{"reason": "customer cancelled"}`); a.status != 200 {
		t.Fatalf("operator resolve: %d %s", a.status, a.body)
	}
	dl, _ := e.q.DeadLetter(context.Background(), id)
	if dl.Status != state.DeadResolved || dl.Reason != "customer cancelled" {
		t.Errorf("after resolve: %s %q", dl.Status, dl.Reason)
	}
	audit, _ := e.q.ListAudit(context.Background(), "dlq/1", 0)
	if len(audit) != 1 || audit[0].Actor != "token:ops" || audit[0].Action != "dlq.resolve" {
		t.Errorf("audit: %+v", audit)
	}
	if _, err := ops.RevokeToken(context.Background(), e.q, "grafana", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if a := e.do(http.MethodGet, "/api/v1/overview", viewer, ""); a.status != 401 {
		t.Errorf("a revoked token: %d", a.status)
	}
}

// Viewers see emails, names and addresses masked and the resolve control
// disabled with the reason; operators see the payload whole.
func TestViewerSeesPIIMaskedAndNoWriteControl(t *testing.T) {
	e := newEnv(t, false)
	viewer := e.token("grafana", "viewer")
	operator := e.token("ops", "operator")
	id := e.deadLetter("wms", "422", `{"id": 1, "email": "ana@example.com", "line_items": [{"name": "Blue mug"}],
		"shipping_address": {"name": "Ana Silva", "address1": "1 Rua Augusta", "city": "Lisboa"}}`)
	page := "/ui/dlq/" + itoa(id)
	v := e.do(http.MethodGet, page, viewer, "")
	for _, leaked := range []string{"ana@example.com", "Ana Silva", "1 Rua Augusta"} {
		if strings.Contains(v.body, leaked) {
			t.Errorf("a viewer sees %q", leaked)
		}
	}
	for _, want := range []string{"Blue mug", "Lisboa", "masked for your role", `<button type="submit" disabled title="your role (viewer) may not do this">Resolve</button>`} {
		if !strings.Contains(v.body, want) {
			t.Errorf("the viewer's page lacks %q", want)
		}
	}
	o := e.do(http.MethodGet, page, operator, "")
	if !strings.Contains(o.body, "ana@example.com") || !strings.Contains(o.body, `<button type="submit" >Resolve</button>`) {
		t.Errorf("the operator's page hides the email or disables resolve:\n%s", o.body)
	}
}

// A read-only console refuses every write, whatever the role, and draws
// the control disabled with the reason.
func TestReadOnlyRefusesWrites(t *testing.T) {
	e := newEnv(t, true)
	admin := e.token("root", "admin")
	id := e.deadLetter("wms", "422", `{"id": 1}`)
	if a := e.do(http.MethodPost, "/api/v1/dlq/"+itoa(id)+"/resolve", admin, `{"reason": "x"}`); a.status != 403 || !strings.Contains(a.body, "read-only") {
		t.Errorf("a write on a read-only console: %d %s", a.status, a.body)
	}
	if a := e.do(http.MethodGet, "/ui/dlq/"+itoa(id), admin, ""); !strings.Contains(a.body, `disabled title="the console is read-only"`) {
		t.Errorf("the resolve control is not disabled:\n%s", a.body)
	}
}

// Signing in exchanges a token for an HttpOnly, SameSite=Strict session
// cookie; a cross-origin POST carrying it is refused 403 and changes
// nothing; signing out ends the session.
func TestSessionCookieAndCrossOriginProtection(t *testing.T) {
	e := newEnv(t, false)
	operator := e.token("ops", "operator")
	id := e.deadLetter("wms", "422", `{"id": 1}`)
	a := e.do(http.MethodPost, "/ui/login", "", "token="+url.QueryEscape(operator)+"&next=%2Fui%2Fdlq")
	if a.status != 303 || a.header.Get("Location") != "/ui/dlq" {
		t.Fatalf("sign in: %d to %s", a.status, a.header.Get("Location"))
	}
	ck := a.header.Get("Set-Cookie")
	for _, want := range []string{"pipectl_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("the session cookie lacks %s: %s", want, ck)
		}
	}
	cookie := strings.SplitN(ck, ";", 2)[0]
	if a := e.do(http.MethodGet, "/ui/dlq", "", "", "Cookie", cookie); a.status != 200 {
		t.Errorf("with the session: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/ui/login", "", "token=pct_x_y"); a.status != 401 || !strings.Contains(a.body, "unknown or revoked") {
		t.Errorf("a wrong token at sign in: %d", a.status)
	}
	path := "/ui/dlq/" + itoa(id) + "/resolve"
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		a := e.do(http.MethodPost, path, "", "reason=x", "Cookie", cookie, hdr[0], hdr[1])
		if a.status != 403 {
			t.Errorf("a cross-origin POST (%s: %s): %d", hdr[0], hdr[1], a.status)
		}
	}
	if dl, _ := e.q.DeadLetter(context.Background(), id); dl.Status != state.DeadOpen {
		t.Errorf("a refused POST changed the dead letter: %s", dl.Status)
	}
	if a := e.do(http.MethodPost, path, "", "reason=fixed+in+the+WMS", "Cookie", cookie, "Sec-Fetch-Site", "same-origin"); a.status != 303 {
		t.Errorf("a same-origin POST: %d %s", a.status, a.body)
	}
	e.do(http.MethodPost, "/ui/logout", "", "", "Cookie", cookie, "Sec-Fetch-Site", "same-origin")
	if a := e.do(http.MethodGet, "/ui/dlq", "", "", "Cookie", cookie); a.status != 303 {
		t.Errorf("after signing out: %d", a.status)
	}
}

// Nothing loads from outside the machine: every page carries a CSP of
// 'self', refers to no other origin, and the embedded htmx is the file
// SHA256SUMS names.
func TestNothingLoadsFromElsewhere(t *testing.T) {
	e := newEnv(t, false)
	e.deadLetter("wms", "422", `{"id": 1}`)
	external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	for _, path := range []string{"/ui/", "/ui/pipelines/orders", "/ui/dlq", "/ui/dlq/1", "/ui/login"} {
		a := e.do(http.MethodGet, path, "", "")
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s CSP: %q", path, csp)
		}
		if m := external.FindString(a.body); m != "" {
			t.Errorf("%s refers elsewhere: %s", path, m)
		}
		if strings.Contains(a.body, "<script>") || strings.Contains(a.body, "<style>") || strings.Contains(a.body, " style=") {
			t.Errorf("%s has inline script or style", path)
		}
	}
	sums, err := os.ReadFile("assets/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		got := e.do(http.MethodGet, "/ui/assets/"+f[1], "", "")
		sum := sha256.Sum256([]byte(got.body))
		if got.status != 200 || hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("/ui/assets/%s: %d, sha256 %x, SHA256SUMS says %s", f[1], got.status, sum, f[0])
		}
	}
	if a := e.do(http.MethodGet, "/ui/assets/dag.css", "", ""); !strings.Contains(a.body, ".pipectl-dag .edge.error") {
		t.Errorf("dag.css: %.100s", a.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A dead letter is edited, previewed and replayed from the console: an
// edit its source's schema refuses is shown again with the reason at the
// field and nothing saved; a dry run shows what the WMS would receive and
// changes nothing; the replay delivers and resolves the entry itself.
func TestDeadLetterEditPreviewReplay(t *testing.T) {
	e := newEnv(t, false)
	operator := e.token("ops", "operator")
	id := e.deadLetter("orders", "the WMS refused it", `{"id": 41, "email": 5}`)
	page := "/ui/dlq/" + itoa(id)
	bad := e.do(http.MethodPost, page+"/edit", operator, "payload="+url.QueryEscape(`{"id": "forty-one"}`), "Sec-Fetch-Site", "same-origin")
	if bad.status != 422 || !strings.Contains(bad.body, `aria-invalid="true"`) || !strings.Contains(bad.body, "orders refuses the payload") ||
		!strings.Contains(bad.body, "forty-one") {
		t.Fatalf("a payload the schema refuses: %d\n%s", bad.status, bad.body)
	}
	if dl, _ := e.q.DeadLetter(context.Background(), id); dl.Edited != nil {
		t.Fatalf("a refused edit was saved: %s", dl.Edited)
	}
	if a := e.do(http.MethodPost, "/api/v1/dlq/"+itoa(id)+"/edit", operator, `{"payload": {"id": 41, "email": "ana@example.com"}, "reason": "email fixed"}`); a.status != 200 {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	dry := e.do(http.MethodPost, "/api/v1/dlq/"+itoa(id)+"/replay?dry_run=1", operator, "")
	var rv console.ReplayView
	if err := json.Unmarshal([]byte(dry.body), &rv); err != nil || len(rv.Results) != 1 || !rv.Results[0].OK || len(rv.Results[0].Would["wms"]) != 1 {
		t.Fatalf("dry run: %v %s", err, dry.body)
	}
	if !strings.Contains(dry.body, `"order_id": "41"`) {
		t.Errorf("the dry run does not show the ticket the WMS would get:\n%s", dry.body)
	}
	if dl, _ := e.q.DeadLetter(context.Background(), id); dl.Status != state.DeadOpen {
		t.Fatalf("a dry run changed the entry: %s", dl.Status)
	}
	if a := e.do(http.MethodPost, page+"/replay", operator, "x=1", "Sec-Fetch-Site", "same-origin"); a.status != 200 || !strings.Contains(a.body, "delivered, resolved") {
		t.Fatalf("replay: %d\n%s", a.status, a.body)
	}
	if dl, _ := e.q.DeadLetter(context.Background(), id); dl.Status != state.DeadResolved {
		t.Errorf("a replay that went through left the entry %s", dl.Status)
	}
	audit, _ := e.q.ListAudit(context.Background(), "dlq/"+itoa(id), 0)
	if len(audit) != 2 || audit[0].Action != "dlq.replay" || audit[1].Action != "dlq.edit" || audit[1].Actor != "token:ops" {
		t.Errorf("audit: %+v", audit)
	}
	viewer := e.token("grafana", "viewer")
	if a := e.do(http.MethodGet, "/api/v1/audit", viewer, ""); strings.Contains(a.body, "ana@example.com") {
		t.Errorf("a viewer reads the edited payload's email in the history:\n%s", a.body)
	}
	if a := e.do(http.MethodGet, "/api/v1/audit", operator, ""); !strings.Contains(a.body, "ana@example.com") {
		t.Error("an operator's history lacks the edit's payload")
	}
}

// A bulk replay is bound to its preview: the preview names the set and a
// plan hash; once the set changed (a new dead letter arrived), the hash
// gets 409 and nothing is replayed; a fresh preview's hash replays them
// all.
func TestBulkReplayBoundToThePreviewedSet(t *testing.T) {
	e := newEnv(t, false)
	operator := e.token("ops", "operator")
	for i := range 3 {
		e.deadLetter("orders", "the WMS was down", `{"id": `+strconv.Itoa(100+i)+`}`)
	}
	var pv console.ReplayView
	a := e.do(http.MethodPost, "/api/v1/dlq/preview?pipeline=orders&node=orders", operator, "")
	if err := json.Unmarshal([]byte(a.body), &pv); err != nil || pv.Plan == nil || pv.Plan.Count != 3 || len(pv.Results) != 3 {
		t.Fatalf("preview: %v %s", err, a.body)
	}
	e.deadLetter("orders", "the WMS was down", `{"id": 200}`)
	stale := e.do(http.MethodPost, "/api/v1/dlq/replay?pipeline=orders&node=orders&plan_hash="+pv.Plan.Hash, operator, "")
	if stale.status != 409 || !strings.Contains(stale.body, "changed since the preview") {
		t.Fatalf("a stale plan: %d %s", stale.status, stale.body)
	}
	if n, _ := e.q.CountDeadLetters(context.Background()); n["orders"] != 4 {
		t.Fatalf("a refused bulk replay changed something: %d open", n["orders"])
	}
	a = e.do(http.MethodPost, "/api/v1/dlq/preview?pipeline=orders&node=orders", operator, "")
	json.Unmarshal([]byte(a.body), &pv)
	if pv.Plan.Count != 4 {
		t.Fatalf("second preview: %s", a.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/dlq/replay?pipeline=orders&node=orders&plan_hash="+pv.Plan.Hash, operator, ""); a.status != 200 {
		t.Fatalf("a fresh plan: %d %s", a.status, a.body)
	}
	if n, _ := e.q.CountDeadLetters(context.Background()); n["orders"] != 0 {
		t.Errorf("%d still open after the bulk replay", n["orders"])
	}
}

// Pausing a pipeline from the console holds its runs, not its intake: a
// webhook is still acknowledged and queued, nothing reaches the WMS, the
// overview says paused and by whom; resuming runs what queued. Both are
// audited; a viewer may do neither; a webhook trigger cannot be paused
// alone.
func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, false)
	operator := e.token("ops", "operator")
	viewer := e.token("grafana", "viewer")
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/pause", viewer, `{"reason": "x"}`); a.status != 403 {
		t.Errorf("a viewer pausing: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/pause", operator, `{"reason": ""}`); a.status != 400 {
		t.Errorf("a pause without a reason: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/pause", operator, `{"trigger": "created", "reason": "x"}`); a.status != 400 || !strings.Contains(a.body, "no cron trigger") {
		t.Errorf("pausing a webhook trigger: %d %s", a.status, a.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/pause", operator, `{"reason": "WMS maintenance 14:00-15:00"}`); a.status != 200 {
		t.Fatalf("pause: %d %s", a.status, a.body)
	}
	e.webhook(`{"id": 9, "email": "ana@example.com"}`, "ev-9")
	time.Sleep(300 * time.Millisecond) // a worker polls every 5 ms here: it would have run by now
	if d, _ := e.q.Depth(context.Background(), "orders"); d.Queued != 1 {
		t.Fatalf("a paused pipeline ran its delivery: %+v", d)
	}
	var ov console.Overview
	json.Unmarshal([]byte(e.do(http.MethodGet, "/api/v1/overview", viewer, "").body), &ov)
	if ov.Paused != 1 || ov.Pipelines[0].Status != "paused" || !strings.Contains(ov.Pipelines[0].Why[0], "paused by token:ops: WMS maintenance") {
		t.Errorf("overview while paused: %+v", ov)
	}
	runs := e.do(http.MethodGet, "/ui/runs", operator, "")
	if !strings.Contains(runs.body, "Resume orders") || !strings.Contains(runs.body, "WMS maintenance 14:00-15:00") {
		t.Errorf("the runs page does not offer to resume:\n%s", runs.body)
	}
	if a := e.do(http.MethodPost, "/ui/pipelines/orders/resume", operator, "reason=done", "Sec-Fetch-Site", "same-origin"); a.status != 303 {
		t.Fatalf("resume: %d %s", a.status, a.body)
	}
	eventually(t, "the queued delivery run after resume", func() bool {
		d, _ := e.q.Depth(context.Background(), "orders")
		return d.Queued == 0
	})
	audit, _ := e.q.ListAudit(context.Background(), "orders", 0)
	if len(audit) != 2 || audit[0].Action != "resume" || audit[1].Action != "pause" || audit[1].Actor != "token:ops" {
		t.Errorf("audit: %+v", audit)
	}
	hist := e.do(http.MethodGet, "/ui/audit", viewer, "")
	if !strings.Contains(hist.body, "<td>pause</td>") || !strings.Contains(hist.body, "WMS maintenance") {
		t.Errorf("the history page lacks the pause:\n%s", hist.body)
	}
}

const allocatePipeline = `pipeline: orders
rules: rules.yaml
triggers:
  created:
    webhook: {path: /hooks/orders, verify: shopify, secret: "${SECRET}"}
sources:
  orders: {trigger: created, event: {}}
steps:
  allocate:
    from: orders
    allocate: {rules: fulfillment, order_id: string(id), lines: lines}
sinks:
  wms:
    from: allocate.shipments
    http: {url: "${WMS}/tickets", idempotency_key: shipment_id}
`

const allocateRules = `rules:
  fulfillment:
    fulfillment:
      allocation:
        strategy: priority
        location_priority: [wh-east, wh-west]
      split: {mode: ship_partial, max_shipments: 2}
      backorder: {policy: allow_notify, remainder_action: backorder}
`

// An order is found by its id: its timeline (allocated, a dead letter)
// and why it was allocated as it was: each line's decision with the rule
// and the rules.yaml line that set it, the ranked locations and the stock
// seen. An order nothing mentions says so.
func TestOrderTimelineAndExplain(t *testing.T) {
	e := newEnvWith(t, false, allocatePipeline, map[string]string{"rules.yaml": allocateRules})
	e.webhook(`{"id": 5001, "lines": [{"sku": "RED", "quantity": 3}, {"sku": "BLUE", "quantity": 1}]}`, "ev-5001")
	eventually(t, "the order allocated", func() bool {
		d, _ := e.q.Depth(context.Background(), "orders")
		return d.Queued == 0 && e.srv.NodeTotals("orders")["allocate"].In == 1
	})
	e.deadLetter("wms", "422 the WMS refused shipment 2", `{"id": 5001}`)
	page := e.do(http.MethodGet, "/ui/orders?q=5001", "", "")
	for _, want := range []string{"<strong>received</strong>: webhook created, event shopify::ev-5001", "<strong>processed</strong>",
		"<strong>steps</strong>: orders → allocate.shipments → wms (2 records)", "<strong>allocated</strong>", "<strong>failed at wms</strong>", "422 the WMS refused shipment 2",
		"<code>strategy:priority</code> <small>(rules.yaml:5)</small>", "1 from wh-east, 2 from wh-west", "Stock seen", "Ranked locations per SKU"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the order page lacks %q", want)
		}
	}
	var ov console.OrderView
	if err := json.Unmarshal([]byte(e.do(http.MethodGet, "/api/v1/orders/5001", "", "").body), &ov); err != nil {
		t.Fatal(err)
	}
	// received, the steps its records went through, allocated, two pick
	// tickets acknowledged by the WMS, processed, and the dead letter.
	if len(ov.Decision) != 1 || len(ov.Decision[0].Lines) != 2 || len(ov.Timeline) != 7 ||
		ov.Timeline[1].What != "steps" || ov.Timeline[1].Detail != "orders → allocate.shipments → wms (2 records)" ||
		ov.Timeline[3].What != "acknowledged" || !strings.Contains(ov.Timeline[3].Detail, "wms: ") || ov.Timeline[5].What != "processed" {
		t.Fatalf("order JSON: %+v", ov)
	}
	if l := ov.Decision[0].Lines[1]; l.SKU != "BLUE" || !l.Backordered.Equal(decimal.NewFromInt(1)) {
		t.Errorf("the BLUE line: %+v", l)
	}
	// The pipeline's documentation page: its DAG and every rule setting in
	// force, with what it means and where it is set.
	docs := e.do(http.MethodGet, "/ui/pipelines/orders/docs", "", "")
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg" class="pipectl-dag"`, "<code>fulfillment.split.max_shipments</code></td><td><code>2</code></td><td>",
		"rules.yaml:7</td><td>Most shipments per order; 0 for no limit.</td>", "<code>fulfillment.allocation.tie_breakers</code>"} {
		if !strings.Contains(docs.body, want) {
			t.Errorf("the docs page lacks %q", want)
		}
	}

	// The overview's KPIs count the order: delivered, its latency, its
	// outcome (split and short: backordered).
	var ov2 console.Overview
	json.Unmarshal([]byte(e.do(http.MethodGet, "/api/v1/overview", "", "").body), &ov2)
	k := ov2.Pipelines[0].KPI
	if k.Delivered != 1 || k.Outcomes["backordered"] != 1 || k.LatencyP99 <= 0 {
		t.Errorf("KPIs: %+v", k.KPIs)
	}
	if a := e.do(http.MethodGet, "/api/v1/orders/424242", "", ""); a.status != 404 {
		t.Errorf("an order nothing mentions: %d", a.status)
	}
	if a := e.do(http.MethodGet, "/ui/orders?q=424242", "", ""); !strings.Contains(a.body, "Nothing is recorded for order") {
		t.Errorf("the page for an unknown order:\n%s", a.body)
	}
}

// The overview's sparklines are drawn server-side from samples of the
// KPIs: none before two samples, an SVG line after.
func TestSparklinesFromSamples(t *testing.T) {
	e := newEnv(t, false)
	c, err := console.New(console.Config{Server: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
		return rec.Body.String()
	}
	if strings.Contains(get(), `<svg class="spark"`) {
		t.Error("a sparkline before any sample")
	}
	c.Sample()
	e.webhook(`{"id": 11, "email": "a@example.com"}`, "ev-11")
	eventually(t, "the delivery", func() bool { return e.srv.KPIs("orders").Delivered == 1 })
	c.Sample()
	body := get()
	if !strings.Contains(body, `<svg class="spark" viewBox="0 0 120 24"`) || !strings.Contains(body, `aria-label="orders delivered per interval, the last hour"`) {
		t.Errorf("no sparkline after two samples:\n%s", body)
	}
}

// The safe rule change: a change is planned (compiled with the whole
// pipeline; a bad value is refused at the field), reviewed with its plan
// hash, and applied with a reason: a plan whose file changed since gets
// 409 and changes nothing; a fresh one writes the rules, is recorded and
// audited, reloads, and the next order is decided by it. Rolling the
// change back is a new plan that puts the old value back.
func TestRulesPlanApplyRollback(t *testing.T) {
	e := newEnvWith(t, false, allocatePipeline, map[string]string{"rules.yaml": allocateRules})
	operator := e.token("ops", "operator")
	viewer := e.token("grafana", "viewer")
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	order := func(id int) *console.OrderView {
		body := `{"id": ` + strconv.Itoa(id) + `, "email": "ana@example.com", "lines": [{"sku": "BLUE", "quantity": 1}]}`
		e.webhook(body, "ev-"+strconv.Itoa(id))
		var ov console.OrderView
		eventually(t, "order "+strconv.Itoa(id)+" decided", func() bool {
			a := e.do(http.MethodGet, "/api/v1/orders/"+strconv.Itoa(id), viewer, "")
			return a.status == 200 && json.Unmarshal([]byte(a.body), &ov) == nil && len(ov.Decision) == 1
		})
		return &ov
	}
	if l := order(7001).Decision[0].Lines[0]; !l.Backordered.Equal(decimal.NewFromInt(1)) {
		t.Fatalf("before the change, BLUE is backordered: %+v", l)
	}
	// The order as decided is kept with its explanation: a viewer gets it
	// with the email masked, an operator whole.
	if a := e.do(http.MethodGet, "/api/v1/orders/7001", viewer, ""); strings.Contains(a.body, "ana@example.com") || !strings.Contains(a.body, `"email": "•••"`) {
		t.Errorf("a viewer's order JSON:\n%s", a.body)
	}
	if a := e.do(http.MethodGet, "/api/v1/orders/7001", operator, ""); !strings.Contains(a.body, "ana@example.com") {
		t.Errorf("an operator's order JSON lacks the email")
	}
	page := e.do(http.MethodGet, "/ui/rules/orders", viewer, "")
	if !strings.Contains(page.body, "<code>fulfillment.backorder.policy</code></td><td><code>allow_notify</code></td><td>") ||
		!strings.Contains(page.body, `<button type="submit" disabled title="your role (viewer) may not do this">Plan the change</button>`) {
		t.Errorf("the rules page for a viewer:\n%s", page.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/plan", viewer, `{"changes": ["fulfillment.backorder.policy=deny"]}`); a.status != 403 {
		t.Errorf("a viewer planning: %d", a.status)
	}
	bad := e.do(http.MethodPost, "/ui/rules/orders/plan", operator, "changes="+url.QueryEscape("fulfillment.backorder.policy=sometimes"), "Sec-Fetch-Site", "same-origin")
	if bad.status != 422 || !strings.Contains(bad.body, `aria-invalid="true"`) || !strings.Contains(bad.body, "sometimes") {
		t.Fatalf("a bad value: %d\n%s", bad.status, bad.body)
	}
	var plan struct {
		Plan struct {
			Hash    string `json:"plan_hash"`
			Changes []struct{ Rule, Old, New string }
		} `json:"plan"`
		Backtest console.Backtest `json:"backtest"`
	}
	a := e.do(http.MethodPost, "/api/v1/rules/orders/plan", operator, `{"changes": ["fulfillment.backorder.policy=deny"]}`)
	if err := json.Unmarshal([]byte(a.body), &plan); err != nil || plan.Plan.Hash == "" || len(plan.Plan.Changes) != 1 ||
		plan.Plan.Changes[0].Old != "allow_notify" || plan.Plan.Changes[0].New != "deny" {
		t.Fatalf("plan: %v %s", err, a.body)
	}
	// The backtest decides order 7001 again against the stock it saw:
	// under deny its BLUE line would be held, not backordered.
	if bt := plan.Backtest; bt.Orders != 1 || bt.Changed != 1 || len(bt.Transitions) != 1 ||
		bt.Transitions[0] != (console.Transition{From: "backordered", To: "held", Count: 1}) ||
		len(bt.Samples) != 1 || bt.Samples[0].Ref != "7001" || bt.Samples[0].After != "BLUE 1: held 1" {
		t.Errorf("backtest: %+v", bt)
	}
	if ls := plan.Backtest.Samples[0].Lines; len(ls) != 1 || !ls[0].Changed || ls[0].Before != "backordered 1" || ls[0].After != "held 1" ||
		!strings.Contains(ls[0].Rules, "remainder:backorder_denied:hold") {
		t.Errorf("the sample's explain diff: %+v", ls)
	}
	// A pilot scope: a `when` that leaves every recent order out shows
	// how far it reaches.
	var pilot struct {
		Backtest console.Backtest `json:"backtest"`
	}
	a = e.do(http.MethodPost, "/api/v1/rules/orders/plan", operator, `{"changes": ["fulfillment.when=id > 9000"]}`)
	if err := json.Unmarshal([]byte(a.body), &pilot); err != nil || pilot.Backtest.Orders != 1 || pilot.Backtest.OutOfScope != 1 {
		t.Errorf("a pilot scope's backtest: %v %s", err, a.body)
	}
	// Someone edits the rules file meanwhile: the plan is stale.
	orig, _ := os.ReadFile(rulesPath)
	edited := strings.Replace(string(orig), "max_shipments: 2", "max_shipments: 3", 1)
	os.WriteFile(rulesPath, []byte(edited), 0o644)
	stale := e.do(http.MethodPost, "/api/v1/rules/orders/apply", operator, `{"plan_hash": "`+plan.Plan.Hash+`", "reason": "supplier outage"}`)
	if stale.status != 409 {
		t.Fatalf("a stale plan: %d %s", stale.status, stale.body)
	}
	if now, _ := os.ReadFile(rulesPath); string(now) != edited {
		t.Fatal("a stale apply changed the rules file")
	}
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/apply", operator, `{"plan_hash": "0000", "reason": "x"}`); a.status != 409 {
		t.Errorf("an unknown plan hash: %d", a.status)
	}
	a = e.do(http.MethodPost, "/api/v1/rules/orders/plan", operator, `{"changes": ["fulfillment.backorder.policy=deny"]}`)
	json.Unmarshal([]byte(a.body), &plan)
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/apply", operator, `{"plan_hash": "`+plan.Plan.Hash+`", "reason": ""}`); a.status != 400 {
		t.Errorf("an apply without a reason: %d", a.status)
	}
	applied := e.do(http.MethodPost, "/ui/rules/orders/apply", operator, "plan_hash="+plan.Plan.Hash+"&reason=supplier+outage", "Sec-Fetch-Site", "same-origin")
	if applied.status != 303 || applied.header.Get("Location") != "/ui/rules/orders?applied=1" {
		t.Fatalf("apply: %d %s", applied.status, applied.body)
	}
	if now, _ := os.ReadFile(rulesPath); !strings.Contains(string(now), "policy: deny") || !strings.Contains(string(now), "max_shipments: 3") {
		t.Errorf("the rules file after apply:\n%s", now)
	}
	if l := order(7002).Decision[0].Lines[0]; !l.Backordered.IsZero() || !l.Held.Equal(decimal.NewFromInt(1)) {
		t.Errorf("after the change, BLUE is not backordered (deny) but held: %+v", l)
	}
	audit, _ := e.q.ListAudit(context.Background(), "orders", 0)
	if len(audit) == 0 || audit[0].Action != "rules.apply" || audit[0].Reason != "supplier outage" || audit[0].Actor != "token:ops" {
		t.Errorf("audit: %+v", audit)
	}
	hist, _ := e.srv.Inventory().RuleHistory(context.Background(), "fulfillment.backorder.policy")
	if len(hist) != 1 || hist[0].Old != "allow_notify" || hist[0].New != "deny" {
		t.Fatalf("rule history: %+v", hist)
	}
	// Roll back: a plan from the recorded change, reviewed and applied.
	rbPage := e.do(http.MethodPost, "/ui/rules/orders/rollback", operator, "seq="+strconv.FormatInt(hist[0].Seq, 10), "Sec-Fetch-Site", "same-origin")
	m := regexp.MustCompile(`name="plan_hash" value="([0-9a-f]+)"`).FindStringSubmatch(rbPage.body)
	if rbPage.status != 200 || m == nil || !strings.Contains(rbPage.body, "<td><code>deny</code></td><td><code>allow_notify</code></td>") {
		t.Fatalf("rollback plan: %d\n%s", rbPage.status, rbPage.body)
	}
	if a := e.do(http.MethodPost, "/ui/rules/orders/apply", operator, "plan_hash="+m[1]+"&reason=supplier+back", "Sec-Fetch-Site", "same-origin"); a.status != 303 {
		t.Fatalf("apply the rollback: %d %s", a.status, a.body)
	}
	if l := order(7003).Decision[0].Lines[0]; !l.Backordered.Equal(decimal.NewFromInt(1)) {
		t.Errorf("after the rollback, BLUE is backordered again: %+v", l)
	}
}

// A rules candidate in shadow: each order the live rules decide is
// decided again by the candidate against the same stock and compared,
// while the live decision stands and the candidate writes nothing.
func TestShadowComparesLiveDecisions(t *testing.T) {
	e := newEnvWith(t, false, allocatePipeline, map[string]string{"rules.yaml": allocateRules})
	operator := e.token("ops", "operator")
	var plan struct {
		Plan struct {
			Hash string `json:"plan_hash"`
		} `json:"plan"`
	}
	a := e.do(http.MethodPost, "/api/v1/rules/orders/plan", operator, `{"changes": ["fulfillment.backorder.policy=deny"]}`)
	if err := json.Unmarshal([]byte(a.body), &plan); err != nil || plan.Plan.Hash == "" {
		t.Fatalf("plan: %v %s", err, a.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/shadow", operator, `{"plan_hash": "nope"}`); a.status != 409 {
		t.Errorf("a shadow of no plan: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/shadow", operator, `{"plan_hash": "`+plan.Plan.Hash+`"}`); a.status != 200 {
		t.Fatalf("shadow: %d %s", a.status, a.body)
	}
	rules, _ := os.ReadFile(filepath.Join(e.dir, "rules.yaml"))
	e.webhook(`{"id": 8001, "lines": [{"sku": "BLUE", "quantity": 1}]}`, "ev-8001")
	var rep serve.ShadowReport
	eventually(t, "the shadow's comparison", func() bool {
		r, ok := e.srv.Shadow("orders")
		rep = r
		return ok && r.Orders == 1
	})
	if rep.Differ != 1 || rep.Transitions["backordered → held"] != 1 || len(rep.Samples) != 1 || rep.Samples[0].Ref != "8001" {
		t.Errorf("shadow report: %+v", rep)
	}
	var ov console.OrderView
	json.Unmarshal([]byte(e.do(http.MethodGet, "/api/v1/orders/8001", operator, "").body), &ov)
	if len(ov.Decision) != 1 || !ov.Decision[0].Lines[0].Backordered.Equal(decimal.NewFromInt(1)) {
		t.Errorf("the live decision is not the live rules': %+v", ov.Decision)
	}
	if now, _ := os.ReadFile(filepath.Join(e.dir, "rules.yaml")); string(now) != string(rules) {
		t.Error("a shadow changed the rules file")
	}
	page := e.do(http.MethodGet, "/ui/rules/orders", operator, "")
	if !strings.Contains(page.body, "In shadow: plan "+plan.Plan.Hash) || !strings.Contains(page.body, "<td>backordered → held</td><td class=\"num\">1</td>") {
		t.Errorf("the rules page lacks the shadow:\n%s", page.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/rules/orders/shadow/stop", operator, ""); a.status != 200 {
		t.Fatalf("stop: %d", a.status)
	}
	if _, ok := e.srv.Shadow("orders"); ok {
		t.Error("the shadow still runs after stop")
	}
}

// A rules change is marked on the sparklines at the sample it happened in.
func TestSparklinesMarkRulesChanges(t *testing.T) {
	e := newEnvWith(t, false, allocatePipeline, map[string]string{"rules.yaml": allocateRules})
	c, err := console.New(console.Config{Server: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	c.Sample()
	c.Sample()
	path := filepath.Join(e.dir, "rules.yaml")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "max_shipments: 2", "max_shipments: 1", 1)), 0o644)
	if err := e.opts.Reload(); err != nil {
		t.Fatal(err)
	}
	c.Sample()
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	if n := strings.Count(rec.Body.String(), `<line class="rules-change"`); n != 2 { // one per sparkline
		t.Errorf("%d rules-change marks, want 2:\n%s", n, rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), "1 rules change marked") {
		t.Error("the sparkline's label does not say a change is marked")
	}
}

// A candidate version in shadow is shown on its pipeline's page: for each
// sink, what it got from the live version and would get from the
// candidate, compared record by record, with the records that differ side
// by side (masked for viewers). An operator stops and starts it again,
// audited; a viewer may not.
func TestPipelinePageShowsAShadowVersion(t *testing.T) {
	e := newEnv(t, false)
	viewer, operator := e.token("grafana", "viewer"), e.token("ops", "operator")
	text := strings.ReplaceAll(defaultPipeline, "${WMS}", e.wms.URL)
	text = strings.Replace(text, "  ticket:\n    from: orders\n", "  big:\n    from: orders\n    filter: \"id > 5\"\n  ticket:\n    from: big\n", 1)
	text = strings.Replace(text, "map: {order_id: string(id), email: email}", "map: {order_id: string(id), email: upper(email)}", 1)
	path := filepath.Join(e.dir, "candidate.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	plan, f, ds := pipelines.Validate(path, *e.opts.Compile)
	if plan == nil || ds.HasErrors() {
		t.Fatalf("candidate: %v", ds.Err())
	}
	if err := e.srv.ShadowVersion(&serve.Pipeline{Plan: plan, File: f, Path: path, Version: "next"}); err != nil {
		t.Fatal(err)
	}
	e.webhook(`{"id": 5, "email": "a@example.com"}`, "ev-5")
	e.webhook(`{"id": 6, "email": "b@example.com"}`, "ev-6")
	eventually(t, "the shadow compared both deliveries", func() bool {
		r, ok := e.srv.VersionShadow("orders")
		return ok && r.Deliveries == 2
	})
	page := e.do(http.MethodGet, "/ui/pipelines/orders", operator, "")
	for _, want := range []string{"Version next in shadow since",
		`<tr><td>wms</td><td class="num">2</td><td class="num">1</td><td class="num">0</td><td class="num err">1</td><td class="num err">1</td><td class="num">0</td></tr>`,
		`order <a href="/ui/orders?q=5">5</a> · only the live version sent it`, `differs at <code>email</code>`, "B@EXAMPLE.COM", "b@example.com",
		`action="/ui/pipelines/orders/shadow/stop"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the pipeline page lacks %q:\n%s", want, page.body)
		}
	}
	if page := e.do(http.MethodGet, "/ui/pipelines/orders", viewer, ""); strings.Contains(page.body, "example.com") ||
		strings.Contains(page.body, "EXAMPLE.COM") {
		t.Error("a viewer sees the customers' emails in the shadow's samples")
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/shadow/stop", viewer, "{}"); a.status != 403 {
		t.Errorf("viewer stop: %d", a.status)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/shadow/stop", operator, "{}"); a.status != 200 || !strings.Contains(a.body, `"running": false`) {
		t.Fatalf("operator stop: %d %s", a.status, a.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/shadow/stop", operator, "{}"); a.status != 409 {
		t.Errorf("stopping a stopped shadow: %d", a.status)
	}
	if page := e.do(http.MethodGet, "/ui/pipelines/orders", operator, ""); !strings.Contains(page.body, "stopped") ||
		!strings.Contains(page.body, `action="/ui/pipelines/orders/shadow/start"`) {
		t.Errorf("the stopped shadow's page:\n%s", page.body)
	}
	if a := e.do(http.MethodPost, "/api/v1/pipelines/orders/shadow/start", operator, "{}"); a.status != 200 || !strings.Contains(a.body, `"deliveries": 0`) {
		t.Fatalf("operator start: %d %s", a.status, a.body)
	}
	audit, _ := e.q.ListAudit(context.Background(), "orders", 0)
	var actions []string
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "shadow.version.") {
			actions = append(actions, a.Action+" by "+a.Actor)
		}
	}
	if strings.Join(actions, ", ") != "shadow.version.start by token:ops, shadow.version.stop by token:ops" &&
		strings.Join(actions, ", ") != "shadow.version.stop by token:ops, shadow.version.start by token:ops" {
		t.Errorf("audit: %v", actions)
	}
}

// Every write the console registers, page or API, answers a viewer 403 and
// changes nothing: walked from the console's own route list, so a new
// write cannot be left open.
func TestEveryWriteRefusesAViewer(t *testing.T) {
	e := newEnv(t, false)
	viewer := e.token("grafana", "viewer")
	writes := 0
	for _, rt := range e.c.Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if method == http.MethodGet {
			continue
		}
		writes++
		path = strings.NewReplacer("{name}", "orders", "{id}", "1", "{ref}", "1").Replace(path)
		body := "{}"
		if strings.HasPrefix(path, "/ui/") {
			body = "reason=x"
		}
		if a := e.do(method, path, viewer, body); a.status != 403 {
			t.Errorf("viewer %s %s: %d %s", method, path, a.status, a.body)
		}
	}
	if writes < 28 {
		t.Errorf("only %d write routes walked", writes)
	}
	audit, _ := e.q.ListAudit(context.Background(), "", 0)
	for _, a := range audit {
		if a.Action != "token.create" {
			t.Errorf("a viewer's write left an audit row: %+v", *a)
		}
	}
}
