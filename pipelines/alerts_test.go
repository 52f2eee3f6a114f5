package pipelines_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/transforms"
)

const hookURL = "https://hooks.slack.example/services/T000/B000/XXXXXXXX"

// alertsPipeline is a minimal pipeline with the given `alerts:` section.
func alertsPipeline(alerts string) string {
	return "pipeline: orders\nsources:\n  orders: {file: {path: orders.jsonl}}\nsinks:\n  out: {from: orders, stdout: {}}\n" + alerts
}

func loadAlerts(t *testing.T, text string) (*pipelines.Plan, *pipelines.File, []string) {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	env := func(k string) (string, bool) {
		if k == "SLACK_WEBHOOK_URL" {
			return hookURL, true
		}
		if k == "NOT_A_URL" {
			return "hooks.slack.example/x", true
		}
		return "", false
	}
	lo := pipelines.LoadOptions{Registry: reg, LookupEnv: env}
	f, ds := pipelines.LoadBytes("pipeline.yaml", []byte(text), lo)
	p, cds := pipelines.Compile(f, pipelines.Options{LoadOptions: lo, Library: exprs.NewLibrary(component.SystemClock{})})
	var got []string
	for _, d := range append(ds, cds...).Sorted() {
		got = append(got, fmt.Sprintf("%d:%d %s %s", d.Subject.Start.Line, d.Subject.Start.Col, d.Code, d.Summary))
	}
	return p, f, got
}

func TestAlertsSection(t *testing.T) {
	p, _, ds := loadAlerts(t, alertsPipeline("alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  dead_letters: false\n  sink_failing_for: 5m\n  min_interval: 1h\n"))
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	want := pipelines.AlertSettings{WebhookURL: hookURL, DeadLetters: false, SinkFailingFor: 5 * time.Minute, MinInterval: time.Hour}
	if p.Alerts == nil || *p.Alerts != want {
		t.Fatalf("Plan.Alerts = %+v, want %+v", p.Alerts, want)
	}
	if !slices.Contains(p.Secrets, hookURL) {
		t.Errorf("the webhook URL is not among the secrets to mask: %v", p.Secrets)
	}

	p, _, ds = loadAlerts(t, alertsPipeline("alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n"))
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	want = pipelines.AlertSettings{WebhookURL: hookURL, DeadLetters: true, SinkFailingFor: 10 * time.Minute, MinInterval: 15 * time.Minute}
	if p.Alerts == nil || *p.Alerts != want {
		t.Fatalf("defaults: Plan.Alerts = %+v, want %+v", p.Alerts, want)
	}

	if p, _, _ = loadAlerts(t, alertsPipeline("")); p.Alerts != nil {
		t.Errorf("no alerts: section, but Plan.Alerts = %+v", p.Alerts)
	}
}

func TestAlertsSectionMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, alerts string
		want         string // line:col code, of the one error
	}{
		{"literal secret", "alerts:\n  webhook_url: " + hookURL + "\n", "7:16 secret-literal"},
		{"missing url", "alerts:\n  dead_letters: true\n", "6:1 missing-field"},
		{"empty section", "alerts:\n", "6:1 missing-field"},
		{"not a mapping", "alerts: [a]\n", "6:9 wrong-type"},
		{"unknown key", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  min_intervl: 1m\n", "8:3 unknown-field"},
		{"wrong type", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  dead_letters: yes please\n", "8:17 wrong-type"},
		{"bad duration", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  sink_failing_for: ten minutes\n", "8:21 invalid-value"},
		{"negative duration", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  sink_failing_for: -1m\n", "8:21 invalid-value"},
		{"zero interval", "alerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  min_interval: 0s\n", "8:17 invalid-value"},
		{"not a URL", "alerts:\n  webhook_url: ${NOT_A_URL}\n", "7:16 invalid-value"},
		{"misspelt section", "alert:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n", "6:1 unknown-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f, ds := loadAlerts(t, alertsPipeline(tc.alerts))
			if len(ds) != 1 || !strings.HasPrefix(ds[0], tc.want+" ") {
				t.Fatalf("diagnostics %q, want one %s", ds, tc.want)
			}
			if p.Alerts != nil {
				t.Errorf("Plan.Alerts = %+v from a section with errors", p.Alerts)
			}
			if strings.Contains(ds[0], hookURL) || strings.Contains(string(f.Sources["pipeline.yaml"]), hookURL) {
				t.Errorf("the webhook URL is shown: %s", ds[0])
			}
		})
	}
}
