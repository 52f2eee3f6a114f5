package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// RulesPlan is a change to a pipeline's rule sets, compiled and reviewed
// before it is applied: the file it edits, the content it was planned
// against and the content it writes, the settings that change, and a
// hash binding the three. Apply refuses it once the file has moved on.
type RulesPlan struct {
	Pipeline string                 `json:"pipeline"`
	Target   string                 `json:"file"`
	Changes  []component.RuleChange `json:"changes"`
	// Unchanged are the settings named that already have their value.
	Unchanged []component.RuleChange `json:"unchanged,omitempty"`
	Warnings  []string               `json:"warnings,omitempty"`
	Hash      string                 `json:"plan_hash"`
	// WarningDiagnostics are the warnings about the edited file, with the
	// sources to print them with.
	WarningDiagnostics diag.Diagnostics `json:"-"`
	Sources            diag.Sources     `json:"-"`
	// Candidate is the pipeline compiled with the change (a backtest
	// builds its steps).
	Candidate *pipelines.Plan `json:"-"`
	base      []byte
	content   []byte
}

// Content is what applying the plan writes.
func (p *RulesPlan) Content() []byte { return p.content }

// InvalidRules is a change that would leave the pipeline with errors;
// nothing is planned.
type InvalidRules struct {
	Target      string // the file the change was to
	Diagnostics diag.Diagnostics
	Sources     diag.Sources
}

func (e *InvalidRules) Error() string {
	var b strings.Builder
	diag.WriteText(&b, e.Diagnostics, e.Sources)
	return "the change would leave the pipeline with errors:\n" + b.String()
}

// ErrRulesStale is a plan applied after its file changed.
var ErrRulesStale = errors.New("the rules changed since this change was planned; plan it again")

// PlanRules plans assignments ("RULESET.path=VALUE", VALUE in YAML) to the
// rule sets of the pipeline at path: the file holding them is edited in
// memory, keeping comments and layout, and the whole pipeline compiled
// with it, as `pipectl rules set` does. Settings whose value would not
// change are listed apart (Unchanged); a plan may change nothing.
func PlanRules(path string, opts pipelines.Options, assignments []string) (*RulesPlan, error) {
	f, ds := pipelines.Load(path, opts.LoadOptions)
	if f == nil || ds.HasErrors() {
		return nil, &InvalidRules{Diagnostics: ds.Sorted(), Sources: sourcesOf(f)}
	}
	target := path
	if f.RulesPath != "" {
		target = f.RulesPath
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
	}
	base, err := os.ReadFile(target)
	if err != nil {
		return nil, err
	}
	src := base
	type assignment struct{ name, value string }
	var as []assignment
	yamlOld := map[string]string{}
	for _, a := range assignments {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		name, value, found := strings.Cut(a, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		set, rest, dotted := strings.Cut(name, ".")
		if !found || !dotted || set == "" || rest == "" || slices.Contains(strings.Split(rest, "."), "") {
			return nil, fmt.Errorf("%q is not RULESET.path=VALUE, e.g. fulfillment.split.max_shipments=1", a)
		}
		var e *pipelines.Entry
		for _, x := range f.EntriesOf(component.RuleSection) {
			if x.Name == set {
				e = x
			}
		}
		if e == nil {
			return nil, fmt.Errorf("%s: the pipeline has no rule set %q", name, set)
		}
		keys := strings.Split(rest, ".")
		ypath := []string{"rules", e.Name}
		if !slices.Contains([]string{"description", "when", "overrides"}, keys[0]) {
			ypath = append(ypath, e.Kind)
		}
		var old string
		if src, old, err = pipelines.SetYAMLValue(src, append(ypath, keys...), value); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, seen := yamlOld[name]; !seen {
			yamlOld[name] = old
		}
		as = append(as, assignment{name, value})
	}
	if len(as) == 0 {
		return nil, errors.New("no setting to change: give RULESET.path=VALUE lines")
	}
	readFile := opts.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	opts.ReadFile = func(p string) ([]byte, error) {
		if filepath.Clean(p) == filepath.Clean(target) {
			return src, nil
		}
		return readFile(p)
	}
	pipeSrc := src
	if target != path {
		if pipeSrc, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	nf, nds := pipelines.LoadBytes(path, pipeSrc, opts.LoadOptions)
	var candidate *pipelines.Plan
	if nf != nil && !nds.HasErrors() {
		var cds diag.Diagnostics
		candidate, cds = pipelines.Compile(nf, opts)
		nds = append(nds, cds...)
	}
	nds = nds.Sorted()
	if nds.HasErrors() {
		return nil, &InvalidRules{Target: target, Diagnostics: nds, Sources: sourcesOf(nf)}
	}
	plan := &RulesPlan{Pipeline: f.Name, Target: target, base: base, content: src, Sources: sourcesOf(nf), Candidate: candidate}
	for _, d := range nds {
		if filepath.Clean(d.Subject.Start.File) == filepath.Clean(target) {
			plan.Warnings = append(plan.Warnings, d.Summary)
			plan.WarningDiagnostics = append(plan.WarningDiagnostics, d)
		}
	}
	before, after := byName(pipelines.RuleSettings(f)), byName(pipelines.RuleSettings(nf))
	seen := map[string]bool{}
	for _, a := range as {
		if seen[a.name] {
			continue
		}
		seen[a.name] = true
		old, ok := before[a.name]
		oldValue := old.Value
		if !ok {
			oldValue = yamlOld[a.name]
		}
		if ok && old.Source == "unset" {
			oldValue = ""
		}
		newValue := a.value
		if s, ok := after[a.name]; ok {
			newValue = s.Value
		}
		ch := component.RuleChange{Rule: a.name, Old: oldValue, New: newValue}
		if oldValue != newValue {
			plan.Changes = append(plan.Changes, ch)
		} else {
			plan.Unchanged = append(plan.Unchanged, ch)
		}
	}
	h := sha256.New()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write(base)
	h.Write([]byte{0})
	h.Write(src)
	plan.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return plan, nil
}

// ApplyRules writes a planned change if hash is still the plan's and its
// file is as it was planned against (ErrRulesStale otherwise, nothing
// changed), records each setting's change with the reason in the rules
// audit log and the action in the serve audit log (when q is not nil). The running pipelines
// take it at their next reload, which the caller triggers.
func ApplyRules(ctx context.Context, plan *RulesPlan, hash, reason, actor string, store component.Inventory, q state.Queue, now time.Time) error {
	if strings.TrimSpace(reason) == "" {
		return errors.New("applying a rules change: a reason is required")
	}
	if plan == nil || hash != plan.Hash {
		return ErrRulesStale
	}
	if len(plan.Changes) == 0 {
		return errors.New("the plan changes nothing")
	}
	cur, err := os.ReadFile(plan.Target)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, plan.base) {
		return ErrRulesStale
	}
	if err := writeAtomic(plan.Target, plan.content); err != nil {
		return err
	}
	for i, ch := range plan.Changes {
		ch.Actor, ch.Reason, ch.At = actor, reason, now
		if err := store.RecordRuleChange(ctx, ch); err != nil {
			if rerr := writeAtomic(plan.Target, plan.base); rerr != nil {
				return fmt.Errorf("recording %s: %v; restoring the old rules failed too: %w", ch.Rule, err, rerr)
			}
			return fmt.Errorf("recording %s: %w; the old rules are restored (%d change(s) recorded before did not take effect)", ch.Rule, err, i)
		}
	}
	if q == nil { // the CLI: the rules audit log above is the record
		return nil
	}
	detail, _ := json.Marshal(map[string]any{"file": plan.Target, "plan_hash": plan.Hash, "changes": plan.Changes})
	return q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "rules.apply", Subject: plan.Pipeline, Reason: reason, Detail: detail})
}

// RollbackAssignments are the assignments that put the settings a past
// change made back as they were before it.
func RollbackAssignments(changes []component.RuleChange) []string {
	var out []string
	for _, c := range changes {
		v := c.Old
		if v == "" {
			v = "null"
		}
		out = append(out, c.Rule+"="+v)
	}
	return out
}

func byName(ss []pipelines.RuleSetting) map[string]pipelines.RuleSetting {
	m := map[string]pipelines.RuleSetting{}
	for _, s := range ss {
		m[s.Name] = s
	}
	return m
}

func sourcesOf(f *pipelines.File) diag.Sources {
	if f == nil {
		return nil
	}
	return f.Sources
}

// writeAtomic replaces path by a rename, so a reader sees the old file or
// the new one.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil {
		os.Chmod(tmp.Name(), st.Mode().Perm())
	}
	return os.Rename(tmp.Name(), path)
}
