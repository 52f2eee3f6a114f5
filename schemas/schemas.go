// Package schemas embeds pipectl's JSON Schemas: the pipeline file's own
// (pipeline.schema.json, generated from the component specs by
// `go generate ./...`) and the commerce payloads a source may declare with
// `schema: shopify/order`, against which expressions are type-checked.
// A user's own schema file may $ref them by name or by $id (see Lookup).
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

// IDPrefix begins the $id of every embedded schema: the $id is IDPrefix
// and the schema's path, "shopify/order.schema.json".
const IDPrefix = "https://github.com/pipectl/pipectl/schemas/"

// Lookup returns a payload schema by the name pipeline files use:
// "shopify/order" reads shopify/order.schema.json. The file name
// ("shopify/order.schema.json") and the schema's $id name it too, so a
// $ref in a schema file of one's own may use any of the three: the
// compiler and validate steps resolve such references here, never over
// the network.
func Lookup(name string) ([]byte, bool) {
	name = strings.TrimSuffix(strings.TrimPrefix(name, IDPrefix), ".schema.json")
	if name == "" || !fs.ValidPath(name) {
		return nil, false
	}
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
