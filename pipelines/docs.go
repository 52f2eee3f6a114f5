package pipelines

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// DocPage is the documentation of one pipeline's business rules, so that
// ops teams, consultants and vendors agree on what runs: its DAG, what it
// reads and writes, every rule setting in force with what it means and
// where it is set, and the recent changes. `pipectl docs` writes it as
// Markdown; the console shows it.
type DocPage struct {
	Name        string
	Description string
	File        string
	Triggers    []DocNode
	Sources     []DocNode
	Steps       []DocNode
	Sinks       []DocNode
	Settings    []RuleSetting
	Changes     []component.RuleChange // newest first; the caller adds them from the store
	SVG         string
}

// DocNode is a node of the page: its name, kind and description.
type DocNode struct {
	Name, Kind, Description string
	From                    []string
}

// Document builds the page of a compiled pipeline.
func Document(f *File, p *Plan) DocPage {
	d := DocPage{Name: p.Name, Description: p.Description, File: f.Path, Settings: RuleSettings(f)}
	desc := func(section component.Section, name string) string {
		for _, e := range f.EntriesOf(section) {
			if e.Name == name {
				if v := e.Common["description"]; v != nil {
					return strings.TrimSpace(v.Str)
				}
			}
		}
		return ""
	}
	for _, t := range p.Triggers {
		d.Triggers = append(d.Triggers, DocNode{Name: t.Name, Kind: t.Kind, Description: desc(component.TriggerSection, t.Name)})
	}
	for _, n := range p.Nodes {
		dn := DocNode{Name: n.Name, Kind: n.Kind, Description: desc(n.Section, n.Name)}
		if n.Trigger != nil {
			dn.From = append(dn.From, n.Trigger.Name)
		}
		for _, e := range n.Inputs {
			from := e.From.Name
			if e.Output != "" {
				from += "." + e.Output
			}
			dn.From = append(dn.From, from)
		}
		switch n.Section {
		case component.SourceSection:
			d.Sources = append(d.Sources, dn)
		case component.StepSection:
			d.Steps = append(d.Steps, dn)
		case component.SinkSection:
			d.Sinks = append(d.Sinks, dn)
		}
	}
	var svg bytes.Buffer
	WriteSVG(&svg, p, SVGOptions{})
	d.SVG = svg.String()
	return d
}

// WriteDocMarkdown writes the page as Markdown, its DAG as the image at
// svgName beside it.
func WriteDocMarkdown(w io.Writer, d DocPage, svgName string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", d.Name)
	if d.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", d.Description)
	}
	fmt.Fprintf(&b, "Pipeline file: `%s`. Written by `pipectl docs`; do not edit, run it again.\n\n", d.File)
	fmt.Fprintf(&b, "![The DAG of %s](%s)\n\n", d.Name, svgName)
	section := func(title string, ns []DocNode) {
		if len(ns) == 0 {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n| name | kind | reads | what it is for |\n|---|---|---|---|\n", title)
		for _, n := range ns {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", n.Name, n.Kind, mdCell(strings.Join(n.From, ", ")), mdCell(n.Description))
		}
		b.WriteString("\n")
	}
	section("Triggers", d.Triggers)
	section("Sources", d.Sources)
	section("Steps", d.Steps)
	section("Sinks", d.Sinks)
	if len(d.Settings) > 0 {
		b.WriteString("## Business rules in force\n\nEvery setting of every rule set, with where it is set (`default` is pipectl's default; `unset` is off).\n\n")
		b.WriteString("| setting | value | set in | what it means |\n|---|---|---|---|\n")
		for _, s := range d.Settings {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.Name, mdCell(s.Value), s.Source, mdCell(s.Doc))
		}
		b.WriteString("\n")
	}
	if len(d.Changes) > 0 {
		b.WriteString("## Recent changes\n\n| when | who | setting | from | to | why |\n|---|---|---|---|---|---|\n")
		for _, c := range d.Changes {
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s | %s | %s |\n", c.At.UTC().Format("2006-01-02 15:04 UTC"), mdCell(c.Actor), c.Rule,
				mdCell(c.Old), mdCell(c.New), mdCell(c.Reason))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell is text for a Markdown table cell: one line, pipes escaped.
func mdCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// RecentChanges keeps the rule changes (oldest first, as the store lists
// them) of the rule sets settings belong to, newest first, at most n: the
// page's recent changes.
func RecentChanges(all []component.RuleChange, settings []RuleSetting, n int) []component.RuleChange {
	sets := map[string]bool{}
	for _, s := range settings {
		sets[s.Set] = true
	}
	var out []component.RuleChange
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		set, _, _ := strings.Cut(all[i].Rule, ".")
		if sets[set] {
			out = append(out, all[i])
		}
	}
	return out
}
