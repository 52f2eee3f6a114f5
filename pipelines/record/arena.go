package record

// Arena lends the maps, slices and boxed values that decoding records makes,
// and takes them all back at once when it is reset. Decoding is most of
// what a pipeline allocates; a worker that decodes records into its own
// arena and resets it between batches gives the garbage collector a fraction
// of the work, which is what lets a second worker scale.
//
// The rule that makes this safe: once the arena is reset, nothing may still
// read what was decoded in it. The engine keeps it by resetting a worker's
// arena only between batches, and by calling Release on every record that
// leaves the worker (for a sink, a stateful step, or an error report), so
// whatever reads the record later decodes it again on its own. An arena is
// used by one goroutine at a time.
type Arena struct {
	maps  []map[string]any
	nmaps int
	lists [][]any
	nlist int
	strs  [][]string
	nstrs int
	ints  [][]int
	nints int
}

// NewArena returns an empty arena.
func NewArena() *Arena { return &Arena{} }

// Reset takes back everything the arena lent. Values decoded in it must not
// be read afterwards.
func (a *Arena) Reset() {
	// Clearing what was lent drops the references it held (into records'
	// bytes), so an idle arena keeps no old input alive.
	for _, l := range a.lists[:a.nlist] {
		clear(l[:cap(l)])
	}
	for _, s := range a.strs[:a.nstrs] {
		clear(s[:cap(s)])
	}
	a.nmaps, a.nlist, a.nstrs, a.nints = 0, 0, 0, 0
}

// Trim lets go of everything the arena ever held, for an arena that will be
// idle for a while.
func (a *Arena) Trim() { *a = Arena{} }

func (a *Arena) newMap(hint int) map[string]any {
	if a.nmaps < len(a.maps) {
		m := a.maps[a.nmaps]
		a.nmaps++
		clear(m)
		return m
	}
	m := make(map[string]any, hint)
	a.maps = append(a.maps, m)
	a.nmaps++
	return m
}

// newList returns an empty slice and its index, under which keepList
// stores it again once it has grown.
func (a *Arena) newList() ([]any, int) {
	if a.nlist < len(a.lists) {
		a.nlist++
		return a.lists[a.nlist-1][:0], a.nlist - 1
	}
	l := make([]any, 0, 4)
	a.lists = append(a.lists, l)
	a.nlist++
	return l, a.nlist - 1
}

func (a *Arena) keepList(i int, l []any) { a.lists[i] = l }

func (a *Arena) strSlab() []string {
	if a.nstrs < len(a.strs) {
		a.nstrs++
		return a.strs[a.nstrs-1][:0]
	}
	s := make([]string, 0, slabLen)
	a.strs = append(a.strs, s)
	a.nstrs++
	return s
}

func (a *Arena) intSlab() []int {
	if a.nints < len(a.ints) {
		a.nints++
		return a.ints[a.nints-1][:0]
	}
	s := make([]int, 0, slabLen)
	a.ints = append(a.ints, s)
	a.nints++
	return s
}
