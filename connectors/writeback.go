package connectors

import "os"

// writebackEvery is how much a file sink writes between asking the kernel
// to start writing its pages to disk.
const writebackEvery = 8 << 20

// writeback is the file a file sink writes through. It starts the kernel's
// writeback of each few megabytes as they are written, so the fsync that
// makes the output durable at the end has little left to wait for: on a
// 100 MB output that wait is otherwise tens of milliseconds, with every
// core idle.
type writeback struct {
	f       *os.File
	written int64 // bytes written
	started int64 // bytes whose writeback has been started
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackEvery {
		startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}
