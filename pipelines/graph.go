package pipelines

import (
	"fmt"
	"io"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// WriteDOT renders the plan as a Graphviz digraph. The output depends only on
// the file, so it is byte-stable and diffable: nodes in file order, triggers
// first, edges labelled with the named output they read.
func WriteDOT(w io.Writer, p *Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(p.Name))
	b.WriteString("  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, n := range p.Triggers {
		fmt.Fprintf(&b, "  %s [label=%s, shape=cds];\n", dotQuote(n.Name), dotQuote(n.Name+"\n"+n.Kind+" trigger"))
	}
	shapes := map[component.Section]string{component.SourceSection: "invhouse", component.StepSection: "box", component.SinkSection: "house"}
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "  %s [label=%s, shape=%s];\n", dotQuote(n.Name), dotQuote(n.Name+"\n"+n.Kind), shapes[n.Section])
	}
	for _, n := range p.Nodes {
		if n.Trigger != nil {
			fmt.Fprintf(&b, "  %s -> %s [style=dashed];\n", dotQuote(n.Trigger.Name), dotQuote(n.Name))
		}
	}
	for _, n := range p.Nodes {
		for _, e := range n.Inputs {
			attrs := ""
			if e.Output != "" {
				attrs = fmt.Sprintf(" [label=%s]", dotQuote(e.Output))
				if e.Output == component.ErrorOutput {
					attrs = fmt.Sprintf(" [label=%s, color=red]", dotQuote(e.Output))
				}
			}
			fmt.Fprintf(&b, "  %s -> %s%s;\n", dotQuote(e.From.Name), dotQuote(n.Name), attrs)
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// mermaidID is a node's id in Mermaid: names Mermaid reserves get a suffix.
func mermaidID(name string) string {
	switch name {
	case "end", "graph", "subgraph", "flowchart", "style", "class", "classDef", "click", "linkStyle", "direction":
		return name + "_"
	}
	return name
}

// WriteMermaid renders the plan as a Mermaid flowchart, for Markdown docs
// and pull requests. Byte-stable like WriteDOT.
func WriteMermaid(w io.Writer, p *Plan) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range p.Triggers {
		fmt.Fprintf(&b, "  %s{{\"%s<br/><i>%s trigger</i>\"}}\n", mermaidID(n.Name), n.Name, n.Kind)
	}
	for _, n := range p.Nodes {
		open, close := "[", "]"
		switch n.Section {
		case component.SourceSection:
			open, close = "[/", "/]"
		case component.SinkSection:
			open, close = "[(", ")]"
		}
		fmt.Fprintf(&b, "  %s%s\"%s<br/><i>%s</i>\"%s\n", mermaidID(n.Name), open, n.Name, n.Kind, close)
	}
	for _, n := range p.Nodes {
		if n.Trigger != nil {
			fmt.Fprintf(&b, "  %s -.-> %s\n", mermaidID(n.Trigger.Name), mermaidID(n.Name))
		}
	}
	for _, n := range p.Nodes {
		for _, e := range n.Inputs {
			if e.Output == "" {
				fmt.Fprintf(&b, "  %s --> %s\n", mermaidID(e.From.Name), mermaidID(n.Name))
				continue
			}
			fmt.Fprintf(&b, "  %s -- %s --> %s\n", mermaidID(e.From.Name), e.Output, mermaidID(n.Name))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
