package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// `pipectl rules` is how ops teams read and change the rule sets of a
// pipeline without touching its code. Choices made here:
//
//   - A setting is named RULESET.path.to.setting, the rule set's name and
//     then the keys under its kind (`fulfillment.split.max_shipments`);
//     description, when and overrides are the rule set's own keys
//     (`fulfillment.when`). The same name is the audit log's rule.
//   - `set` edits the file that holds the rule sets (the rules file, or the
//     pipeline file for inline rules) as YAML nodes, so comments and layout
//     survive, then loads and compiles the whole pipeline with the edit in
//     memory. Only a change that compiles without errors is written, by a
//     rename, so a reader sees the old file or the new one and never half
//     of one. The audit entries are recorded after the write; if recording
//     fails the old file is put back, so no change goes unaudited.
//   - Old and new values in the audit log are the effective values, defaults
//     included: setting max_shipments from its default records "0" -> "1".
//     A setting that would not change is neither written nor recorded.

const rulesUsage = `Usage: pipectl rules <show|set|diff|history> [flags] [arguments]

Rules reads and changes the rule sets of a pipeline (allocation, split
shipments, backorders): the settings ops teams own, in the rules file the
pipeline names with ` + "`rules:`" + `. A setting is named RULESET.path, e.g.
fulfillment.split.max_shipments.

Commands:
  show      print the effective settings, defaults included, and where each is set
  set       change settings after validating the whole pipeline; audited
  diff      compare the pipeline's settings with another rules file
  history   print the audit log of rule changes, newest first

Examples:
  pipectl rules show pipeline.yaml
  pipectl rules set pipeline.yaml fulfillment.split.max_shipments=1 --reason "peak season"
  pipectl rules diff pipeline.yaml rules.candidate.yaml
  pipectl rules history fulfillment.split

Run 'pipectl rules <command> --help' for a command's flags.
`

func runRules(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, rulesUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, rulesUsage)
		return exitOK
	}
	switch args[0] {
	case "show":
		return runRulesShow(c, args[1:])
	case "set":
		return runRulesSet(c, args[1:])
	case "diff":
		return runRulesDiff(c, args[1:])
	case "history":
		return runRulesHistory(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl rules: unknown command %q\n", args[0])
	if s := suggest(args[0], []string{"show", "set", "diff", "history"}); s != "" {
		fmt.Fprintf(c.stderr, "did you mean %q?\n", s)
	}
	fmt.Fprintln(c.stderr, "run 'pipectl rules --help' for the list of commands")
	return exitUsage
}

func runRulesShow(c *cli, args []string) int {
	fs := newFlags(c, "rules show", "PIPELINE [RULESET]", `
Show prints every setting of the pipeline's rule sets as it is in force:
what the rules file says and, for everything it leaves out, the default.
Each line names the setting, its value, and where it is set (file:line),
"default", or "unset" for an optional setting without a default.`, `  pipectl rules show examples/shopify-orders-to-wms/pipeline.yaml
  pipectl rules show pipeline.yaml fulfillment`)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(c.stderr, "pipectl rules show: name a pipeline file, and optionally a rule set")
		return exitUsage
	}
	f, code := loadRules(c, "rules show", pos[0])
	if f == nil {
		return code
	}
	only := ""
	if len(pos) == 2 {
		only = pos[1]
		if !hasRuleSet(c, "rules show", f, only) {
			return exitError
		}
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for _, s := range ruleSettings(f) {
		if only != "" && s.set != only {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.name, s.value, s.source)
	}
	tw.Flush()
	return exitOK
}

// loadRules loads a pipeline for reading its rule sets, printing the load
// errors, if any, to stderr.
func loadRules(c *cli, cmd, path string) (*pipelines.File, int) {
	f, ds := pipelines.Load(path, compileOptions(registry(), component.SystemClock{}).LoadOptions)
	if ds.HasErrors() {
		var src diag.Sources
		if f != nil {
			src = f.Sources
		}
		writeDiagnostics(c.stderr, "text", ds.Sorted(), src)
		fmt.Fprintf(c.stderr, "pipectl %s: %s does not load; fix the errors above first\n", cmd, path)
		return nil, exitError
	}
	return f, exitOK
}

func hasRuleSet(c *cli, cmd string, f *pipelines.File, name string) bool {
	var names []string
	for _, e := range f.EntriesOf(component.RuleSection) {
		if e.Name == name {
			return true
		}
		names = append(names, e.Name)
	}
	fmt.Fprintf(c.stderr, "pipectl %s: %s has no rule set %q\n", cmd, f.Path, name)
	switch {
	case len(names) == 0:
		fmt.Fprintln(c.stderr, "it has no rule sets: add `rules: rules.yaml` to the pipeline")
	case suggest(name, names) != "":
		fmt.Fprintf(c.stderr, "did you mean %q?\n", suggest(name, names))
	default:
		fmt.Fprintf(c.stderr, "rule sets: %s\n", strings.Join(names, ", "))
	}
	return false
}

// ruleSetting is one effective setting of a rule set (pipelines.RuleSetting).
type ruleSetting struct {
	set    string // the rule set
	name   string // RULESET.path
	value  string
	source string // file:line, "default" or "unset"
}

// ruleSettings flattens the rule sets of a loaded pipeline into their
// settings, in rule set order and then in the order of the kind's spec.
func ruleSettings(f *pipelines.File) []ruleSetting {
	var out []ruleSetting
	for _, r := range pipelines.RuleSettings(f) {
		out = append(out, ruleSetting{set: r.Set, name: r.Name, value: r.Value, source: r.Source})
	}
	return out
}

func settingsByName(ss []ruleSetting) map[string]ruleSetting {
	m := map[string]ruleSetting{}
	for _, s := range ss {
		m[s.name] = s
	}
	return m
}

func runRulesSet(c *cli, args []string) int {
	fs := newFlags(c, "rules set", "PIPELINE RULESET.path=VALUE... --reason TEXT [--actor NAME] [--state URL]", `
Set changes settings of a pipeline's rule sets. It edits the file the rule
sets are in (the rules file, or the pipeline file for inline rules), keeping
its comments and layout and creating keys that are absent, then loads and
compiles the whole pipeline with the change before writing anything. If the
pipeline would have errors they are printed, nothing is written, and set
exits 1: the rules in force stay as they were.

A valid change replaces the file at once (a rename) and records one entry per
changed setting in the audit log of the state store: who, when, the old and
new effective values, and why. --reason is required. VALUE is YAML: 1, deny,
true, [wh-east, wh-west].`, `  pipectl rules set pipeline.yaml fulfillment.split.max_shipments=1 --reason "peak season: one box per order"
  pipectl rules set pipeline.yaml fulfillment.backorder.policy=deny --reason "supplier outage" --actor alice
  pipectl rules set pipeline.yaml 'fulfillment.allocation.location_priority=[wh-west, wh-east]' --reason "east is closing"`)
	reason := fs.String("reason", "", "why the change is made, for the audit log (required)")
	actor := fs.String("actor", defaultActor(), "who makes the change, for the audit log")
	stateURL := fs.String("state", "", "state store URL: sqlite://PATH or postgres://…; default SQLite in ./.pipectl/")
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) < 2 {
		fmt.Fprintln(c.stderr, "pipectl rules set: name a pipeline file and at least one RULESET.path=VALUE")
		return exitUsage
	}
	if strings.TrimSpace(*reason) == "" {
		fmt.Fprintln(c.stderr, "pipectl rules set: --reason is required: say why, for the audit log")
		return exitUsage
	}
	if strings.TrimSpace(*actor) == "" {
		fmt.Fprintln(c.stderr, "pipectl rules set: --actor must not be empty")
		return exitUsage
	}
	for _, a := range pos[1:] {
		name, _, found := strings.Cut(a, "=")
		set, rest, dotted := strings.Cut(name, ".")
		if !found || !dotted || set == "" || rest == "" || slices.Contains(strings.Split(rest, "."), "") {
			fmt.Fprintf(c.stderr, "pipectl rules set: %q is not RULESET.path=VALUE, e.g. fulfillment.split.max_shipments=1\n", a)
			return exitUsage
		}
		if strings.ContainsAny(name, "[]") {
			fmt.Fprintf(c.stderr, "pipectl rules set: %s: list items cannot be set one by one; set the whole list, e.g. %s='[...]'\n", name, name[:strings.IndexAny(name, "[")])
			return exitUsage
		}
	}
	path := pos[0]
	f, code := loadRules(c, "rules set", path)
	if f == nil {
		return code
	}
	for _, a := range pos[1:] {
		set, _, _ := strings.Cut(a, ".")
		if ruleEntry(f, set) == nil {
			hasRuleSet(c, "rules set", f, set)
			return exitError
		}
	}
	// Planned and applied by engine/ops, as the console's rules screen
	// does: the edit compiled with the whole pipeline before anything is
	// written.
	plan, err := ops.PlanRules(path, compileOptions(registry(), component.SystemClock{}), pos[1:])
	var invalid *ops.InvalidRules
	switch {
	case errors.As(err, &invalid):
		writeDiagnostics(c.stderr, "text", invalid.Diagnostics, invalid.Sources)
		errs, _ := invalid.Diagnostics.Count()
		fmt.Fprintf(c.stderr, "pipectl rules set: the change would leave %s; %s is unchanged\n", plural(errs, "error"), invalid.Target)
		return exitError
	case err != nil:
		fmt.Fprintf(c.stderr, "pipectl rules set: %v\n", err)
		return exitError
	}
	if len(plan.WarningDiagnostics) > 0 {
		writeDiagnostics(c.stderr, "text", plan.WarningDiagnostics, plan.Sources)
	}
	for _, u := range plan.Unchanged {
		fmt.Fprintf(c.stdout, "%s is already %s\n", u.Rule, u.New)
	}
	if len(plan.Changes) == 0 {
		fmt.Fprintln(c.stdout, "nothing to change")
		return exitOK
	}
	ctx := context.Background()
	store, err := state.Open(ctx, *stateURL, state.Options{})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules set: cannot open the state store for the audit log: %v\n", err)
		return exitError
	}
	defer store.Close()
	if err := ops.ApplyRules(ctx, plan, plan.Hash, *reason, *actor, store, nil, time.Now()); err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules set: %v\n", err)
		return exitError
	}
	target, changes := plan.Target, plan.Changes
	for _, ch := range changes {
		fmt.Fprintf(c.stdout, "%s: %s -> %s\n", ch.Rule, shownOld(ch.Old), ch.New)
	}
	fmt.Fprintf(c.stdout, "wrote %s; recorded %s in the audit log\n", target, plural(len(changes), "change"))
	return exitOK
}

func shownOld(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func ruleEntry(f *pipelines.File, name string) *pipelines.Entry {
	for _, e := range f.EntriesOf(component.RuleSection) {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed over it, keeping the file's mode.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
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
	return os.Rename(tmp.Name(), path)
}

func runRulesDiff(c *cli, args []string) int {
	fs := newFlags(c, "rules diff", "PIPELINE OTHER_RULES_FILE", `
Diff loads the pipeline with its own rules and again with another rules file
in their place, and prints the settings whose effective values differ
(defaults included), with where each side sets them. The other file is
checked like the pipeline's own: if it does not load, its errors are printed
and diff exits 1.`, `  pipectl rules diff pipeline.yaml rules.candidate.yaml`)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintln(c.stderr, "pipectl rules diff: name a pipeline file and another rules file")
		return exitUsage
	}
	path, other := pos[0], pos[1]
	f, code := loadRules(c, "rules diff", path)
	if f == nil {
		return code
	}
	if _, err := os.Stat(other); err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules diff: %s: %v\n", other, unwrap(err))
		return exitError
	}
	abs, err := filepath.Abs(other)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules diff: %v\n", err)
		return exitError
	}
	pipeSrc, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules diff: %v\n", err)
		return exitError
	}
	// The pipeline as it would be with the other rules file.
	swapped, _, err := pipelines.SetYAMLValue(pipeSrc, []string{"rules"}, strconv.Quote(abs))
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules diff: %v\n", err)
		return exitError
	}
	opts := compileOptions(registry(), component.SystemClock{}).LoadOptions
	opts.ReadFile = func(p string) ([]byte, error) {
		if p == abs {
			return os.ReadFile(other) // so diagnostics name it as given
		}
		return os.ReadFile(p)
	}
	of, ds := pipelines.LoadBytes(path, swapped, opts)
	if ds.HasErrors() {
		// Name the other file as the user wrote it.
		for i := range ds {
			if ds[i].Subject.Start.File == abs {
				ds[i].Subject.Start.File, ds[i].Subject.End.File = other, other
			}
		}
		src := diag.Sources{}
		if of != nil {
			src[other] = of.Sources[abs]
		}
		writeDiagnostics(c.stderr, "text", ds.Sorted(), src)
		fmt.Fprintf(c.stderr, "pipectl rules diff: %s does not load with the pipeline\n", other)
		return exitError
	}
	mine, theirs := ruleSettings(f), ruleSettings(of)
	theirsBy, mineBy := settingsByName(theirs), settingsByName(mine)
	var names []string
	for _, s := range mine {
		names = append(names, s.name)
	}
	for _, s := range theirs {
		if _, ok := mineBy[s.name]; !ok {
			names = append(names, s.name)
		}
	}
	label := func(s ruleSetting, ok bool) string {
		if !ok {
			return "(absent)"
		}
		if strings.HasPrefix(s.source, abs+":") {
			s.source = other + strings.TrimPrefix(s.source, abs)
		}
		return s.value + " (" + s.source + ")"
	}
	mineName := path
	if f.RulesPath != "" {
		mineName = filepath.Join(filepath.Dir(path), f.RulesPath)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	n := 0
	for _, name := range names {
		a, aok := mineBy[name]
		b, bok := theirsBy[name]
		if aok && bok && a.value == b.value {
			continue
		}
		if n == 0 {
			fmt.Fprintf(tw, "SETTING\t%s\t%s\n", mineName, other)
		}
		n++
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, label(a, aok), label(b, bok))
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(c.stdout, "no differences in effective settings")
	} else {
		fmt.Fprintf(c.stdout, "%s differ\n", plural(n, "setting"))
	}
	return exitOK
}

func runRulesHistory(c *cli, args []string) int {
	fs := newFlags(c, "rules history", "[RULESET[.path]] [--state URL]", `
History prints the audit log of rule changes, newest first: when, who, which
setting, the old and new values, and why. A rule set or a setting prefix
limits it to those settings. Changes to locations and SKU settings are in
the same log, as location/ID and sku/SKU.`, `  pipectl rules history
  pipectl rules history fulfillment.split
  pipectl rules history --state sqlite:///var/lib/pipectl`)
	stateURL := fs.String("state", "", "state store URL: sqlite://PATH or postgres://…; default SQLite in ./.pipectl/")
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(c.stderr, "pipectl rules history: name at most one rule set or setting")
		return exitUsage
	}
	ctx := context.Background()
	store, err := openExistingStore(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules history: %v\n", err)
		return exitError
	}
	defer store.Close()
	all, err := store.RuleHistory(ctx, "")
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl rules history: %v\n", err)
		return exitError
	}
	var entries []component.RuleChange
	for _, ch := range all {
		if len(pos) == 1 && ch.Rule != pos[0] && !strings.HasPrefix(ch.Rule, pos[0]+".") && !strings.HasPrefix(ch.Rule, pos[0]+"/") {
			continue
		}
		entries = append(entries, ch)
	}
	if len(entries) == 0 {
		if len(pos) == 1 {
			fmt.Fprintf(c.stdout, "no changes to %s recorded\n", pos[0])
		} else {
			fmt.Fprintln(c.stdout, "no rule changes recorded")
		}
		return exitOK
	}
	slices.Reverse(entries)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tWHO\tSETTING\tCHANGE\tREASON")
	for _, ch := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s -> %s\t%s\n", ch.At.UTC().Format(time.RFC3339), ch.Actor, ch.Rule,
			oneLine(shownOld(ch.Old)), oneLine(shownOld(ch.New)), oneLine(ch.Reason))
	}
	tw.Flush()
	return exitOK
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// openExistingStore opens a state store for reading. An embedded store that
// does not exist is an error, not an empty store created on the spot: a
// mistyped --state, or a command run in the wrong directory, must not read
// as "nothing happened".
func openExistingStore(ctx context.Context, url string) (state.Store, error) {
	var path string
	switch {
	case url == "":
		path = filepath.Join(state.DefaultDir, "state.db")
	case strings.HasPrefix(url, "sqlite://"):
		path = strings.TrimPrefix(url, "sqlite://")
		if info, err := os.Stat(path); err == nil && info.IsDir() {
			path = filepath.Join(path, "state.db")
		}
	}
	if path != "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			hint := "pass --state with the store pipectl runs with"
			if url == "" {
				hint = "run in the directory pipectl runs in, or " + hint
			}
			return nil, fmt.Errorf("no state store at %s: %s", path, hint)
		}
	}
	return state.Open(ctx, url, state.Options{})
}
