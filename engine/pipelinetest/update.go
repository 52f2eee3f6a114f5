package pipelinetest

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// update is a failing expectation and what its target received.
type update struct {
	e   *expectation
	got []any
}

// canUpdate reports whether --update can rewrite an expectation: one made
// of assertions alone cannot be derived from the output.
func (u update) canUpdate() bool {
	e := u.e
	return e.implicit || e.count != nil || e.hasRecs || e.hasSub
}

func allUpdatable(ups []update) bool {
	for _, u := range ups {
		if !u.canUpdate() {
			return false
		}
	}
	return true
}

// rewrite applies updates to the test file: the YAML tree is edited, then
// only the lines of the entries that changed are written again, so the
// rest of the file (comments, blank lines, flow mappings, quoting) stays as
// it was. It returns how many expectations it rewrote.
func rewrite(f *file, ups []update) (int, error) {
	parents := parentsOf(f.doc)
	var regions []region
	n := 0
	for _, u := range ups {
		if !u.canUpdate() {
			continue
		}
		r, ok := apply(u, parents)
		if !ok {
			continue
		}
		n++
		regions = append(regions, r)
	}
	if n == 0 {
		return 0, nil
	}
	lines := strings.Split(string(f.src), "\n")
	for i := range regions {
		regions[i].span(lines)
	}
	// Keep the outermost regions, last first, so earlier line numbers stay
	// valid while splicing.
	slices.SortFunc(regions, func(a, b region) int {
		if a.start != b.start {
			return b.start - a.start
		}
		return a.end - b.end
	})
	var keep []region
	for i, r := range regions {
		inner := false
		for j, o := range regions {
			if i != j && o.start <= r.start && r.end <= o.end && (o.start != r.start || o.end != r.end || j < i) {
				inner = true
				break
			}
		}
		if !inner {
			keep = append(keep, r)
		}
	}
	for _, r := range keep {
		text, err := r.render(lines)
		if err != nil {
			return 0, err
		}
		lines = slices.Concat(lines[:r.start-1], text, lines[r.end:])
	}
	out := []byte(strings.Join(lines, "\n"))
	var check yaml.Node
	if err := yaml.Unmarshal(out, &check); err != nil {
		return 0, fmt.Errorf("the rewritten file would not parse (%v); left unchanged", err)
	}
	info, err := os.Stat(f.path)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(f.path, out, info.Mode().Perm()); err != nil {
		return 0, err
	}
	f.src = out
	return n, nil
}

// position says where a node sits: the mapping holding it and the index
// of its key there, or the sequence holding it.
type position struct {
	mapping *yaml.Node
	key     int
	seq     *yaml.Node
}

func parentsOf(doc *yaml.Node) map[*yaml.Node]position {
	out := map[*yaml.Node]position{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				out[n.Content[i]] = position{mapping: n, key: i}
				out[n.Content[i+1]] = position{mapping: n, key: i}
				walk(n.Content[i+1])
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				out[c] = position{seq: n}
				walk(c)
			}
		}
	}
	walk(doc)
	return out
}

// region is a run of entries of a block mapping whose lines are written
// again: pairs first to last (key indexes) of mapping, covering source
// lines start to end (1-based, inclusive).
type region struct {
	mapping     *yaml.Node
	first, last int
	// item, when set, is a block sequence's item written again whole
	// instead (a test written as a flow mapping).
	item *yaml.Node
	// origLast is the key of the last entry as it was in the source, whose
	// lines end the region (an inserted entry has none).
	origLast   *yaml.Node
	start, end int
}

// apply edits the YAML tree for one update and returns the region to write
// again.
func apply(u update, parents map[*yaml.Node]position) (region, bool) {
	e := u.e
	if e.implicit {
		m := e.parent
		if len(m.Content) < 2 {
			return region{}, false
		}
		last := len(m.Content) - 2
		orig := m.Content[last]
		templ := &object{}
		templ.set("node", "")
		templ.set("error", "")
		val := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		val.Content = append(val.Content, scalar("count", "!!str"), scalar(strconv.Itoa(len(u.got)), "!!int"))
		val.Content = append(val.Content, scalar("subset", "!!str"), recordsNode(projectAll([]any{templ}, u.got)))
		m.Content = append(m.Content, scalar("unhandled_errors", "!!str"), val)
		r := climb(region{mapping: m, first: last, last: last + 2, origLast: orig}, parents)
		return r, true
	}
	v := e.value
	switch v.Kind {
	case yaml.ScalarNode:
		v.Value = strconv.Itoa(len(u.got))
		v.Tag, v.Style = "!!int", 0
	case yaml.SequenceNode:
		setRecords(v, u.got)
	case yaml.MappingNode:
		v.Style &^= yaml.FlowStyle
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			switch k.Value {
			case "count":
				val.Value, val.Tag, val.Style = strconv.Itoa(len(u.got)), "!!int", 0
			case "records":
				setRecords(val, u.got)
			case "subset":
				setRecords(val, projectAll(e.subset, u.got))
			}
		}
	}
	pos := parents[e.key]
	r := climb(region{mapping: pos.mapping, first: pos.key, last: pos.key, origLast: pos.mapping.Content[pos.key]}, parents)
	return r, true
}

func scalar(v, tag string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func setRecords(n *yaml.Node, recs []any) {
	fresh := recordsNode(recs)
	n.Kind, n.Tag, n.Content, n.Style, n.Value = fresh.Kind, fresh.Tag, fresh.Content, fresh.Style, ""
}

// projectAll projects each actual record onto the subset expected in its
// place (the last one for records beyond them).
func projectAll(subset, got []any) []any {
	out := make([]any, len(got))
	for i, g := range got {
		if len(subset) == 0 {
			out[i] = g
			continue
		}
		out[i] = project(subset[min(i, len(subset)-1)], g)
	}
	return out
}

// climb widens a region until it is an entry of a block mapping: entries
// of flow mappings (`wms: {count: 1}`) cannot be rewritten line by line,
// so the nearest enclosing block entry is, in block style.
func climb(r region, parents map[*yaml.Node]position) region {
	for r.mapping.Style&yaml.FlowStyle != 0 {
		n := r.mapping
		n.Style &^= yaml.FlowStyle
		pos, ok := parents[n]
		for ok && pos.seq != nil {
			if pos.seq.Style&yaml.FlowStyle == 0 {
				// An item of a block sequence: written again whole.
				return region{item: n}
			}
			pos.seq.Style &^= yaml.FlowStyle
			n = pos.seq
			pos, ok = parents[n]
		}
		if !ok {
			break
		}
		r = region{mapping: pos.mapping, first: pos.key, last: pos.key, origLast: pos.mapping.Content[pos.key]}
	}
	return r
}

// dashIndent is the indentation of the `- ` introducing an item that
// starts at col on line.
func dashIndent(line string, col int) int {
	r := []rune(line)
	for i := min(col-2, len(r)-1); i >= 0; i-- {
		if r[i] == '-' {
			return i
		}
	}
	return max(col-3, 0)
}

// span finds the region's source lines: from its first key's line to the
// last line of its last original entry, that is before the next line
// indented no deeper than the key (blank and comment lines after the
// entry stay where they are).
func (r *region) span(lines []string) {
	if r.item != nil {
		r.start, r.end = r.item.Line, r.item.Line
		indent := dashIndent(lines[r.item.Line-1], r.item.Column)
		for j := r.item.Line + 1; j <= len(lines); j++ {
			t := lines[j-1]
			trimmed := strings.TrimSpace(t)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			if len(t)-len(strings.TrimLeft(t, " ")) <= indent {
				break
			}
			r.end = j
		}
		return
	}
	firstKey := r.mapping.Content[r.first]
	r.start = firstKey.Line
	k := r.origLast
	indent := k.Column - 1
	r.end = k.Line
	for j := k.Line + 1; j <= len(lines); j++ {
		t := lines[j-1]
		trimmed := strings.TrimSpace(t)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		ind := len(t) - len(strings.TrimLeft(t, " "))
		if ind < indent || trimmed == "---" || trimmed == "..." {
			break
		}
		if ind == indent && !strings.HasPrefix(trimmed, "- ") && trimmed != "-" {
			break
		}
		r.end = j
	}
}

// render writes the region's entries as YAML, indented where the first
// key was.
func (r *region) render(lines []string) ([]string, error) {
	if r.item != nil {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{r.item}}
		r.item.HeadComment, r.item.FootComment = "", ""
		text, err := encode(seq)
		if err != nil {
			return nil, err
		}
		pad := strings.Repeat(" ", dashIndent(lines[r.start-1], r.item.Column))
		for i, l := range text {
			if l != "" {
				text[i] = pad + l
			}
		}
		return text, nil
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := r.first; i <= r.last && i+1 < len(r.mapping.Content); i += 2 {
		m.Content = append(m.Content, r.mapping.Content[i], r.mapping.Content[i+1])
	}
	if len(m.Content) == 0 {
		return nil, fmt.Errorf("nothing to write")
	}
	// Comments above the first key and after the last entry are outside
	// the region's lines and stay in place; writing them again would
	// double them.
	m.Content[0].HeadComment = ""
	for n := m.Content[len(m.Content)-1]; n != nil; {
		n.FootComment = ""
		if len(n.Content) == 0 {
			break
		}
		n = n.Content[len(n.Content)-1]
	}
	m.Content[len(m.Content)-2].FootComment = ""
	out, err := encode(m)
	if err != nil {
		return nil, err
	}
	first := []rune(lines[r.start-1])
	col := m.Content[0].Column - 1
	prefix := ""
	if col <= len(first) {
		prefix = string(first[:col])
	}
	pad := strings.Repeat(" ", len([]rune(prefix)))
	for i, l := range out {
		switch {
		case i == 0:
			out[i] = prefix + l
		case l != "":
			out[i] = pad + l
		}
	}
	return out, nil
}

// encode writes a node as YAML lines, indented by two.
func encode(n *yaml.Node) ([]string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n"), nil
}
