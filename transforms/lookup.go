package transforms

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
	"github.com/tidwall/gjson"
)

var lookupSpec = &component.Spec{
	Kind:    "lookup",
	Section: component.StepSection,
	Summary: "Joins each record with a row of a table loaded at start (SKU maps, locations, carrier codes).",
	Description: "The table is a CSV file with a header row (`.csv`) or a JSON array of objects (`.json`), read " +
		"once when the pipeline is built, relative to the pipeline file. The row whose `column` equals the " +
		"record's `key` is added to the record as an object under `as`: CSV values are text, JSON rows are copied " +
		"as written. The record's other fields are copied as they arrived; a field already named `as` is replaced " +
		"in place, otherwise the row is added last.\n\n" +
		"Keys compare as text, since CSV holds only text: the number `123` matches the text `\"123\"`. A number " +
		"(an int, a decimal) with no row of its own text matches the row that writes the same number with other " +
		"trailing zeros: the decimal `478.20` matches `478.2`, and `2` matches `2.00` (not `002` or `2e0`, which " +
		"are codes rather than amounts). Two rows with the same key are an error when the table is loaded, and a " +
		"number two rows write (`1.0` and `1.00`) is an error for the record looking it up. A key that is null (a missing field) is a miss; " +
		"a key that is an object or an array, or a record that is not a JSON object, goes to the `error` output.\n\n" +
		"What a miss does is declared: `error` sends the record to the error output, `default` adds the " +
		"`default` row instead, `drop` drops it (counted as dropped). Pipeline tests can replace the table.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Lookup settings.",
		Fields: []*component.Field{
			{Name: "table", Kind: component.StringField, Required: true, Doc: "Path of the `.csv` or `.json` table, relative to the pipeline file.",
				Examples: []any{"tables/sku-map.csv"}},
			{Name: "column", Kind: component.StringField, Required: true, Doc: "The table's key column.", Examples: []any{"store_sku"}},
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving the value looked up.", Examples: []any{"item.sku"}},
			{Name: "as", Kind: component.StringField, Required: true, Doc: "Field the matched row is added under.", Examples: []any{"wms"}},
			{Name: "on_miss", Kind: component.EnumField, Enum: []string{"error", "default", "drop"}, Default: "error",
				Doc: "What a record with no matching row does."},
			{Name: "default", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "column value"},
				Doc: "Row used on a miss when `on_miss: default`."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		miss, def := cfg.Get("on_miss"), cfg.Get("default")
		if miss != nil && miss.Str == "default" && (def == nil || !def.Set) {
			report.Errorf(miss, "missing-field", "lookup `on_miss: default` needs a `default` row")
		}
		if t := cfg.Get("table"); t != nil && t.Str != "" && !strings.Contains(t.Str, "${") {
			if ext := strings.ToLower(filepath.Ext(t.Str)); ext != ".csv" && ext != ".json" {
				report.Errorf(t, "invalid-value", "lookup table %s must be a .csv or .json file", t.Display())
			}
		}
		if as := cfg.Get("as"); as != nil && as.Set && as.Str == "" {
			report.Errorf(as, "invalid-value", "lookup `as` must name a field")
		}
	},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		as := tc.Config.Get("as")
		if as == nil || as.Str == "" || tc.Input.Kind != component.Object {
			return nil
		}
		out := *tc.Input
		out.Fields = make([]component.Property, 0, len(tc.Input.Fields)+1)
		replaced := false
		for _, p := range tc.Input.Fields {
			if p.Name == as.Str {
				p.Type, replaced = component.OpenObject(), true
			}
			out.Fields = append(out.Fields, p)
		}
		if !replaced {
			out.Fields = append(out.Fields, component.Property{Name: as.Str, Type: component.OpenObject()})
		}
		return map[string]*component.Type{component.DefaultOutput: &out}
	},
	NewStep: newLookup,
	Examples: []component.Example{{
		Title: "Store SKUs to WMS item codes",
		YAML: `steps:
  with_item:
    from: lines
    lookup: {table: tables/sku-map.csv, column: store_sku, key: line.sku, as: wms}`,
	}},
}

const (
	missError   = "error"
	missDefault = "default"
	missDrop    = "drop"
)

type lookupStep struct {
	name   string
	table  string // as written, for messages
	column string
	key    *exprs.Program
	as     string
	asKey  []byte // `"<as>":`
	onMiss string
	def    []byte // the default row's JSON
	rows   map[string][]byte
	// byNumber indexes the rows whose key is a plain decimal number by
	// its canonical text (478.20 and 478.2 by 478.2), for number keys.
	byNumber map[string]numberRow
	decode   *record.Projection
}

func newLookup(ctx component.BuildContext) (component.Step, error) {
	p, err := program(ctx.Config.Get("key"), "key")
	if err != nil {
		return nil, err
	}
	s := &lookupStep{
		name:   ctx.Name,
		table:  ctx.Config.Get("table").Str,
		column: ctx.Config.Get("column").Str,
		key:    p,
		as:     ctx.Config.Get("as").Str,
		onMiss: missError,
		decode: ctx.Decode,
	}
	s.asKey = append(record.AppendString(nil, s.as), ':')
	if v := ctx.Config.Get("on_miss"); v != nil && v.Str != "" {
		s.onMiss = v.Str
	}
	if d := ctx.Config.Get("default"); d != nil && len(d.Keys) > 0 {
		s.def = append(s.def, '{')
		for i, k := range d.Keys {
			if i > 0 {
				s.def = append(s.def, ',')
			}
			s.def = append(record.AppendString(s.def, k), ':')
			s.def = record.AppendString(s.def, d.Map[k].Str)
		}
		s.def = append(s.def, '}')
	}
	if s.onMiss == missDefault && s.def == nil {
		return nil, errors.New("on_miss: default needs a default row")
	}
	if rows, ok := mockedTable(ctx); ok {
		s.rows, err = indexMaps(rows, s.column)
	} else {
		s.rows, err = loadTable(ctx, ctx.Config.Get("table"), s.column)
	}
	if err != nil {
		return nil, err
	}
	s.byNumber = numberIndex(s.rows)
	return s, nil
}

// numberRow is the row a number names, and the keys of the rows that
// write it: more than one makes the number ambiguous.
type numberRow struct {
	row  []byte
	keys []string
}

// numberIndex indexes the rows whose key is a plain decimal number by the
// number's canonical text.
func numberIndex(rows map[string][]byte) map[string]numberRow {
	out := map[string]numberRow{}
	for k, row := range rows {
		if c, ok := canonicalNumber(k); ok {
			nr := out[c]
			nr.row, nr.keys = row, append(nr.keys, k)
			out[c] = nr
		}
	}
	return out
}

// canonicalNumber is the canonical text of a key written as a plain
// decimal number: an optional minus, digits without a leading zero (but
// 0 itself), and an optional fraction. Trailing zeros of the fraction
// are dropped: 478.20 is 478.2, 2.00 is 2.
func canonicalNumber(k string) (string, bool) {
	i := 0
	if i < len(k) && k[i] == '-' {
		i++
	}
	start := i
	for i < len(k) && k[i] >= '0' && k[i] <= '9' {
		i++
	}
	if i == start || k[start] == '0' && i-start > 1 {
		return "", false
	}
	if i < len(k) && k[i] == '.' {
		i++
		frac := i
		for i < len(k) && k[i] >= '0' && k[i] <= '9' {
			i++
		}
		if i == frac {
			return "", false
		}
	}
	if i != len(k) || len(k) > 2*record.MaxDecimalDigits {
		return "", false
	}
	d, err := decimal.NewFromString(k)
	if err != nil {
		return "", false
	}
	b, _ := record.AppendKey(nil, d)
	return string(b), true
}

// isNumber reports whether a key value is a number, which may match a row
// writing it with other trailing zeros.
func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, int32, uint64, float64, decimal.Decimal:
		return true
	}
	return false
}

// mockedTable returns the rows a pipeline test gave for this step.
func mockedTable(ctx component.BuildContext) ([]map[string]any, bool) {
	if ctx.Runtime == nil || ctx.Runtime.Tables == nil {
		return nil, false
	}
	rows, ok := ctx.Runtime.Tables[ctx.Name]
	return rows, ok
}

// loadTable reads a CSV or JSON table and indexes its rows by column. Its
// errors are about the `table` setting tv, reported there by validate.
func loadTable(ctx component.BuildContext, tv *component.Value, column string) (map[string][]byte, error) {
	table := tv.Str
	path := table
	if !filepath.IsAbs(path) && ctx.Runtime != nil {
		path = filepath.Join(ctx.Runtime.Dir, path)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, component.SettingErrorf(tv, component.CodeMissingFile, "lookup table %s does not exist (looked for %s)", tv.Display(), path)
	}
	if err != nil {
		return nil, component.SettingErrorf(tv, component.CodeInvalidSetting, "table %q: %w", table, err)
	}
	var rows map[string][]byte
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		rows, err = indexCSV(b, column)
	case ".json":
		rows, err = indexJSON(b, column)
	default:
		err = fmt.Errorf("a table must be a .csv or .json file, not %q", ext)
	}
	if err != nil {
		return nil, component.SettingErrorf(tv, component.CodeInvalidSetting, "table %q: %w", table, err)
	}
	return rows, nil
}

// indexCSV reads a CSV table with a header row. Each row becomes a JSON
// object of text values, in header order.
func indexCSV(b []byte, column string) (map[string][]byte, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))) // Excel's byte-order mark
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: a CSV table needs a header row")
	}
	if err != nil {
		return nil, err
	}
	col := -1
	keys := make([][]byte, len(header))
	for i, h := range header {
		if h == column {
			col = i
		}
		keys[i] = append(record.AppendString(nil, h), ':')
	}
	if col < 0 {
		return nil, fmt.Errorf("column %q is not in the header (%s)", column, strings.Join(header, ", "))
	}
	rows := map[string][]byte{}
	lines := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		row := []byte{'{'}
		for i, v := range rec {
			if i > 0 {
				row = append(row, ',')
			}
			row = append(row, keys[i]...)
			row = record.AppendString(row, v)
		}
		row = append(row, '}')
		k := rec[col]
		if first, dup := lines[k]; dup {
			return nil, fmt.Errorf("%s %q appears on lines %d and %d: a key must name one row", column, k, first, line)
		}
		rows[k], lines[k] = row, line
	}
}

// indexJSON reads a JSON array of objects. Each row is kept as written.
func indexJSON(b []byte, column string) (map[string][]byte, error) {
	if !gjson.ValidBytes(b) {
		return nil, errors.New("not valid JSON")
	}
	doc := gjson.ParseBytes(b)
	if !doc.IsArray() {
		return nil, fmt.Errorf("a JSON table must be an array of objects, not %s", jsonKind(doc))
	}
	rows := map[string][]byte{}
	index := map[string]int{}
	var err error
	i := -1
	doc.ForEach(func(_, row gjson.Result) bool {
		i++
		if !row.IsObject() {
			err = fmt.Errorf("row %d is %s, not an object", i, jsonKind(row))
			return false
		}
		kv := row.Get(gjson.Escape(column))
		k, ok := jsonKeyText(kv)
		if !ok {
			err = fmt.Errorf("row %d: %s is %s; a key must be text or a number", i, column, jsonKind(kv))
			return false
		}
		if first, dup := index[k]; dup {
			err = fmt.Errorf("%s %q appears in rows %d and %d: a key must name one row", column, k, first, i)
			return false
		}
		rows[k], index[k] = []byte(row.Raw), i
		return true
	})
	return rows, err
}

// indexMaps indexes the rows a pipeline test gives in place of the table.
func indexMaps(in []map[string]any, column string) (map[string][]byte, error) {
	rows := map[string][]byte{}
	index := map[string]int{}
	for i, m := range in {
		k, ok := keyText(m[column])
		if !ok {
			return nil, fmt.Errorf("test table row %d: %s is %s; a key must be text or a number", i, column, goKind(m[column]))
		}
		if first, dup := index[k]; dup {
			return nil, fmt.Errorf("test table: %s %q appears in rows %d and %d: a key must name one row", column, k, first, i)
		}
		b, err := record.AppendJSON(nil, m)
		if err != nil {
			return nil, fmt.Errorf("test table row %d: %w", i, err)
		}
		rows[k], index[k] = b, i
	}
	return rows, nil
}

// jsonKeyText renders a JSON table's key cell as the text keys compare by.
func jsonKeyText(v gjson.Result) (string, bool) {
	switch v.Type {
	case gjson.String:
		return v.Str, true
	case gjson.Number:
		if d, err := decimal.NewFromString(v.Raw); err == nil && record.DecimalInRange(d) {
			return keyText(d)
		}
		return keyText(record.Number(v.Raw, false))
	case gjson.True, gjson.False:
		return v.Raw, true
	}
	return "", false
}

// keyText renders a key as text: strings as they are, numbers in their
// shortest form (123, 12.5), decimals with their scale (12.50), booleans
// as true and false. Null, objects and arrays have no text.
func keyText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case decimal.Decimal:
		return record.DecimalText(x), true
	}
	return "", false
}

func (s *lookupStep) NewWorker() component.StepWorker { return &lookupWorker{step: s} }

type lookupWorker struct {
	step *lookupStep
	vm   vm.VM
}

func (w *lookupWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	s := w.step
	v, err := s.key.Run(&w.vm, rec.Fields(s.decode))
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(s.name, rec, fmt.Errorf("key %q: %w", s.key.Source(), err)))
		return
	}
	var row []byte
	k, ok := keyText(v)
	switch {
	case ok:
		row = s.rows[k]
		if row == nil && isNumber(v) {
			if row, err = s.rowOfNumber(k); err != nil {
				emit(component.ErrorOutput, component.ErrorRecord(s.name, rec, err))
				return
			}
		}
	case v != nil:
		emit(component.ErrorOutput, component.ErrorRecord(s.name, rec,
			fmt.Errorf("key %q gave %s; a key must be text or a number", s.key.Source(), goKind(v))))
		return
	}
	if row == nil {
		switch s.onMiss {
		case missDrop:
			return
		case missDefault:
			row = s.def
		default:
			err := fmt.Errorf("no row of %s has %s %q (key %q)", s.table, s.column, k, s.key.Source())
			if !ok {
				err = fmt.Errorf("key %q is null: no row of %s to look up", s.key.Source(), s.table)
			}
			emit(component.ErrorOutput, component.ErrorRecord(s.name, rec, err))
			return
		}
	}
	out, err := s.join(rec.Raw, row)
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(s.name, rec, err))
		return
	}
	emit(component.DefaultOutput, rec.Derive(out))
}

// rowOfNumber is the row that writes the number k with other trailing
// zeros, if one does.
func (s *lookupStep) rowOfNumber(k string) ([]byte, error) {
	c, ok := canonicalNumber(k)
	if !ok {
		if d, err := decimal.NewFromString(k); err == nil {
			b, _ := record.AppendKey(nil, d)
			c = string(b)
		}
	}
	nr := s.byNumber[c]
	if len(nr.keys) > 1 {
		keys := slices.Sorted(slices.Values(nr.keys))
		for i, key := range keys {
			keys[i] = strconv.Quote(key)
		}
		return nil, fmt.Errorf("key %q is %s, which rows of %s with %s %s all write: a key must name one row",
			s.key.Source(), k, s.table, s.column, strings.Join(keys, ", "))
	}
	return nr.row, nil
}

// join adds row to the object raw under `as`. The object's fields are
// copied as raw text; a field already named `as` is replaced where it is,
// otherwise the row goes in before the closing brace.
func (s *lookupStep) join(raw, row []byte) ([]byte, error) {
	body := bytes.TrimSpace(raw)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return nil, errors.New("the record is not a JSON object: a row can only be added to an object")
	}
	out := make([]byte, 0, len(body)+len(s.asKey)+len(row)+1)
	obj := gjson.Parse(rawString(body))
	if !obj.Get(gjson.Escape(s.as)).Exists() {
		inner := bytes.TrimSpace(body[1 : len(body)-1])
		out = append(out, '{')
		if len(inner) > 0 {
			out = append(out, inner...)
			out = append(out, ',')
		}
		out = append(out, s.asKey...)
		out = append(out, row...)
		return append(out, '}'), nil
	}
	out = append(out, '{')
	first := true
	replaced := false
	obj.ForEach(func(k, v gjson.Result) bool {
		if !first {
			out = append(out, ',')
		}
		first = false
		if k.Str == s.as {
			if replaced { // a duplicate key: keep one
				out = out[:len(out)-1]
				return true
			}
			replaced = true
			out = append(out, s.asKey...)
			out = append(out, row...)
			return true
		}
		out = append(out, k.Raw...)
		out = append(out, ':')
		out = append(out, v.Raw...)
		return true
	})
	return append(out, '}'), nil
}
