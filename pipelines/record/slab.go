package record

// Slab hands out copies of byte slices carved from large chunks, so reading
// a million records, or writing a million outputs, costs a few thousand
// allocations, each copy exactly as long as its bytes. Copies alias their
// chunk, which lives as long as any of them; they are capped, so appending
// to one never writes into its neighbour. Chunks start small and double, so
// a few records cost little. The zero Slab is ready to use; a Slab is used
// by one goroutine at a time.
type Slab struct{ buf []byte }

const slabChunk = 256 << 10

// Copy returns a copy of b.
func (s *Slab) Copy(b []byte) []byte {
	if len(b) > slabChunk/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.buf)-len(s.buf) < len(b) {
		s.buf = make([]byte, 0, min(slabChunk, max(4<<10, 2*cap(s.buf), 2*len(b))))
	}
	start := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[start:len(s.buf):len(s.buf)]
}
