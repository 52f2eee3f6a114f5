package record

import "unsafe"

// boxer puts decoded strings into interface values without one allocation
// each. Converting a string to `any` normally allocates a 16-byte header;
// decoding a record makes a dozen of them, which dominated decoding time.
// The boxer keeps the headers in one slice per record and builds the
// interface values to point into it. This relies only on the layout of an
// empty interface (a type word and a data pointer), which the Go runtime has
// kept since Go 1.0; the garbage collector sees the data pointer and keeps
// the slice alive.
type boxer struct{ strs []string }

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var stringType = func() unsafe.Pointer {
	var s any = ""
	return (*eface)(unsafe.Pointer(&s)).typ
}()

func (b *boxer) str(s string) any {
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, 32)
	}
	b.strs = append(b.strs, s)
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = stringType, unsafe.Pointer(&b.strs[len(b.strs)-1])
	return v
}
