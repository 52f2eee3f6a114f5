package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms/allocation"
)

// planTTL is how long a planned rules change can be applied.
const planTTL = time.Hour

// plans are the rules changes planned and not yet applied, by hash.
type plans struct {
	mu sync.Mutex
	by map[string]plannedAt
}

type plannedAt struct {
	plan *ops.RulesPlan
	at   time.Time
}

func (ps *plans) put(p *ops.RulesPlan, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.by == nil {
		ps.by = map[string]plannedAt{}
	}
	for h, x := range ps.by {
		if now.Sub(x.at) > planTTL {
			delete(ps.by, h)
		}
	}
	ps.by[p.Hash] = plannedAt{p, now}
}

func (ps *plans) get(hash string, now time.Time) *ops.RulesPlan {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	x, ok := ps.by[hash]
	if !ok || now.Sub(x.at) > planTTL {
		return nil
	}
	return x.plan
}

// RulesView is the rules screen: the settings in force and where each is
// set, the recent changes, and a planned change under review.
type RulesView struct {
	Pipeline string                  `json:"pipeline"`
	Settings []pipelines.RuleSetting `json:"settings"`
	History  []component.RuleChange  `json:"history"`
	Plan     *ops.RulesPlan          `json:"plan,omitempty"`
	Backtest *Backtest               `json:"backtest,omitempty"`
	// Shadow is the candidate running beside the live rules, if any.
	Shadow  *serve.ShadowReport `json:"shadow,omitempty"`
	Draft   string              `json:"-"`
	Error   string              `json:"-"`
	Applied bool                `json:"-"`
}

func (c *Console) rulesView(r request) (RulesView, error) {
	name := r.PathValue("name")
	p, ok := c.srv.Pipeline(name)
	if !ok || p.File == nil {
		return RulesView{}, errStatus(http.StatusNotFound, "no pipeline %q is served", name)
	}
	v := RulesView{Pipeline: name, Settings: relativeSources(pipelines.RuleSettings(p.File), p.Path)}
	if sh, ok := c.srv.Shadow(name); ok {
		v.Shadow = &sh
	}
	if inv := c.srv.Inventory(); inv != nil {
		if all, err := inv.RuleHistory(r.ctx(), ""); err == nil {
			v.History = pipelines.RecentChanges(all, v.Settings, 20)
		}
	}
	return v, nil
}

func (c *Console) rules(r request) (view, error) {
	v, err := c.rulesView(r)
	if err != nil {
		return view{}, err
	}
	v.Applied = r.URL.Query().Get("applied") != ""
	return view{page: "rules", data: v}, nil
}

// planRules plans a change ("RULESET.path=VALUE" lines), compiled with
// the whole pipeline as `pipectl rules set` does, and shows it for review
// with the hash to apply it by; nothing changes yet.
func (c *Console) planRules(r request) (view, error) {
	lines := strings.Split(r.PostFormValue("changes"), "\n")
	if isAPI(r.Request) {
		var body struct {
			Changes []string `json:"changes"`
		}
		if err := decodeBody(r, &body); err != nil {
			return view{}, err
		}
		lines = body.Changes
	}
	return c.plan(r, lines, strings.Join(lines, "\n"))
}

func (c *Console) plan(r request, lines []string, draft string) (view, error) {
	v, err := c.rulesView(r)
	if err != nil {
		return view{}, err
	}
	if c.cfg.Compile == nil {
		return view{}, errStatus(http.StatusNotImplemented, "this console cannot compile pipelines: rules are changed with pipectl rules set")
	}
	p, _ := c.srv.Pipeline(v.Pipeline)
	plan, err := ops.PlanRules(p.Path, *c.cfg.Compile, lines)
	if err != nil {
		if isAPI(r.Request) {
			return view{}, errStatus(http.StatusUnprocessableEntity, "%s", err)
		}
		v.Draft, v.Error = draft, err.Error()
		return view{page: "rules", data: v, status: http.StatusUnprocessableEntity}, nil
	}
	if len(plan.Changes) == 0 {
		msg := "nothing to change: every setting named already has that value"
		if isAPI(r.Request) {
			return view{}, errStatus(http.StatusUnprocessableEntity, "%s", msg)
		}
		v.Draft, v.Error = draft, msg
		return view{page: "rules", data: v, status: http.StatusUnprocessableEntity}, nil
	}
	c.plans.put(plan, c.cfg.Now())
	v.Plan, v.Draft = plan, draft
	if v.Backtest, err = c.backtest(r.ctx(), v.Pipeline, plan.Candidate); err != nil {
		c.log.Warn("rules backtest", "pipeline", v.Pipeline, "error", err.Error())
	}
	return view{page: "rules", data: v}, nil
}

// applyRules applies a reviewed plan by its hash, with a required reason:
// a hash no plan has, or a plan whose file changed since, gets 409 and
// changes nothing. Applied, the pipelines reload and the next order is
// decided by the new rules.
func (c *Console) applyRules(r request) (view, error) {
	hash, reason := r.PostFormValue("plan_hash"), r.PostFormValue("reason")
	if isAPI(r.Request) {
		var body struct {
			PlanHash string `json:"plan_hash"`
			Reason   string `json:"reason"`
		}
		if err := decodeBody(r, &body); err != nil {
			return view{}, err
		}
		hash, reason = body.PlanHash, body.Reason
	}
	name := r.PathValue("name")
	plan := c.plans.get(hash, c.cfg.Now())
	if plan != nil && plan.Pipeline != name {
		plan = nil
	}
	inv := c.srv.Inventory()
	if inv == nil {
		return view{}, errStatus(http.StatusConflict, "serve has no state store to record rule changes in")
	}
	err := ops.ApplyRules(r.ctx(), plan, hash, reason, r.who.Actor(), inv, c.srv.Queue(), c.cfg.Now())
	switch {
	case errors.Is(err, ops.ErrRulesStale):
		return view{}, errStatus(http.StatusConflict, "%s", err)
	case err != nil:
		return view{}, errStatus(http.StatusBadRequest, "%s", err)
	}
	if c.cfg.Reload != nil {
		if err := c.cfg.Reload(); err != nil {
			return view{}, fmt.Errorf("the rules are written, but the pipelines did not reload: %w", err)
		}
	}
	if isAPI(r.Request) {
		return view{data: map[string]any{"pipeline": name, "applied": plan.Hash, "changes": plan.Changes}}, nil
	}
	return view{data: redirect("/ui/rules/" + name + "?applied=1")}, nil
}

// shadow runs a reviewed plan beside the live rules: every order the live
// version decides is decided again by the candidate against the same
// stock, compared on this page; nothing is written or sent.
func (c *Console) shadow(r request) (view, error) {
	name := r.PathValue("name")
	hash := r.PostFormValue("plan_hash")
	if isAPI(r.Request) {
		var body struct {
			PlanHash string `json:"plan_hash"`
		}
		if err := decodeBody(r, &body); err != nil {
			return view{}, err
		}
		hash = body.PlanHash
	}
	plan := c.plans.get(hash, c.cfg.Now())
	if plan == nil || plan.Pipeline != name {
		return view{}, errStatus(http.StatusConflict, "no planned change %q of %s to run in shadow; plan it again", hash, name)
	}
	if err := c.srv.StartShadow(name, hash, plan.Candidate, compareDecisions); err != nil {
		return view{}, errStatus(http.StatusBadRequest, "%s", err)
	}
	if err := c.srv.Queue().AddAudit(r.ctx(), &state.AuditEntry{At: c.cfg.Now(), Actor: r.who.Actor(), Action: "rules.shadow", Subject: name,
		Reason: "plan " + hash}); err != nil {
		return view{}, err
	}
	if isAPI(r.Request) {
		return view{data: map[string]any{"pipeline": name, "shadow": hash}}, nil
	}
	return view{data: redirect("/ui/rules/" + name)}, nil
}

func (c *Console) stopShadow(r request) (view, error) {
	name := r.PathValue("name")
	c.srv.StopShadow(name)
	if err := c.srv.Queue().AddAudit(r.ctx(), &state.AuditEntry{At: c.cfg.Now(), Actor: r.who.Actor(), Action: "rules.shadow.stop", Subject: name}); err != nil {
		return view{}, err
	}
	if isAPI(r.Request) {
		return view{data: map[string]any{"pipeline": name, "shadow": nil}}, nil
	}
	return view{data: redirect("/ui/rules/" + name)}, nil
}

// compareDecisions is how a shadow compares a live decision with the
// candidate's: their outcomes, and whether every line came out the same.
func compareDecisions(live, candidate []byte) (from, to string, same bool) {
	var a, b allocation.Explanation
	if json.Unmarshal(live, &a) != nil || json.Unmarshal(candidate, &b) != nil {
		return "unreadable", "unreadable", false
	}
	from, to = outcomeOfExplanation(a), outcomeOfExplanation(b)
	return from, to, from == to && lineSummary(a) == lineSummary(b)
}

// rollback plans putting a recorded change's settings back as they were,
// for review and apply like any change: rollback makes a new version, it
// rewrites no history.
func (c *Console) rollback(r request) (view, error) {
	v, err := c.rulesView(r)
	if err != nil {
		return view{}, err
	}
	seq, _ := strconv.ParseInt(r.PostFormValue("seq"), 10, 64)
	for _, ch := range v.History {
		if ch.Seq == seq {
			lines := ops.RollbackAssignments([]component.RuleChange{ch})
			return c.plan(r, lines, strings.Join(lines, "\n"))
		}
	}
	return view{}, errStatus(http.StatusNotFound, "no recent change %d of %s's rules", seq, v.Pipeline)
}

// relativeSources shows where settings are set relative to the
// pipeline's folder: rules.yaml:12, not a long absolute path.
func relativeSources(ss []pipelines.RuleSetting, pipelinePath string) []pipelines.RuleSetting {
	dir := filepath.Dir(pipelinePath) + string(filepath.Separator)
	for i := range ss {
		ss[i].Source = strings.TrimPrefix(ss[i].Source, dir)
	}
	return ss
}
