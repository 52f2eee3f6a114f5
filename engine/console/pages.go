package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// stuckAfter is how old the oldest queued delivery may get before its
// pipeline counts as degraded.
const stuckAfter = time.Minute

// PipelineHealth is a pipeline's line on the overview.
type PipelineHealth struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"` // running, degraded, draining
	Why          []string  `json:"why,omitempty"`
	Queued       int       `json:"queued"`
	Running      int       `json:"running"`
	Oldest       time.Time `json:"oldest,omitzero"`
	OldestAge    string    `json:"oldest_age,omitempty"`
	Retries      int       `json:"retries_waiting"`
	DeadLetters  int       `json:"dead_letters_open"`
	In           int64     `json:"records_in"`
	Errored      int64     `json:"records_errored"`
	LastRun      time.Time `json:"last_run,omitzero"`
	Version      string    `json:"version"`
	RulesVersion string    `json:"rules_version,omitempty"`
	KPI          KPIView   `json:"kpis"`
}

// DeadLetterGroup is open dead letters of one pipeline, node and error.
type DeadLetterGroup struct {
	Pipeline string    `json:"pipeline"`
	Node     string    `json:"node"`
	Error    string    `json:"error"`
	Count    int       `json:"count"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Newest   int64     `json:"newest_id"`
}

// Overview is the first screen: what needs attention, then every
// pipeline's health.
type Overview struct {
	Running   int               `json:"running"`
	Degraded  int               `json:"degraded"`
	Paused    int               `json:"paused"`
	Draining  bool              `json:"draining"`
	Pipelines []PipelineHealth  `json:"pipelines"`
	Groups    []DeadLetterGroup `json:"dead_letter_groups"`
}

func (c *Console) overview(r request) (view, error) {
	ctx := r.ctx()
	q := c.srv.Queue()
	open, err := q.CountDeadLetters(ctx)
	if err != nil {
		return view{}, err
	}
	var ov Overview
	ov.Draining = c.srv.Draining()
	for _, name := range c.srv.Pipelines() {
		h, err := c.health(r, name, open[name])
		if err != nil {
			return view{}, err
		}
		ov.Pipelines = append(ov.Pipelines, h)
		switch h.Status {
		case "degraded":
			ov.Degraded++
		case "paused":
			ov.Paused++
		default:
			ov.Running++
		}
	}
	// What needs attention first: degraded pipelines above the others.
	slices.SortStableFunc(ov.Pipelines, func(a, b PipelineHealth) int {
		return boolOrder(a.Status == "running", b.Status == "running")
	})
	dls, err := q.ListDeadLetters(ctx, state.DeadLetterFilter{Status: state.DeadOpen, Limit: 5000})
	if err != nil {
		return view{}, err
	}
	ov.Groups = groupDeadLetters(dls)
	return view{page: "overview", data: ov}, nil
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func (c *Console) health(r request, name string, openDLs int) (PipelineHealth, error) {
	d, err := c.srv.Queue().Depth(r.ctx(), name)
	if err != nil {
		return PipelineHealth{}, err
	}
	h := PipelineHealth{Name: name, Status: "running", Queued: d.Queued, Running: d.Running, Oldest: d.Oldest,
		Retries: d.Retries, DeadLetters: openDLs, LastRun: c.srv.LastRun(name), KPI: c.kpiView(name)}
	if p, ok := c.srv.Pipeline(name); ok {
		h.Version, h.RulesVersion = p.Version, p.RulesVersion
	}
	for _, n := range c.srv.NodeTotals(name) {
		if n.Section == component.SourceSection {
			h.In += n.In
		}
		h.Errored += n.Errored - n.Deferred
	}
	now := c.cfg.Now()
	if !d.Oldest.IsZero() {
		h.OldestAge = now.Sub(d.Oldest).Round(time.Second).String()
	}
	if openDLs > 0 {
		h.Why = append(h.Why, fmt.Sprintf("%d open dead letter%s", openDLs, plural(openDLs)))
	}
	if d.Retries > 0 {
		h.Why = append(h.Why, fmt.Sprintf("%d sink retr%s waiting", d.Retries, map[bool]string{true: "y", false: "ies"}[d.Retries == 1]))
	}
	if !d.Oldest.IsZero() && now.Sub(d.Oldest) > stuckAfter {
		h.Why = append(h.Why, "oldest delivery waiting "+h.OldestAge)
	}
	pause := c.srv.PausedBy(name, "")
	switch {
	case c.srv.Draining():
		h.Status = "draining"
	case pause != nil:
		h.Status = "paused"
		h.Why = append([]string{fmt.Sprintf("paused by %s: %s", pause.By, pause.Reason)}, h.Why...)
	case len(h.Why) > 0:
		h.Status = "degraded"
	}
	return h, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func groupDeadLetters(dls []*state.DeadLetter) []DeadLetterGroup {
	type key struct{ p, n, e string }
	by := map[key]*DeadLetterGroup{}
	var order []key
	for _, dl := range dls {
		k := key{dl.Pipeline, dl.Node, clip(160, dl.Error)}
		g := by[k]
		if g == nil {
			g = &DeadLetterGroup{Pipeline: k.p, Node: k.n, Error: k.e, First: dl.Created, Last: dl.Created, Newest: dl.ID}
			by[k] = g
			order = append(order, k)
		}
		g.Count++
		if dl.Created.Before(g.First) {
			g.First = dl.Created
		}
		if dl.Created.After(g.Last) {
			g.Last, g.Newest = dl.Created, dl.ID
		}
	}
	out := make([]DeadLetterGroup, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	slices.SortStableFunc(out, func(a, b DeadLetterGroup) int { return b.Count - a.Count })
	return out
}

// NodeView is one node of the pipeline screen with its counts.
type NodeView struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Section string   `json:"section"`
	From    []string `json:"from,omitempty"` // inputs, "node" or "node.output"
	In      int64    `json:"in"`
	Out     int64    `json:"out"`
	Dropped int64    `json:"dropped"`
	Errored int64    `json:"errored"`         // failed for good
	Retried int64    `json:"deferred"`        // failed, kept to retry
	Where   string   `json:"where,omitempty"` // file:line
}

// PipelineView is the pipeline screen.
type PipelineView struct {
	Health PipelineHealth `json:"health"`
	Path   string         `json:"path"`
	Nodes  []NodeView     `json:"nodes"`
	// SVG is the DAG drawn with its counts, inline in the page.
	SVG template.HTML `json:"-"`
	// Shadow is a candidate version running in shadow, if any.
	Shadow *serve.VersionShadowReport `json:"shadow_version,omitempty"`
}

func (c *Console) pipeline(r request) (view, error) {
	name := r.PathValue("name")
	p, ok := c.srv.Pipeline(name)
	if !ok {
		return view{}, errStatus(http.StatusNotFound, "no pipeline %q is served", name)
	}
	open, err := c.srv.Queue().CountDeadLetters(r.ctx())
	if err != nil {
		return view{}, err
	}
	h, err := c.health(r, name, open[name])
	if err != nil {
		return view{}, err
	}
	totals := c.srv.NodeTotals(name)
	v := PipelineView{Health: h, Path: p.Path}
	for _, t := range p.Plan.Triggers {
		v.Nodes = append(v.Nodes, NodeView{Name: t.Name, Kind: t.Kind + " trigger", Section: "trigger"})
	}
	for _, n := range p.Plan.Nodes {
		nv := NodeView{Name: n.Name, Kind: n.Kind, Section: n.Section.String()}
		if n.Trigger != nil {
			nv.From = append(nv.From, n.Trigger.Name)
		}
		for _, e := range n.Inputs {
			from := e.From.Name
			if e.Output != "" {
				from += "." + e.Output
			}
			nv.From = append(nv.From, from)
		}
		t := totals[n.Name]
		nv.In, nv.Out, nv.Dropped, nv.Errored, nv.Retried = t.In, t.Out, t.Dropped, t.Errored-t.Deferred, t.Deferred
		if n.Range.Start.Line > 0 {
			nv.Where = fmt.Sprintf("%s:%d", p.Path, n.Range.Start.Line)
		}
		v.Nodes = append(v.Nodes, nv)
	}
	v.SVG = template.HTML(c.drawGraph(p.Plan, totals)) // WriteSVG escapes every name it writes
	if sh, ok := c.srv.VersionShadow(name); ok {
		// What the sinks got holds customers' emails and addresses:
		// masked for those without pii:read.
		if !r.who.Can(ops.ScopePII) {
			for i := range sh.Samples {
				s := &sh.Samples[i]
				if len(s.Live) > 0 {
					s.Live = json.RawMessage(maskJSON(s.Live))
				}
				if len(s.Candidate) > 0 {
					s.Candidate = json.RawMessage(maskJSON(s.Candidate))
				}
			}
		}
		v.Shadow = &sh
	}
	return view{page: "pipeline", data: v}, nil
}

// graph draws the pipeline's DAG with each node's counts, degraded nodes
// (those with errors) in red: the picture `pipectl graph --format svg`
// prints, annotated.
func (c *Console) graph(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, ok := c.srv.Pipeline(name)
	if !ok {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("no pipeline %q is served", name))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write([]byte(c.drawGraph(p.Plan, c.srv.NodeTotals(name))))
}

// drawGraph is the plan's SVG with each node's counts.
func (c *Console) drawGraph(plan *pipelines.Plan, totals map[string]engine.NodeStats) string {
	var b bytes.Buffer
	pipelines.WriteSVG(&b, plan, pipelines.SVGOptions{
		NoStyle: true,
		Note: func(node string) pipelines.SVGNote {
			t, ok := totals[node]
			if !ok {
				return pipelines.SVGNote{}
			}
			n := pipelines.SVGNote{Text: countsText(t)}
			if t.Errored-t.Deferred > 0 {
				n.Class = "degraded"
			}
			return n
		},
	})
	return b.String()
}

// countsText is a node's counts as its box shows them: what failed for
// good (err) apart from what waits to be retried (retry).
func countsText(t engine.NodeStats) string {
	s := fmt.Sprintf("in %d · out %d", t.In, t.Out)
	if e := t.Errored - t.Deferred; e > 0 {
		s += fmt.Sprintf(" · err %d", e)
	}
	if t.Deferred > 0 {
		s += fmt.Sprintf(" · retry %d", t.Deferred)
	}
	return s
}

// DeadLetterRow is a dead letter in a list.
type DeadLetterRow struct {
	ID       int64     `json:"id"`
	Pipeline string    `json:"pipeline"`
	Node     string    `json:"node"`
	Error    string    `json:"error"`
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
}

// DeadLettersView is the dead-letter screen: one status, grouped.
type DeadLettersView struct {
	Status string            `json:"status"`
	Groups []DeadLetterGroup `json:"groups"`
	Rows   []DeadLetterRow   `json:"dead_letters"`
}

func (c *Console) deadLetters(r request) (view, error) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = state.DeadOpen
	}
	if !slices.Contains([]string{state.DeadOpen, state.DeadReplayed, state.DeadResolved}, status) {
		return view{}, errStatus(http.StatusBadRequest, "status %q: want open, replayed or resolved", status)
	}
	f := state.DeadLetterFilter{Status: status, Pipeline: r.URL.Query().Get("pipeline"), Node: r.URL.Query().Get("node"), Limit: 500}
	dls, err := c.srv.Queue().ListDeadLetters(r.ctx(), f)
	if err != nil {
		return view{}, err
	}
	v := DeadLettersView{Status: status, Groups: groupDeadLetters(dls)}
	for _, dl := range dls {
		v.Rows = append(v.Rows, DeadLetterRow{ID: dl.ID, Pipeline: dl.Pipeline, Node: dl.Node, Error: dl.Error, Status: dl.Status,
			Attempts: len(dl.Attempts), Created: dl.Created})
	}
	return view{page: "dlq", data: v}, nil
}

// DeadLetterView is one dead letter, its payload masked for those
// without pii:read.
type DeadLetterView struct {
	DeadLetterRow
	Trigger  string          `json:"trigger"`
	Version  string          `json:"version"`
	Reason   string          `json:"reason,omitempty"`
	Payload  string          `json:"payload"`
	Edited   string          `json:"edited,omitempty"`
	Masked   bool            `json:"masked"`
	History  []state.Attempt `json:"attempts_detail"`
	Delivery int64           `json:"delivery,omitempty"`
	// Current is what a replay sends now (the edit or the original), the
	// edit form's starting text; Draft and EditError are a refused edit.
	Current   string `json:"-"`
	Draft     string `json:"-"`
	EditError string `json:"-"`
}

func (c *Console) deadLetter(r request) (view, error) {
	dl, err := c.lookupDeadLetter(r)
	if err != nil {
		return view{}, err
	}
	mask := !r.who.Can(ops.ScopePII)
	v := DeadLetterView{
		DeadLetterRow: DeadLetterRow{ID: dl.ID, Pipeline: dl.Pipeline, Node: dl.Node, Error: dl.Error, Status: dl.Status,
			Attempts: len(dl.Attempts), Created: dl.Created},
		Trigger: dl.Trigger, Version: dl.Version, Reason: dl.Reason, Masked: mask, History: dl.Attempts, Delivery: dl.Delivery,
		Payload: showPayload(dl.Payload, mask),
	}
	if dl.Edited != nil {
		v.Edited = showPayload(dl.Edited, mask)
	}
	if !mask { // only those who may see the payload whole may edit it
		if dl.Edited != nil {
			v.Current = showPayload(dl.Edited, false)
		} else {
			v.Current = showPayload(dl.Payload, false)
		}
	}
	return view{page: "dlq_show", data: v}, nil
}

func (c *Console) lookupDeadLetter(r request) (*state.DeadLetter, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errStatus(http.StatusBadRequest, "dead letter %q: not a number", r.PathValue("id"))
	}
	dl, err := c.srv.Queue().DeadLetter(r.ctx(), id)
	if err != nil {
		if strings.Contains(err.Error(), state.ErrNotFound.Error()) {
			return nil, errStatus(http.StatusNotFound, "no dead letter %d", id)
		}
		return nil, err
	}
	return dl, nil
}

// resolve closes a dead letter with a reason, through ops as the CLI's
// `dlq resolve` does. The API takes {"reason": "..."}, a form a field.
func (c *Console) resolve(r request) (view, error) {
	dl, err := c.lookupDeadLetter(r)
	if err != nil {
		return view{}, err
	}
	reason := r.PostFormValue("reason")
	if isAPI(r.Request) {
		var body struct {
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return view{}, errStatus(http.StatusBadRequest, "the body: %v (want {\"reason\": \"...\"})", err)
		}
		reason = body.Reason
	}
	if strings.TrimSpace(reason) == "" {
		return view{}, errStatus(http.StatusBadRequest, "resolving dead letter %d: a reason is required", dl.ID)
	}
	if err := ops.ResolveDeadLetter(r.ctx(), c.srv.Queue(), dl.ID, reason, r.who.Actor(), c.cfg.Now()); err != nil {
		return view{}, err
	}
	if isAPI(r.Request) {
		return view{data: map[string]any{"id": dl.ID, "status": state.DeadResolved, "reason": reason}}, nil
	}
	return view{data: redirect(fmt.Sprintf("/ui/dlq/%d", dl.ID))}, nil
}

// decodeBody reads an API request's JSON body into v.
func decodeBody(r request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errStatus(http.StatusBadRequest, "the body: %v", err)
	}
	return nil
}

// payloadOf reads an edited payload: the API's {"payload": ...} (any
// JSON) or a form's payload field.
func payloadOf(r request) ([]byte, string, error) {
	if isAPI(r.Request) {
		var body struct {
			Payload json.RawMessage `json:"payload"`
			Reason  string          `json:"reason"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return nil, "", errStatus(http.StatusBadRequest, "the body: %v (want {\"payload\": {...}, \"reason\": \"...\"})", err)
		}
		return body.Payload, body.Reason, nil
	}
	return []byte(r.PostFormValue("payload")), r.PostFormValue("reason"), nil
}

// edit saves an edited payload through ops (the checks `pipectl dlq edit`
// makes: JSON, and a dry run at the node it replays at, the source's
// schema included). A refused payload shows the page again with the
// reason at the field and what was typed kept.
func (c *Console) edit(r request) (view, error) {
	dl, err := c.lookupDeadLetter(r)
	if err != nil {
		return view{}, err
	}
	p, ok := c.srv.Pipeline(dl.Pipeline)
	if !ok {
		return view{}, errStatus(http.StatusConflict, "dead letter %d is of pipeline %q, which is not served", dl.ID, dl.Pipeline)
	}
	payload, reason, err := payloadOf(r)
	if err != nil {
		return view{}, err
	}
	err = ops.EditDeadLetter(r.ctx(), c.srv, p, dl, payload, reason, r.who.Actor(), c.cfg.Now())
	var bad *ops.InvalidPayload
	switch {
	case errors.As(err, &bad) && !isAPI(r.Request):
		v, verr := c.deadLetter(r)
		if verr != nil {
			return view{}, verr
		}
		d := v.data.(DeadLetterView)
		d.EditError, d.Draft = bad.Why, string(payload)
		return view{page: "dlq_show", data: d, status: http.StatusUnprocessableEntity}, nil
	case errors.As(err, &bad):
		return view{}, errStatus(http.StatusUnprocessableEntity, "%s", err)
	case err != nil:
		return view{}, err
	}
	if isAPI(r.Request) {
		return view{data: map[string]any{"id": dl.ID, "edited": true}}, nil
	}
	return view{data: redirect(fmt.Sprintf("/ui/dlq/%d", dl.ID))}, nil
}

// ReplayView is what a replay did, or would do (a dry run).
type ReplayView struct {
	DryRun  bool                 `json:"dry_run"`
	Results []serve.ReplayResult `json:"results"`
	// Plan is the set a bulk replay covers, with the hash to apply it by.
	Plan   *ops.ReplayPlan `json:"plan,omitempty"`
	Filter string          `json:"-"` // the bulk filter, as a query string
}

// replay replays one dead letter, or with dry_run shows exactly what each
// sink would receive and changes nothing.
func (c *Console) replay(r request) (view, error) {
	dl, err := c.lookupDeadLetter(r)
	if err != nil {
		return view{}, err
	}
	dry := r.URL.Query().Get("dry_run") == "1" || r.PostFormValue("dry_run") == "1"
	res, err := ops.Replay(r.ctx(), c.srv, []*state.DeadLetter{dl}, dry, r.who.Actor())
	if err != nil {
		return view{}, err
	}
	return view{page: "replay", data: ReplayView{DryRun: dry, Results: res}}, nil
}

func bulkFilter(r request) state.DeadLetterFilter {
	get := func(k string) string {
		if v := r.URL.Query().Get(k); v != "" {
			return v
		}
		return r.PostFormValue(k)
	}
	return state.DeadLetterFilter{Pipeline: get("pipeline"), Node: get("node")}
}

// preview is a bulk replay's preview: how many open dead letters the
// filter selects, a sample of them dry-run, and the plan hash the replay
// must be sent with.
func (c *Console) preview(r request) (view, error) {
	f := bulkFilter(r)
	plan, dls, err := ops.PlanReplay(r.ctx(), c.srv.Queue(), f)
	if err != nil {
		return view{}, err
	}
	var sample []*state.DeadLetter
	for _, dl := range dls {
		if slices.Contains(plan.Sample, dl.ID) {
			sample = append(sample, dl)
		}
	}
	res, err := ops.Replay(r.ctx(), c.srv, sample, true, r.who.Actor())
	if err != nil {
		return view{}, err
	}
	q := url.Values{}
	if f.Pipeline != "" {
		q.Set("pipeline", f.Pipeline)
	}
	if f.Node != "" {
		q.Set("node", f.Node)
	}
	return view{page: "replay", data: ReplayView{DryRun: true, Results: res, Plan: plan, Filter: q.Encode()}}, nil
}

// replayAll replays the previewed set, if it is still the set previewed:
// a plan hash that no longer matches gets 409 and changes nothing.
func (c *Console) replayAll(r request) (view, error) {
	hash := r.URL.Query().Get("plan_hash")
	if hash == "" {
		hash = r.PostFormValue("plan_hash")
	}
	if hash == "" {
		return view{}, errStatus(http.StatusBadRequest, "a bulk replay needs the plan_hash of its preview")
	}
	res, err := ops.ReplayPlanned(r.ctx(), c.srv, bulkFilter(r), hash, r.who.Actor())
	if errors.Is(err, ops.ErrPlanStale) {
		return view{}, errStatus(http.StatusConflict, "%s", err)
	}
	if err != nil {
		return view{}, err
	}
	return view{page: "replay", data: ReplayView{Results: res}}, nil
}
