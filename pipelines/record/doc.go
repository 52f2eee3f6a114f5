// Package record is how pipectl holds the records flowing through a
// pipeline: JSON text, decoded only as far as the pipeline reads it.
//
// The compiler knows which fields each expression touches (a Projection).
// A record keeps its JSON bytes and decodes just those fields, with gjson,
// into the Go values expressions run on; everything else stays raw bytes and
// is carried through untouched. Output is appended as JSON text, never
// encoded through reflection. Integers keep every digit (Shopify's 64-bit
// ids), decimals keep their exact digits, and the same input gives the same
// bytes.
//
// record imports nothing of pipectl's own.
package record
