// Package schemas embeds pipectl's JSON Schemas: the pipeline file's own
// (pipeline.schema.json, generated from the component specs by
// `go generate ./...`) and the commerce payloads a source may declare with
// `schema: shopify/order`, against which expressions are type-checked.
//
// schemas imports nothing of pipectl's own.
package schemas

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed *.schema.json */*.schema.json
var files embed.FS

// FS holds every embedded schema, named by its path: "shopify/order.schema.json".
var FS fs.FS = files

// Lookup returns a payload schema by the name pipeline files use:
// "shopify/order" reads shopify/order.schema.json.
func Lookup(name string) ([]byte, bool) {
	b, err := fs.ReadFile(files, name+".schema.json")
	return b, err == nil
}

// Names lists the payload schemas a source may name, sorted.
func Names() []string {
	var names []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Dir(p) != "." {
			names = append(names, strings.TrimSuffix(p, ".schema.json"))
		}
		return nil
	})
	slices.Sort(names)
	return names
}
