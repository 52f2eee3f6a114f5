// Package console is the ops console of `pipectl serve` at /ui and its
// JSON API at /api/v1: one set of handlers, each answering HTML to a
// browser and JSON to the API, with one set of permissions.
//
// Choices made here:
//
//   - Observe and operate, never author: pipelines stay files. What the
//     console changes (dead letters today) goes through package ops, the
//     same functions the CLI commands call, and is audited there.
//   - Server-rendered html/template with htmx embedded (assets/), no
//     JavaScript build, and a Content-Security-Policy of 'self': nothing
//     loads from outside the machine, no inline script or style (the DAG's
//     style sheet is served as /ui/assets/dag.css).
//   - Who asks is a bearer token (Authorization header) or a session made
//     by signing in with one (an HttpOnly, SameSite=Strict cookie, kept in
//     memory: a restart signs everyone out). With no token in force, which
//     serve allows on loopback only, every request is the local operator.
//   - Every write is a POST behind http.CrossOriginProtection and a scope
//     check; ReadOnly refuses them all, and pages draw their buttons
//     disabled with the reason.
//   - Viewers see emails, names, phones and addresses masked.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/pipelines"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Config is what a Console is given.
type Config struct {
	Server *serve.Server
	// ReadOnly refuses every write, whatever the token.
	ReadOnly bool
	Logger   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Compile is how pipelines are compiled (the registry of kinds serve
	// runs with): the rules screen plans changes with it. Without it, the
	// rules are shown and not changed.
	Compile *pipelines.Options
	// Reload puts changed files in force, as a SIGHUP does; called after
	// a rules change is applied.
	Reload func() error
}

// Console serves the console and its API.
type Console struct {
	cfg      Config
	srv      *serve.Server
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessions
	series   series
	plans    plans
	routes   []Route
}

// Route is one handler's route and the scope it needs.
type Route struct {
	Pattern string // "POST /api/v1/dlq/{id}/resolve"
	Scope   ops.Scope
}

// Routes lists every route Handler registered with its scope, pages' and
// API's: the permission tests walk them, so no write escapes them.
func (c *Console) Routes() []Route { return c.routes }

// New makes a console over a running server.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, srv: cfg.Server, log: cfg.Logger, sessions: newSessions(12 * time.Hour)}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"ago":   ago,
		"clip":  clip,
		"lower": strings.ToLower,
		"json":  indentJSON,
		"minus": func(a, b int) int { return a - b },
		"pair":  func(a, b any) struct{ A, B any } { return struct{ A, B any }{a, b} },
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// Handler serves /ui/ and /api/v1/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	c.routes = nil
	assets, _ := fs.Sub(assetFiles, "assets")
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /ui/assets/dag.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write([]byte(pipelines.SVGStyle))
	})
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.logout)

	c.route(mux, "GET /ui/{$}", "GET /api/v1/overview", ops.ScopeRead, c.overview)
	c.route(mux, "GET /ui/pipelines/{name}", "GET /api/v1/pipelines/{name}", ops.ScopeRead, c.pipeline)
	mux.Handle("GET /ui/pipelines/{name}/graph.svg", c.authorized(ops.ScopeRead, http.HandlerFunc(c.graph)))
	mux.Handle("GET /api/v1/pipelines/{name}/graph", c.authorized(ops.ScopeRead, http.HandlerFunc(c.graph)))
	c.route(mux, "GET /ui/dlq", "GET /api/v1/dlq", ops.ScopeRead, c.deadLetters)
	c.route(mux, "GET /ui/dlq/{id}", "GET /api/v1/dlq/{id}", ops.ScopeRead, c.deadLetter)
	c.route(mux, "POST /ui/dlq/{id}/resolve", "POST /api/v1/dlq/{id}/resolve", ops.ScopeDLQ, c.resolve)
	c.route(mux, "GET /ui/orders", "GET /api/v1/orders", ops.ScopeRead, c.order)
	c.route(mux, "GET /ui/orders/{ref}", "GET /api/v1/orders/{ref}", ops.ScopeRead, c.order)
	c.route(mux, "GET /ui/runs", "GET /api/v1/runs", ops.ScopeRead, c.runs)
	c.route(mux, "POST /ui/pipelines/{name}/pause", "POST /api/v1/pipelines/{name}/pause", ops.ScopeOperate, c.pauseOrResume(true))
	c.route(mux, "POST /ui/pipelines/{name}/resume", "POST /api/v1/pipelines/{name}/resume", ops.ScopeOperate, c.pauseOrResume(false))
	c.route(mux, "GET /ui/audit", "GET /api/v1/audit", ops.ScopeRead, c.audit)
	c.route(mux, "GET /ui/rules/{name}", "GET /api/v1/rules/{name}", ops.ScopeRead, c.rules)
	c.route(mux, "POST /ui/rules/{name}/plan", "POST /api/v1/rules/{name}/plan", ops.ScopeRules, c.planRules)
	c.route(mux, "POST /ui/rules/{name}/apply", "POST /api/v1/rules/{name}/apply", ops.ScopeRules, c.applyRules)
	c.route(mux, "POST /ui/rules/{name}/shadow", "POST /api/v1/rules/{name}/shadow", ops.ScopeRules, c.shadow)
	c.route(mux, "POST /ui/rules/{name}/shadow/stop", "POST /api/v1/rules/{name}/shadow/stop", ops.ScopeRules, c.stopShadow)
	c.route(mux, "POST /ui/pipelines/{name}/shadow/start", "POST /api/v1/pipelines/{name}/shadow/start", ops.ScopeOperate, c.shadowVersion(true))
	c.route(mux, "POST /ui/pipelines/{name}/shadow/stop", "POST /api/v1/pipelines/{name}/shadow/stop", ops.ScopeOperate, c.shadowVersion(false))
	c.route(mux, "POST /ui/rules/{name}/rollback", "POST /api/v1/rules/{name}/rollback", ops.ScopeRules, c.rollback)
	c.route(mux, "GET /ui/pipelines/{name}/docs", "GET /api/v1/pipelines/{name}/docs", ops.ScopeRead, c.docs)
	c.route(mux, "POST /ui/dlq/{id}/edit", "POST /api/v1/dlq/{id}/edit", ops.ScopeDLQ, c.edit)
	// A dry run changes nothing, but it runs the pipeline: operators only.
	c.route(mux, "POST /ui/dlq/{id}/replay", "POST /api/v1/dlq/{id}/replay", ops.ScopeDLQ, c.replay)
	c.route(mux, "POST /ui/dlq/preview", "POST /api/v1/dlq/preview", ops.ScopeDLQ, c.preview)
	c.route(mux, "POST /ui/dlq/replay", "POST /api/v1/dlq/replay", ops.ScopeDLQ, c.replayAll)

	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, errors.New("a cross-origin request may not change anything"))
	}))
	return securityHeaders(protect.Handler(mux))
}

// securityHeaders: nothing loads from elsewhere, nothing frames the console.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// view is what a handler answers: data for the page template named page,
// and the same data as the API's JSON.
type view struct {
	page   string
	data   any
	status int // 200 when 0
}

// request is a handler's input: the HTTP request and who asks.
type request struct {
	*http.Request
	who Principal
}

// Principal is who asks, with what the console lets them do.
type Principal struct {
	ops.Principal
	ReadOnly bool // the console refuses writes
}

// May reports whether p may use scope; a write scope also needs the
// console to allow writes.
func (p Principal) May(s ops.Scope) bool {
	if s != ops.ScopeRead && s != ops.ScopePII && p.ReadOnly {
		return false
	}
	return p.Can(s)
}

// WhyNot says why a write control is disabled, "" when it is not.
func (p Principal) WhyNot(s ops.Scope) string {
	switch {
	case p.ReadOnly && s != ops.ScopeRead:
		return "the console is read-only"
	case !p.Can(s):
		return fmt.Sprintf("your role (%s) may not do this", p.Role)
	}
	return ""
}

type handlerFunc func(r request) (view, error)

// route registers one handler under its page's route and its API's, for
// those with scope.
func (c *Console) route(mux *http.ServeMux, ui, api string, scope ops.Scope, h handlerFunc) {
	mux.Handle(ui, c.authorized(scope, c.render(h)))
	mux.Handle(api, c.authorized(scope, c.render(h)))
	c.routes = append(c.routes, Route{ui, scope}, Route{api, scope})
}

// statusError is an error with the status to answer it with.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }

func errStatus(status int, format string, args ...any) error {
	return &statusError{status, fmt.Errorf(format, args...)}
}

// render runs h and answers its view as JSON (the API, or a client that
// asks for it) or as its page.
func (c *Console) render(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := r.Context().Value(principalKey{}).(Principal)
		v, err := h(request{r, who})
		if err != nil {
			status := http.StatusInternalServerError
			var se *statusError
			if errors.As(err, &se) {
				status = se.status
			}
			c.fail(w, r, status, err)
			return
		}
		if v.page == "" { // a write from a form: back where it came from
			if loc, ok := v.data.(redirect); ok && !isAPI(r) {
				http.Redirect(w, r, string(loc), http.StatusSeeOther)
				return
			}
		}
		if isAPI(r) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(v.data)
			return
		}
		status := v.status
		if status == 0 {
			status = http.StatusOK
		}
		c.html(w, status, v.page, map[string]any{"Who": who, "Data": v.data})
	})
}

// redirect is a write's answer to a form: the page to show next.
type redirect string

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func (c *Console) html(w http.ResponseWriter, status int, page string, data any) {
	t := c.pages[page]
	if t == nil {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		c.log.Error("console page", "page", page, "error", err.Error())
	}
}

// fail answers an error: JSON for the API, a page for a browser.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		c.log.Error("console", "path", r.URL.Path, "error", err.Error())
	}
	if isAPI(r) || !strings.HasPrefix(r.URL.Path, "/ui") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"status": status, "summary": err.Error()}})
		return
	}
	who, _ := r.Context().Value(principalKey{}).(Principal)
	c.html(w, status, "error", map[string]any{"Who": who, "Data": map[string]any{"Status": status, "Error": err.Error()}})
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// indentJSON shows a value as indented JSON.
func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func clip(n int, s string) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ctx is the request's context for store calls.
func (r request) ctx() context.Context { return r.Context() }
