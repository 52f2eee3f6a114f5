// Package diag holds pipectl's diagnostics: positions inside pipeline files,
// the Diagnostic value every layer reports problems with, and their text and
// JSON renderings.
//
// Every problem found while loading or compiling a pipeline becomes a
// Diagnostic rather than an early return, so that a consultant sees every
// mistake in a file from one `pipectl validate` run. The first line of the text
// form is `file:line:col: severity: summary [code]`, which editors and CI logs
// already know how to link.
//
// diag imports nothing of pipectl's own; everything else may import it.
package diag
