package main

import (
	"fmt"

	"github.com/pipectl/pipectl/pipelines"
)

func runSchema(c *cli, args []string) int {
	fs := newFlags(c, "schema", "[--rules]", `
Schema prints the JSON Schema of pipeline files, generated from the
component specs. Editors with yaml-language-server give completion and
validation from it: put this line at the top of a pipeline file

  # yaml-language-server: $schema=<path to pipeline.schema.json>

The schema is also checked in as schemas/pipeline.schema.json.`, `  pipectl schema > pipeline.schema.json
  pipectl schema --rules > rules.schema.json`)
	rules := fs.Bool("rules", false, "print the schema of rules files instead")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(paths) > 0 {
		fmt.Fprintln(c.stderr, "pipectl schema: takes no arguments")
		return exitUsage
	}
	if *rules {
		c.stdout.Write(pipelines.RulesSchema(registry()))
	} else {
		c.stdout.Write(pipelines.PipelineSchema(registry()))
	}
	return exitOK
}
