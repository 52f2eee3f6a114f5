package state

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzHeaderRoundTrip: a header stored and read back is the header kept
// (valid UTF-8 exactly), and encoding/json reads the stored form the same.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add("X-Shopify-Hmac-Sha256", "abc=", "Content-Type", "application/json")
	f.Add("K", "quote \" back \\ slash", "Ctl", "tab\there\x01")
	f.Add("É", "ünï", "bad", "\xff")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{k1: {v1, v2}, k2: {v2}}
		stored := encodeHeader(h)
		got, err := decodeHeader(stored)
		if err != nil {
			t.Fatalf("reading back %s: %v", stored, err)
		}
		var viaJSON http.Header
		if err := json.Unmarshal([]byte(stored), &viaJSON); err != nil {
			t.Fatal(err)
		}
		if valid(k1, v1, k2, v2) && !reflect.DeepEqual(got, h) {
			t.Fatalf("read back %#v, kept %#v", got, h)
		}
		if !reflect.DeepEqual(got, viaJSON) {
			t.Fatalf("read back %#v, encoding/json reads %#v", got, viaJSON)
		}
	})
}

func valid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
