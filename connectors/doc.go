// Package connectors holds the kinds that touch the outside world: sources
// (file, stdin, event), sinks (file, stdout, http) and the triggers that
// start sources (webhook, cron, message, manual).
//
// Each kind lives in its own file with its Spec. connectors imports diag,
// component and exprs; it must not import engine, transforms or cmd.
package connectors

import "github.com/pipectl/pipectl/pipelines/component"

// Register adds every connector and trigger kind to r.
func Register(r *component.Registry) {
	for _, s := range []*component.Spec{
		fileSourceSpec, stdinSpec, eventSpec,
		fileSinkSpec, stdoutSpec, httpSinkSpec,
		webhookTriggerSpec, cronTriggerSpec, messageTriggerSpec, manualTriggerSpec,
	} {
		r.Add(s)
	}
}
