package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// handWritten is the reference mapping written by hand in plain Go, the way
// ../shared/bench/fastbase does it: gjson reads and appended JSON, no
// engine. Benchmarks run it beside pipectl in the same process and report
// pipectl's throughput as a ratio to it.
func handWritten(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(g, 1<<20)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var b []byte
	for sc.Scan() {
		b = mapOrder(b[:0], sc.Bytes())
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return g.Close()
}

func quote(b []byte, s string) []byte { return strconv.AppendQuote(b, s) }

func mapOrder(b, line []byte) []byte {
	r := gjson.ParseBytes(line)
	if r.Get("test").Bool() {
		return b
	}
	items := r.Get("line_items").Array()
	if len(items) == 0 {
		return b
	}
	b = append(b, `{"order_id":`...)
	b = quote(b, r.Get("id").Raw)
	b = append(b, `,"order_number":`...)
	b = quote(b, strings.TrimPrefix(r.Get("name").String(), "#"))
	b = append(b, `,"email":`...)
	b = quote(b, strings.ToLower(r.Get("email").String()))
	b = append(b, `,"customer_name":`...)
	b = quote(b, r.Get("customer.first_name").String()+" "+r.Get("customer.last_name").String())
	sa := r.Get("shipping_address")
	b = append(b, `,"ship_to":{"name":`...)
	b = quote(b, sa.Get("name").String())
	b = append(b, `,"address1":`...)
	b = quote(b, sa.Get("address1").String())
	b = append(b, `,"city":`...)
	b = quote(b, sa.Get("city").String())
	b = append(b, `,"region":`...)
	b = quote(b, sa.Get("province_code").String())
	b = append(b, `,"postal_code":`...)
	b = quote(b, sa.Get("zip").String())
	b = append(b, `,"country":`...)
	b = quote(b, sa.Get("country_code").String())
	b = append(b, `},"lines":[`...)
	total := int64(0)
	for i, li := range items {
		if i > 0 {
			b = append(b, ',')
		}
		q := li.Get("quantity").Int()
		p, _ := strconv.ParseFloat(li.Get("price").String(), 64)
		total += q
		b = append(b, `{"sku":`...)
		b = quote(b, li.Get("sku").String())
		b = append(b, `,"qty":`...)
		b = strconv.AppendInt(b, q, 10)
		b = append(b, `,"unit_price":`...)
		b = strconv.AppendFloat(b, p, 'g', -1, 64)
		b = append(b, `,"line_total":`...)
		b = strconv.AppendFloat(b, p*float64(q), 'g', -1, 64)
		b = append(b, '}')
	}
	b = append(b, `],"total_qty":`...)
	b = strconv.AppendInt(b, total, 10)
	t, _ := strconv.ParseFloat(r.Get("total_price").String(), 64)
	b = append(b, `,"order_total":`...)
	b = strconv.AppendFloat(b, t, 'g', -1, 64)
	if r.Get("shipping_lines.0.code").String() == "EXPRESS" {
		b = append(b, `,"priority":"express"`...)
	} else {
		b = append(b, `,"priority":"standard"`...)
	}
	b = append(b, `,"tags":[`...)
	if tags := r.Get("tags").String(); tags != "" {
		for i, tg := range strings.Split(tags, ", ") {
			if i > 0 {
				b = append(b, ',')
			}
			b = quote(b, tg)
		}
	}
	return append(b, "]}\n"...)
}
