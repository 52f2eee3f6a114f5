package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SetYAMLValue returns src, a YAML document, with the value at path (mapping
// keys from the document's root, e.g. rules, fulfillment, fulfillment,
// split, max_shipments) replaced by value, which is YAML text: a scalar
// ("1", "deny", "'quoted'") or a flow collection ("[wh-east, wh-west]").
// Mappings missing along the path are created, and the key itself when it
// is absent. old is the YAML text of the value replaced, "" when there was
// none.
//
// It is how `pipectl rules set` edits a file ops teams own, so it keeps
// what people wrote: a scalar replaced by a scalar on one line is spliced
// into the text, leaving every other byte (comments, blank lines, quoting,
// layout) as it was. Any other edit (a new key, a collection) edits the
// node tree and encodes it again, which keeps comments and key order but
// normalizes indentation to two spaces and drops blank lines.
//
// Aliases on the path are refused: editing through one would change every
// place that refers to the anchor.
func SetYAMLValue(src []byte, path []string, value string) (out []byte, old string, err error) {
	if len(path) == 0 {
		return nil, "", errors.New("empty path")
	}
	newNode, err := parseYAMLValue(value)
	if err != nil {
		return nil, "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, "", fmt.Errorf("cannot parse: %w", err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, "", errors.New("not a YAML document")
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		*m = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	for i, key := range path {
		if m.Kind == yaml.AliasNode {
			return nil, "", fmt.Errorf("%s is an alias: edit the anchor it refers to", strings.Join(path[:i], "."))
		}
		if m.Kind != yaml.MappingNode {
			return nil, "", fmt.Errorf("%s is %s, not a mapping", strings.Join(path[:i], "."), nodeKind(m))
		}
		var v *yaml.Node
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == key {
				v = m.Content[j+1] // the last one wins, as when decoding
			}
		}
		last := i == len(path)-1
		if v == nil {
			if last {
				v = newNode
			} else {
				v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				if m.Style&yaml.FlowStyle != 0 {
					v.Style = yaml.FlowStyle
				}
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
			if last {
				out, err := encodeYAML(&doc)
				return out, "", err
			}
			m = v
			continue
		}
		if !last {
			m = v
			continue
		}
		if v.Kind == yaml.AliasNode {
			return nil, "", fmt.Errorf("%s is an alias: edit the anchor it refers to", strings.Join(path, "."))
		}
		old = nodeText(v)
		if spliced, ok := splice(src, v, newNode, value); ok {
			return spliced, old, nil
		}
		// Replace the node in place, keeping the comments around it.
		newNode.HeadComment, newNode.LineComment, newNode.FootComment = v.HeadComment, v.LineComment, v.FootComment
		*v = *newNode
		out, err := encodeYAML(&doc)
		return out, old, err
	}
	panic("unreachable")
}

// parseYAMLValue parses the text of one value. Collections are written in
// flow style, the way they were given.
func parseYAMLValue(value string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
		return nil, fmt.Errorf("value %q is not valid YAML: %v", value, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}, nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return nil, fmt.Errorf("value %q: anchors and aliases are not supported here", value)
	}
	var clear func(*yaml.Node)
	clear = func(n *yaml.Node) {
		n.Line, n.Column = 0, 0
		n.HeadComment, n.LineComment, n.FootComment = "", "", ""
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			n.Style |= yaml.FlowStyle
		}
		for _, c := range n.Content {
			clear(c)
		}
	}
	clear(n)
	return n, nil
}

// splice replaces a one-line scalar with a scalar in the text itself.
func splice(src []byte, old, repl *yaml.Node, text string) ([]byte, bool) {
	text = strings.TrimSpace(text)
	if old.Kind != yaml.ScalarNode || repl.Kind != yaml.ScalarNode || text == "" ||
		strings.ContainsAny(text, "\r\n#") || bytes.HasPrefix(src, []byte("\uFEFF")) {
		return nil, false
	}
	lines := splitLines(src)
	pos, ok := scalarPositions(lines, old)
	if !ok || len(pos) == 0 || pos[len(pos)-1].line != old.Line {
		return nil, false
	}
	end := pos[len(pos)-1].col // just past the value
	switch {
	case old.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		end++ // the closing quote
	case old.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return nil, false
	}
	// Find the byte range of the line in src.
	start := 0
	for l := 1; l < old.Line; l++ {
		i := bytes.IndexByte(src[start:], '\n')
		if i < 0 {
			return nil, false
		}
		start += i + 1
	}
	stop := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		stop = start + i
	}
	line := []rune(strings.TrimSuffix(string(src[start:stop]), "\r"))
	if len(line) != len(lines[old.Line-1]) || old.Column < 1 || end-1 > len(line) || end <= old.Column {
		return nil, false
	}
	// A scalar inside a flow collection must not bring its own
	// indicators; a quoted or plain scalar without them is safe.
	if strings.ContainsAny(text, ",[]{}") && !isQuoted(text) {
		return nil, false
	}
	var b bytes.Buffer
	b.Write(src[:start])
	b.WriteString(string(line[:old.Column-1]))
	b.WriteString(text)
	b.WriteString(string(line[end-1:]))
	b.Write(src[start+len(strings.TrimSuffix(string(src[start:stop]), "\r")):])
	// The result must parse to the same document with the new value.
	var check yaml.Node
	if err := yaml.Unmarshal(b.Bytes(), &check); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}

func isQuoted(s string) bool {
	return len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'')
}

// nodeText is a value as YAML text on one line: scalars as their value,
// collections in flow style.
func nodeText(n *yaml.Node) string {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	c := *n
	var flow func(*yaml.Node) *yaml.Node
	flow = func(n *yaml.Node) *yaml.Node {
		c := *n
		c.HeadComment, c.LineComment, c.FootComment = "", "", ""
		if c.Kind == yaml.MappingNode || c.Kind == yaml.SequenceNode {
			c.Style |= yaml.FlowStyle
		}
		c.Content = nil
		for _, e := range n.Content {
			c.Content = append(c.Content, flow(e))
		}
		return &c
	}
	out, err := yaml.Marshal(flow(&c))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func encodeYAML(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil && err != io.EOF {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
