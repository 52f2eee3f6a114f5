package record_test

import (
	"testing"

	"github.com/pipectl/pipectl/pipelines/record"
)

const order = `{"id":820982911946154509,"name":"#1002","order_number":1002,"email":"Bo.Silva1@Example.COM","created_at":"2026-11-02T01:01:00-05:00","currency":"USD","financial_status":"paid","fulfillment_status":null,"test":false,"total_price":"835.91","subtotal_price":"816.91","total_weight":22385,"tags":"gift, repeat, vip","customer":{"id":115310627314723955,"first_name":"Bo","last_name":"Silva","email":"bo@example.com"},"shipping_address":{"name":"Bo Silva","address1":"814 Main St","address2":null,"city":"Leeds","province_code":"ENG","country_code":"GB","zip":"LS1 4AP","phone":null},"shipping_lines":[{"code":"EXPRESS","title":"Express Shipping","price":"19.00"}],"line_items":[{"id":10000001,"variant_id":400506,"sku":"SKU-00506","title":"Item 1","quantity":1,"price":"237.02","grams":357,"requires_shipping":true,"taxable":true,"fulfillment_status":null},{"id":10000002,"variant_id":400381,"sku":"SKU-00381","title":"Item 2","quantity":4,"price":"15.25","grams":357,"requires_shipping":true,"taxable":true,"fulfillment_status":null},{"id":10000003,"variant_id":400964,"sku":"SKU-00964","title":"Item 3","quantity":3,"price":"106.53","grams":357,"requires_shipping":true,"taxable":true,"fulfillment_status":null}]}`

func referenceProjection() *record.Projection {
	p := &record.Projection{}
	for _, f := range []string{"id", "name", "email", "total_price", "tags", "test"} {
		p.Field(f)
	}
	p.Field("customer").Field("first_name")
	p.Field("customer").Field("last_name")
	for _, f := range []string{"name", "address1", "city", "province_code", "zip", "country_code"} {
		p.Field("shipping_address").Field(f)
	}
	for _, f := range []string{"sku", "quantity", "price"} {
		p.Field("line_items").Element().Field(f)
	}
	p.Field("shipping_lines").Element().Field("code")
	return p
}

// BenchmarkFields measures decoding the fields the reference mapping reads.
func BenchmarkFields(b *testing.B) {
	p := referenceProjection()
	raw := []byte(order)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for range b.N {
		r := record.New(raw, nil)
		r.Fields(p)
	}
}

// BenchmarkFieldsNone is the scanning floor: reading no field.
func BenchmarkFieldsNone(b *testing.B) {
	p := &record.Projection{}
	p.Field("nothing")
	raw := []byte(order)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for range b.N {
		r := record.New(raw, nil)
		r.Fields(p)
	}
}
