package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/console"
	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/engine/state/jsintake"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

func runServe(c *cli, args []string) int {
	fs := newFlags(c, "serve", "[FILE|DIR...] [--listen ADDR] [--state URL] [--nats URL] [--roles R,...] [--watch] [--drain-timeout D]", `
Serve loads every pipeline under the paths (the current directory when none
is named), compiled exactly as validate compiles them, and refuses to start
on any error, printing every diagnostic. It then serves them until stopped:

  webhooks  each webhook trigger's path on one HTTP listener (--listen).
            A request is verified (Shopify or WooCommerce HMAC on the raw
            body, any of the trigger's secrets), then durably queued in the
            state store, and only then answered 200. A repeat of an event
            already queued is answered 200 and not queued again. Answers:
            401 bad or missing signature, 413 body over max_body, 400 a
            signed body that is not JSON (kept as a dead letter), 503 the
            queue did not commit within 2.5s or serve is draining (the
            storefront retries), 404/405 as usual. WooCommerce's ping when
            a webhook is saved gets 200.
  workers   one per pipeline, in arrival order: queued deliveries run
            through the pipeline with the engine pipectl run uses, and
            leave the queue only once their run committed. Killed at any
            moment, serve loses no acknowledged delivery: what had not
            committed runs again after the next start (within the 30s
            lease the killed process held it for), and allocate's
            idempotency and the sinks' idempotency keys keep that from
            doubling anything.
  retries   a sink failure that may pass (5xx, 408, 429, network errors)
            is kept in the store and retried with backoff and jitter up to
            the sink's max_attempts and max_age, across restarts; a record
            that fails for good and that no error output reads becomes a
            dead letter (see pipectl dlq).

Also served: /healthz (alive), /readyz (pipelines loaded, store reachable,
not draining), /metrics (Prometheus), and the ops console at /ui/ with its
JSON API at /api/v1/ (pipelines' health, the DAG with live counts, dead
letters). The console and API take tokens (pipectl tokens create); with
none in force serve listens on loopback only and refuses any other
address. --read-only refuses every write the console and API could make.
TLS is the reverse proxy's job: serve listens on loopback by default.

Several processes: with --state postgres://… any number of serve
processes, on one machine or many, share the queue, retries, dead letters,
schedules and inventory; each is stateless and any of them runs what
another queued. --nats nats://… puts the intake queue on NATS JetStream
(stream PIPECTL_IN, one durable consumer per pipeline shared by every
worker): a webhook is answered 200 only after JetStream acknowledged it,
and a run's completion is recorded in PostgreSQL, with its retries and dead
letters, before it is acknowledged, so a redelivery after a crash never
runs twice. --roles splits the work: intake answers webhooks, worker runs
queued deliveries and retries, scheduler claims cron ticks (each tick runs
once across all processes). A process without the intake role answers
webhooks 503; put only intake processes behind the storefront's URL.

Reload: on SIGHUP, or every second with --watch when a pipeline or rules
file changed, the pipelines are compiled again and put in force at once
only when all compile clean; otherwise the diagnostics are printed and the
running versions stay. Runs in flight finish on the version they took.

Stop: SIGTERM or SIGINT drains. Readiness turns false and new webhooks get
503 at once, runs in flight finish and commit, and serve exits 0 within
--drain-timeout (what has not committed by then stays queued for the next
start). A second signal exits at once; nothing acknowledged is lost.`,
		`  SHOPIFY_WEBHOOK_SECRET=… WMS_TOKEN=… pipectl serve examples/shopify-orders-to-wms
  pipectl serve --listen 0.0.0.0:8080 --state postgres://pipectl@db/pipectl pipelines/
  pipectl serve --watch --log-format json .
  pipectl serve --state postgres://pipectl@db/pipectl --nats nats://nats:4222 --roles intake --listen 0.0.0.0:8080 pipelines/
  pipectl serve --state postgres://pipectl@db/pipectl --nats nats://nats:4222 --roles worker,scheduler --listen 127.0.0.1:8081 pipelines/`)
	listen := fs.String("listen", "127.0.0.1:8080", "address the webhooks, /healthz, /readyz and /metrics are served on")
	stateURL := fs.String("state", "", stateFlagDoc)
	watch := fs.Bool("watch", false, "reload when a pipeline or rules file changes (checked every second)")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "longest wait, on SIGTERM, for runs in flight to finish")
	logFormat := fs.String("log-format", "text", "log lines as text or json, on stderr")
	readOnly := fs.Bool("read-only", false, "the console and its API change nothing")
	natsURL := fs.String("nats", "", "NATS server(s) with JetStream (nats://host:4222, comma-separated for a cluster): webhooks are queued on JetStream, the rest of serve's state stays in --state, which must be postgres://…")
	natsStream := fs.String("nats-stream", jsintake.DefaultStream, "the JetStream stream serve queues webhooks on; pipectl environments sharing one NATS (staging, production) each name their own")
	natsReplicas := fs.Int("nats-replicas", 1, "replicas of the JetStream stream serve creates (3 on a three-server cluster)")
	rolesFlag := fs.String("roles", "all", "the parts of serve this process runs: all, or any of intake,worker,scheduler (needs --state postgres://…)")
	var shadows multiFlag
	fs.Var(&shadows, "shadow", "a candidate version of a served pipeline (a file with the same pipeline name), run in shadow: dry, its sinks captured and compared record by record with the live version's on the console (repeatable)")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(c.stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(c.stderr, nil)
	default:
		fmt.Fprintf(c.stderr, "pipectl serve: --log-format %q: want text or json\n", *logFormat)
		return exitUsage
	}
	log := slog.New(handler)

	loaded, files, ok := loadServed(c, paths)
	if !ok {
		return exitError
	}
	engine.TuneGC()
	ctx := context.Background()
	roles, err := parseRoles(*rolesFlag)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: --roles %q: %v\n", *rolesFlag, err)
		return exitUsage
	}
	local := !strings.HasPrefix(*stateURL, "postgres://") && !strings.HasPrefix(*stateURL, "postgresql://")
	switch {
	case *natsURL != "" && local:
		fmt.Fprintln(c.stderr, "pipectl serve: --nats keeps the intake on JetStream and everything else in PostgreSQL: give --state postgres://…")
		return exitUsage
	case roles != (serve.Roles{}) && local:
		fmt.Fprintln(c.stderr, "pipectl serve: --roles splits serve across processes sharing their state: give --state postgres://… (and --nats nats://… for the intake on JetStream)")
		return exitUsage
	}
	q, err := state.OpenQueue(ctx, *stateURL, state.Options{})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: opening the queue: %v\n", err)
		return exitError
	}
	queueKind := "sqlite"
	if !local {
		queueKind = "postgres"
	}
	if *natsURL != "" {
		jq, err := jsintake.Open(ctx, *natsURL, q, jsintake.Config{Stream: *natsStream, Prefix: jsintake.PrefixOf(*natsStream), Replicas: *natsReplicas, Name: "pipectl serve " + processName()})
		if err != nil {
			q.Close()
			fmt.Fprintf(c.stderr, "pipectl serve: the intake on JetStream: %v\n", err)
			return exitError
		}
		q, queueKind = jq, "jetstream"
	}
	defer q.Close()
	var inv state.Store
	if slices.ContainsFunc(loaded, func(p *serve.Pipeline) bool { return p.Plan.UsesState() }) || *stateURL != "" {
		if inv, err = state.Open(ctx, *stateURL, state.Options{}); err != nil {
			fmt.Fprintf(c.stderr, "pipectl serve: opening state: %v\n", err)
			return exitError
		}
		defer inv.Close()
	}
	metrics := serve.NewMetrics(nil)
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, Logger: log, Stdout: c.stdout, Metrics: metrics, LookupEnv: os.LookupEnv, Roles: roles,
		Node: state.Node{Name: processName(), Roles: roleNames(roles), Listen: *listen, Queue: queueKind, Version: shortVersion()}})
	if err := srv.Load(loaded); err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
		return exitError
	}
	if !loopback(*listen) {
		has, err := ops.HasTokens(ctx, q)
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl serve: reading tokens: %v\n", err)
			return exitError
		}
		if !has {
			fmt.Fprintf(c.stderr, "pipectl serve: --listen %s is beyond this machine, and no token is in force: anyone who reaches it could operate the console.\n"+
				"  make one first (pipectl tokens create NAME --role admin --state …), or listen on 127.0.0.1\n", *listen)
			return exitError
		}
	}
	// The console's rules changes reload through the loop below, as a
	// SIGHUP does, and wait for the outcome.
	reloadReq := make(chan chan error)
	copts := compileOptions(registry(), component.SystemClock{})
	cons, err := console.New(console.Config{Server: srv, ReadOnly: *readOnly, Logger: log, Compile: &copts,
		Reload: func() error {
			done := make(chan error, 1)
			reloadReq <- done
			return <-done
		}})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
		return exitError
	}
	if len(shadows) > 0 {
		cands, _, ok := loadServed(c, shadows)
		if !ok {
			return exitError
		}
		for _, p := range cands {
			if err := srv.ShadowVersion(p); err != nil {
				fmt.Fprintf(c.stderr, "pipectl serve: --shadow %s: %v\n", p.Path, err)
				return exitError
			}
			log.Info("shadow version", "pipeline", p.Plan.Name, "file", p.Path, "version", p.Version)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
		return exitError
	}
	// The overview's sparklines: a sample of every pipeline's KPIs each
	// 30 s, an hour kept.
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go cons.Run(sampling, 30*time.Second)
	root := http.NewServeMux()
	ui := cons.Handler()
	root.Handle("/ui/", ui)
	root.Handle("/api/v1/", ui)
	root.Handle("/", srv.Handler())
	hs := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	srv.Start()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "pipelines", strings.Join(srv.Pipelines(), ","), "roles", roleNames(roles), "queue", queueKind)
	noteIdle(log, loaded)

	stop := make(chan os.Signal, 2)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if *watch {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	reload := func(why string) bool {
		next, nextFiles, ok := loadServed(c, paths)
		if ok {
			if err := srv.Load(next); err != nil {
				fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
				ok = false
			}
		}
		metrics.Reloaded(ok)
		files = nextFiles
		if !ok {
			log.Error("reload refused: the running pipelines stay in force", "why", why)
			return false
		}
		log.Info("reloaded", "why", why, "pipelines", strings.Join(srv.Pipelines(), ","))
		noteIdle(log, next)
		return true
	}
	for {
		select {
		case err := <-served:
			fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
			srv.Close()
			return exitError
		case <-hup:
			reload("SIGHUP")
			continue
		case done := <-reloadReq:
			if reload("rules changed on the console") {
				done <- nil
			} else {
				done <- errors.New("the pipelines did not compile; the running versions stay in force (see serve's log)")
			}
			continue
		case <-tick:
			if changed(files) {
				reload("files changed")
			}
			continue
		case sig := <-stop:
			log.Info("draining", "signal", sigName(sig), "timeout", drainTimeout.String())
			go func() {
				<-stop
				fmt.Fprintln(c.stderr, "pipectl serve: exiting now; what was not committed runs again at the next start")
				os.Exit(exitCodeFor(sig, exitError))
			}()
		}
		break
	}
	// Readiness false and 503s first, then no new connections, then the
	// runs in flight.
	srv.SetDraining()
	dctx, cancel := context.WithTimeout(context.Background(), *drainTimeout)
	defer cancel()
	hs.Shutdown(dctx)
	if err := srv.Drain(dctx); err != nil {
		log.Warn("drain timed out: runs not committed stay queued for the next start", "timeout", drainTimeout.String())
	}
	log.Info("stopped")
	return exitOK
}

// watchedFile is a file serve loaded, with what it held.
type watchedFile struct {
	path string
	sum  [sha256.Size]byte
}

// changed reports whether any loaded file changed or disappeared.
func changed(files []watchedFile) bool {
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil || sha256.Sum256(b) != f.sum {
			return true
		}
	}
	return false
}

// loadServed compiles every pipeline under paths as validate does. ok is
// false, with every diagnostic printed, when any has an error. A pipeline
// none of whose triggers serve can serve is loaded all the same: a
// manual pipeline does nothing under serve, which it says.
func loadServed(c *cli, paths []string) (out []*serve.Pipeline, files []watchedFile, ok bool) {
	found, err := pipelineFiles(paths)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl serve: %v\n", err)
		return nil, nil, false
	}
	copts := compileOptions(registry(), component.SystemClock{})
	ok = true
	for _, path := range found {
		plan, f, ds := pipelines.Validate(path, copts)
		if f != nil {
			for p, src := range f.Sources {
				files = append(files, watchedFile{p, sha256.Sum256(src)})
			}
		}
		if plan == nil || ds.HasErrors() {
			ok = false
			writeDiagnostics(c.stderr, "text", ds, sourcesOf(f))
			continue
		}
		out = append(out, &serve.Pipeline{Plan: plan, File: f, Path: path, Version: versionOf(f), RulesVersion: f.RulesVersion()})
	}
	if !ok {
		return nil, files, false
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stderr, "pipectl serve: no pipeline to serve")
		return nil, files, false
	}
	return out, files, true
}

// versionOf names a pipeline's version: the first 12 hex digits of the
// SHA-256 over its files (the pipeline and its rules), by path.
func versionOf(f *pipelines.File) string {
	paths := make([]string, 0, len(f.Sources))
	for p := range f.Sources {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	h := sha256.New()
	for _, p := range paths {
		io.WriteString(h, filepath.Base(p))
		h.Write([]byte{0})
		h.Write(f.Sources[p])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// noteIdle says which pipelines serve loaded but has nothing to do for:
// those with only manual triggers (run them with pipectl run).
func noteIdle(log *slog.Logger, ps []*serve.Pipeline) {
	for _, p := range ps {
		served := false
		for _, t := range p.Plan.Triggers {
			switch t.Kind {
			case "webhook", "cron", "message":
				served = true
			}
		}
		if !served {
			log.Info("no webhook, cron or message trigger: serve does nothing for this pipeline; run it with pipectl run", "pipeline", p.Plan.Name)
		}
	}
}

// loopback reports whether a listen address stays on this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseRoles reads --roles: "all" (or empty) runs every part of serve;
// otherwise a comma-separated list of intake, worker and scheduler, and
// whatever is not named is left to other processes.
func parseRoles(s string) (serve.Roles, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return serve.Roles{}, nil
	}
	r := serve.Roles{NoIntake: true, NoWorkers: true, NoSchedules: true}
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "intake":
			r.NoIntake = false
		case "worker":
			r.NoWorkers = false
		case "scheduler":
			r.NoSchedules = false
		case "all":
			return serve.Roles{}, nil
		case "relay":
			return r, errors.New("relay: serve has no outbox to relay yet; the worker role sends follow-up messages itself")
		default:
			return r, fmt.Errorf("unknown role %q: want intake, worker or scheduler", strings.TrimSpace(name))
		}
	}
	return r, nil
}

// roleNames is how a log line names the roles r runs.
func roleNames(r serve.Roles) string {
	var names []string
	if !r.NoIntake {
		names = append(names, "intake")
	}
	if !r.NoWorkers {
		names = append(names, "worker")
	}
	if !r.NoSchedules {
		names = append(names, "scheduler")
	}
	return strings.Join(names, ",")
}

// processName names this process in NATS's monitoring and in logs: the host
// and the process id.
func processName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// shortVersion is pipectl's version as a node reports it: the version, and
// the commit when known.
func shortVersion() string {
	v, rev := buildVersion()
	if rev != "" {
		return v + " " + rev
	}
	return v
}
