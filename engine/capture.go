package engine

import (
	"context"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// capture stands in for a sink in dry runs and pipeline tests: it keeps what
// the sink would receive and touches nothing. When the real sink can describe
// what it would do (an HTTP request), the description is kept too.
type capture struct {
	describer component.Describer
	records   []*record.Record
	described []any
}

// Captured is what a sink would have received in a dry run.
type Captured struct {
	Records []*record.Record
	// Descriptions holds, per record, what the sink would have done with
	// it (an HTTP request), when the sink can tell.
	Descriptions []any
}

func newCapture(n *node, spec *component.Spec, ctx component.BuildContext) (component.Sink, error) {
	c := &capture{}
	if spec.NewSink != nil {
		// Sinks do no I/O when built, so the real sink can be asked how it
		// would deliver a record without delivering it.
		real, err := spec.NewSink(ctx)
		if err != nil {
			return nil, err
		}
		if d, ok := real.(component.Describer); ok {
			c.describer = d
		}
	}
	return c, nil
}

func (c *capture) Write(_ context.Context, rec *record.Record) error {
	if c.describer != nil {
		d, err := c.describer.Describe(rec)
		if err != nil {
			return err
		}
		c.described = append(c.described, d)
	}
	c.records = append(c.records, rec)
	return nil
}

func (c *capture) Flush(context.Context) error { return nil }

func (c *capture) Close(context.Context, bool) error { return nil }
