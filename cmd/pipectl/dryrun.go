package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/pipelinetest"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms/allocation"
)

func runDryRun(c *cli, args []string) int {
	fs := newFlags(c, "dry-run", "FILE --input SAMPLE... [--at NODE] [--unwrap PATH] [--trace] [--format text|json] [--state URL]", `
Dry-run runs a pipeline on sample records and shows what every sink would
receive, without sending, writing or changing anything: each sink is
replaced by a capture. For an HTTP sink the exact requests are shown, with
credentials redacted; for other sinks the records.

The samples are fed to the pipeline's source (name it with --at when there
are several; --at may also name a step, to start the run there), in the
source's own format: a CSV source's SAMPLE is CSV, read with the source's
columns and delimiter, an XML source's is read at its record_path, both by
the parser the source runs with. For a source of JSON (ndjson, json, event)
or a step, a SAMPLE holds one JSON object, a JSON array of records, or
NDJSON. --unwrap takes the records out of an envelope, such as Shopify API
responses' {"order": ...} or {"orders": [...]}; it replaces the source's
own unwrap setting. Samples ending in .gz are decompressed.

Steps that allocate stock read it from the state store (--state, by
default ./.pipectl/state.db when it exists, else an empty inventory) and
commit nothing: later samples see what earlier ones took, the store does
not.

Records that fail are listed with the node and the error. --trace adds each
record's path through the pipeline (route outputs included), the per-node
counts, and for every order an allocate step decided, why: the strategy,
the candidate locations ranked per SKU, and for each line where it was
allocated, or what backordered, cancelled or held it and the rules that
decided it. Exit status: 0 when every record was delivered or handled,
1 when a record failed with nothing reading the error output it went to, or
the pipeline does not compile.`, `  pipectl dry-run examples/shopify-orders-to-wms/pipeline.yaml --input order.json --unwrap order
  pipectl dry-run pipeline.yaml --input orders.ndjson --trace
  pipectl dry-run pipeline.yaml --input ticket.json --at ticket --format json | jq '.sinks[].captured[].record'`)
	var inputs stringList
	fs.Var(&inputs, "input", "sample records, in the source's format (for JSON: an object, an array or NDJSON) (repeatable)")
	at := fs.String("at", "", "the source or step the samples are fed to (default: the only source)")
	unwrap := fs.String("unwrap", "", "dot path of the records inside each sample, e.g. order or orders")
	trace := fs.Bool("trace", false, "show each record's path and the per-node counts")
	format := fs.String("format", "text", "output format: text or json")
	stateURL := fs.String("state", "", stateFlagDoc+"; read, never changed")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "pipectl dry-run: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if len(paths) != 1 {
		fmt.Fprintln(c.stderr, "pipectl dry-run: name exactly one pipeline file")
		return exitUsage
	}
	if len(inputs) == 0 {
		fmt.Fprintln(c.stderr, "pipectl dry-run: give sample records with --input FILE")
		return exitUsage
	}
	plan, f, ds := pipelines.Validate(paths[0], compileOptions(registry(), component.SystemClock{}))
	if plan == nil {
		writeDiagnostics(c.stderr, "text", ds, sourcesOf(f))
		return exitError
	}
	node, msg := feedNode(plan, *at)
	if msg != "" {
		fmt.Fprintf(c.stderr, "pipectl dry-run: %s\n", msg)
		return exitUsage
	}
	var feed []engine.Input
	var seq int64
	for _, in := range inputs {
		recs, err := pipelinetest.ReadSample(plan, node, pipelinetest.Sample{Path: in, Unwrap: *unwrap}, &seq)
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl dry-run: %v\n", err)
			return exitError
		}
		for _, r := range recs {
			feed = append(feed, engine.Input{Node: node, Record: r})
		}
	}
	rt := &component.Runtime{
		Clock:     component.SystemClock{},
		Dir:       filepath.Dir(paths[0]),
		LookupEnv: os.LookupEnv,
		Stdin:     strings.NewReader(""),
		Stdout:    io.Discard,
		Logger:    slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	st, closeState, note, err := openDryRunState(context.Background(), plan, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl dry-run: %v\n", err)
		return exitError
	}
	defer closeState()
	if st != nil {
		rt.Inventory, rt.Keys = st, st
	}
	if note != "" {
		fmt.Fprintf(c.stderr, "pipectl dry-run: %s\n", note)
	}
	res, err := pipelinetest.DryRun(context.Background(), plan, pipelinetest.DryRunOptions{Runtime: rt, Inputs: feed, Trace: *trace})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl dry-run: %v\n", err)
		if res == nil {
			return exitError
		}
	}
	rep := buildDryRunReport(plan, paths[0], node, feed, res, *trace)
	var out bytes.Buffer
	if *format == "json" {
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(rep)
	} else {
		rep.writeText(&out, *trace)
	}
	c.stdout.Write(redactSecrets(plan, out.Bytes()))
	if len(res.Unhandled) > 0 || err != nil {
		return exitError
	}
	return exitOK
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// feedNode picks where samples go: --at, or the only source.
func feedNode(plan *pipelines.Plan, at string) (string, string) {
	var sources, steps []string
	for _, n := range plan.Nodes {
		switch n.Section {
		case component.SourceSection:
			sources = append(sources, n.Name)
		case component.StepSection:
			steps = append(steps, n.Name)
		}
	}
	if at != "" {
		if slices.Contains(sources, at) || slices.Contains(steps, at) {
			return at, ""
		}
		msg := fmt.Sprintf("--at %s: no source or step of that name", at)
		if s := suggest(at, append(sources, steps...)); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return "", msg
	}
	switch len(sources) {
	case 1:
		return sources[0], ""
	case 0:
		return "", "the pipeline has no source: name a step with --at"
	}
	return "", fmt.Sprintf("the pipeline has %d sources (%s): name one with --at", len(sources), strings.Join(sources, ", "))
}

// dryRunReport is the output of a dry run, in JSON as one document.
type dryRunReport struct {
	Pipeline string         `json:"pipeline"`
	Fed      fedInfo        `json:"fed"`
	Sinks    []sinkReport   `json:"sinks"`
	NotRun   []notRunReport `json:"not_run,omitempty"`
	Errors   []errorReport  `json:"errors"`
	// Dropped, with --trace, are the records steps dropped, and why.
	Dropped   []droppedReport `json:"dropped,omitempty"`
	Unhandled int             `json:"unhandled"`
	Nodes     []nodeStatsJSON `json:"nodes,omitempty"`
	// Decisions, with --trace, are the explanations steps gave of their
	// decisions: the allocate step's, one per order.
	Decisions []decisionReport `json:"decisions,omitempty"`
}

type decisionReport struct {
	Step        string          `json:"step"`
	Kind        string          `json:"kind"`
	Ref         string          `json:"ref"`
	Explanation json.RawMessage `json:"explanation"`
}

type fedInfo struct {
	Node    string `json:"node"`
	Records int    `json:"records"`
}

type sinkReport struct {
	Name     string         `json:"name"`
	Kind     string         `json:"kind"`
	Captured []capturedItem `json:"captured"`
}

type capturedItem struct {
	From    *origin         `json:"from,omitempty"`
	Path    []string        `json:"path,omitempty"`
	Request *requestView    `json:"request,omitempty"`
	Record  json.RawMessage `json:"record"`
	failed  bool
}

type origin struct {
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
}

type notRunReport struct {
	Node   string `json:"node"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// After are the nodes left out with it: those only it feeds.
	After []string `json:"after,omitempty"`
	// Records are what reached it: what it would have been given.
	Records []json.RawMessage `json:"records"`
}

type errorReport struct {
	Node      string   `json:"node"`
	Error     string   `json:"error"`
	From      *origin  `json:"from,omitempty"`
	HandledBy []string `json:"handled_by,omitempty"`
}

type droppedReport struct {
	Step   string          `json:"step"`
	Reason string          `json:"reason"`
	From   *origin         `json:"from,omitempty"`
	Path   []string        `json:"path,omitempty"`
	Record json.RawMessage `json:"record"`
}

type nodeStatsJSON struct {
	Name    string `json:"name"`
	Section string `json:"section"`
	Kind    string `json:"kind"`
	In      int64  `json:"in"`
	Out     int64  `json:"out"`
	Dropped int64  `json:"dropped"`
	Errored int64  `json:"errored"`
}

func buildDryRunReport(plan *pipelines.Plan, path, node string, feed []engine.Input, res *pipelinetest.DryRunResult, trace bool) *dryRunReport {
	rep := &dryRunReport{Pipeline: path, Fed: fedInfo{node, len(feed)}, Sinks: []sinkReport{}, Errors: []errorReport{}, Unhandled: len(res.Unhandled)}
	fed := map[*record.Origin]*record.Record{}
	for _, in := range feed {
		fed[in.Record.Origin] = in.Record
	}
	errIdx := map[*record.Record]int{}
	addError := func(r *record.Record, by string) {
		if i, ok := errIdx[r]; ok {
			if by != "" {
				rep.Errors[i].HandledBy = append(rep.Errors[i].HandledBy, by)
			}
			return
		}
		e := errorReport{From: originOf(r)}
		var v struct {
			Node  string `json:"node"`
			Error string `json:"error"`
		}
		json.Unmarshal(r.Raw, &v)
		e.Node, e.Error = v.Node, v.Error
		if by != "" {
			e.HandledBy = []string{by}
		}
		errIdx[r] = len(rep.Errors)
		rep.Errors = append(rep.Errors, e)
	}
	for _, n := range plan.Nodes {
		if n.Section != component.SinkSection {
			continue
		}
		c, ok := res.Captured[n.Name]
		if !ok {
			continue
		}
		s := sinkReport{Name: n.Name, Kind: n.Kind, Captured: []capturedItem{}}
		for i, r := range c.Records {
			it := capturedItem{Record: json.RawMessage(r.Raw), From: originOf(r), failed: r.Failed}
			if r.Failed {
				addError(r, n.Name)
			}
			if trace {
				it.Path = r.Trace
			}
			if i < len(c.Descriptions) {
				it.Request = viewRequest(c.Descriptions[i])
			}
			s.Captured = append(s.Captured, it)
		}
		rep.Sinks = append(rep.Sinks, s)
	}
	for _, r := range res.Unhandled {
		addError(r, "")
	}
	for _, nr := range res.NotRun {
		if nr.Because != nr.Node {
			continue
		}
		x := notRunReport{Node: nr.Node, Kind: nr.Kind, Reason: fmt.Sprintf("kind %s cannot run yet", nr.Kind), Records: []json.RawMessage{}}
		for _, r := range nr.Records {
			x.Records = append(x.Records, json.RawMessage(r.Raw))
		}
		for _, o := range res.NotRun {
			if o.Because == nr.Node && o.Node != nr.Node {
				x.After = append(x.After, o.Node)
			}
		}
		rep.NotRun = append(rep.NotRun, x)
	}
	if trace {
		for _, d := range res.Dropped {
			rep.Dropped = append(rep.Dropped, droppedReport{Step: d.Step, Reason: d.Reason, From: originOf(d.Record), Path: d.Record.Trace, Record: json.RawMessage(d.Record.Raw)})
		}
		for _, e := range res.Explanations {
			d := decisionReport{Step: e.Step, Ref: e.Ref, Explanation: e.Data}
			if n, ok := plan.Node(e.Step); ok {
				d.Kind = n.Kind
			}
			rep.Decisions = append(rep.Decisions, d)
		}
		for _, st := range res.Nodes {
			out := st.Out
			if st.Section == component.StepSection {
				out = st.Emitted // a split emits one record per element
			}
			rep.Nodes = append(rep.Nodes, nodeStatsJSON{Name: st.Name, Section: st.Section.String(), Kind: st.Kind, In: st.In, Out: out, Dropped: st.Dropped, Errored: st.Errored})
		}
	}
	return rep
}

func originOf(r *record.Record) *origin {
	if r.Origin == nil {
		return nil
	}
	return &origin{Node: r.Origin.Source, Seq: r.Origin.Seq}
}

func (rep *dryRunReport) writeText(w io.Writer, trace bool) {
	fmt.Fprintf(w, "dry run of %s: %s fed to %s; nothing was sent or written\n", rep.Pipeline, plural(rep.Fed.Records, "record"), rep.Fed.Node)
	for _, s := range rep.Sinks {
		what := "record"
		if len(s.Captured) > 0 && s.Captured[0].Request != nil {
			what = "request"
		}
		if len(s.Captured) == 0 {
			fmt.Fprintf(w, "\nsink %s (%s): nothing\n", s.Name, s.Kind)
			continue
		}
		fmt.Fprintf(w, "\nsink %s (%s): %s\n", s.Name, s.Kind, plural(len(s.Captured), what))
		for i, it := range s.Captured {
			head := fmt.Sprintf("%s %d", what, i+1)
			if it.From != nil {
				head += fmt.Sprintf(", from record %d fed to %s", it.From.Seq, it.From.Node)
			}
			if it.failed {
				head += ", an error record"
			}
			fmt.Fprintf(w, "  %s\n", head)
			if len(it.Path) > 0 {
				fmt.Fprintf(w, "    path: %s\n", strings.Join(it.Path, " → "))
			}
			if it.Request != nil {
				it.Request.writeText(w, "    ")
				continue
			}
			writeIndentedJSON(w, it.Record, "    ")
		}
	}
	for _, nr := range rep.NotRun {
		fmt.Fprintf(w, "\nnot run: step %s (%s)", nr.Node, nr.Reason)
		if len(nr.After) > 0 {
			fmt.Fprintf(w, ", and after it %s", strings.Join(nr.After, ", "))
		}
		if len(nr.Records) == 0 {
			fmt.Fprintf(w, "\n  no record reached %s\n", nr.Node)
			continue
		}
		fmt.Fprintf(w, "\n  %s reached %s, which it would have been given:\n", plural(len(nr.Records), "record"), nr.Node)
		for i, r := range nr.Records {
			fmt.Fprintf(w, "  record %d\n", i+1)
			writeIndentedJSON(w, r, "    ")
		}
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(w, "\n%s failed:\n", plural(len(rep.Errors), "record"))
		for _, e := range rep.Errors {
			line := fmt.Sprintf("  %s: %s", e.Node, e.Error)
			if e.From != nil {
				line += fmt.Sprintf(" (record %d fed to %s)", e.From.Seq, e.From.Node)
			}
			if len(e.HandledBy) > 0 {
				line += " → " + strings.Join(e.HandledBy, ", ")
			} else {
				line += " → unhandled"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(rep.Dropped) > 0 {
		fmt.Fprintf(w, "\n%s dropped:\n", plural(len(rep.Dropped), "record"))
		for _, d := range rep.Dropped {
			line := "  at " + d.Step
			if d.From != nil {
				line = fmt.Sprintf("  record %d fed to %s, at %s", d.From.Seq, d.From.Node, d.Step)
			}
			fmt.Fprintf(w, "%s\n    why: %s\n", line, d.Reason)
			if len(d.Path) > 0 {
				fmt.Fprintf(w, "    path: %s\n", strings.Join(d.Path, " → "))
			}
		}
	}
	for _, d := range rep.Decisions {
		fmt.Fprintf(w, "\nstep %s (%s), order %s:\n", d.Step, d.Kind, d.Ref)
		var x allocation.Explanation
		if d.Kind != "allocate" || json.Unmarshal(d.Explanation, &x) != nil {
			writeIndentedJSON(w, d.Explanation, "  ")
			continue
		}
		writeExplanation(w, x, false)
	}
	if trace && len(rep.Nodes) > 0 {
		fmt.Fprintf(w, "\n%-28s %-9s %6s %6s %8s %8s\n", "node", "kind", "in", "out", "dropped", "errored")
		for _, n := range rep.Nodes {
			fmt.Fprintf(w, "%-28s %-9s %6d %6d %8d %8d\n", n.Section+" "+n.Name, n.Kind, n.In, n.Out, n.Dropped, n.Errored)
		}
	}
	if rep.Unhandled > 0 {
		fmt.Fprintf(w, "\n%s failed with nothing reading the error output it went to: add a sink with `from: NODE.error`\n", plural(rep.Unhandled, "record"))
	}
}

func writeIndentedJSON(w io.Writer, raw []byte, prefix string) {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, "  "); err != nil {
		fmt.Fprintf(w, "%s%s\n", prefix, raw)
		return
	}
	fmt.Fprintf(w, "%s%s\n", prefix, b.String())
}

// requestView is what an HTTP sink would send, as a dry run shows it.
type requestView struct {
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
	// Other is a description that is not a request, as the sink gave it.
	Other json.RawMessage `json:"description,omitempty"`
}

func (v *requestView) writeText(w io.Writer, prefix string) {
	if v.Other != nil {
		writeIndentedJSON(w, v.Other, prefix)
		return
	}
	fmt.Fprintf(w, "%s%s %s\n", prefix, v.Method, v.URL)
	for _, k := range slices.Sorted(maps.Keys(v.Headers)) {
		fmt.Fprintf(w, "%s%s: %s\n", prefix, k, v.Headers[k])
	}
	if len(v.Body) > 0 {
		if json.Valid(v.Body) {
			writeIndentedJSON(w, v.Body, prefix)
		} else {
			fmt.Fprintf(w, "%s%s\n", prefix, v.Body)
		}
	}
}

// viewRequest reads a sink's description of what it would do: an
// *http.Request, or a struct or map with method, URL, headers and body
// fields (any case). Credentials in headers are redacted by name.
func viewRequest(d any) *requestView {
	if d == nil {
		return nil
	}
	v := &requestView{Headers: map[string]string{}}
	if req, ok := d.(*http.Request); ok {
		v.Method, v.URL = req.Method, req.URL.String()
		for k, vs := range req.Header {
			v.Headers[k] = strings.Join(vs, ", ")
		}
		if req.GetBody != nil {
			if body, err := req.GetBody(); err == nil {
				b, _ := io.ReadAll(body)
				v.Body = b
			}
		}
		redactHeaders(v.Headers)
		return v
	}
	rv := reflect.ValueOf(d)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	field := func(names ...string) (reflect.Value, bool) {
		switch rv.Kind() {
		case reflect.Struct:
			for i := 0; i < rv.NumField(); i++ {
				f := rv.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				name := f.Name
				if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" {
					name = tag
				}
				for _, n := range names {
					if strings.EqualFold(name, n) || strings.EqualFold(f.Name, n) {
						return rv.Field(i), true
					}
				}
			}
		case reflect.Map:
			if rv.Type().Key().Kind() != reflect.String {
				return reflect.Value{}, false
			}
			for _, k := range rv.MapKeys() {
				for _, n := range names {
					if strings.EqualFold(k.String(), n) {
						return rv.MapIndex(k), true
					}
				}
			}
		}
		return reflect.Value{}, false
	}
	m, okM := field("method")
	u, okU := field("url")
	if !okM || !okU {
		b, err := json.Marshal(d)
		if err != nil {
			b, _ = json.Marshal(fmt.Sprint(d))
		}
		return &requestView{Other: b}
	}
	v.Method, v.URL = fmt.Sprint(m.Interface()), fmt.Sprint(u.Interface())
	if h, ok := field("headers", "header"); ok {
		h = reflect.Indirect(h)
		for h.Kind() == reflect.Interface {
			h = h.Elem()
		}
		if h.Kind() == reflect.Map {
			for _, k := range h.MapKeys() {
				val := h.MapIndex(k)
				for val.Kind() == reflect.Interface {
					val = val.Elem()
				}
				if val.Kind() == reflect.Slice && val.Type().Elem().Kind() == reflect.String {
					var parts []string
					for i := 0; i < val.Len(); i++ {
						parts = append(parts, val.Index(i).String())
					}
					v.Headers[fmt.Sprint(k.Interface())] = strings.Join(parts, ", ")
					continue
				}
				v.Headers[fmt.Sprint(k.Interface())] = fmt.Sprint(val.Interface())
			}
		}
	}
	if b, ok := field("body"); ok {
		for b.Kind() == reflect.Interface && !b.IsNil() {
			b = b.Elem()
		}
		switch {
		case !b.IsValid():
		case b.Kind() == reflect.Slice && b.Type().Elem().Kind() == reflect.Uint8:
			v.Body = append([]byte(nil), b.Bytes()...)
		case b.Kind() == reflect.String:
			v.Body = []byte(b.String())
		default:
			v.Body, _ = json.Marshal(b.Interface())
		}
	}
	redactHeaders(v.Headers)
	return v
}

// redactHeaders hides the values of headers that carry credentials.
func redactHeaders(h map[string]string) {
	for k := range h {
		lk := strings.ToLower(k)
		switch {
		case lk == "authorization", lk == "proxy-authorization", lk == "cookie", lk == "set-cookie",
			strings.Contains(lk, "token"), strings.Contains(lk, "secret"), strings.Contains(lk, "password"),
			strings.Contains(lk, "api-key"), strings.Contains(lk, "apikey"), strings.Contains(lk, "signature"):
			h[k] = component.Redacted
		}
	}
}

// redactSecrets replaces every value the pipeline took from a secret
// variable wherever it appears in out: a last line of defence behind the
// sinks' own redaction.
func redactSecrets(plan *pipelines.Plan, out []byte) []byte {
	var secrets []string
	for _, n := range append(slices.Clone(plan.Nodes), plan.Triggers...) {
		n.Config.Walk(func(v *component.Value) {
			if v.Secret && len(v.Str) >= 4 {
				secrets = append(secrets, v.Str)
			}
		})
	}
	// Longest first, so a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		out = bytes.ReplaceAll(out, []byte(s), []byte(component.Redacted))
		if q, err := json.Marshal(s); err == nil && len(q) > 2 {
			out = bytes.ReplaceAll(out, q[1:len(q)-1], []byte(component.Redacted))
		}
	}
	return out
}
