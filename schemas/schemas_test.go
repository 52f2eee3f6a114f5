package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/pipectl/pipectl/schemas"
)

// fixturesDir holds the real payloads of ../shared/fixtures (see its
// SOURCES.md), seen from this package's directory. They are read in place:
// the WooCommerce ones are GPL-2.0 and must not be copied into the project.
const fixturesDir = "../../shared/fixtures"

// payloadSchemas are the commerce payload schemas this file covers.
var payloadSchemas = []string{"shopify/order", "woocommerce/order"}

// requireFixtures returns the fixtures directory, or skips the test when it
// is absent, unless PIPECTL_REQUIRE_SERVICES=1 asks for a failure instead.
func requireFixtures(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat(fixturesDir); err != nil || !fi.IsDir() {
		abs, _ := filepath.Abs(fixturesDir)
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("payload fixtures not found at %s (PIPECTL_REQUIRE_SERVICES=1): lay shared/ beside the checkout", abs)
		}
		t.Skipf("payload fixtures not found at %s: skipping (lay shared/ beside the checkout, or set PIPECTL_REQUIRE_SERVICES=1 to fail instead)", abs)
	}
	return fixturesDir
}

// decode reads JSON keeping numbers exact, so that 1 and 1.5 stay apart.
func decode(t *testing.T, raw []byte, what string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func readFixture(t *testing.T, rel string) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(requireFixtures(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return decode(t, raw, rel)
}

// payload is one document to check and the schema location it must match.
type payload struct {
	name   string // fixture file and JSON pointer, for messages
	schema string // "shopify/order" or "shopify/order#/$defs/line_item"
	doc    any
}

// member unwraps an envelope: {"order": {...}} -> {...}.
func member(t *testing.T, v any, key, what string) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || m[key] == nil {
		t.Fatalf("%s: no %q member at the top", what, key)
	}
	return m[key]
}

// each turns a single document or an array of them into payloads.
func each(t *testing.T, v any, name, schema string) []payload {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		return []payload{{name, schema, v}}
	}
	if len(arr) == 0 {
		t.Fatalf("%s: empty array", name)
	}
	var ps []payload
	for i, d := range arr {
		ps = append(ps, payload{name + "/" + strconv.Itoa(i), schema, d})
	}
	return ps
}

// shopifyOrders are every real Shopify REST order in the fixtures.
func shopifyOrders(t *testing.T) []payload {
	var ps []payload
	for _, f := range []struct{ file, key string }{
		{"go-shopify/order.json", "order"},
		{"go-shopify/order_with_transaction.json", "order"},
		{"go-shopify/orders.json", "orders"},
		{"shopify_python_api/order.json", "order"},
		{"shopify_python_api/orders.json", "orders"},
	} {
		v := member(t, readFixture(t, f.file), f.key, f.file)
		ps = append(ps, each(t, v, f.file+"#/"+f.key, "shopify/order")...)
	}
	return ps
}

// wooOrders are the WooCommerce REST v3 orders in the fixtures, with the
// WordPress.com proxy's {"data": ...} envelope removed. broken-order.json is
// a draft with null dates, no line items and empty _links lists: odd for a
// client model, but still the REST order's shape.
func wooOrders(t *testing.T) []payload {
	var ps []payload
	for _, file := range []string{
		"woocommerce-ios/order.json",
		"woocommerce-ios/order-with-composite-product.json",
		"woocommerce-ios/broken-order.json",
	} {
		v := member(t, readFixture(t, file), "data", file)
		ps = append(ps, each(t, v, file+"#/data", "woocommerce/order")...)
	}
	return ps
}

// shopifyParts are Shopify sub-resources, checked against the $defs the
// order schema embeds them with. drift lists, per fixture, the instance
// locations where the (hand-written) fixture is known to disagree with the
// real API's types; errors anywhere else fail.
type part struct {
	payload
	drift *regexp.Regexp
}

func shopifyParts(t *testing.T) []part {
	// go-shopify's hand-written line item and shipping line fixtures give
	// tax_lines[].price as a JSON number (13.50); the REST API and every
	// order fixture send a string ("3.98").
	numericTaxPrice := regexp.MustCompile(`^/tax_lines/\d+/price$`)
	var ps []part
	add := func(file, key, def string, drift *regexp.Regexp) {
		v := readFixture(t, file)
		name := file
		if key != "" {
			v = member(t, v, key, file)
			name += "#/" + key
		}
		for _, p := range each(t, v, name, "shopify/order#/$defs/"+def) {
			ps = append(ps, part{p, drift})
		}
	}
	add("go-shopify/orderlineitems/valid.json", "", "line_item", numericTaxPrice)
	add("go-shopify/shippinglines/valid.json", "", "shipping_line", numericTaxPrice)
	add("go-shopify/fulfillment.json", "fulfillment", "fulfillment", nil)
	add("shopify_python_api/fulfillment.json", "fulfillment", "fulfillment", nil)
	add("shopify_python_api/refund.json", "refund", "refund", nil)
	add("shopify_python_api/transactions.json", "", "transaction", nil)
	return ps
}

// rawSchema returns an embedded schema's bytes and its decoded form.
func rawSchema(t *testing.T, name string) ([]byte, map[string]any) {
	t.Helper()
	raw, ok := schemas.Lookup(name)
	if !ok {
		t.Fatalf("schemas.Lookup(%q): not found", name)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return raw, m
}

// compile compiles "shopify/order" or "shopify/order#/$defs/x" from the
// embedded bytes, against the draft 2020-12 meta-schema.
func compile(t *testing.T, ref string) *jsonschema.Schema {
	t.Helper()
	name, frag, _ := strings.Cut(ref, "#")
	raw, m := rawSchema(t, name)
	id, _ := m["$id"].(string)
	if id == "" {
		t.Fatalf("%s: no $id", name)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(id, bytes.NewReader(raw)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	url := id
	if frag != "" {
		url += "#" + frag
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", ref, err)
	}
	return s
}

// leaves flattens a validation error into its innermost causes.
func leaves(err error) []*jsonschema.ValidationError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func TestSchemasAreEmbedded(t *testing.T) {
	names := schemas.Names()
	for _, name := range payloadSchemas {
		if !slices.Contains(names, name) {
			t.Errorf("schemas.Names() = %v, want it to hold %q", names, name)
		}
		_, m := rawSchema(t, name)
		if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v, want draft 2020-12", name, m["$schema"])
		}
		for _, k := range []string{"$id", "title", "description"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("%s: no %s", name, k)
			}
		}
		if m["type"] != "object" {
			t.Errorf("%s: type = %v, want object", name, m["type"])
		}
		// Closedness is pipectl's own convention: the schemas never say
		// additionalProperties: false, so that other JSON Schema tools
		// keep accepting payloads that grew a field.
		walkSchema(m, "#", func(at string, s map[string]any) {
			if s["additionalProperties"] == false {
				t.Errorf("%s %s: additionalProperties: false", name, at)
			}
			if ref, ok := s["$ref"].(string); ok && resolvePointer(m, ref) == nil {
				t.Errorf("%s %s: $ref %q does not resolve", name, at, ref)
			}
		})
		compile(t, name) // validates the schema against the meta-schema
	}
	if got := schemas.Names(); !slices.IsSorted(got) {
		t.Errorf("schemas.Names() not sorted: %v", got)
	}
}

func TestShopifyOrderFixturesValidate(t *testing.T) {
	s := compile(t, "shopify/order")
	ps := shopifyOrders(t)
	for _, p := range ps {
		if err := s.Validate(p.doc); err != nil {
			t.Errorf("%s: not a valid Shopify order:\n%#v", p.name, err)
		}
	}
	if !t.Failed() {
		t.Logf("%d Shopify orders validated", len(ps))
	}
}

func TestWooCommerceOrderFixturesValidate(t *testing.T) {
	s := compile(t, "woocommerce/order")
	ps := wooOrders(t)
	for _, p := range ps {
		if err := s.Validate(p.doc); err != nil {
			t.Errorf("%s: not a valid WooCommerce order:\n%#v", p.name, err)
		}
	}
	if !t.Failed() {
		t.Logf("%d WooCommerce orders validated", len(ps))
	}
}

// TestShopifySubresourceFixtures checks the Shopify fixtures of resources an
// order embeds (line item, shipping line, fulfillment, refund, transaction)
// against the order schema's $defs. Only the known drift of hand-written
// fixtures is tolerated, and logged.
func TestShopifySubresourceFixtures(t *testing.T) {
	for _, p := range shopifyParts(t) {
		err := compile(t, p.schema).Validate(p.doc)
		if err == nil {
			continue
		}
		for _, e := range leaves(err) {
			if p.drift != nil && p.drift.MatchString(e.InstanceLocation) {
				t.Logf("%s: known fixture type drift at %s: %s", p.name, e.InstanceLocation, e.Message)
				continue
			}
			t.Errorf("%s: %s: %s (schema %s)", p.name, e.InstanceLocation, e.Message, e.KeywordLocation)
		}
	}
}

// TestFixtureKeysAreDeclared proves that closedness is safe: pipectl reports
// any field an object schema does not list as a typo, so every key of every
// real payload must be declared by the schema at its place.
func TestFixtureKeysAreDeclared(t *testing.T) {
	var ps []payload
	ps = append(ps, shopifyOrders(t)...)
	ps = append(ps, wooOrders(t)...)
	for _, p := range shopifyParts(t) {
		ps = append(ps, p.payload)
	}
	keys := 0
	for _, p := range ps {
		name, frag, _ := strings.Cut(p.schema, "#")
		_, root := rawSchema(t, name)
		start := root
		if frag != "" {
			start = resolvePointer(root, "#"+frag)
		}
		w := &keyWalker{root: root}
		w.walk(start, p.doc, "")
		keys += w.keys
		for _, u := range w.undeclared {
			t.Errorf("%s: key %s is not declared in %s", p.name, u, p.schema)
		}
	}
	if keys == 0 {
		t.Fatal("no keys walked")
	}
	if !t.Failed() {
		t.Logf("%d payloads, %d keys, all declared", len(ps), keys)
	}
}

// TestKeyWalkerReportsTypos makes sure the closedness check above is not
// vacuous: a misspelt field is reported, at any depth, while open objects
// (additionalProperties: true, or no properties) accept anything.
func TestKeyWalkerReportsTypos(t *testing.T) {
	cases := []struct {
		schema, doc string
		want        []string
	}{
		{"shopify/order", `{"id": 1, "totl_price": "1.00"}`, []string{"/totl_price"}},
		{"shopify/order", `{"line_items": [{"sku": "A"}, {"skuu": "B"}]}`, []string{"/line_items/1/skuu"}},
		{"shopify/order", `{"customer": {"default_address": {"zipp": "1"}}}`, []string{"/customer/default_address/zipp"}},
		{"shopify/order", `{"customer": null, "shipping_address": null}`, nil},
		{"shopify/order", `{"transactions": [{"receipt": {"anything": {"goes": 1}}}]}`, nil},
		{"shopify/order", `{"note_attributes": [{"name": "n", "value": {"x": 1}}]}`, nil},
		{"woocommerce/order", `{"meta_data": [{"key": "k", "value": {"nested": [1]}}]}`, nil},
		{"woocommerce/order", `{"_links": {"self": [{"href": "h"}], "extension_rel": []}}`, nil},
		{"woocommerce/order", `{"line_items": [{"quantity": 1.5, "qty": 2}]}`, []string{"/line_items/0/qty"}},
	}
	for _, c := range cases {
		_, root := rawSchema(t, c.schema)
		w := &keyWalker{root: root}
		w.walk(root, decode(t, []byte(c.doc), c.doc), "")
		if !slices.Equal(w.undeclared, c.want) {
			t.Errorf("%s %s: undeclared = %q, want %q", c.schema, c.doc, w.undeclared, c.want)
		}
	}
}

func TestWrongTypesAreRejected(t *testing.T) {
	cases := []struct {
		schema, doc string
		valid       bool
	}{
		{"shopify/order", `{"id": 450789469, "total_price": "12.50", "line_items": [{"id": 1, "quantity": 1, "price": "12.50", "sku": null}]}`, true},
		{"shopify/order", `{"id": 450789469, "total_price": 12.5}`, false},
		{"shopify/order", `{"id": "abc", "total_price": "12.50"}`, false},
		{"shopify/order", `{"id": 1.5}`, false},
		{"shopify/order", `{"line_items": [{"quantity": "1"}]}`, false},
		{"shopify/order", `{"line_items": [{"price": 199}]}`, false},
		{"shopify/order", `{"total_price_set": {"shop_money": {"amount": 1, "currency_code": "USD"}}}`, false},
		{"shopify/order", `{"customer": {"id": "207119551"}}`, false},
		{"shopify/order", `{"test": "false"}`, false},
		{"woocommerce/order", `{"id": 963, "number": "963", "total": "31.20", "line_items": [{"quantity": 1.5, "price": 30, "sku": null}]}`, true},
		{"woocommerce/order", `{"total": 31.2}`, false},
		{"woocommerce/order", `{"id": "963"}`, false},
		{"woocommerce/order", `{"number": 963}`, false},
		{"woocommerce/order", `{"line_items": [{"price": "30.00"}]}`, false},
		{"woocommerce/order", `{"line_items": [{"product_id": "52"}]}`, false},
	}
	compiled := map[string]*jsonschema.Schema{}
	for _, c := range cases {
		s := compiled[c.schema]
		if s == nil {
			s = compile(t, c.schema)
			compiled[c.schema] = s
		}
		err := s.Validate(decode(t, []byte(c.doc), c.doc))
		if c.valid && err != nil {
			t.Errorf("%s %s: rejected: %v", c.schema, c.doc, err)
		}
		if !c.valid && err == nil {
			t.Errorf("%s %s: accepted, want rejected", c.schema, c.doc)
		}
	}
}

// keyWalker follows a payload through a schema the way pipectl derives its
// record type (pipelines/exprs.TypeFromJSONSchema): local $refs are
// followed, anyOf/oneOf pick the alternative matching the value's kind, an
// object that lists properties is closed unless additionalProperties is true
// or a schema, and one that lists none is open.
type keyWalker struct {
	root       map[string]any
	undeclared []string
	keys       int
}

func (w *keyWalker) walk(s map[string]any, v any, at string) {
	s = w.deref(s)
	if s == nil {
		return
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[key].([]any); ok {
			for _, a := range alts {
				if alt := w.deref(asMap(a)); alt != nil && admits(alt, v) {
					w.walk(alt, v, at)
					return
				}
			}
			return // no alternative fits: validation reports that
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		open := len(props) == 0
		var extra map[string]any
		switch ap := s["additionalProperties"].(type) {
		case bool:
			open = open || ap
		case map[string]any:
			open, extra = true, ap
		}
		ks := make([]string, 0, len(v))
		for k := range v {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			w.keys++
			p := at + "/" + escapePointer(k)
			switch ps, declared := props[k].(map[string]any); {
			case declared:
				w.walk(ps, v[k], p)
			case !open:
				w.undeclared = append(w.undeclared, p)
			case extra != nil:
				w.walk(extra, v[k], p)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				w.walk(items, e, at+"/"+strconv.Itoa(i))
			}
		}
	}
}

// deref follows $ref chains.
func (w *keyWalker) deref(s map[string]any) map[string]any {
	for i := 0; s != nil && i < 32; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = resolvePointer(w.root, ref)
	}
	return s
}

// admits tells whether a schema's "type" allows the value's JSON kind.
func admits(s map[string]any, v any) bool {
	var kinds []string
	switch t := s["type"].(type) {
	case string:
		kinds = []string{t}
	case []any:
		for _, k := range t {
			if ks, ok := k.(string); ok {
				kinds = append(kinds, ks)
			}
		}
	default:
		return true
	}
	var kind string
	switch n := v.(type) {
	case nil:
		kind = "null"
	case bool:
		kind = "boolean"
	case string:
		kind = "string"
	case json.Number:
		if _, err := n.Int64(); err == nil && slices.Contains(kinds, "integer") {
			return true
		}
		kind = "number"
	case []any:
		kind = "array"
	case map[string]any:
		kind = "object"
	}
	return slices.Contains(kinds, kind)
}

// resolvePointer resolves a local JSON pointer ("#/$defs/address").
func resolvePointer(root map[string]any, ref string) map[string]any {
	if ref == "#" {
		return root
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return asMap(cur)
}

// walkSchema calls fn on every subschema, with its JSON pointer.
func walkSchema(s map[string]any, at string, fn func(string, map[string]any)) {
	fn(at, s)
	for _, k := range []string{"properties", "$defs"} {
		if m, ok := s[k].(map[string]any); ok {
			for name, sub := range m {
				if sm := asMap(sub); sm != nil {
					walkSchema(sm, at+"/"+k+"/"+escapePointer(name), fn)
				}
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sm := asMap(s[k]); sm != nil {
			walkSchema(sm, at+"/"+k, fn)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok {
			for i, a := range alts {
				if sm := asMap(a); sm != nil {
					walkSchema(sm, at+"/"+k+"/"+strconv.Itoa(i), fn)
				}
			}
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
