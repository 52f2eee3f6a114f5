package pipelines

import (
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

// Code describes a diagnostic code for the reference documentation. Every
// code here is covered by a golden test under testdata/diagnostics.
type Code struct {
	Code    string
	Meaning string
}

// Codes lists every diagnostic code validate reports, in the order the
// reference documents them.
var Codes = []Code{
	{CodeYAMLSyntax, "The file is not valid YAML."},
	{"file-unreadable", "The pipeline file cannot be read."},
	{CodeUnknownKey, "A key pipectl does not know, at the top of the file or in an entry."},
	{CodeUnknownField, "A setting the kind does not have."},
	{CodeMissingField, "A required setting, or `pipeline:` or `sinks:`, is missing."},
	{CodeWrongType, "A value of the wrong type: a list where a mapping belongs, a word where a number belongs."},
	{CodeInvalidValue, "A value outside what the setting allows: an unknown enum value, a malformed duration."},
	{CodeInvalidName, "A name that cannot be referenced: names are lower-case letters, digits and '_'."},
	{CodeDuplicateName, "Two entries with the same name, in any sections."},
	{CodeDuplicateKey, "The same key twice in one mapping."},
	{CodeMissingKind, "An entry with no kind key."},
	{CodeUnknownKind, "An entry whose kind key is not a known kind."},
	{CodeMultipleKinds, "An entry with two kind keys."},
	{CodeInvalidCron, "A cron schedule robfig/cron cannot parse."},
	{CodeInvalidTimezone, "A time zone that is not an IANA name."},
	{CodeEnvUnset, "A ${VAR} with no value in the environment and no default (a warning)."},
	{CodeSecretLiteral, "A secret setting (a webhook secret, a token, a password) written in the file: secrets come from the environment, as `${VAR}`."},
	{CodeBadInterpolate, "A malformed ${...} reference."},
	{CodeRulesFile, "The rules file cannot be read."},
	{CodeStepNoInput, "A step without `from:`."},
	{CodeSinkNoInput, "A sink without `from:`: it would receive nothing."},
	{CodeBadReference, "A `from:` that names a trigger, a rule set, or a sink's default output."},
	{CodeUnknownReference, "A reference to a node, trigger or rule set that does not exist."},
	{CodeUnknownOutput, "A `name.output` reference to an output the node does not have."},
	{CodeCycle, "Steps that feed each other: a pipeline is a DAG."},
	{CodeUnusedOutput, "A source, step or route output nothing reads (a warning)."},
	{CodeUnusedTrigger, "A trigger no source uses (a warning)."},
	{CodeUnusedRule, "A rule set no step uses (a warning)."},
	{CodeDuplicatePath, "Two webhook triggers on the same path."},
	{CodeUnknownSchema, "A `schema:` naming no embedded schema or readable file."},
	{CodeBadSchema, "A schema file that is not a usable JSON Schema."},
	{CodeTypeMismatch, "Records that do not fit what their consumer needs, or a rule set of the wrong kind."},
	{CodeTriggerMismatch, "A source started by a trigger kind it cannot take."},
	{CodeNoTrigger, "An event source with no webhook or message trigger."},
	{CodeSchemaViolation, "A problem only the generated JSON Schema caught."},
	{component.CodeMissingFile, "A file the pipeline ships with (a lookup table, a schema) that is not there; found when validate builds the node."},
	{component.CodeInvalidSetting, "A setting a kind could use only once built, and cannot: a lookup table that does not parse or repeats a key, a schema that does not compile."},
	{CodeBuildFailed, "A node that cannot be built, for a reason no single setting is at fault for."},
	{exprs.CodeSyntax, "An expression that does not parse."},
	{exprs.CodeUnknownField, "An expression, or a map step's `$keep`, naming a field the record's type does not have."},
	{exprs.CodeUnknownFunc, "An expression calling a function that does not exist."},
	{exprs.CodeUnknownVar, "An expression reading a name closest to one of its `let` variables, misspelt."},
	{exprs.CodeTypeMismatch, "An operation or call the operand types do not support, such as `total_price * 2` on a string."},
	{exprs.CodeResultType, "An expression producing the wrong type, such as a filter that is not boolean."},
	{exprs.CodeBadArgument, "A function argument written as a literal that the function cannot use, such as a time layout from another language (`yyyy-MM-dd`) or an unknown time zone."},
	{exprs.CodeTooComplex, "An expression over the size limit."},
	{exprs.CodeEmpty, "An empty expression."},
	{exprs.CodeInvalid, "Any other expression error."},
}
