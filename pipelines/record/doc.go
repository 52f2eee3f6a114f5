// Package record is how pipectl holds the records flowing through a
// pipeline: JSON text, decoded only as far as the pipeline reads it.
//
// The compiler knows which fields each expression touches (a Projection).
// A record keeps its JSON bytes and decodes just those fields, with gjson,
// into the Go values expressions run on; everything else stays raw bytes and
// is carried through untouched. Output is appended as JSON text, never
// encoded through reflection. Integers keep every digit (Shopify's 64-bit
// ids), and the same input gives the same bytes.
//
// Numbers decode by the record type the projection carries: as float64
// where it says number (Float), as exact decimal.Decimal where it says
// decimal (Decimal, from a JSON number or from decimal text), with the
// digits and scale they are written with, so 478.20 stays 478.20; values
// of no known type as int when integers of 64 bits, float64 otherwise. The
// flags also hold for the parts of a value read whole. Decimals are written
// back with their scale (AppendJSON), and as keys without trailing zeros
// (AppendKey), so that 1.50 and 1.5 are one key. Decimals are bounded
// (MaxDecimalDigits, MaxDecimalExponent); one beyond decodes as if untyped.
//
// record imports nothing of pipectl's own.
package record
