package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipectl/pipectl/engine/schedule"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// Pipeline is one compiled pipeline to serve.
type Pipeline struct {
	Plan *pipelines.Plan
	// File is the loaded file the plan was compiled from (its rule sets'
	// settings, for the console's documentation); nil is allowed.
	File *pipelines.File
	// Path is the pipeline file; what it ships with resolves against its
	// directory.
	Path string
	// Version names the pipeline's files as compiled (a hash of the
	// pipeline and rules files): every delivery records the version that
	// accepted it, and every dead letter the version it failed on.
	Version      string
	RulesVersion string
}

// Config is what a Server is given.
type Config struct {
	Queue state.Queue
	// Inventory is the inventory store allocate and inventory sinks use;
	// nil when no pipeline needs one.
	Inventory state.Store
	Logger    *slog.Logger
	Clock     component.Clock
	LookupEnv func(string) (string, bool)
	Stdout    io.Writer
	// Metrics registers serve's collectors; NewMetrics makes one.
	Metrics *Metrics
	// BatchSize bounds how many deliveries one run of a pipeline takes
	// (default 256): under load a run takes what queued while the one
	// before it ran, so commits and sink flushes are shared.
	BatchSize int
	// BurstLag is how far behind a worker lets its queue fall while a
	// burst of webhooks is being answered (default 5s; negative: never
	// yields): acknowledging first keeps storefronts from timing out and
	// retrying, and the backlog runs in bigger batches after the burst.
	BurstLag time.Duration
	// Lease is how long a claimed delivery stays with its worker before
	// another may take it (default 30s): after a kill -9, the deliveries
	// the dead process held run again once it runs out. A run that takes
	// longer may then run twice, in two processes sharing PostgreSQL; the
	// idempotency keys keep that from doubling an effect.
	Lease time.Duration
	// EnqueueTimeout bounds the wait for the intake queue's commit before
	// a webhook is answered 503 (default 2.5s: Shopify gives up after 5s).
	EnqueueTimeout time.Duration
	// PollEvery is how often an idle worker looks for due retries and for
	// deliveries another process queued (default 250ms).
	PollEvery time.Duration
	// ScheduleClock is the clock cron triggers wait on; the system's when
	// nil. Tests give a schedule.FakeClock.
	ScheduleClock schedule.Clock
	// MaxRunAttempts is how many times a delivery whose run fails as a
	// whole (not a record: the run itself) is tried before it becomes a
	// dead letter (default 5).
	MaxRunAttempts int
	// Roles are the parts of serve this process runs; the zero value runs
	// every one. Processes sharing PostgreSQL (and JetStream) split them.
	Roles Roles
	// Node names this process in the store's list of nodes (pipectl
	// cluster status); with no Name, serve records nothing.
	Node state.Node
}

// Roles leave parts of serve to other processes. Each is stateless: what
// one process queued, any other runs.
type Roles struct {
	// NoIntake: webhooks are answered 503 here, to be sent to a process
	// that takes them (readiness stays true: the console and metrics are
	// still served).
	NoIntake bool
	// NoWorkers: no queued delivery or retry runs here.
	NoWorkers bool
	// NoSchedules: no cron tick is claimed or run here.
	NoSchedules bool
}

// Server serves a set of pipelines: their webhooks on one HTTP handler,
// their queued deliveries and retries on one worker per pipeline.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	set     atomic.Pointer[pipelineSet]

	draining atomic.Bool
	loaded   atomic.Bool
	// inFlight counts webhooks being answered; burstUntil (Unix ns) is
	// burstHold past the last moment it reached burstInFlight. Workers
	// yield to a burst (see worker.yield).
	inFlight   atomic.Int64
	burstUntil atomic.Int64

	mu      sync.Mutex
	workers map[string]*worker
	wg      sync.WaitGroup
	// runCtx ends the runs in flight: a drain whose timeout passed.
	runCtx    context.Context
	cancelRun context.CancelFunc
	// stopClaim stops workers taking new work: the drain has begun.
	stopClaim chan struct{}
	started   bool
	// schedules are the cron triggers being kept, by pipeline and trigger.
	schedules map[string]*scheduled
	// consuming holds a reader per message trigger in force, by pipeline
	// and trigger.
	consuming map[string]*consuming
	// conns keeps each pipeline's sink connections open from one run to
	// the next, by pipeline name.
	conns map[string]*component.Connections
	// totals add up what each pipeline's nodes did, for the console.
	totals nodeTotals
	// paused caches the pauses kept in the store.
	paused pauseCache
	// kpis keep the merchant's KPIs for the console.
	kpis kpiTracker
	// shadows are the rules candidates run beside the live pipelines, and
	// versionShadows the candidate versions of their files, by pipeline
	// (under mu).
	shadows        map[string]*shadow
	versionShadows map[string]*versionShadow
	// candidates are the candidate versions loaded to run in shadow, by
	// pipeline, kept when their shadow stops so it can start again.
	candidates map[string]*Pipeline
}

// pipelineSet is the pipelines in force, swapped whole on reload.
type pipelineSet struct {
	byName map[string]*served
	byPath map[string]*hook
	names  []string
}

// served is a pipeline with its triggers built.
type served struct {
	*Pipeline
	hooks map[string]*hook // by trigger name
	// sources lists, by trigger name, the sources it starts.
	sources   map[string][]string
	schedules map[string]component.Schedule
	messages  map[string]component.Messages
	// alerts posts the pipeline's alerts; nil without an `alerts:` section.
	alerts *alerter
}

// hook is one webhook trigger of a served pipeline.
type hook struct {
	p       *served
	trigger string
	wh      component.Webhook
}

// New returns a server with no pipelines; Load gives it some.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = component.SystemClock{}
	}
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 256
	}
	if cfg.BurstLag == 0 {
		cfg.BurstLag = 5 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = 2500 * time.Millisecond
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 250 * time.Millisecond
	}
	if cfg.MaxRunAttempts < 1 {
		cfg.MaxRunAttempts = 5
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, workers: map[string]*worker{}, stopClaim: make(chan struct{})}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	s.set.Store(&pipelineSet{byName: map[string]*served{}, byPath: map[string]*hook{}})
	s.metrics.watch(s)
	return s
}

// Load puts a new set of pipelines in force, at once and whole: webhooks
// arriving from now on are checked and queued by the new versions, and
// each worker's next run uses them, while runs in flight finish on the
// version they started with. Nothing changes when an error is returned
// (a trigger that cannot be built, two webhooks on one path).
func (s *Server) Load(ps []*Pipeline) error {
	set := &pipelineSet{byName: map[string]*served{}, byPath: map[string]*hook{}}
	old := s.set.Load()
	var errs []error
	for _, p := range ps {
		if _, dup := set.byName[p.Plan.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: pipeline %q is also defined by another file", p.Path, p.Plan.Name))
			continue
		}
		sp := &served{Pipeline: p, hooks: map[string]*hook{}, sources: map[string][]string{}, schedules: map[string]component.Schedule{}, messages: map[string]component.Messages{}}
		if a := p.Plan.Alerts; a != nil {
			if a.WebhookURL == "" {
				errs = append(errs, fmt.Errorf("%s: alerts: webhook_url is empty: is the environment variable it names set?", p.Path))
				continue
			}
			var prev *alerter
			if o := old.byName[p.Plan.Name]; o != nil {
				prev = o.alerts
			}
			sp.alerts = newAlerter(p.Plan, s.log, prev)
		}
		for _, n := range p.Plan.Nodes {
			if n.Section == component.SourceSection && n.Trigger != nil {
				sp.sources[n.Trigger.Name] = append(sp.sources[n.Trigger.Name], n.Name)
			}
		}
		rt := s.runtime(p)
		for _, t := range p.Plan.Triggers {
			if t.Spec == nil || t.Spec.NewTrigger == nil {
				continue // manual: nothing to serve
			}
			built, err := t.Spec.NewTrigger(component.BuildContext{Name: t.Name, Config: t.Config, Runtime: rt, Pipeline: p.Plan.Name})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: trigger %q: %w", p.Path, t.Name, err))
				continue
			}
			switch tr := built.(type) {
			case component.Webhook:
				h := &hook{p: sp, trigger: t.Name, wh: tr}
				if other, taken := set.byPath[tr.Path()]; taken {
					errs = append(errs, fmt.Errorf("%s: trigger %q: path %s is already served by pipeline %q, trigger %q", p.Path, t.Name, tr.Path(), other.p.Plan.Name, other.trigger))
					continue
				}
				set.byPath[tr.Path()] = h
				sp.hooks[t.Name] = h
			case component.Schedule:
				sp.schedules[t.Name] = tr
			case component.Messages:
				sp.messages[t.Name] = tr
			}
		}
		set.byName[p.Plan.Name] = sp
		set.names = append(set.names, p.Plan.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slices.Sort(set.names)
	s.set.Store(set)
	s.loaded.Store(true)
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started {
		s.startWorkers()
	}
	return nil
}

// Pipelines lists the names of the pipelines in force.
func (s *Server) Pipelines() []string { return s.set.Load().names }

// Start starts a worker for every pipeline in force (and for those later
// loads add). Workers run until Drain.
func (s *Server) Start() {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	if s.cfg.Node.Name != "" && s.cfg.Queue != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.heartbeat()
		}()
	}
	s.startWorkers()
}

func (s *Server) startWorkers() {
	set := s.set.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopClaim:
		return
	default:
	}
	for _, name := range set.names {
		if s.cfg.Roles.NoWorkers {
			break
		}
		if w, ok := s.workers[name]; ok && !w.exited.Load() {
			continue
		}
		w := &worker{s: s, name: name, notify: make(chan struct{}, 1), lastEmpty: time.Now()}
		s.workers[name] = w
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.loop()
		}()
	}
	s.syncSchedules(set)
	s.syncMessages(set)
}

// SetDraining turns readiness false and makes the intake answer 503, at
// once, before the listener stops: a load balancer stops sending and a
// storefront retries elsewhere or later.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Drain stops the workers taking new work and waits for the runs in
// flight to finish and commit. When ctx ends first, the runs still going
// are stopped: what they had not committed stays queued (nothing is
// lost; it runs again at the next start) and Drain returns ctx's error.
func (s *Server) Drain(ctx context.Context) error {
	s.SetDraining()
	s.mu.Lock()
	select {
	case <-s.stopClaim:
	default:
		close(s.stopClaim)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.closeIdle(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancelRun()
		<-done
		return ctx.Err()
	}
}

// Close stops everything at once; Drain first for a clean stop.
func (s *Server) Close() {
	s.cancelRun()
	s.Drain(context.Background())
}

// runtime is the Runtime a pipeline's runs get.
func (s *Server) runtime(p *Pipeline) *component.Runtime {
	rt := &component.Runtime{
		Clock:      s.cfg.Clock,
		Logger:     s.log.With("pipeline", p.Plan.Name),
		Dir:        filepath.Dir(p.Path),
		LookupEnv:  s.cfg.LookupEnv,
		Stdout:     s.cfg.Stdout,
		RetryLater: true,
		Answered:   s.metrics.answered(p.Plan.Name),
		// Each batch of deliveries is a run of its own: file sinks add to
		// their files rather than replace them.
		Append:            true,
		Connections:       s.connections(p.Plan.Name),
		Discrepancy:       s.discrepancy(p.Plan.Name),
		AllocationOutcome: s.allocationOutcome(p.Plan.Name),
	}
	if s.cfg.Inventory != nil {
		rt.Inventory, rt.Keys = s.cfg.Inventory, s.cfg.Inventory
	}
	if s.cfg.Queue != nil {
		rt.Checkpoints = s.cfg.Queue
	}
	return rt
}

// allocationOutcome counts the pipeline's orders by outcome.
func (s *Server) allocationOutcome(pipeline string) func(step, outcome string) {
	count := s.metrics.allocationOutcome(pipeline)
	return func(step, outcome string) {
		count(step, outcome)
		s.kpis.outcome(pipeline, outcome)
	}
}

// discrepancy counts and logs the pipeline's inventory discrepancies.
func (s *Server) discrepancy(pipeline string) func(string, component.Discrepancy) {
	return func(sink string, d component.Discrepancy) {
		s.metrics.discrepancy(pipeline, sink, d)
		s.kpis.discrepancy(pipeline)
		s.log.Info("inventory discrepancy", "pipeline", pipeline, "sink", sink, "sku", d.SKU, "location", d.Location,
			"held", d.Held.String(), "counted", d.Counted.String())
	}
}

// connections is the pipeline's kept sink connections.
func (s *Server) connections(pipeline string) *component.Connections {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[pipeline]
	if c == nil {
		if s.conns == nil {
			s.conns = map[string]*component.Connections{}
		}
		c = &component.Connections{}
		s.conns[pipeline] = c
	}
	return c
}

// closeIdle closes the kept connections, once the last run is over.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.CloseIdle()
	}
}

// Handler serves the webhooks of the pipelines in force, and /healthz,
// /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("/", s.intake)
	return mux
}

// ready answers 200 while pipelines are loaded, the store answers and no
// drain has begun; 503 with the reason otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case s.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	case !s.loaded.Load():
		http.Error(w, "no pipelines loaded", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if p, ok := s.cfg.Queue.(interface{ Ping(context.Context) error }); ok {
		// JetStream and PostgreSQL, each named when it does not answer.
		if err := p.Ping(ctx); err != nil {
			http.Error(w, "unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	} else if _, err := s.cfg.Queue.Depth(ctx, ""); err != nil {
		http.Error(w, "state store unreachable", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}
