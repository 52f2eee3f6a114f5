package transforms

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

var validateSpec = &component.Spec{
	Kind:    "validate",
	Section: component.StepSection,
	Summary: "Checks records against a JSON Schema; failures go to the error output.",
	Description: "Valid records pass through unchanged. An invalid record leaves through `error` with every " +
		"violation in the error text, each as the JSON Pointer of the offending value and what is wrong " +
		"(`/line_items/0/quantity: expected integer, but got string`), sorted by place, and its original payload.\n\n" +
		"The schema is compiled once when the pipeline is built: an embedded name (`shopify/order`, " +
		"`woocommerce/order`) or a `.json` file relative to the pipeline file, whose `$ref`s to other files resolve " +
		"beside it. Schemas without `$schema` are read as draft 2020-12. `format` is an annotation, as the " +
		"2019-09 and later drafts say, not a check.\n\n" +
		"After an embedded schema, the steps downstream are type-checked against it, as after a source that " +
		"declares `schema:`: validating a record of unknown shape is how it gains a type.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "schema", Doc: "Validation settings.",
		Fields: []*component.Field{
			{Name: "schema", Kind: component.StringField, Required: true,
				Doc: "An embedded schema name (`shopify/order`) or a path to a .json file relative to the pipeline file.", Examples: []any{"shopify/order"}},
		}},
	// Validate checks embedded names, which needs no I/O; a file is read
	// when the step is built.
	Validate: func(cfg *component.Value, report component.Reporter) {
		v := cfg.Get("schema")
		if v == nil || v.Str == "" || strings.HasSuffix(v.Str, ".json") || strings.Contains(v.Str, "${") {
			return
		}
		if _, ok := schemas.Lookup(v.Str); !ok {
			msg := "no embedded schema named " + v.Display()
			if hint := diag.DidYouMean(v.Str, schemas.Names()); hint != "" && !v.Secret {
				msg += ": " + hint
			} else {
				msg += "; embedded schemas: " + strings.Join(schemas.Names(), ", ") + "; or give a path to a .json file"
			}
			report.Errorf(v, "unknown-schema", "%s", msg)
		}
	},
	// OutputType: records that passed an embedded schema are known to fit
	// it, so the steps after are checked against its type, as they are after
	// a source that declares `schema:`. A file schema is read only when the
	// step is built, so its records keep the input's type.
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		v := tc.Config.Get("schema")
		if v == nil || strings.HasSuffix(v.Str, ".json") {
			return nil
		}
		b, ok := schemas.Lookup(v.Str)
		if !ok {
			return nil
		}
		t, err := exprs.TypeFromJSONSchema(b, "")
		if err != nil {
			return nil
		}
		return map[string]*component.Type{component.DefaultOutput: t}
	},
	PassThrough: true,
	NewStep:     newValidate,
	Examples: []component.Example{{
		Title: "Reject malformed orders",
		YAML: `steps:
  checked:
    from: orders
    validate: shopify/order
sinks:
  rejected:
    from: checked.error
    stdout: {}`,
	}},
}

type validateStep struct {
	name   string
	what   string // the schema as named in the file
	schema *jsonschema.Schema
}

func newValidate(ctx component.BuildContext) (component.Step, error) {
	sv := ctx.Config.Get("schema")
	name := sv.Str
	s, err := compileSchema(ctx, name)
	if err != nil {
		if path := schemaPath(ctx, name); strings.HasSuffix(name, ".json") && !fileExists(path) {
			return nil, component.SettingErrorf(sv, component.CodeMissingFile, "schema file %s does not exist (looked for %s)", sv.Display(), path)
		}
		return nil, component.SettingErrorf(sv, component.CodeInvalidSetting, "schema %s: %v", sv.Display(), err)
	}
	return &validateStep{name: ctx.Name, what: name, schema: s}, nil
}

// compileSchema compiles an embedded schema, or a .json file relative to
// the pipeline file.
func compileSchema(ctx component.BuildContext, name string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if !strings.HasSuffix(name, ".json") {
		b, ok := schemas.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("no embedded schema has that name (embedded: %s)", strings.Join(schemas.Names(), ", "))
		}
		url := "embedded:///" + name + ".schema.json"
		if err := c.AddResource(url, bytes.NewReader(b)); err != nil {
			return nil, err
		}
		return c.Compile(url)
	}
	abs, err := filepath.Abs(schemaPath(ctx, name))
	if err != nil {
		return nil, err
	}
	c.LoadURL = embeddedRefs(filepath.Dir(abs))
	return c.Compile(abs)
}

// embeddedRefs loads what a schema file's $refs name: the embedded
// schemas by $id, or by name relative to the file's folder when no such
// file exists there ("$ref": "shopify/order"), without a network; other
// files as jsonschema does.
func embeddedRefs(dir string) func(string) (io.ReadCloser, error) {
	return func(url string) (io.ReadCloser, error) {
		if b, ok := schemas.Lookup(url); ok && strings.HasPrefix(url, schemas.IDPrefix) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}
		if p, ok := strings.CutPrefix(url, "file://"); ok {
			if _, err := os.Stat(p); err != nil {
				if rel, err := filepath.Rel(dir, p); err == nil {
					if b, ok := schemas.Lookup(filepath.ToSlash(rel)); ok {
						return io.NopCloser(bytes.NewReader(b)), nil
					}
				}
			}
		}
		return jsonschema.LoadURL(url)
	}
}

// schemaPath is where a schema file named in the pipeline is: beside the
// pipeline file.
func schemaPath(ctx component.BuildContext, name string) string {
	if !filepath.IsAbs(name) && ctx.Runtime != nil {
		return filepath.Join(ctx.Runtime.Dir, name)
	}
	return name
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s *validateStep) NewWorker() component.StepWorker { return &validateWorker{step: s} }

type validateWorker struct{ step *validateStep }

func (w *validateWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	v, err := instance(rec)
	if err == nil {
		err = w.step.schema.Validate(v)
	}
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, w.step.explain(err)))
		return
	}
	emit(component.DefaultOutput, rec)
}

// instance is the record as the validator reads it. Objects are decoded
// through the record, whose decoded fields the steps after this one reuse;
// anything else is decoded here, numbers kept exact.
func instance(rec *record.Record) (any, error) {
	raw := bytes.TrimSpace(rec.Raw)
	if len(raw) > 0 && raw[0] == '{' && record.Valid(raw) {
		return rec.Fields(record.AllFields), nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("the record is not JSON: %w", err)
	}
	return v, nil
}

// explain turns a validation error into one line naming every violation:
// the place in the record (a JSON Pointer) and what is wrong, sorted by
// place so the same record always gives the same text.
func (s *validateStep) explain(err error) error {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return fmt.Errorf("record does not match schema %s: %w", s.what, err)
	}
	type violation struct{ at, msg string }
	var vs []violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			at := e.InstanceLocation
			if at == "" {
				at = "(root)"
			}
			vs = append(vs, violation{at, e.Message})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.SortFunc(vs, func(a, b violation) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.msg, b.msg))
	})
	vs = slices.Compact(vs)
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.at + ": " + v.msg
	}
	noun := "violations"
	if len(vs) == 1 {
		noun = "violation"
	}
	return fmt.Errorf("record does not match schema %s (%d %s): %s", s.what, len(vs), noun, strings.Join(parts, "; "))
}
