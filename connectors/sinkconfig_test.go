package connectors_test

import (
	"strings"
	"testing"
)

// Mistakes in the settings of the nats and postgres sinks are diagnostics
// at the setting at fault, found at compile time with no server.
func TestNATSAndPostgresSinkConfigDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		code           string
		line           int // of the pipeline file: the kind's key is line 8
		summary        string
	}{
		{"nats wildcard subject", "nats:\n      subject: erp.*\n      message_id: id", "invalid-subject", 9, `subject "erp.*" holds a wildcard`},
		{"nats empty token", "nats:\n      subject: erp..orders\n      message_id: id", "invalid-subject", 9, "has an empty token"},
		{"nats url scheme", "nats:\n      url: http://nats:4222\n      subject: erp\n      message_id: id", "invalid-value", 9, "url http://nats:4222 must start with nats://"},
		{"nats server header", "nats:\n      subject: erp\n      message_id: id\n      headers: {Nats-Msg-Id: x}", "invalid-value", 11, "header Nats-Msg-Id is the server's"},
		{"nats no message id", "nats:\n      subject: erp", "missing-field", 8, "message_id"},
		{"nats in flight", "nats:\n      subject: erp\n      message_id: id\n      max_in_flight: 0", "invalid-value", 11, "max_in_flight must be at least 1"},
		{"postgres url scheme", "postgres:\n      url: mysql://db/x\n      table: t\n      key: [id]\n      columns: {id: id}", "invalid-value", 9, "must start with postgres://"},
		{"postgres table", "postgres:\n      url: postgres://db/x\n      table: \"orders; drop\"\n      key: [id]\n      columns: {id: id}", "invalid-identifier", 10, `table "orders; drop" is not a name`},
		{"postgres column", "postgres:\n      url: postgres://db/x\n      table: t\n      key: [id]\n      columns: {id: id, \"to tal\": total}", "invalid-identifier", 12, `column "to tal" is not a name`},
		{"postgres key not a column", "postgres:\n      url: postgres://db/x\n      table: t\n      key: [id, sku]\n      columns: {id: id}", "unknown-column", 11, `key column "sku" is not among the columns (id)`},
		{"postgres empty key", "postgres:\n      url: postgres://db/x\n      table: t\n      key: []\n      columns: {id: id}", "missing-field", 11, "key names no column"},
		{"postgres batch size", "postgres:\n      url: postgres://db/x\n      table: t\n      key: [id]\n      columns: {id: id}\n      batch_size: 0", "invalid-value", 13, "batch_size must be at least 1"},
		{"postgres schema table", "postgres:\n      url: postgres://db/x\n      table: a.b.c\n      key: [id]\n      columns: {id: id}", "invalid-identifier", 10, "more than one dot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    " + tc.settings + "\n"
			_, ds := diagnose(t, src, nil)
			found := false
			for _, d := range ds {
				if d.Code == tc.code && d.Subject.Start.Line == tc.line && strings.Contains(d.Summary, tc.summary) {
					found = true
				}
			}
			if !found {
				t.Errorf("want %s at line %d containing %q; got:\n%v", tc.code, tc.line, tc.summary, ds)
			}
		})
	}
}
