package connectors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/tidwall/gjson"
)

// defaultMaxBody is the largest webhook body accepted unless `max_body`
// says otherwise: 10 MiB, far above the largest order a shop sends.
const defaultMaxBody = 10 << 20

// Headers the webhook schemes sign with and identify deliveries by.
const (
	shopifySignature = "X-Shopify-Hmac-Sha256"
	shopifyTopic     = "X-Shopify-Topic"
	shopifyEventID   = "X-Shopify-Event-Id"
	shopifyWebhookID = "X-Shopify-Webhook-Id"
	wooSignature     = "X-WC-Webhook-Signature"
	wooTopic         = "X-WC-Webhook-Topic"
	wooResource      = "X-WC-Webhook-Resource"
)

// webhookTrigger is a built webhook trigger: component.Webhook.
type webhookTrigger struct {
	path, method string
	verify       string   // "shopify", "woocommerce" or "none"
	secrets      [][]byte // the keys signatures are checked with, as the shop signs
	maxBody      int64
}

func newWebhookTrigger(ctx component.BuildContext) (component.Trigger, error) {
	cfg := ctx.Config
	w := &webhookTrigger{
		path:    strSetting(cfg, "path", ""),
		method:  strSetting(cfg, "method", http.MethodPost),
		verify:  strSetting(cfg, "verify", "none"),
		maxBody: intSetting(cfg, "max_body", defaultMaxBody),
	}
	if w.path == "" || w.path[0] != '/' {
		return nil, component.SettingErrorf(cfg.Get("path"), "invalid-value", "webhook trigger %q: path must start with /", ctx.Name)
	}
	if w.maxBody <= 0 {
		return nil, component.SettingErrorf(cfg.Get("max_body"), "invalid-value", "webhook trigger %q: max_body must be a positive number of bytes", ctx.Name)
	}
	if w.verify == "none" {
		return w, nil
	}
	sv := cfg.Get("secret")
	if sv == nil || len(sv.List) == 0 {
		return nil, component.SettingErrorf(cfg.Get("verify"), "missing-field", "webhook trigger %q: verify: %s needs `secret`", ctx.Name, w.verify)
	}
	for i, s := range sv.List {
		// An empty key signs anything anyone can compute: refuse it
		// rather than accept forged requests. The value is never shown.
		if s.Unresolved || s.Str == "" {
			return nil, component.SettingErrorf(s, "missing-field", "webhook trigger %q: secret %d of %d is empty: set the environment variable it reads", ctx.Name, i+1, len(sv.List))
		}
		key := s.Str
		if w.verify == "woocommerce" {
			key = wpSpecialcharsDecode(key)
		}
		w.secrets = append(w.secrets, []byte(key))
	}
	return w, nil
}

func strSetting(cfg *component.Value, key, def string) string {
	if v := cfg.Get(key); v != nil && v.Str != "" {
		return v.Str
	}
	return def
}

func (w *webhookTrigger) TriggerKind() string { return "webhook" }
func (w *webhookTrigger) Path() string        { return w.path }
func (w *webhookTrigger) Method() string      { return w.method }
func (w *webhookTrigger) MaxBody() int64      { return w.maxBody }

// signatureHeader is the header the trigger's scheme signs in, "" for none.
func (w *webhookTrigger) signatureHeader() string {
	switch w.verify {
	case "shopify":
		return shopifySignature
	case "woocommerce":
		return wooSignature
	}
	return ""
}

// Verify checks the signature header against HMAC-SHA256 of the raw body
// under every secret. Both Shopify and WooCommerce send the digest in
// standard base64; the header is decoded and the bytes compared with
// hmac.Equal, so the comparison takes the same time wherever the first
// wrong byte is. Every secret is tried, matched or not.
func (w *webhookTrigger) Verify(h http.Header, body []byte) error {
	name := w.signatureHeader()
	if name == "" {
		return nil
	}
	sig := h.Get(name)
	if sig == "" {
		return fmt.Errorf("%w: no %s header", component.ErrUnsigned, name)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a base64 HMAC-SHA256", component.ErrBadSignature, name)
	}
	ok := false
	for _, key := range w.secrets {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: %s does not match the body under any configured secret", component.ErrBadSignature, name)
	}
	return nil
}

// Ping reports WooCommerce's check of a new webhook's URL: when a webhook
// is saved, WooCommerce posts the unsigned form body `webhook_id=N` and
// refuses to save the webhook unless the answer is 200. A Shopify trigger
// has no such request, and a signed request is never a ping.
func (w *webhookTrigger) Ping(h http.Header, body []byte) bool {
	if w.verify == "shopify" || h.Get(wooSignature) != "" || h.Get(shopifySignature) != "" {
		return false
	}
	id, ok := bytes.CutPrefix(body, []byte("webhook_id="))
	if !ok || len(id) == 0 || len(id) > 20 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// EventID keys a delivery so that a repeat of it is queued once.
//
// Shopify names each event in X-Shopify-Event-Id (X-Shopify-Webhook-Id,
// the same across retries of one delivery, on older deliveries without it).
// WooCommerce's X-WC-Webhook-Delivery-ID is a hash of the webhook id and
// the current second, so two different events in one second share it: the
// key is instead the topic, the resource and its id and date_modified_gmt,
// which name one version of one resource. Without those (a deletion's body
// is only {"id": N}) and for unverified webhooks, the key is the body's
// SHA-256: a repeated delivery repeats the body byte for byte.
func (w *webhookTrigger) EventID(h http.Header, body []byte) string {
	switch w.verify {
	case "shopify":
		id := h.Get(shopifyEventID)
		if id == "" {
			id = h.Get(shopifyWebhookID)
		}
		if id != "" {
			return "shopify:" + h.Get(shopifyTopic) + ":" + id
		}
		return "shopify:" + h.Get(shopifyTopic) + ":" + bodyHash(body)
	case "woocommerce":
		topic := h.Get(wooTopic)
		if gjson.ValidBytes(body) {
			id := gjson.GetBytes(body, "id")
			mod := gjson.GetBytes(body, "date_modified_gmt")
			if (id.Type == gjson.Number || id.Type == gjson.String) && id.String() != "" && mod.Type == gjson.String && mod.Str != "" {
				return "woocommerce:" + topic + ":" + h.Get(wooResource) + ":" + id.String() + ":" + mod.Str
			}
		}
		return "woocommerce:" + topic + ":" + bodyHash(body)
	}
	return bodyHash(body)
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// wpSpecialcharsDecode undoes the HTML escaping WordPress applies to the
// webhook secret WooCommerce stores, exactly as WooCommerce does before
// signing (wp_specialchars_decode($secret, ENT_QUOTES)): it turns &amp;,
// &lt;, &gt;, &quot; and the numeric forms of &, <, >, " and ' (zero
// padding allowed) back into characters, in one pass, and leaves every
// other entity alone. html.UnescapeString is not the same: it decodes every
// HTML entity, including legacy ones without a semicolon, so a generated
// secret containing "&lt" or "&copy;" (wp_generate_password uses & and ;)
// would be changed where WooCommerce keeps it, and no delivery would verify.
func wpSpecialcharsDecode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '&' {
			if c, n := specialcharEntity(s[i:]); n > 0 {
				b.WriteByte(c)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// specialcharEntity reads one entity wp_specialchars_decode decodes at the
// start of s: the character and the entity's length, or 0.
func specialcharEntity(s string) (byte, int) {
	for name, c := range map[string]byte{"&amp;": '&', "&lt;": '<', "&gt;": '>', "&quot;": '"'} {
		if strings.HasPrefix(s, name) {
			return c, len(name)
		}
	}
	if !strings.HasPrefix(s, "&#") {
		return 0, 0
	}
	i := 2
	codes := map[string]byte{"39": '\'', "34": '"', "60": '<', "62": '>', "38": '&'}
	if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
		// WordPress decodes the hexadecimal forms of ', " and & only.
		i++
		codes = map[string]byte{"27": '\'', "22": '"', "26": '&'}
	}
	for i < len(s) && s[i] == '0' {
		i++
	}
	end := strings.IndexByte(s[i:], ';')
	if end < 0 {
		return 0, 0
	}
	if c, ok := codes[s[i:i+end]]; ok {
		return c, i + end + 1
	}
	return 0, 0
}
