package pipelines

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/component"
)

// env is the environment the interpolation tests see: HOST and
// SECRET_TOKEN set, EMPTY set to "", everything else unset.
func env(name string) (string, bool) {
	v, ok := map[string]string{
		"HOST":         "wms.example.com",
		"SECRET_TOKEN": "s3cr3t",
		"EMPTY":        "",
		"_x1":          "lower",
	}[name]
	return v, ok
}

func TestInterpolate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want interpolation
	}{
		// Nothing to expand.
		{"", interpolation{value: ""}},
		{"plain text", interpolation{value: "plain text"}},
		{"$HOST and $ {HOST} and {HOST}", interpolation{value: "$HOST and $ {HOST} and {HOST}"}},
		{"cost: $5", interpolation{value: "cost: $5"}},
		// ${VAR}.
		{"${HOST}", interpolation{value: "wms.example.com"}},
		{"https://${HOST}/pick-tickets", interpolation{value: "https://wms.example.com/pick-tickets"}},
		{"${HOST}${HOST}", interpolation{value: "wms.example.comwms.example.com"}},
		{"${_x1}", interpolation{value: "lower"}},
		{"${EMPTY}", interpolation{value: ""}},
		// ${VAR:-default}: the default replaces an unset or empty value.
		{"${PORT:-8080}", interpolation{value: "8080"}},
		{"${HOST:-localhost}", interpolation{value: "wms.example.com"}},
		{"${EMPTY:-fallback}", interpolation{value: "fallback"}},
		{"${PORT:-}", interpolation{value: ""}},
		{"${URL:-http://a:b@c/d?e=f&g=h}/x", interpolation{value: "http://a:b@c/d?e=f&g=h/x"}},
		{"${PORT:-:-}", interpolation{value: ":-"}},
		{"${PORT:-a}b}", interpolation{value: "ab}"}},
		// $${ is a literal ${.
		{"$${HOST}", interpolation{value: "${HOST}"}},
		{"a $${ b", interpolation{value: "a ${ b"}},
		{"$${HOST}-${HOST}", interpolation{value: "${HOST}-wms.example.com"}},
		{"${HOST}$${HOST}", interpolation{value: "wms.example.com${HOST}"}},
		// Unset without a default: listed, in order, and expanded to "".
		{"${NOPE}", interpolation{value: "", unset: []string{"NOPE"}}},
		{"a-${NOPE}-${ALSO_NOPE}-${NOPE}", interpolation{value: "a---", unset: []string{"NOPE", "ALSO_NOPE", "NOPE"}}},
		// Malformed: the first bad reference, as written.
		{"${", interpolation{bad: "${"}},
		{"x ${HOST", interpolation{bad: "${HOST"}},
		{"${}", interpolation{bad: "${}"}},
		{"${1HOST}", interpolation{bad: "${1HOST}"}},
		{"${HOST-NAME}", interpolation{bad: "${HOST-NAME}"}},
		{"${ HOST }", interpolation{bad: "${ HOST }"}},
		{"${HOST:default}", interpolation{bad: "${HOST:default}"}},
		{"${HÖST}", interpolation{bad: "${HÖST}"}},
		{"${:-x}", interpolation{bad: "${:-x}"}},
		{"${HOST} ${bad name}", interpolation{bad: "${bad name}"}},
		{"${A:-${B}}", interpolation{bad: "${A:-${B}"}},
		// A variable whose name says secret marks the value secret, set
		// or not.
		{"Bearer ${SECRET_TOKEN}", interpolation{value: "Bearer s3cr3t", secret: true, secrets: []string{"s3cr3t"}}},
		{"${WMS_PASSWORD:-changeme}", interpolation{value: "changeme", secret: true}},
		{"${SHOPIFY_API_KEY}", interpolation{value: "", secret: true, unset: []string{"SHOPIFY_API_KEY"}}},
		{"$${SECRET_TOKEN}", interpolation{value: "${SECRET_TOKEN}"}},
	} {
		got := interpolate(tc.in, env)
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(interpolation{})); diff != "" {
			t.Errorf("interpolate(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"SECRET_TOKEN":           true,
		"SHOPIFY_WEBHOOK_SECRET": true,
		"WMS_TOKEN":              true,
		"DB_PASSWORD":            true,
		"FTP_PASSWD":             true,
		"ERP_API_KEY":            true,
		"STRIPE_APIKEY":          true,
		"PRIVATE_KEY_PEM":        true,
		"GCP_CREDENTIALS":        true,
		"wms_token":              true,
		"Api_Key":                true,
		"WMS_URL":                false,
		"STORE_URL":              false,
		"DEAD_LETTERS":           false,
		"KEY":                    false,
		"API":                    false,
		"SECRE":                  false,
	} {
		if got := isSecretName(name); got != want {
			t.Errorf("isSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestInterpolatedSettings checks interpolation as the loader applies it: a
// setting read from a secret variable is marked secret, unset variables
// are warnings and malformed references errors, at the setting, and a
// secret written in the file is an error.
func TestInterpolatedSettings(t *testing.T) {
	reg := component.NewRegistry()
	reg.Add(&component.Spec{Kind: "out", Section: component.SinkSection, Summary: "A test sink.",
		Config: &component.Field{Kind: component.ObjectField, Doc: "settings", Fields: []*component.Field{
			{Name: "url", Kind: component.StringField, Doc: "url"},
			{Name: "token", Kind: component.StringField, Doc: "token"},
			{Name: "key", Kind: component.StringField, Secret: true, Doc: "a secret by its field"},
			{Name: "tries", Kind: component.IntField, Doc: "tries"},
		}}})
	src := "pipeline: p\n" +
		"sinks:\n" +
		"  o:\n" +
		"    from: o.error\n" +
		"    out:\n" +
		"      url: https://${HOST}/${NOPE}\n" +
		"      token: \"Bearer ${SECRET_TOKEN}\"\n" +
		"      key: literal\n" +
		"      tries: ${TRIES:-3}\n"
	f, ds := LoadBytes("p.yaml", []byte(src), LoadOptions{Registry: reg, LookupEnv: env})
	var codes []string
	for _, d := range ds {
		codes = append(codes, d.Subject.Start.String()+" "+d.Code)
	}
	// A secret setting written as a literal is an error: secrets come from
	// the environment. It is still read, and still marked secret.
	if diff := cmp.Diff([]string{"p.yaml:6:12 " + CodeEnvUnset, "p.yaml:8:12 " + CodeSecretLiteral}, codes); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	cfg := f.Entries[0].Config
	for key, want := range map[string]struct {
		str    string
		secret bool
	}{
		"url":   {"", false}, // an unset variable leaves the setting unread
		"token": {"Bearer s3cr3t", true},
		"key":   {"literal", true},
	} {
		v := cfg.Get(key)
		if v == nil || v.Str != want.str || v.Secret != want.secret {
			t.Errorf("%s = %+v, want Str %q, Secret %v", key, v, want.str, want.secret)
		}
	}
	if tries := cfg.Get("tries"); tries == nil || tries.Int != 3 {
		t.Errorf("tries = %+v, want 3 from the default", tries)
	}
	if got := cfg.Get("token").Display(); strings.Contains(got, "s3cr3t") {
		t.Errorf("a secret setting displays as %q", got)
	}
}

// FuzzInterpolate checks that interpolation never panics and that what it
// reports is consistent with its input.
func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{"", "${HOST}", "$${HOST}", "${A:-b}", "${", "${}", "$$${A}", "${A:-${B}}", "${SECRET_TOKEN}x${NOPE}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := interpolate(s, env)
		if !strings.Contains(s, "${") && (got.value != s || got.secret || got.unset != nil || got.bad != "") {
			t.Fatalf("interpolate(%q) = %+v, but there is nothing to expand", s, got)
		}
		if got.bad != "" && (!strings.Contains(s, got.bad) || !strings.HasPrefix(got.bad, "${")) {
			t.Fatalf("interpolate(%q) reports %q as malformed, which is not a reference in it", s, got.bad)
		}
		for _, name := range got.unset {
			if !validVarName(name) || !strings.Contains(s, "${"+name+"}") {
				t.Fatalf("interpolate(%q) reports %q unset, which it does not reference", s, name)
			}
		}
	})
}
