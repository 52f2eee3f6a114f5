package record

import "unsafe"

// boxer puts decoded strings and integers into interface values without one
// allocation each. Converting a string or an int to `any` normally allocates
// its value on the heap; decoding a record makes dozens of them, which
// dominated decoding time. The boxer keeps the values in slabs and builds
// the interface values to point into them. This relies only on the layout of
// an empty interface (a type word and a data pointer), which the Go runtime
// has kept since Go 1.0; the garbage collector sees the data pointer and
// keeps the slab alive.
//
// A boxer with an arena takes its slabs from the arena, so they are reused
// once the arena is reset; without one, each record's slabs are its own.
type boxer struct {
	strs  []string
	ints  []int
	arena *Arena
}

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var stringType, intType = func() (unsafe.Pointer, unsafe.Pointer) {
	var s, n any = "", 0
	return (*eface)(unsafe.Pointer(&s)).typ, (*eface)(unsafe.Pointer(&n)).typ
}()

const slabLen = 32

func (b *boxer) str(s string) any {
	if len(b.strs) == cap(b.strs) {
		if b.arena != nil {
			b.strs = b.arena.strSlab()
		} else {
			b.strs = make([]string, 0, slabLen)
		}
	}
	b.strs = append(b.strs, s)
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = stringType, unsafe.Pointer(&b.strs[len(b.strs)-1])
	return v
}

func (b *boxer) int(n int) any {
	if n >= 0 && n < 256 {
		return n // the runtime boxes small integers without allocating
	}
	if len(b.ints) == cap(b.ints) {
		if b.arena != nil {
			b.ints = b.arena.intSlab()
		} else {
			b.ints = make([]int, 0, slabLen)
		}
	}
	b.ints = append(b.ints, n)
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = intType, unsafe.Pointer(&b.ints[len(b.ints)-1])
	return v
}

// number is Number, boxing integers with b.
func (b *boxer) number(raw string, float bool) any {
	if !float {
		if n, ok := parseInt(raw); ok {
			return b.int(n)
		}
	}
	return Number(raw, float)
}

func (b *boxer) newMap(hint int) map[string]any {
	if b.arena != nil {
		return b.arena.newMap(hint)
	}
	return make(map[string]any, hint)
}

// newList returns an empty slice for an array's elements, and a ticket
// under which keepList hands the filled slice back to the arena.
func (b *boxer) newList() ([]any, int) {
	if b.arena != nil {
		return b.arena.newList()
	}
	return make([]any, 0, 4), -1
}

func (b *boxer) keepList(ticket int, l []any) {
	if ticket >= 0 {
		b.arena.keepList(ticket, l)
	}
}
