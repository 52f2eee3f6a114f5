package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/transforms/allocation"
	"github.com/tidwall/gjson"
)

// OrderView is an order's page: what happened to it, and why it was
// allocated as it was.
type OrderView struct {
	Query    string          `json:"query"`
	Timeline []TimelineEvent `json:"timeline"`
	Decision []Decision      `json:"decisions"`
}

// TimelineEvent is one thing that happened to an order.
type TimelineEvent struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
	Link   string    `json:"link,omitempty"`
	Failed bool      `json:"failed,omitempty"`
}

// Decision is one allocation of the order, with the rule and the place in
// the rules file that decided each line.
type Decision struct {
	Ref            string                   `json:"ref"`
	IdempotencyKey string                   `json:"idempotency_key"`
	At             time.Time                `json:"at"`
	Explanation    allocation.Explanation   `json:"explanation"`
	Lines          []ExplainedLine          `json:"lines"`
	Raw            json.RawMessage          `json:"-"`
	Unreadable     string                   `json:"unreadable,omitempty"`
	Snapshot       []allocation.SnapshotRow `json:"-"`
}

// ExplainedLine is a line's decision with where each rule is set.
type ExplainedLine struct {
	allocation.LineDecision
	From  string       `json:"from_text"`
	Rules []RuleSource `json:"rule_sources"`
}

// RuleSource is a rule that decided a line and where it is set.
type RuleSource struct {
	Rule  string `json:"rule"`
	Where string `json:"where,omitempty"` // rules.yaml:12
}

// order finds an order by its id (or the allocate step's key) in the
// allocation record and the dead letters, and lays out what happened.
func (c *Console) order(r request) (view, error) {
	q := strings.TrimSpace(r.PathValue("ref"))
	if q == "" {
		q = strings.TrimSpace(r.URL.Query().Get("q"))
	}
	v := OrderView{Query: q}
	if q == "" {
		return view{page: "order", data: v}, nil
	}
	if inv := c.srv.Inventory(); inv != nil {
		exps, err := inv.Explanations(r.ctx(), q)
		if err != nil {
			return view{}, err
		}
		for _, e := range exps {
			d := Decision{Ref: e.Ref, IdempotencyKey: e.IdempotencyKey, At: e.At}
			if err := json.Unmarshal(e.Data, &d.Explanation); err != nil {
				d.Unreadable = err.Error()
			}
			// The order as decided holds the customer's name, email and
			// address: masked for those without pii:read.
			if len(d.Explanation.Order) > 0 && !r.who.Can(ops.ScopePII) {
				d.Explanation.Order = json.RawMessage(maskJSON(d.Explanation.Order))
			}
			d.Snapshot = d.Explanation.Snapshot
			for _, l := range d.Explanation.Lines {
				d.Lines = append(d.Lines, c.explainLine(l))
			}
			v.Decision = append(v.Decision, d)
			v.Timeline = append(v.Timeline, TimelineEvent{At: e.At, What: "allocated", Detail: verdictOf(d.Explanation)})
		}
	}
	// What serve did with it: received, processed, retries.
	events, err := c.srv.Queue().OrderEventsOf(r.ctx(), q)
	if err != nil {
		return view{}, err
	}
	for _, e := range events {
		v.Timeline = append(v.Timeline, TimelineEvent{At: e.At, What: e.Kind, Detail: e.Detail,
			Failed: e.Kind == "dead letter" || strings.HasPrefix(e.Kind, "retry") && strings.Contains(e.Kind, "failed")})
	}
	// Dead letters of the order: its id in the payload or the record.
	dls, err := c.srv.Queue().ListDeadLetters(r.ctx(), state.DeadLetterFilter{Limit: 5000})
	if err != nil {
		return view{}, err
	}
	for _, dl := range dls {
		if !mentions(dl, q) {
			continue
		}
		v.Timeline = append(v.Timeline, TimelineEvent{At: dl.Created, What: "failed at " + dl.Node, Detail: dl.Error,
			Link: fmt.Sprintf("/ui/dlq/%d", dl.ID), Failed: dl.Status == state.DeadOpen})
		for _, a := range dl.Attempts {
			if !a.At.Equal(dl.Created) {
				v.Timeline = append(v.Timeline, TimelineEvent{At: a.At, What: "replayed", Detail: orOK(a.Error), Link: fmt.Sprintf("/ui/dlq/%d", dl.ID), Failed: a.Error != ""})
			}
		}
		if dl.Status == state.DeadResolved {
			v.Timeline = append(v.Timeline, TimelineEvent{At: dl.Updated, What: "dead letter resolved", Detail: dl.Reason, Link: fmt.Sprintf("/ui/dlq/%d", dl.ID)})
		}
	}
	slices.SortStableFunc(v.Timeline, func(a, b TimelineEvent) int { return a.At.Compare(b.At) })
	if len(v.Timeline) == 0 && !isAPI(r.Request) {
		return view{page: "order", data: v}, nil
	}
	if len(v.Timeline) == 0 {
		return view{}, errStatus(http.StatusNotFound, "nothing is recorded for order %q", q)
	}
	return view{page: "order", data: v}, nil
}

func orOK(s string) string {
	if s == "" {
		return "went through"
	}
	return s
}

// mentions reports whether a dead letter is about the order: its id,
// number or name at the top of the payload or the record.
func mentions(dl *state.DeadLetter, q string) bool {
	for _, b := range [][]byte{dl.Payload, dl.Edited, dl.Record} {
		if len(b) == 0 || !gjson.ValidBytes(b) {
			continue
		}
		for _, k := range []string{"id", "order_id", "order_number", "number", "name"} {
			if v := gjson.GetBytes(b, k); v.Exists() && strings.TrimPrefix(v.String(), "#") == strings.TrimPrefix(q, "#") {
				return true
			}
		}
	}
	return false
}

func verdictOf(x allocation.Explanation) string {
	var alloc, back, held, cancelled int
	for _, l := range x.Lines {
		switch {
		case l.Held.IsPositive():
			held++
		case l.Backordered.IsPositive():
			back++
		case l.Cancelled.IsPositive():
			cancelled++
		default:
			alloc++
		}
	}
	parts := []string{fmt.Sprintf("%d line%s allocated", alloc, plural(alloc))}
	if back > 0 {
		parts = append(parts, fmt.Sprintf("%d backordered", back))
	}
	if held > 0 {
		parts = append(parts, fmt.Sprintf("%d held", held))
	}
	if cancelled > 0 {
		parts = append(parts, fmt.Sprintf("%d cancelled", cancelled))
	}
	return strings.Join(parts, ", ")
}

// explainLine adds where each of a line's rules is set in the rules file.
func (c *Console) explainLine(l allocation.LineDecision) ExplainedLine {
	el := ExplainedLine{LineDecision: l}
	var from []string
	for _, f := range l.From {
		from = append(from, f.Qty.String()+" from "+f.LocationID)
	}
	el.From = strings.Join(from, ", ")
	for _, rule := range l.Rules {
		el.Rules = append(el.Rules, RuleSource{Rule: rule, Where: c.ruleWhere(rule)})
	}
	return el
}

// ruleSettings maps a decision's rule (family:value) to the setting of
// the rule set it comes from.
var ruleSettings = map[string][]string{
	"strategy":  {"allocation", "strategy"},
	"backorder": {"backorder", "policy"},
	"remainder": {"backorder", "remainder_action"},
	"split":     {"split", "mode"},
	"safety":    {"inventory", "safety_stock"},
}

// ruleWhere finds the file:line of a rule's setting in any served
// pipeline's rule sets; "" when it is a default nobody set.
func (c *Console) ruleWhere(rule string) string {
	family, value, _ := strings.Cut(rule, ":")
	paths := [][]string{{family, value}}
	if p, ok := ruleSettings[family]; ok {
		paths = append(paths, p)
	}
	for _, name := range c.srv.Pipelines() {
		p, ok := c.srv.Pipeline(name)
		if !ok {
			continue
		}
		for _, set := range p.Plan.Rules {
			for _, path := range paths {
				if w := settingWhere(set, path); w != "" {
					return w
				}
			}
		}
	}
	return ""
}

func settingWhere(set *pipelines.Node, path []string) string {
	v := set.Config
	for _, k := range path {
		v = v.Get(k)
	}
	if v == nil || !v.Set || v.Range.Start.Line == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d", filepath.Base(v.Range.Start.File), v.Range.Start.Line)
}
