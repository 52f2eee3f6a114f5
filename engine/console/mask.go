package console

import (
	"bytes"
	"encoding/json"
	"strings"
)

// piiKeys are the fields whose values a viewer does not see: who a
// customer is and where they live (Shopify and WooCommerce names).
var piiKeys = map[string]bool{
	"email": true, "phone": true, "first_name": true, "last_name": true, "name": true, "company": true,
	"address1": true, "address2": true, "address_1": true, "address_2": true, "zip": true, "postcode": true,
	"postal_code": true, "contact_email": true, "customer_email": true, "billing_email": true,
	"latitude": true, "longitude": true, "browser_ip": true,
}

// maskedValue stands for a hidden value.
const maskedValue = "•••"

// showPayload is a payload for display: indented JSON, with PII values
// replaced when mask is set; bytes that are not JSON are shown as they
// are, or hidden whole when masking (they may hold anything).
func showPayload(b []byte, mask bool) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		if mask {
			return "(not JSON; hidden from viewers)"
		}
		return string(b)
	}
	if mask {
		v = maskPII(v, "")
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out)
}

// maskJSON is b with its PII values masked, compact; bytes that are not
// JSON are hidden whole.
func maskJSON(b []byte) []byte {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		out, _ := json.Marshal("(hidden from viewers)")
		return out
	}
	out, err := json.Marshal(maskPII(v, ""))
	if err != nil {
		return []byte(`"(hidden from viewers)"`)
	}
	return out
}

// maskPII replaces the values of PII keys, at any depth. A "name" is PII
// only inside an address or customer object (a line item's name is not).
func maskPII(v any, parent string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			lk := strings.ToLower(k)
			personal := piiKeys[lk] && (lk != "name" || strings.Contains(parent, "address") || strings.Contains(parent, "customer") || parent == "billing" || parent == "shipping")
			if personal {
				if _, isObj := x.(map[string]any); !isObj && x != nil {
					v[k] = maskedValue
					continue
				}
			}
			v[k] = maskPII(x, lk)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = maskPII(x, parent)
		}
		return v
	}
	return v
}
