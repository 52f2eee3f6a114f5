package pipelines

import (
	"net/url"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"go.yaml.in/yaml/v3"
)

// AlertSettings are a pipeline's `alerts:` section: where `pipectl serve`
// posts when dead letters appear or a sink keeps failing.
type AlertSettings struct {
	// WebhookURL is a Slack-compatible incoming-webhook URL (a secret: it
	// is in Plan.Secrets too).
	WebhookURL string
	// DeadLetters turns the dead-letter alert on.
	DeadLetters bool
	// SinkFailingFor is how long a sink's deliveries fail without one
	// success before an alert; 0 turns the sink alert off.
	SinkFailingFor time.Duration
	// MinInterval is the least time between two dead-letter alerts of the
	// pipeline; what appears meanwhile is counted in the next one.
	MinInterval time.Duration
}

// AlertsField is the `alerts:` section's settings. It is part of the
// language, like CommonFields: the loader decodes the section against it,
// so environment references, secret checks and positioned diagnostics
// work as in any kind's settings, and the schema and reference document it.
var AlertsField = &component.Field{Name: "alerts", Kind: component.ObjectField,
	Doc: "Alerts `pipectl serve` posts to a chat webhook: when dead letters appear, when a sink keeps failing, and when it recovers.",
	Fields: []*component.Field{
		{Name: "webhook_url", Kind: component.StringField, Required: true, Secret: true,
			Doc:      "A Slack-compatible incoming-webhook URL (Slack, Mattermost, Discord's `/slack` endpoint): pipectl posts `{\"text\": ...}` to it. From the environment only.",
			Examples: []any{"${SLACK_WEBHOOK_URL}"}},
		{Name: "dead_letters", Kind: component.BoolField, Default: true,
			Doc: "Alert when dead letters appear, naming the node, the count and the first error."},
		{Name: "sink_failing_for", Kind: component.DurationField, Default: 10 * time.Minute,
			Doc: "Alert when a sink's deliveries have failed without one success for this long, and again (resolved) at its next success. 0 turns this alert off."},
		{Name: "min_interval", Kind: component.DurationField, Default: 15 * time.Minute,
			Doc: "At most one dead-letter alert per pipeline in this interval; the next one counts what appeared meanwhile."},
	}}

// alerts decodes the top-level `alerts:` section.
func (l *loader) alerts(fl *srcFile, f *File, k, v *yaml.Node) {
	errs, _ := l.diags.Count()
	val := l.decode(fl, v, AlertsField, l.rangeOf(fl.path, k), false)
	if after, _ := l.diags.Count(); after > errs || val == nil || val.Map == nil {
		return
	}
	rep := reporter{&l.diags}
	if u := val.Map["webhook_url"]; u != nil && !u.Unresolved && u.Str != "" {
		if p, err := url.Parse(u.Str); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			rep.Errorf(u, CodeInvalidValue, "`webhook_url` must be an http or https URL (its value is a secret, not shown)")
		}
	}
	if d := val.Map["sink_failing_for"]; d != nil && d.Dur < 0 {
		rep.Errorf(d, CodeInvalidValue, "`sink_failing_for` must not be negative (0 turns the alert off), got %s", d.Str)
	}
	if d := val.Map["min_interval"]; d != nil && d.Dur <= 0 {
		rep.Errorf(d, CodeInvalidValue, "`min_interval` must be longer than 0, got %s: it bounds how often dead letters are announced", d.Str)
	}
	if after, _ := l.diags.Count(); after > errs {
		return
	}
	f.Alerts = val
}

// alertSettings reads the decoded section into plain settings; nil when
// the file has none.
func alertSettings(v *component.Value) *AlertSettings {
	if v == nil {
		return nil
	}
	a := &AlertSettings{}
	if u := v.Map["webhook_url"]; u != nil {
		a.WebhookURL = u.Str
	}
	if d := v.Map["dead_letters"]; d != nil {
		a.DeadLetters = d.Bool
	}
	if d := v.Map["sink_failing_for"]; d != nil {
		a.SinkFailingFor = d.Dur
	}
	if d := v.Map["min_interval"]; d != nil {
		a.MinInterval = d.Dur
	}
	return a
}
