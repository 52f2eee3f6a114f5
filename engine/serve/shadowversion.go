package serve

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// A shadow version is a candidate version of a pipeline's files (a
// changed mapping, a new step) run on the same deliveries as the live
// version, before it: as a dry run, so its sinks are captured and not
// delivered, and allocate decides against the same stock the live run
// then commits against, without committing. Once the live run has
// committed, what each sink would have received from the candidate is
// compared, record by record, with what the live version sent it for the
// same delivery.

// VersionShadowReport is what a shadow version has seen so far.
type VersionShadowReport struct {
	Version    string               `json:"version"`
	Path       string               `json:"path"`
	Since      time.Time            `json:"since"`
	Running    bool                 `json:"running"`
	Deliveries int                  `json:"deliveries"`
	Failed     int                  `json:"failed_runs"`
	Sinks      map[string]SinkTally `json:"sinks"`
	// Samples are records the candidate would have sent otherwise: the
	// first few of each sink.
	Samples []RecordDiff `json:"samples"`
}

// SinkTally is how many records a sink received from the live version and
// would have from the candidate, and how they compare: for each delivery,
// the sink's records from either version are paired in order.
type SinkTally struct {
	Live      int64 `json:"live"`
	Candidate int64 `json:"candidate"`
	Same      int64 `json:"same"`
	Differ    int64 `json:"differ"`
	// LiveOnly and CandidateOnly are records the other version would not
	// have sent (a filter added, a split shipment more).
	LiveOnly      int64 `json:"live_only"`
	CandidateOnly int64 `json:"candidate_only"`
}

// RecordDiff is a record the candidate would have sent a sink otherwise.
// Live or Candidate is empty when that version sent nothing in its place.
type RecordDiff struct {
	Ref      string          `json:"order,omitempty"`
	Delivery int64           `json:"delivery"`
	Sink     string          `json:"sink"`
	Live     json.RawMessage `json:"live,omitempty"`
	// Candidate is what the candidate would have sent.
	Candidate json.RawMessage `json:"candidate,omitempty"`
	// Fields are the paths whose values differ (lines[0].sku), the first
	// few.
	Fields []string `json:"fields,omitempty"`
}

// samplesPerSink is how many differing records a report keeps per sink.
const samplesPerSink = 5

type versionShadow struct {
	p      *served
	mu     sync.Mutex
	report VersionShadowReport
}

// sinkRecords are a run's sink records, by delivery and sink, in the order
// each sink got them.
type sinkRecords map[sinkOf][][]byte

type sinkOf struct {
	delivery int64
	sink     string
}

// ShadowVersion runs p, a candidate version of one of the served
// pipelines (the same name), in shadow of the live one. The candidate
// stays loaded after StopShadowVersion, to be started again.
func (s *Server) ShadowVersion(p *Pipeline) error {
	if _, ok := s.Pipeline(p.Plan.Name); !ok {
		return errors.New("no pipeline " + p.Plan.Name + " is served to shadow")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.candidates == nil {
		s.candidates = map[string]*Pipeline{}
	}
	s.candidates[p.Plan.Name] = p
	s.startCandidate(p)
	return nil
}

// startCandidate runs p in shadow from now on, with a fresh report.
// s.mu is held.
func (s *Server) startCandidate(p *Pipeline) {
	// Only its sources are needed: the live version's triggers take the
	// deliveries.
	sp := &served{Pipeline: p, sources: map[string][]string{}}
	for _, n := range p.Plan.Nodes {
		if n.Section == component.SourceSection && n.Trigger != nil {
			sp.sources[n.Trigger.Name] = append(sp.sources[n.Trigger.Name], n.Name)
		}
	}
	if s.versionShadows == nil {
		s.versionShadows = map[string]*versionShadow{}
	}
	s.versionShadows[p.Plan.Name] = &versionShadow{p: sp, report: VersionShadowReport{Version: p.Version, Path: p.Path,
		Since: s.cfg.Clock.Now(), Running: true, Sinks: map[string]SinkTally{}}}
}

// StartShadowVersion starts the pipeline's loaded candidate again, its
// report from zero; an error when none is loaded.
func (s *Server) StartShadowVersion(pipeline string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.candidates[pipeline]
	if p == nil {
		return fmt.Errorf("no candidate version of %s is loaded (pipectl serve --shadow FILE loads one)", pipeline)
	}
	s.startCandidate(p)
	return nil
}

// StopShadowVersion ends the pipeline's shadow version, if any; its last
// report stays to be read, no longer running.
func (s *Server) StopShadowVersion(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if vs := s.versionShadows[pipeline]; vs != nil {
		vs.mu.Lock()
		vs.report.Running = false
		vs.mu.Unlock()
	}
}

// VersionShadow reports the pipeline's shadow version, running or
// stopped, if it has had one.
func (s *Server) VersionShadow(pipeline string) (VersionShadowReport, bool) {
	s.mu.Lock()
	vs := s.versionShadows[pipeline]
	s.mu.Unlock()
	if vs == nil {
		return VersionShadowReport{}, false
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	r := vs.report
	r.Sinks = map[string]SinkTally{}
	for k, v := range vs.report.Sinks {
		r.Sinks[k] = v
	}
	r.Samples = slices.Clone(vs.report.Samples)
	return r, true
}

// runningShadow is the pipeline's running shadow version, or nil.
func (s *Server) runningShadow(pipeline string) *versionShadow {
	s.mu.Lock()
	vs := s.versionShadows[pipeline]
	s.mu.Unlock()
	if vs == nil {
		return nil
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if !vs.report.Running {
		return nil
	}
	return vs
}

// run runs the deliveries through the candidate as a dry run, before the
// live run, and returns what each sink would have received; nil when the
// run failed.
func (vs *versionShadow) run(s *Server, ds []*state.Delivery) sinkRecords {
	var inputs []engine.Input
	for _, d := range ds {
		for _, src := range vs.p.sources[d.Trigger] {
			inputs = append(inputs, payloadRecords(vs.p, src, d, &record.Origin{Source: src, Seq: d.ID, Raw: d.Body})...)
		}
	}
	rt := s.runtime(vs.p.Pipeline)
	rt.DryRun, rt.RetryLater = true, false
	res, err := engine.Run(s.runCtx, vs.p.Plan, engine.Options{Runtime: rt, DryRun: true, Inputs: inputs, RulesVersion: vs.p.RulesVersion,
		Unhandled: func(*record.Record) {}})
	if err != nil {
		vs.mu.Lock()
		vs.report.Deliveries += len(ds)
		vs.report.Failed++
		vs.mu.Unlock()
		return nil
	}
	out := sinkRecords{}
	for name, c := range res.Captured {
		for _, rec := range c.Records {
			if rec.Origin != nil {
				k := sinkOf{rec.Origin.Seq, name}
				out[k] = append(out[k], rec.Raw)
			}
		}
	}
	return out
}

// compare pairs, for each delivery, what each sink got from the live run
// with what the candidate would have sent it, and adds them to the report.
// candidate is nil when the candidate's run failed.
func (vs *versionShadow) compare(ds []*state.Delivery, live, candidate sinkRecords) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if candidate == nil {
		return // counted as a failed run
	}
	vs.report.Deliveries += len(ds)
	keys := map[sinkOf]bool{}
	for k := range live {
		keys[k] = true
	}
	for k := range candidate {
		keys[k] = true
	}
	refs := map[int64]string{}
	for _, d := range ds {
		refs[d.ID] = orderRef(d.Body)
	}
	sorted := slices.SortedFunc(func(yield func(sinkOf) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}, func(a, b sinkOf) int {
		return cmp.Or(cmp.Compare(a.delivery, b.delivery), cmp.Compare(a.sink, b.sink))
	})
	samples := map[string]int{}
	for _, s := range vs.report.Samples {
		samples[s.Sink]++
	}
	for _, k := range sorted {
		l, c := live[k], candidate[k]
		t := vs.report.Sinks[k.sink]
		t.Live += int64(len(l))
		t.Candidate += int64(len(c))
		for i := range max(len(l), len(c)) {
			var lr, cr []byte
			if i < len(l) {
				lr = l[i]
			}
			if i < len(c) {
				cr = c[i]
			}
			var fields []string
			switch {
			case lr == nil:
				t.CandidateOnly++
			case cr == nil:
				t.LiveOnly++
			default:
				fields = jsonDiff(lr, cr, 8)
				if len(fields) == 0 {
					t.Same++
					continue
				}
				t.Differ++
			}
			if samples[k.sink] < samplesPerSink {
				samples[k.sink]++
				vs.report.Samples = append(vs.report.Samples, RecordDiff{Ref: refs[k.delivery], Delivery: k.delivery, Sink: k.sink,
					Live: json.RawMessage(lr), Candidate: json.RawMessage(cr), Fields: fields})
			}
		}
		vs.report.Sinks[k.sink] = t
	}
}

// keepSent is the live run's Paths hook while a shadow version compares:
// it keeps what each sink was given, by delivery.
func (live sinkRecords) keepSent(p engine.Path) {
	if p.Sink == "" || p.Origin == nil {
		return
	}
	k := sinkOf{p.Origin.Seq, p.Sink}
	live[k] = append(live[k], p.Record.Raw)
}

// jsonDiff lists the paths at which two JSON texts differ, at most limit;
// none when they are the same value (whatever their spacing or key
// order). Text that is not JSON differs as a whole ("").
func jsonDiff(a, b []byte, limit int) []string {
	if bytes.Equal(a, b) {
		return nil
	}
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	if errA != nil || errB != nil {
		return []string{"(the whole record)"}
	}
	var out []string
	diffValues("", va, vb, &out, limit)
	return out
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func diffValues(path string, a, b any, out *[]string, limit int) {
	if len(*out) >= limit {
		return
	}
	name := path
	if name == "" {
		name = "(the whole record)"
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, name)
			return
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		}) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			xv, inX := x[k]
			yv, inY := y[k]
			if inX != inY {
				if len(*out) < limit {
					*out = append(*out, p)
				}
				continue
			}
			diffValues(p, xv, yv, out, limit)
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			*out = append(*out, name)
			return
		}
		for i := range max(len(x), len(y)) {
			p := path + "[" + strconv.Itoa(i) + "]"
			if i >= len(x) || i >= len(y) {
				if len(*out) < limit {
					*out = append(*out, p)
				}
				continue
			}
			diffValues(p, x[i], y[i], out, limit)
		}
	case json.Number:
		y, ok := b.(json.Number)
		if !ok || !sameNumber(x, y) {
			*out = append(*out, name)
		}
	default:
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, name)
		}
	}
}

// sameNumber compares numbers by value: 1.50 and 1.5 are the same amount.
func sameNumber(a, b json.Number) bool {
	if a == b {
		return true
	}
	ra, okA := new(big.Rat).SetString(string(a))
	rb, okB := new(big.Rat).SetString(string(b))
	return okA && okB && ra.Cmp(rb) == 0
}
