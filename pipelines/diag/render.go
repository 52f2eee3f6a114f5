package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Sources gives the text of the files diagnostics point into, so renderings can
// quote the offending line. A missing file just means no quote.
type Sources map[string][]byte

// line returns line n (1-based) of file, without its line ending.
func (s Sources) line(file string, n int) (string, bool) {
	src, ok := s[file]
	if !ok || n < 1 {
		return "", false
	}
	for i := 1; i < n; i++ {
		j := strings.IndexByte(string(src), '\n')
		if j < 0 {
			return "", false
		}
		src = src[j+1:]
	}
	if j := strings.IndexByte(string(src), '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimSuffix(string(src), "\r"), true
}

// WriteText renders diagnostics for people:
//
//	examples/orders.yaml:14:18: error: unknown field "shiping_address" [expr-unknown-field]
//	   14 |     city: shiping_address.city
//	      |           ^^^^^^^^^^^^^^^
//	   hint: did you mean "shipping_address"?
func WriteText(w io.Writer, ds Diagnostics, src Sources) error {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s\n", d)
		if text, ok := src.line(d.Subject.Start.File, d.Subject.Start.Line); ok {
			num := fmt.Sprint(d.Subject.Start.Line)
			pad := strings.Repeat(" ", len(num))
			fmt.Fprintf(&b, "   %s | %s\n", num, strings.ReplaceAll(text, "\t", " "))
			fmt.Fprintf(&b, "   %s | %s\n", pad, caret(text, d.Subject))
		}
		if d.Detail != "" {
			for _, l := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(&b, "   %s\n", l)
			}
		}
		if d.Hint != "" {
			fmt.Fprintf(&b, "   hint: %s\n", d.Hint)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// caret draws the underline for r beneath a line of text.
func caret(text string, r Range) string {
	width := utf8.RuneCountInString(text)
	start := r.Start.Col
	if start < 1 {
		start = 1
	}
	if start > width+1 {
		start = width + 1
	}
	end := r.End.Col
	if r.End.Line != r.Start.Line || end <= start {
		end = max(width+1, start+1)
	}
	if end > width+1 {
		end = max(width+1, start+1)
	}
	return strings.Repeat(" ", start-1) + strings.Repeat("^", end-start)
}

// jsonReport is the shape of `--format json` output.
type jsonReport struct {
	Diagnostics Diagnostics `json:"diagnostics"`
	Errors      int         `json:"errors"`
	Warnings    int         `json:"warnings"`
}

// WriteJSON renders diagnostics as one JSON document with the same fields as
// the text form.
func WriteJSON(w io.Writer, ds Diagnostics) error {
	if ds == nil {
		ds = Diagnostics{}
	}
	e, wn := ds.Count()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Diagnostics: ds, Errors: e, Warnings: wn})
}
