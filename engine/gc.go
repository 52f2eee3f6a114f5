package engine

import (
	"os"
	"runtime/debug"
)

// TuneGC sets the garbage collector for a run, unless GOGC or GOMEMLIMIT
// say otherwise: records are short-lived and allocated at a high rate, so
// a larger heap target (400%) spends less time collecting, and a soft
// memory limit (40 MiB) keeps the heap, and so peak RSS, bounded whatever
// the input size. It is process-wide: `pipectl run` calls it, and the
// benchmarks, so that what they measure is what a run does.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
}
