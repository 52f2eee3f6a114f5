// Package pipelines is pipectl's pipeline language: it loads a pipeline file
// into a positioned, strictly validated File, and compiles a File into a
// typed, immutable Plan (the DAG the engine runs).
//
// Loading and compiling never stop at the first problem: every mistake in a
// file becomes a diag.Diagnostic at its exact line and column, including
// positions inside expressions written as plain, quoted or block scalars, so
// one `pipectl validate` run reports them all.
//
// The compiler knows node kinds only through the component.Registry it is
// given and expressions only through exprs. It must not import transforms,
// connectors, engine or cmd.
package pipelines

//go:generate go test -run ^TestGeneratedFiles$ -update-generated .
