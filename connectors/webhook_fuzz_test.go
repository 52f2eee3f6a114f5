package connectors_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
)

// FuzzWebhookIntake feeds webhook triggers of every scheme arbitrary
// headers and bodies. Verify, Ping and EventID must never panic, and
// EventID must key the same request the same way; a body signed with any
// configured secret must verify, must not be taken for a ping, and must no
// longer verify once one of its bytes is changed or removed.
func FuzzWebhookIntake(f *testing.F) {
	env := map[string]string{"NEW": "hush", "OLD": "a&amp;b"}
	type scheme struct {
		w      component.Webhook
		header string   // where signatures go, "" for none
		keys   []string // what the shop signs with
	}
	schemes := []scheme{
		{buildWebhook(f, `{path: /s, verify: shopify, secret: ["${NEW}", "${OLD}"]}`, env), "X-Shopify-Hmac-Sha256", []string{"hush", "a&amp;b"}},
		{buildWebhook(f, `{path: /w, verify: woocommerce, secret: ["${NEW}", "${OLD}"]}`, env), "X-WC-Webhook-Signature", []string{"hush", "a&b"}},
		{buildWebhook(f, `{path: /n}`, nil), "", nil},
	}

	f.Add([]byte(`"my secret message"`), "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=", "orders/create", "98880550-7158-44d4-b7cd-2c97c8a091b5", "order", uint16(3))
	f.Add([]byte(`{"id":1}`), "DZZ3mhyNjKxgGYJPujiR4ZGjbQJd9qbIQuhcMQ11PTE=", "order.updated", "", "order", uint16(0))
	f.Add([]byte(`{"id":963,"date_modified_gmt":"2018-04-03T23:05:14"}`), "", "order.updated", "", "order", uint16(700))
	f.Add([]byte("webhook_id=42"), "", "", "", "", uint16(1))
	f.Add([]byte(""), "====", "", "", "", uint16(0))
	f.Add([]byte(`{"id":[],"date_modified_gmt":{}}`), "not base64!", "a:b", "x", "\x00", uint16(65535))

	f.Fuzz(func(t *testing.T, body []byte, sig, topic, id, resource string, at uint16) {
		h := http.Header{}
		for _, name := range []string{"X-Shopify-Hmac-Sha256", "X-WC-Webhook-Signature"} {
			if sig != "" {
				h[name] = []string{sig}
			}
		}
		for name, v := range map[string]string{
			"X-Shopify-Topic": topic, "X-Shopify-Event-Id": id, "X-Shopify-Webhook-Id": id,
			"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
		} {
			if v != "" {
				h[name] = []string{v}
			}
		}
		for _, s := range schemes {
			err := s.w.Verify(h, body)
			if err != nil && !errors.Is(err, component.ErrUnsigned) && !errors.Is(err, component.ErrBadSignature) {
				t.Fatalf("%s: Verify returned %v, neither ErrUnsigned nor ErrBadSignature", s.header, err)
			}
			s.w.Ping(h, body)
			key := s.w.EventID(h, body)
			if key == "" || key != s.w.EventID(h.Clone(), bytes.Clone(body)) {
				t.Fatalf("%s: EventID %q is empty or not stable", s.header, key)
			}

			for _, k := range s.keys {
				signed := h.Clone()
				signed.Set(s.header, sign(k, string(body)))
				if err := s.w.Verify(signed, body); err != nil {
					t.Fatalf("%s: a body signed with %q does not verify: %v", s.header, k, err)
				}
				if s.w.Ping(signed, body) {
					t.Fatalf("%s: a signed request was taken for a ping", s.header)
				}
				if len(body) == 0 {
					continue
				}
				i := int(at) % len(body)
				changed := bytes.Clone(body)
				changed[i] ^= 1 + byte(at>>8)%255
				removed := append(bytes.Clone(body[:i]), body[i+1:]...)
				for _, b := range [][]byte{changed, removed} {
					if err := s.w.Verify(signed, b); !errors.Is(err, component.ErrBadSignature) {
						t.Fatalf("%s: body %q changed at byte %d verifies: %v", s.header, b, i, err)
					}
				}
			}
		}
	})
}
