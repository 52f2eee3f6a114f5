package connectors_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/tidwall/gjson"
)

// webhookPipeline is a pipeline whose event source waits for a webhook
// trigger with the given settings (a YAML flow mapping).
func webhookPipeline(settings string) string {
	return `pipeline: hooks
triggers:
  hook:
    webhook: ` + settings + `
sources:
  orders:
    trigger: hook
    event: {}
sinks:
  out:
    from: orders
    stdout: {}
`
}

// buildWebhook compiles a pipeline around a webhook trigger and builds the
// trigger as serve will.
func buildWebhook(t testing.TB, settings string, env map[string]string) component.Webhook {
	t.Helper()
	opts := compileOptions(env)
	f, ds := pipelines.LoadBytes("pipeline.yaml", []byte(webhookPipeline(settings)), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if ds = append(ds, cds...); ds.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", ds)
	}
	if len(p.Triggers) != 1 {
		t.Fatalf("plan has %d triggers, want 1", len(p.Triggers))
	}
	n := p.Triggers[0]
	tr, err := n.Spec.NewTrigger(component.BuildContext{Name: n.Name, Config: n.Config})
	if err != nil {
		t.Fatalf("build trigger: %v", err)
	}
	w, ok := tr.(component.Webhook)
	if !ok {
		t.Fatalf("webhook trigger builds a %T, not a component.Webhook", tr)
	}
	return w
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func sign(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestShopifyVectors checks the published go-shopify vector (DOMAIN §3.2):
// the body is the JSON string, quotes included.
func TestShopifyVectors(t *testing.T) {
	w := buildWebhook(t, `{path: /hooks/shopify, verify: shopify, secret: "${SHOPIFY_WEBHOOK_SECRET}"}`,
		map[string]string{"SHOPIFY_WEBHOOK_SECRET": "hush"})
	const good = "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI="
	if err := w.Verify(header("X-Shopify-Hmac-Sha256", good), []byte(`"my secret message"`)); err != nil {
		t.Errorf("published vector: %v", err)
	}
	err := w.Verify(header("X-Shopify-Hmac-Sha256", good), []byte(`"my invalid message"`))
	if !errors.Is(err, component.ErrBadSignature) {
		t.Errorf("invalid message under the good header: %v, want ErrBadSignature", err)
	}
	invalid, _ := hex.DecodeString("ac3560a67dd9ed3f46cf1807856b78f27c9543b5ae98f5292d8eccf6252254f0")
	if err := w.Verify(header("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(invalid)), []byte(`"my invalid message"`)); err != nil {
		t.Errorf("invalid message under its own digest: %v", err)
	}
	if err := w.Verify(header("X-Shopify-Hmac-Sha256", "7/WDe43pNWxHoCMD7ukeWbZMtWEMfYQy8wPrdA6jiwc="), []byte(`my secret message`)); err != nil {
		t.Errorf("unquoted vector: %v", err)
	}
}

// TestWooCommerceVectors checks DOMAIN §3.2's vectors, among them a secret
// WooCommerce stores escaped and signs with unescaped.
func TestWooCommerceVectors(t *testing.T) {
	cases := []struct {
		secret, sig string
		ok          bool
	}{
		{"secret", "A971iWIMgT8Zj9A9eWfikrFj7wQ16/Qwcc4OlRl2PLc=", true},
		{"a&amp;b", "DZZ3mhyNjKxgGYJPujiR4ZGjbQJd9qbIQuhcMQ11PTE=", true},
		{"a&b", "DZZ3mhyNjKxgGYJPujiR4ZGjbQJd9qbIQuhcMQ11PTE=", true}, // the secret as typed
		{"a&amp;b", "wFkif9W0p9iFrSrPziBUOplmp9wyLYoXWO2wnc5UpwQ=", false},
	}
	for _, c := range cases {
		w := buildWebhook(t, `{path: /hooks/wc, verify: woocommerce, secret: "${WC_WEBHOOK_SECRET}"}`,
			map[string]string{"WC_WEBHOOK_SECRET": c.secret})
		err := w.Verify(header("X-WC-Webhook-Signature", c.sig), []byte(`{"id":1}`))
		if c.ok && err != nil {
			t.Errorf("secret %q, signature %s: %v", c.secret, c.sig, err)
		}
		if !c.ok && !errors.Is(err, component.ErrBadSignature) {
			t.Errorf("secret %q, signature %s: %v, want ErrBadSignature", c.secret, c.sig, err)
		}
	}
}

// TestWooCommerceSecretDecoding pins the decoding to WordPress's
// wp_specialchars_decode(ENT_QUOTES): the five special characters in any
// form it knows, once, and nothing else.
func TestWooCommerceSecretDecoding(t *testing.T) {
	cases := []struct{ configured, signedWith string }{
		{"&lt;&gt;&quot;&#039;&amp;", `<>"'&`},
		{"&#39;&#0039;&#x27;&#X0027;&#34;&#x22;&#60;&#62;&#38;&#x26;", `''''""<>&&`},
		{"&amp;lt;", "&lt;"},                 // one pass
		{"x&ltz&gt", "x&ltz&gt"},             // no semicolon: not an entity to WordPress
		{"&copy;&eacute;", "&copy;&eacute;"}, // other named entities are kept
		{"&#65;&#x3c;", "&#65;&#x3c;"},       // other numeric ones too, hex < included
		{"&&amp;;", "&&;"},
	}
	body := `{"id":7}`
	for _, c := range cases {
		w := buildWebhook(t, `{path: /hooks/wc, verify: woocommerce, secret: "${WC_WEBHOOK_SECRET}"}`,
			map[string]string{"WC_WEBHOOK_SECRET": c.configured})
		if err := w.Verify(header("X-WC-Webhook-Signature", sign(c.signedWith, body)), []byte(body)); err != nil {
			t.Errorf("secret %q should sign with %q: %v", c.configured, c.signedWith, err)
		}
	}
	// Shopify takes its secret as it is.
	w := buildWebhook(t, `{path: /hooks/s, verify: shopify, secret: "${S}"}`, map[string]string{"S": "a&amp;b"})
	if err := w.Verify(header("X-Shopify-Hmac-Sha256", sign("a&amp;b", body)), []byte(body)); err != nil {
		t.Errorf("shopify secret changed: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	w := buildWebhook(t, `{path: /hooks/shopify, verify: shopify, secret: "${S}"}`, map[string]string{"S": "hush"})
	body := []byte(`"my secret message"`)
	cases := []struct {
		name string
		h    http.Header
		want error
	}{
		{"no header", header(), component.ErrUnsigned},
		{"the other scheme's header", header("X-WC-Webhook-Signature", sign("hush", string(body))), component.ErrUnsigned},
		{"empty header", header("X-Shopify-Hmac-Sha256", ""), component.ErrUnsigned},
		{"not base64", header("X-Shopify-Hmac-Sha256", "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpK!="), component.ErrBadSignature},
		{"hex, not base64", header("X-Shopify-Hmac-Sha256", "84c4ead0adb1ee8c8e8e8070198793e79a317e7695617cdb6a7506f5a6a3a4a2"), component.ErrBadSignature},
		{"too short", header("X-Shopify-Hmac-Sha256", "hMTq0K2x7oyOjoBwGYeTj5ox"), component.ErrBadSignature},
		{"another secret", header("X-Shopify-Hmac-Sha256", sign("hush2", string(body))), component.ErrBadSignature},
	}
	for _, c := range cases {
		err := w.Verify(c.h, body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hush") {
			t.Errorf("%s: the error shows the secret: %v", c.name, err)
		}
	}
	none := buildWebhook(t, `{path: /hooks/any}`, nil)
	if err := none.Verify(header(), []byte("anything")); err != nil {
		t.Errorf("verify: none refused a request: %v", err)
	}
}

// TestSecretRotation: while a secret is rotated both sign, and a request
// is checked against each.
func TestSecretRotation(t *testing.T) {
	env := map[string]string{"NEW": "new-secret", "OLD": "old-secret"}
	w := buildWebhook(t, `{path: /hooks/wc, verify: woocommerce, secret: ["${NEW}", "${OLD}"]}`, env)
	body := `{"id":1}`
	for _, key := range []string{"new-secret", "old-secret"} {
		if err := w.Verify(header("X-WC-Webhook-Signature", sign(key, body)), []byte(body)); err != nil {
			t.Errorf("signed with %s: %v", key, err)
		}
	}
	if err := w.Verify(header("X-WC-Webhook-Signature", sign("other", body)), []byte(body)); !errors.Is(err, component.ErrBadSignature) {
		t.Errorf("signed with neither: %v, want ErrBadSignature", err)
	}
	// A one-element list and a plain string mean the same.
	for _, s := range []string{`["${NEW}"]`, `"${NEW}"`, "\n      - ${NEW}"} {
		settings := `{path: /hooks/wc, verify: woocommerce, secret: ` + s + `}`
		if strings.HasPrefix(s, "\n") {
			settings = "\n      path: /hooks/wc\n      verify: woocommerce\n      secret:" + s
		}
		w := buildWebhook(t, settings, env)
		if err := w.Verify(header("X-WC-Webhook-Signature", sign("new-secret", body)), []byte(body)); err != nil {
			t.Errorf("secret: %s: %v", s, err)
		}
	}
}

// TestWebhookSettingErrors: what the loader and the constructor refuse,
// and that no message shows a secret.
func TestWebhookSettingErrors(t *testing.T) {
	cases := []struct {
		settings, code string
	}{
		{`{path: /h, verify: shopify}`, "missing-field"},
		{`{path: /h, verify: woocommerce, secret: []}`, "missing-field"},
		{`{path: /h, verify: shopify, secret: hush-literal}`, pipelines.CodeSecretLiteral},
		{`{path: /h, verify: shopify, secret: ["${S}", hush-literal]}`, pipelines.CodeSecretLiteral},
		{`{path: /h, max_body: 0}`, "invalid-value"},
		{`{path: /h, max_body: 10MiB}`, "wrong-type"},
		{`{path: h}`, "invalid-value"},
	}
	for _, c := range cases {
		_, ds := diagnose(t, webhookPipeline(c.settings), map[string]string{"S": "hush"})
		found := false
		for _, d := range ds {
			found = found || d.Code == c.code
			if strings.Contains(d.String(), "hush-literal") {
				t.Errorf("%s: a message shows the secret: %s", c.settings, d)
			}
		}
		if !found {
			t.Errorf("%s: no %s diagnostic in %v", c.settings, c.code, ds)
		}
	}

	// A secret read from an unset variable is a warning when validating,
	// and the trigger is not built with an empty key.
	opts := compileOptions(nil)
	f, _ := pipelines.LoadBytes("pipeline.yaml", []byte(webhookPipeline(`{path: /h, verify: shopify, secret: ["${S}"]}`)), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if cds.HasErrors() {
		t.Fatalf("compile: %v", cds)
	}
	n := p.Triggers[0]
	_, err := n.Spec.NewTrigger(component.BuildContext{Name: n.Name, Config: n.Config})
	var se *component.SettingError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("trigger with an unset secret built: %v, want a SettingError saying it is empty", err)
	}
}

func TestWebhookSettings(t *testing.T) {
	w := buildWebhook(t, `{path: /hooks/a}`, nil)
	if w.Path() != "/hooks/a" || w.Method() != "POST" || w.MaxBody() != 10<<20 || w.TriggerKind() != "webhook" {
		t.Errorf("defaults: path %q method %q max body %d kind %q", w.Path(), w.Method(), w.MaxBody(), w.TriggerKind())
	}
	w = buildWebhook(t, `{path: /hooks/b, method: PUT, max_body: 1024}`, nil)
	if w.Path() != "/hooks/b" || w.Method() != "PUT" || w.MaxBody() != 1024 {
		t.Errorf("set: path %q method %q max body %d", w.Path(), w.Method(), w.MaxBody())
	}
	// max_body may come from the environment.
	w = buildWebhook(t, `{path: /hooks/c, max_body: "${MAX_BODY}"}`, map[string]string{"MAX_BODY": "2048"})
	if w.MaxBody() != 2048 {
		t.Errorf("max_body from the environment: %d", w.MaxBody())
	}
}

func TestPing(t *testing.T) {
	wc := buildWebhook(t, `{path: /h, verify: woocommerce, secret: "${S}"}`, map[string]string{"S": "s"})
	none := buildWebhook(t, `{path: /h}`, nil)
	shop := buildWebhook(t, `{path: /h, verify: shopify, secret: "${S}"}`, map[string]string{"S": "s"})
	form := header("Content-Type", "application/x-www-form-urlencoded")
	cases := []struct {
		w    component.Webhook
		name string
		h    http.Header
		body string
		want bool
	}{
		{wc, "woocommerce ping", form, "webhook_id=42", true},
		{wc, "ping without a content type", header(), "webhook_id=7", true},
		{none, "unverified trigger", form, "webhook_id=42", true},
		{shop, "shopify has no ping", form, "webhook_id=42", false},
		{wc, "signed", header("X-WC-Webhook-Signature", sign("s", "webhook_id=42")), "webhook_id=42", false},
		{wc, "more fields", form, "webhook_id=42&x=1", false},
		{wc, "no id", form, "webhook_id=", false},
		{wc, "not digits", form, "webhook_id=4a", false},
		{wc, "negative", form, "webhook_id=-4", false},
		{wc, "trailing newline", form, "webhook_id=4\n", false},
		{wc, "an order", header(), `{"id":42}`, false},
		{wc, "empty", header(), "", false},
	}
	for _, c := range cases {
		if got := c.w.Ping(c.h, []byte(c.body)); got != c.want {
			t.Errorf("%s: Ping = %v, want %v", c.name, got, c.want)
		}
	}
	// A ping would not pass Verify: serve must ask Ping first.
	if err := wc.Verify(form, []byte("webhook_id=42")); !errors.Is(err, component.ErrUnsigned) {
		t.Errorf("Verify of a ping: %v, want ErrUnsigned", err)
	}
}

func TestShopifyEventID(t *testing.T) {
	w := buildWebhook(t, `{path: /h, verify: shopify, secret: "${S}"}`, map[string]string{"S": "s"})
	body, err := os.ReadFile("../../shared/fixtures/go-shopify/order.json")
	if err != nil {
		body = []byte(`{"id":450789469}`)
	}
	h := header("X-Shopify-Topic", "orders/create", "X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5", "X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
	if got, want := w.EventID(h, body), "shopify:orders/create:98880550-7158-44d4-b7cd-2c97c8a091b5"; got != want {
		t.Errorf("EventID = %q, want %q", got, want)
	}
	// A retry is a new delivery of the same event: same Event-Id, new
	// Triggered-At and Webhook-Id.
	retry := h.Clone()
	retry.Set("X-Shopify-Webhook-Id", "0a6c3c94-bb6c-4d39-a2a3-1c0e8f70f1a7")
	retry.Set("X-Shopify-Triggered-At", "2026-03-01T09:35:00Z")
	if w.EventID(retry, body) != w.EventID(h, body) {
		t.Errorf("a retry has another key: %q, %q", w.EventID(retry, body), w.EventID(h, body))
	}
	h.Del("X-Shopify-Event-Id")
	if got, want := w.EventID(h, body), "shopify:orders/create:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"; got != want {
		t.Errorf("without Event-Id: %q, want %q", got, want)
	}
	// The same id under another topic is another event.
	other := h.Clone()
	other.Set("X-Shopify-Topic", "orders/updated")
	if w.EventID(other, body) == w.EventID(h, body) {
		t.Error("two topics share a key")
	}
	h.Del("X-Shopify-Webhook-Id")
	if got := w.EventID(h, body); !strings.HasPrefix(got, "shopify:orders/create:sha256:") {
		t.Errorf("without ids: %q, want the body's hash", got)
	}
}

// TestWooCommerceEventID reads a real WooCommerce order (GPL test data,
// read in place) as the body of order.updated deliveries.
func TestWooCommerceEventID(t *testing.T) {
	raw, err := os.ReadFile("../../shared/fixtures/woocommerce-ios/order.json")
	if err != nil {
		t.Skipf("WooCommerce fixtures not here: %v", err)
	}
	order := []byte(gjson.GetBytes(raw, "data").Raw) // strip the WordPress.com envelope
	w := buildWebhook(t, `{path: /h, verify: woocommerce, secret: "${S}"}`, map[string]string{"S": "s"})
	h := header("X-WC-Webhook-Topic", "order.updated", "X-WC-Webhook-Resource", "order", "X-WC-Webhook-Delivery-ID", "5b6ba2d62b2e3d1ed8b9fc5e5a1c5f6d")
	got := w.EventID(h, order)
	if want := "woocommerce:order.updated:order:963:2018-04-03T23:05:14"; got != want {
		t.Errorf("EventID = %q, want %q", got, want)
	}
	// A repeat has another Delivery-ID and the same key.
	again := h.Clone()
	again.Set("X-WC-Webhook-Delivery-ID", "0e7c3d3bd3e2a8e44e2c0df3f1a4a9b1")
	if w.EventID(again, order) != got {
		t.Errorf("a repeated delivery has another key")
	}
	// The order changed: a new version, a new key.
	changed := []byte(strings.Replace(string(order), `"date_modified_gmt": "2018-04-03T23:05:14"`, `"date_modified_gmt": "2018-04-03T23:06:00"`, 1))
	if string(changed) == string(order) {
		t.Fatal("fixture has no date_modified_gmt to change")
	}
	if w.EventID(h, changed) == got {
		t.Error("two versions of an order share a key")
	}
	// A deletion's body is the id alone: its hash is the key.
	del := header("X-WC-Webhook-Topic", "order.deleted", "X-WC-Webhook-Resource", "order")
	k1, k2 := w.EventID(del, []byte(`{"id":963}`)), w.EventID(del, []byte(`{"id":964}`))
	if !strings.HasPrefix(k1, "woocommerce:order.deleted:sha256:") || k1 == k2 {
		t.Errorf("deletion keys %q, %q", k1, k2)
	}
	if got := w.EventID(h, []byte("not json")); !strings.HasPrefix(got, "woocommerce:order.updated:sha256:") {
		t.Errorf("a body that is not JSON: %q", got)
	}
}

func TestUnverifiedEventID(t *testing.T) {
	w := buildWebhook(t, `{path: /h}`, nil)
	a, b := w.EventID(header(), []byte(`{"id":1}`)), w.EventID(header("X-Shopify-Event-Id", "x"), []byte(`{"id":1}`))
	if a != b || a != "sha256:"+hex.EncodeToString(sha256Sum(`{"id":1}`)) {
		t.Errorf("unverified keys %q, %q; want the body's hash", a, b)
	}
	if w.EventID(header(), []byte(`{"id":2}`)) == a {
		t.Error("two bodies share a key")
	}
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
