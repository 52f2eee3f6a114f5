package engine

import (
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

// A source that declares `schema:` promises records of the schema's type,
// and every expression downstream was checked against it. admit holds the
// records to it before any step reads them: those that do not fit leave
// through the source's error output with what is wrong, in the schema's
// terms, instead of failing later in a step's terms (or not failing, and
// passing a wrong value on). See exprs.Conformance for what is checked.

// conformances prepares the check of each source with a schema, over what
// the nodes reading the source read of its records, decoded with their own
// projection when one node reads them, so the fields decoded for the
// check are the ones that node then finds decoded.
func (g *graph) conformances() {
	for _, n := range g.nodes {
		sv := n.plan.Common["schema"]
		if n.plan.Section != component.SourceSection || sv == nil || sv.Str == "" {
			continue
		}
		var reads *record.Projection
		switch ds := n.down[component.DefaultOutput]; len(ds) {
		case 0:
			continue
		case 1:
			reads = ds[0].decode
		default:
			reads = &record.Projection{}
			for _, d := range ds {
				reads.Merge(d.decode)
			}
		}
		n.conform = exprs.NewConformance(n.plan.Outputs[component.DefaultOutput], reads, "schema "+sv.Str)
		n.conformReads = reads
	}
}

// admit checks a record a source read before any step reads it: that it
// is JSON (record.CheckJSON), and that what the pipeline reads of it fits
// the source's schema.
func (n *node) admit(rec *record.Record) error {
	if err := rec.CheckJSON(); err != nil {
		return err
	}
	if n.conform == nil || rec.Failed {
		return nil
	}
	return n.conform.Check(rec.Raw, rec.Fields(n.conformReads))
}
