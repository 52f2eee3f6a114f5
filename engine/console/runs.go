package console

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
)

// TriggerRow is a trigger on the runs screen, with its pause.
type TriggerRow struct {
	serve.TriggerInfo
	Last   time.Time    `json:"last_tick,omitzero"`
	Paused *state.Pause `json:"paused,omitempty"`
}

// PipelineRuns is one pipeline on the runs screen.
type PipelineRuns struct {
	Name     string             `json:"name"`
	Paused   *state.Pause       `json:"paused,omitempty"`
	Triggers []TriggerRow       `json:"triggers"`
	Runs     []*state.RunRecord `json:"runs"`
}

// RunsView is the runs and schedules screen.
type RunsView struct {
	Pipelines []PipelineRuns `json:"pipelines"`
}

// runs lists every pipeline's triggers (cron ones with their next and
// last ticks), what is paused, and the recent runs.
func (c *Console) runs(r request) (view, error) {
	q := c.srv.Queue()
	now := c.cfg.Now()
	var v RunsView
	for _, name := range c.srv.Pipelines() {
		pr := PipelineRuns{Name: name, Paused: c.srv.PausedBy(name, "")}
		for _, t := range c.srv.Triggers(name, now) {
			row := TriggerRow{TriggerInfo: t, Paused: c.srv.PausedBy(name, t.Name)}
			if t.Kind == "cron" {
				if last, ok, err := q.LastTick(r.ctx(), name, t.Name); err == nil && ok {
					row.Last = last
				}
			}
			pr.Triggers = append(pr.Triggers, row)
		}
		runs, err := q.ListRuns(r.ctx(), state.RunFilter{Pipeline: name, Limit: 20})
		if err != nil {
			return view{}, err
		}
		pr.Runs = runs
		v.Pipelines = append(v.Pipelines, pr)
	}
	return view{page: "runs", data: v}, nil
}

// pauseOrResume pauses or resumes a pipeline (trigger "") or a cron
// trigger, through ops as `pipectl pause` does, with a reason.
func (c *Console) pauseOrResume(pause bool) handlerFunc {
	return func(r request) (view, error) {
		name := r.PathValue("name")
		if _, ok := c.srv.Pipeline(name); !ok {
			return view{}, errStatus(http.StatusNotFound, "no pipeline %q is served", name)
		}
		trigger, reason := r.PostFormValue("trigger"), r.PostFormValue("reason")
		if isAPI(r.Request) {
			var body struct{ Trigger, Reason string }
			if err := decodeBody(r, &body); err != nil {
				return view{}, err
			}
			trigger, reason = body.Trigger, body.Reason
		}
		if trigger != "" {
			found := false
			for _, t := range c.srv.Triggers(name, c.cfg.Now()) {
				if t.Name == trigger {
					found = t.Kind == "cron"
				}
			}
			if !found {
				return view{}, errStatus(http.StatusBadRequest, "%s has no cron trigger %q (pause the pipeline to hold its webhooks' runs)", name, trigger)
			}
		}
		var err error
		if pause {
			err = ops.Pause(r.ctx(), c.srv.Queue(), c.srv, name, trigger, reason, r.who.Actor(), c.cfg.Now())
		} else {
			err = ops.Resume(r.ctx(), c.srv.Queue(), c.srv, name, trigger, reason, r.who.Actor(), c.cfg.Now())
		}
		if err != nil {
			return view{}, errStatus(http.StatusBadRequest, "%s", err)
		}
		if isAPI(r.Request) {
			return view{data: map[string]any{"pipeline": name, "trigger": trigger, "paused": pause}}, nil
		}
		return view{data: redirect("/ui/runs")}, nil
	}
}

// AuditView is the history of what operators did.
type AuditView struct {
	Subject string     `json:"subject,omitempty"`
	Entries []AuditRow `json:"entries"`
}

// AuditRow is one entry, its detail (a diff, an outcome) as JSON.
type AuditRow struct {
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Reason  string          `json:"reason,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func (c *Console) audit(r request) (view, error) {
	subject := r.URL.Query().Get("subject")
	es, err := c.srv.Queue().ListAudit(r.ctx(), subject, 200)
	if err != nil {
		return view{}, err
	}
	v := AuditView{Subject: subject, Entries: []AuditRow{}}
	for _, e := range es {
		row := AuditRow{At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Reason: e.Reason}
		if len(e.Detail) > 0 {
			row.Detail = json.RawMessage(e.Detail)
			// An edit's before and after are payloads: masked for viewers.
			if !json.Valid(e.Detail) || !r.who.Can(ops.ScopePII) {
				row.Detail = json.RawMessage(maskJSON(e.Detail))
			}
		}
		v.Entries = append(v.Entries, row)
	}
	return view{page: "audit", data: v}, nil
}

// DocsView is a pipeline's documentation page, as `pipectl docs` writes
// it.
type DocsView struct {
	Page pipelines.DocPage `json:"page"`
	SVG  template.HTML     `json:"-"`
}

func (c *Console) docs(r request) (view, error) {
	name := r.PathValue("name")
	p, ok := c.srv.Pipeline(name)
	if !ok {
		return view{}, errStatus(http.StatusNotFound, "no pipeline %q is served", name)
	}
	if p.File == nil {
		return view{}, errStatus(http.StatusNotFound, "pipeline %q was served without its file", name)
	}
	d := pipelines.Document(p.File, p.Plan)
	d.Settings = relativeSources(d.Settings, p.Path)
	if inv := c.srv.Inventory(); inv != nil {
		if all, err := inv.RuleHistory(r.ctx(), ""); err == nil {
			d.Changes = pipelines.RecentChanges(all, d.Settings, 20)
		}
	}
	var svg strings.Builder
	pipelines.WriteSVG(&svg, p.Plan, pipelines.SVGOptions{NoStyle: true})
	d.SVG = ""
	return view{page: "docs", data: DocsView{Page: d, SVG: template.HTML(svg.String())}}, nil
}
