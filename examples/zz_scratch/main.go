package main

import (
	"fmt"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
)

func main() {
	lib := exprs.NewLibrary(component.SystemClock{})
	raw, _ := schemas.Lookup("woocommerce/order")
	env, err := exprs.TypeFromJSONSchema(raw, "")
	if err != nil {
		panic(err)
	}
	bt, _ := env.Field("billing")
	fmt.Println("billing:", bt)
	for _, src := range []string{"billing.emial", "lower(billing.emial)", "lower(billing.city)", "lower(billing.cityy)", "trim(billing.cityy)", "decimal(totl)", "decimal(total)", "lower(number)", "lower(numbr)", "string(numbr)", "map(line_items, decimal(#.total_tx))"} {
		p, probs := lib.Compile(src, env, nil)
		var rt any
		if p != nil {
			rt = p.ResultType()
		}
		fmt.Printf("%-40s %v %v\n", src, rt, probs)
	}
}
