package pipelinetest

import (
	"slices"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// Coverage is how much of a pipeline its tests exercised: the steps that
// ran a record, the named outputs (route branches, allocate's shipments and
// backorders) records took, and the sinks that received records.
type Coverage struct {
	Pipeline string           `json:"pipeline"`
	Steps    []NodeCoverage   `json:"steps"`
	Outputs  []OutputCoverage `json:"outputs"`
	Sinks    []NodeCoverage   `json:"sinks"`
}

// NodeCoverage counts the records that reached a step or sink.
type NodeCoverage struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Records int64  `json:"records"`
	// NotRun says why the tests could not run the node.
	NotRun string `json:"not_run,omitempty"`
}

// OutputCoverage counts the records that left a step by a named output.
type OutputCoverage struct {
	Node    string `json:"node"`
	Output  string `json:"output"`
	Records int64  `json:"records"`
}

// Label is the output as a pipeline refers to it: `by_speed.express`.
func (o OutputCoverage) Label() string { return o.Node + "." + o.Output }

func newCoverage(plan *pipelines.Plan, prep *prepared) *Coverage {
	c := &Coverage{Pipeline: plan.File, Steps: []NodeCoverage{}, Outputs: []OutputCoverage{}, Sinks: []NodeCoverage{}}
	read := map[string]map[string]bool{}
	for _, n := range plan.Nodes {
		for _, e := range n.Inputs {
			if read[e.From.Name] == nil {
				read[e.From.Name] = map[string]bool{}
			}
			read[e.From.Name][e.Output] = true
		}
	}
	for _, n := range plan.Nodes {
		nc := NodeCoverage{Name: n.Name, Kind: n.Kind}
		if nr, ok := prep.notRun[n.Name]; ok {
			nc.NotRun = "kind " + nr.Kind + " cannot run yet"
			if nr.Because != nr.Node {
				nc.NotRun = "after " + nr.Because
			}
		}
		switch n.Section {
		case component.StepSection:
			c.Steps = append(c.Steps, nc)
			if cannotRun(n) {
				continue
			}
			for _, o := range n.OutputNames {
				if o == component.DefaultOutput || o == component.ErrorOutput {
					continue
				}
				// A kind's fixed outputs (a route's unmatched) count when
				// the pipeline reads them; outputs the file declares (the
				// routes themselves) always do.
				if !read[n.Name][o] && fixedOutput(n.Spec, o) {
					continue
				}
				c.Outputs = append(c.Outputs, OutputCoverage{Node: n.Name, Output: o})
			}
		case component.SinkSection:
			c.Sinks = append(c.Sinks, nc)
		}
	}
	return c
}

func fixedOutput(spec *component.Spec, name string) bool {
	if spec == nil {
		return false
	}
	return slices.ContainsFunc(spec.Outputs, func(o component.Output) bool { return o.Name == name })
}

// taps are the outputs a run must capture to count them.
func (c *Coverage) taps() []Tap {
	out := make([]Tap, len(c.Outputs))
	for i, o := range c.Outputs {
		out[i] = Tap{o.Node, o.Output}
	}
	return out
}

// add counts what one run exercised.
func (c *Coverage) add(res *DryRunResult) {
	in := map[string]int64{}
	for _, st := range res.Nodes {
		in[st.Name] += st.In
	}
	// A node left out of a run for want of its input may run in another,
	// fed directly.
	notRun := map[string]bool{}
	for _, nr := range res.NotRun {
		notRun[nr.Node] = true
	}
	ran := func(nc *NodeCoverage) {
		if _, ok := in[nc.Name]; ok && !notRun[nc.Name] {
			nc.NotRun = ""
		}
	}
	for i := range c.Steps {
		ran(&c.Steps[i])
	}
	for i := range c.Sinks {
		ran(&c.Sinks[i])
	}
	for i := range c.Steps {
		c.Steps[i].Records += in[c.Steps[i].Name]
	}
	for i := range c.Sinks {
		c.Sinks[i].Records += in[c.Sinks[i].Name]
	}
	for i, o := range c.Outputs {
		c.Outputs[i].Records += int64(len(res.Taps[Tap{o.Node, o.Output}]))
	}
}

// Merge adds the counts of another run of tests of the same pipeline.
func (c *Coverage) Merge(o *Coverage) {
	addNodes := func(dst []NodeCoverage, src []NodeCoverage) []NodeCoverage {
		for _, s := range src {
			i := slices.IndexFunc(dst, func(d NodeCoverage) bool { return d.Name == s.Name })
			if i < 0 {
				dst = append(dst, s)
				continue
			}
			dst[i].Records += s.Records
			if s.NotRun == "" {
				dst[i].NotRun = ""
			}
		}
		return dst
	}
	c.Steps = addNodes(c.Steps, o.Steps)
	c.Sinks = addNodes(c.Sinks, o.Sinks)
	for _, s := range o.Outputs {
		i := slices.IndexFunc(c.Outputs, func(d OutputCoverage) bool { return d.Node == s.Node && d.Output == s.Output })
		if i < 0 {
			c.Outputs = append(c.Outputs, s)
			continue
		}
		c.Outputs[i].Records += s.Records
	}
}

// Counts returns how many steps ran, outputs were taken and sinks were
// reached, out of how many.
func (c *Coverage) Counts() (steps, stepsOf, outputs, outputsOf, sinks, sinksOf int) {
	for _, s := range c.Steps {
		if s.Records > 0 && s.NotRun == "" {
			steps++
		}
	}
	for _, o := range c.Outputs {
		if o.Records > 0 {
			outputs++
		}
	}
	for _, s := range c.Sinks {
		if s.Records > 0 && s.NotRun == "" {
			sinks++
		}
	}
	return steps, len(c.Steps), outputs, len(c.Outputs), sinks, len(c.Sinks)
}
