package pipelines

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// SVGNote is what a caller adds to a node of the drawing: a line of text
// under the kind (the console's live counters) and a class for its box
// ("degraded" draws it red).
type SVGNote struct {
	Text  string
	Class string
}

// SVGOptions tune WriteSVG. The zero value draws the plain DAG.
type SVGOptions struct {
	// Note, when set, is asked for each node's note by name.
	Note func(name string) SVGNote
	// Link, when set, makes each node a link to the URL it returns ("" for
	// none): the console links nodes to their pages.
	Link func(name string) string
	// NoStyle leaves SVGStyle out, for a page that loads it as a style
	// sheet (the console's CSP allows no inline style).
	NoStyle bool
}

// SVGStyle is the drawing's style sheet, inlined unless NoStyle.
const SVGStyle = `.pipectl-dag text{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:12px;fill:#1f2328}
.pipectl-dag .kind{font-style:italic;fill:#57606a;font-size:11px}
.pipectl-dag .note{fill:#0a3069;font-size:11px}
.pipectl-dag .box{fill:#f6f8fa;stroke:#8c959f;stroke-width:1.2}
.pipectl-dag .trigger .box{fill:#fff8c5;stroke:#bf8700}
.pipectl-dag .source .box{fill:#ddf4ff;stroke:#0969da}
.pipectl-dag .sink .box{fill:#dafbe1;stroke:#1a7f37}
.pipectl-dag .degraded .box{fill:#ffebe9;stroke:#cf222e;stroke-width:2}
.pipectl-dag .edge{fill:none;stroke:#57606a;stroke-width:1.2}
.pipectl-dag .edge.trigger{stroke-dasharray:4 3}
.pipectl-dag .edge.error{stroke:#cf222e;stroke-dasharray:2 3}
.pipectl-dag .label{font-size:10px;fill:#57606a}
.pipectl-dag .label.error{fill:#cf222e}
`

// Sizes of the drawing, in SVG user units (pixels at 100%).
const (
	svgNodeH    = 46
	svgNoteH    = 14
	svgGapX     = 70
	svgGapY     = 22
	svgMargin   = 16
	svgCharW    = 7 // an average glyph of the 12px sans-serif used
	svgMinW     = 120
	svgPadding  = 24
	svgLaneStep = 10 // between the lanes of edges that skip columns
)

// svgNode is a node of the drawing: a trigger or a plan node.
type svgNode struct {
	name, kind string
	class      string // trigger, source, step, sink
	order      int    // file order, triggers first: ties and the first ordering
	layer, pos int
	x, y, w    int
}

type svgEdge struct {
	from, to *svgNode
	label    string
	class    string // "", "trigger", "error"
}

// WriteSVG draws the plan as a standalone SVG: left to right, one column
// per layer (a node sits one column right of its furthest input), nodes
// in a column ordered to cross few edges (barycentre sweeps), edges as
// curves labelled with the output they read, error edges red and trigger
// edges dashed. It is computed in Go, with no Graphviz or JavaScript, and
// is byte-stable like WriteDOT: the same file draws the same picture.
func WriteSVG(w io.Writer, p *Plan, opts SVGOptions) error {
	nodes, edges := svgGraph(p)
	layers := svgLayers(nodes, edges)
	svgOrder(layers, edges)
	lanes := 0
	for _, e := range edges {
		if e.to.layer-e.from.layer > 1 {
			lanes++
		}
	}
	width, height := svgPlace(layers, edges, opts.Note != nil)
	if lanes > 0 {
		height += lanes*svgLaneStep + svgGapY/2
	}

	var b strings.Builder
	title := html.EscapeString(p.Name)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="pipectl-dag" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="dag-title">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, "<title id=\"dag-title\">pipeline %s: %d nodes, %d edges</title>\n", title, len(nodes), len(edges))
	if !opts.NoStyle {
		b.WriteString("<style>\n" + SVGStyle + "</style>\n")
	}
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>
`)
	// An edge between neighbouring columns is a curve from the right of
	// its source to the left of its target. One that skips columns (an
	// error output into a dead-letter sink, most often) would run through
	// the nodes between: it leaves its source from below, runs along a
	// lane of its own under the drawing, and rises into its target.
	nodeH := svgNodeH
	if opts.Note != nil {
		nodeH += svgNoteH
	}
	// Lanes go to the edges whose sources are furthest right first, the
	// top lane, and each rises into its target left of the lanes below
	// it: so no lane crosses another edge's way down or up.
	type laneOf struct{ lane, out, in int }
	lanesOf := map[int]laneOf{}
	var long []int
	for i, e := range edges {
		if e.to.layer-e.from.layer > 1 {
			long = append(long, i)
		}
	}
	slices.SortStableFunc(long, func(a, b int) int {
		ea, eb := edges[a], edges[b]
		return cmp.Or(cmp.Compare(eb.from.x, ea.from.x), cmp.Compare(ea.from.y, eb.from.y))
	})
	longOut, longIn := map[*svgNode]int{}, map[*svgNode]int{}
	for lane, i := range long {
		e := edges[i]
		lanesOf[i] = laneOf{lane: lane, out: longOut[e.from], in: longIn[e.to]}
		longOut[e.from]++
		longIn[e.to]++
	}
	for i, e := range edges {
		class := "edge"
		if e.class != "" {
			class += " " + e.class
		}
		lclass := "label"
		if e.class == "error" {
			lclass += " error"
		}
		var d string
		var lx, ly int
		if e.to.layer-e.from.layer > 1 {
			spread := func(n *svgNode, k, of int) int { return n.x + n.w/2 + (2*k-of+1)*svgLaneStep/2 }
			l := lanesOf[i]
			sx, sy := spread(e.from, l.out, longOut[e.from]), e.from.y+nodeH
			tx, ty := spread(e.to, l.in, longIn[e.to]), e.to.y+nodeH
			ly = height - svgMargin - lanes*svgLaneStep + l.lane*svgLaneStep + svgLaneStep/2
			r := svgLaneStep / 2
			d = fmt.Sprintf("M%d,%d L%d,%d Q%d,%d %d,%d L%d,%d Q%d,%d %d,%d L%d,%d",
				sx, sy, sx, ly-r, sx, ly, sx+r, ly, tx-r, ly, tx, ly, tx, ly-r, tx, ty)
			lx, ly = sx+r+4, ly-2
			if e.label != "" {
				fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" d="%s" marker-end="url(#arrow)"/>`+"\n",
					class, html.EscapeString(e.from.name), html.EscapeString(e.to.name), d)
				fmt.Fprintf(&b, `<text class="%s" x="%d" y="%d">%s</text>`+"\n", lclass, lx, ly, html.EscapeString(e.label))
				continue
			}
		} else {
			x1, y1 := e.from.x+e.from.w, e.from.y+nodeH/2
			x2, y2 := e.to.x, e.to.y+nodeH/2
			dx := max((x2-x1)/2, 20)
			d = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+dx, y1, x2-dx, y2, x2, y2)
			lx, ly = (x1+x2)/2, (y1+y2)/2-4
		}
		fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" d="%s" marker-end="url(#arrow)"/>`+"\n",
			class, html.EscapeString(e.from.name), html.EscapeString(e.to.name), d)
		if e.label != "" {
			fmt.Fprintf(&b, `<text class="%s" x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", lclass, lx, ly, html.EscapeString(e.label))
		}
	}
	for _, n := range nodes {
		class := "node " + n.class
		var note SVGNote
		if opts.Note != nil {
			note = opts.Note(n.name)
			if note.Class != "" {
				class += " " + note.Class
			}
		}
		h := nodeH
		name := html.EscapeString(n.name)
		link := ""
		if opts.Link != nil {
			link = opts.Link(n.name)
		}
		if link != "" {
			fmt.Fprintf(&b, `<a href="%s">`, html.EscapeString(link))
		}
		fmt.Fprintf(&b, `<g class="%s" data-node="%s">`, class, name)
		fmt.Fprintf(&b, `<title>%s: %s</title>`, name, html.EscapeString(n.kind))
		fmt.Fprintf(&b, `<rect class="box" x="%d" y="%d" width="%d" height="%d" rx="%d"/>`, n.x, n.y, n.w, h, svgRadius(n.class))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="600">%s</text>`, n.x+n.w/2, n.y+19, name)
		fmt.Fprintf(&b, `<text class="kind" x="%d" y="%d" text-anchor="middle">%s</text>`, n.x+n.w/2, n.y+35, html.EscapeString(n.kind))
		if note.Text != "" {
			fmt.Fprintf(&b, `<text class="note" x="%d" y="%d" text-anchor="middle">%s</text>`, n.x+n.w/2, n.y+51, html.EscapeString(note.Text))
		}
		b.WriteString("</g>")
		if link != "" {
			b.WriteString("</a>")
		}
		b.WriteString("\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// n0 is the layer of a column's nodes.
func n0(l []*svgNode) int { return l[0].layer }

func svgRadius(class string) int {
	switch class {
	case "trigger":
		return 14
	case "source", "sink":
		return 8
	}
	return 3
}

// svgGraph lists the drawing's nodes (triggers first, then the plan's, in
// file order) and edges, as WriteDOT does.
func svgGraph(p *Plan) ([]*svgNode, []svgEdge) {
	var nodes []*svgNode
	byName := map[string]*svgNode{}
	add := func(name, kind, class string) {
		n := &svgNode{name: name, kind: kind, class: class, order: len(nodes)}
		nodes = append(nodes, n)
		byName[name] = n
	}
	for _, t := range p.Triggers {
		add(t.Name, t.Kind+" trigger", "trigger")
	}
	classes := map[component.Section]string{component.SourceSection: "source", component.StepSection: "step", component.SinkSection: "sink"}
	for _, n := range p.Nodes {
		add(n.Name, n.Kind, classes[n.Section])
	}
	var edges []svgEdge
	for _, n := range p.Nodes {
		if n.Trigger != nil {
			edges = append(edges, svgEdge{from: byName[n.Trigger.Name], to: byName[n.Name], class: "trigger"})
		}
	}
	for _, n := range p.Nodes {
		for _, e := range n.Inputs {
			edge := svgEdge{from: byName[e.From.Name], to: byName[n.Name], label: e.Output}
			if e.Output == component.ErrorOutput {
				edge.class = "error"
			}
			edges = append(edges, edge)
		}
	}
	return nodes, edges
}

// svgLayers puts each node one layer right of its furthest input (the
// longest path from a node without inputs). Plans are acyclic; a cycle,
// which the compiler refuses, would only stop deepening.
func svgLayers(nodes []*svgNode, edges []svgEdge) [][]*svgNode {
	for range nodes {
		changed := false
		for _, e := range edges {
			if e.to.layer < e.from.layer+1 {
				e.to.layer = e.from.layer + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	var layers [][]*svgNode
	for _, n := range nodes {
		for len(layers) <= n.layer {
			layers = append(layers, nil)
		}
		layers[n.layer] = append(layers[n.layer], n)
	}
	for _, l := range layers {
		for i, n := range l {
			n.pos = i
		}
	}
	return layers
}

// svgOrder orders each layer by the mean position of its nodes'
// neighbours in the layer before (sweeping right) and after (sweeping
// left), four sweeps; ties keep file order, so the result is stable.
func svgOrder(layers [][]*svgNode, edges []svgEdge) {
	preds := map[*svgNode][]*svgNode{}
	succs := map[*svgNode][]*svgNode{}
	for _, e := range edges {
		preds[e.to] = append(preds[e.to], e.from)
		succs[e.from] = append(succs[e.from], e.to)
	}
	sweep := func(l []*svgNode, neighbours map[*svgNode][]*svgNode) {
		key := map[*svgNode]int{} // mean position ×1000, or the node's own
		for _, n := range l {
			ns := neighbours[n]
			if len(ns) == 0 {
				key[n] = n.pos * 1000
				continue
			}
			sum := 0
			for _, m := range ns {
				sum += m.pos * 1000
			}
			key[n] = sum / len(ns)
		}
		slices.SortStableFunc(l, func(a, b *svgNode) int {
			return cmp.Or(cmp.Compare(key[a], key[b]), cmp.Compare(a.order, b.order))
		})
		for i, n := range l {
			n.pos = i
		}
	}
	for range 2 {
		for i := 1; i < len(layers); i++ {
			sweep(layers[i], preds)
		}
		for i := len(layers) - 2; i >= 0; i-- {
			sweep(layers[i], succs)
		}
	}
}

// svgPlace gives every node its box, each layer centred on the tallest,
// columns far enough apart for the labels of the edges between them, and
// returns the drawing's size.
func svgPlace(layers [][]*svgNode, edges []svgEdge, notes bool) (width, height int) {
	gaps := make([]int, len(layers))
	for i := range gaps {
		gaps[i] = svgGapX
	}
	for _, e := range edges {
		if e.to.layer == e.from.layer+1 && e.label != "" {
			gaps[e.from.layer] = max(gaps[e.from.layer], len(e.label)*6+40)
		}
	}
	nodeH := svgNodeH
	if notes {
		nodeH += svgNoteH
	}
	tallest := 0
	for _, l := range layers {
		tallest = max(tallest, len(l))
	}
	colH := tallest*(nodeH+svgGapY) - svgGapY
	x := svgMargin
	for _, l := range layers {
		w := svgMinW
		for _, n := range l {
			w = max(w, max(len(n.name), len(n.kind))*svgCharW+svgPadding)
		}
		h := len(l)*(nodeH+svgGapY) - svgGapY
		y := svgMargin + (colH-h)/2
		for _, n := range l {
			n.x, n.y, n.w = x, y, w
			y += nodeH + svgGapY
		}
		x += w + gaps[n0(l)]
	}
	return x - gaps[len(layers)-1] + svgMargin, colH + 2*svgMargin
}
