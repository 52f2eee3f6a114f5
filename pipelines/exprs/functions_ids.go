package exprs

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/google/uuid"
)

// hashes are the algorithms hash offers. md5 and sha1 are there to match
// ids other systems already computed with them, not for security.
var hashes = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha1":   sha1.New,
	"md5":    md5.New,
}

// uuidNamespaces are RFC 4122's predefined namespaces by name.
var uuidNamespaces = map[string]uuid.UUID{
	"dns":  uuid.NameSpaceDNS,
	"url":  uuid.NameSpaceURL,
	"oid":  uuid.NameSpaceOID,
	"x500": uuid.NameSpaceX500,
}

func idFunctions() []*Function {
	return []*Function{
		{
			Name:     "hash",
			Category: "ids",
			Summary: "Returns the hex digest of s, sha256 unless algo names sha1 or md5: a deterministic id or " +
				"idempotency key, the same for the same input on every run. An int is hashed as its digits.",
			Signature: "hash(s string|int[, algo string]) string",
			Types: []any{
				new(func(string) string), new(func(int) string),
				new(func(string, string) string), new(func(int, string) string),
			},
			Fn: hashFn,
			Examples: []Example{
				{`hash("order-1001")`, `"50ac93f41009bb5828fbeb9b39ca5129a5888ba493196a343d69c38b2df5a412"`},
				{`hash("abc", "md5")`, `"900150983cd24fb0d6963f7d28e17f72"`},
				{`hash(1001, "sha1")`, `"dd01903921ea24941c26a48f2cec24e0bb0e8cc7"`},
			},
		},
		{
			Name:     "uuid5",
			Category: "ids",
			Summary: "Returns the name-based (version 5) UUID of name in namespace: \"dns\", \"url\", \"oid\", " +
				"\"x500\" or a UUID. Deterministic, so a re-run sends the ERP the same document id and it can " +
				"drop the duplicate. An int name is used as its digits.",
			Signature: "uuid5(namespace string, name string|int) string",
			Types:     []any{new(func(string, string) string), new(func(string, int) string)},
			Fn:        uuid5,
			Examples: []Example{
				{`uuid5("dns", "example.com")`, `"cfbff0d1-9375-5685-968c-48ce8b15ae17"`},
				{`uuid5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "https://shop.example.com/orders/1001")`,
					`"1ae947c9-d2f5-5b43-9b3d-e4b187455010"`},
				{`uuid5("url", 1001)`, `"dacca10a-9ec0-5e4c-8c61-9f73c4f826bf"`},
			},
		},
	}
}

func hashFn(args ...any) (any, error) {
	if err := arity("hash", args, 1, 2); err != nil {
		return nil, err
	}
	s, err := argStringOrInt("hash", args, 0, "s")
	if err != nil {
		return nil, err
	}
	algo := "sha256"
	if len(args) == 2 {
		if algo, err = argString("hash", args, 1, "algo"); err != nil {
			return nil, err
		}
	}
	h, ok := hashes[algo]
	if !ok {
		return nil, fmt.Errorf("hash: unknown algorithm %q (want sha256, sha1 or md5)", algo)
	}
	w := h()
	w.Write([]byte(s))
	return hex.EncodeToString(w.Sum(nil)), nil
}

func uuid5(args ...any) (any, error) {
	if err := arity("uuid5", args, 2, 2); err != nil {
		return nil, err
	}
	ns, err := argString("uuid5", args, 0, "namespace")
	if err != nil {
		return nil, err
	}
	name, err := argStringOrInt("uuid5", args, 1, "name")
	if err != nil {
		return nil, err
	}
	space, ok := uuidNamespaces[ns]
	if !ok {
		if space, err = uuid.Parse(ns); err != nil {
			return nil, fmt.Errorf("uuid5: namespace %q is neither dns, url, oid, x500 nor a UUID", ns)
		}
	}
	return uuid.NewSHA1(space, []byte(name)).String(), nil
}
