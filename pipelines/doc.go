// Package pipelines is pipectl's pipeline language: it loads a pipeline file
// into a positioned, strictly validated File, and compiles a File into a
// typed, immutable Plan (the DAG the engine runs).
//
// Loading and compiling never stop at the first problem: every mistake in a
// file becomes a diag.Diagnostic at its exact line and column, including
// positions inside expressions written as plain, quoted or block scalars, so
// one `pipectl validate` run reports them all.
//
// One mistake gives one diagnostic. A YAML syntax error is placed where the
// mistake is (a tab, a quote or bracket left open, a key indented to no
// level: yamlsyntax.go), not where the parser gave up. A node whose kind is
// missing or unknown, whose settings are wrong or whose schema cannot be
// read emits records of unknown type (Node.Broken), so nothing downstream
// is reported for it; references into a rules file that does not parse are
// not reported as missing; a second `from:` is a duplicate key, and what it
// names counts as read. A secret setting written in the file is an error
// (secret-literal) and is masked in every line the diagnostics quote.
//
// What only building the nodes can find (a lookup table that is not there)
// is found by Options.Check, which the engine provides (engine.Check): the
// compiler knows kinds only by their specs.
//
// The compiler knows node kinds only through the component.Registry it is
// given and expressions only through exprs. It must not import transforms,
// connectors, engine or cmd.
package pipelines

//go:generate go test -run ^TestGeneratedFiles$ -update-generated .
