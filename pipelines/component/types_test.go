package component_test

import (
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
)

func obj(props ...component.Property) *component.Type { return component.ObjectOf(props...) }
func prop(name string, t *component.Type) component.Property {
	return component.Property{Name: name, Type: t}
}

func TestAssignableTo(t *testing.T) {
	line := obj(component.Required("sku", component.StringType), component.Required("quantity", component.NumberType), prop("note", component.StringType))
	tests := []struct {
		name     string
		got      *component.Type
		want     *component.Type
		ok       bool
		wantPath string
	}{
		{"int where number", component.IntType, component.NumberType, true, ""},
		{"string where number", component.StringType, component.NumberType, false, ""},
		{"any fits everything", component.AnyType, line, true, ""},
		{"null fits everything", component.NullType, component.StringType, true, ""},
		{"extra fields are fine", obj(prop("sku", component.StringType), prop("quantity", component.IntType), prop("x", component.BoolType)), line, true, ""},
		{"missing required field", obj(prop("sku", component.StringType)), line, false, "quantity"},
		{"missing optional field", obj(prop("sku", component.StringType), prop("quantity", component.IntType)), line, true, ""},
		{"optional field of the wrong type", obj(prop("sku", component.StringType), prop("quantity", component.IntType), prop("note", component.IntType)), line, false, "note"},
		{"wrong field type", obj(prop("sku", component.IntType), prop("quantity", component.IntType)), line, false, "sku"},
		{"nested in arrays", component.ArrayOf(obj(prop("sku", component.StringType))), component.ArrayOf(line), false, "[]quantity"},
		{"open objects have every field", component.OpenObject(), line, true, ""},
		{"array where object", component.ArrayOf(component.AnyType), line, false, ""},
	}
	for _, tt := range tests {
		ok, path := tt.got.AssignableTo(tt.want)
		if ok != tt.ok || path != tt.wantPath {
			t.Errorf("%s: AssignableTo = %v, %q; want %v, %q", tt.name, ok, path, tt.ok, tt.wantPath)
		}
	}
}

func TestField(t *testing.T) {
	o := obj(prop("email", component.StringType))
	if _, ok := o.Field("emial"); ok {
		t.Error("a closed object must not have undeclared fields")
	}
	if ft, ok := o.Field("email"); !ok || ft.Kind != component.String {
		t.Error("declared field not found")
	}
	if ft, ok := component.OpenObject().Field("anything"); !ok || ft.Kind != component.Any {
		t.Error("an open object has every field, typed any")
	}
}

func TestCommon(t *testing.T) {
	a := obj(prop("id", component.IntType), prop("email", component.StringType), prop("only_a", component.BoolType))
	b := obj(prop("id", component.StringType), prop("email", component.StringType))
	c := component.Common(a, b)
	if got := c.String(); got != "object{id: any, email: string}" {
		t.Errorf("Common = %s", got)
	}
	if component.Common(component.StringType, component.IntType).Kind != component.Any {
		t.Error("different kinds have no common type but any")
	}
	if got := component.Common(component.ArrayOf(a), component.ArrayOf(b)).String(); got != "array<object{id: any, email: string}>" {
		t.Errorf("Common of arrays = %s", got)
	}
}

func TestRegistryRejectsBadSpecs(t *testing.T) {
	mustPanic := func(name string, s *component.Spec) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: Add did not panic", name)
			}
		}()
		r := component.NewRegistry()
		r.Add(s)
		r.Add(s)
	}
	ok := &component.Spec{Kind: "x", Summary: "s", Config: &component.Field{Kind: component.ObjectField}}
	mustPanic("duplicate", ok)
	mustPanic("no config", &component.Spec{Kind: "y", Summary: "s"})
	mustPanic("enum without values", &component.Spec{Kind: "z", Summary: "s", Config: &component.Field{Kind: component.ObjectField,
		Fields: []*component.Field{{Name: "mode", Kind: component.EnumField, Doc: "d"}}}})
	mustPanic("undocumented field", &component.Spec{Kind: "w", Summary: "s", Config: &component.Field{Kind: component.ObjectField,
		Fields: []*component.Field{{Name: "mode", Kind: component.StringField}}}})
}
