package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// alertTimeout bounds one post to the alert webhook: an alert that cannot
// be delivered in time is logged and dropped, never retried, so a chat
// service that is down costs serve one goroutine for this long per alert.
const alertTimeout = 10 * time.Second

// alerter posts a pipeline's alerts (its `alerts:` section) to a
// Slack-compatible incoming webhook: when dead letters appear (at most one
// message per min_interval, counting what appeared meanwhile), when a sink
// has failed without a success for sink_failing_for, and when that sink
// delivers again. Its methods are called by workers and the intake as
// things happen; they decide under a lock and post in a goroutine of their
// own, so no worker waits for the chat service. A nil alerter (a pipeline
// without alerts) does nothing.
type alerter struct {
	pipeline string
	set      pipelines.AlertSettings
	log      *slog.Logger
	client   *http.Client
	mask     *strings.Replacer
	st       *alertState
}

// alertState is what the alerts of one pipeline remember. A reload hands
// it to the new version's alerter, so an outage that spans a reload is
// announced once, and resolved.
type alertState struct {
	mu sync.Mutex
	// lastDead is when the last dead-letter alert was sent; pending counts
	// the dead letters since, by node, with the first one's error.
	lastDead     time.Time
	pending      map[string]int
	pendingFirst string
	sinks        map[string]*sinkAlert
}

// sinkAlert is one sink's failing streak: since its first failure after
// its last success.
type sinkAlert struct {
	since    time.Time
	failures int
	first    string
	alerted  bool
}

// newAlerter builds the alerter of a pipeline with alerts; prev is the
// alerter of the version it replaces, if any.
func newAlerter(p *pipelines.Plan, log *slog.Logger, prev *alerter) *alerter {
	if p.Alerts == nil {
		return nil
	}
	a := &alerter{pipeline: p.Name, set: *p.Alerts, log: log, client: &http.Client{Timeout: alertTimeout}}
	pairs := []string{}
	for _, s := range p.Secrets {
		pairs = append(pairs, s, component.Redacted)
	}
	a.mask = strings.NewReplacer(pairs...)
	if prev != nil {
		a.st = prev.st
	} else {
		a.st = &alertState{pending: map[string]int{}, sinks: map[string]*sinkAlert{}}
	}
	return a
}

// deadLetter notes a dead letter made at node (a trigger, a step, a sink or
// the pipeline itself) at now.
func (a *alerter) deadLetter(now time.Time, node, errText string) {
	if a == nil || !a.set.DeadLetters {
		return
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.pending[node]++
	if a.st.pendingFirst == "" {
		a.st.pendingFirst = errText
	}
	a.flushDead(now)
}

// flushDead sends the pending dead-letter count when the last such alert
// is at least min_interval old. The caller holds the lock.
func (a *alerter) flushDead(now time.Time) {
	st := a.st
	if len(st.pending) == 0 || (!st.lastDead.IsZero() && now.Sub(st.lastDead) < a.set.MinInterval) {
		return
	}
	total := 0
	nodes := make([]string, 0, len(st.pending))
	for n, c := range st.pending {
		total += c
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var by []string
	for _, n := range nodes {
		by = append(by, fmt.Sprintf("%s: %d", n, st.pending[n]))
	}
	what := "1 dead letter"
	if total > 1 {
		what = fmt.Sprintf("%d dead letters", total)
	}
	since := ""
	if !st.lastDead.IsZero() {
		since = " since the last alert"
	}
	text := fmt.Sprintf("pipectl: pipeline %s: %s%s (%s). First error: %s. See `pipectl dlq list --pipeline %s`.",
		a.pipeline, what, since, strings.Join(by, ", "), a.clean(st.pendingFirst), a.pipeline)
	st.lastDead, st.pending, st.pendingFirst = now, map[string]int{}, ""
	a.send("dead letters", text)
}

// sinkFailed notes a delivery of sink that failed at now and is to be
// retried.
func (a *alerter) sinkFailed(now time.Time, sink, errText string) {
	if a == nil || a.set.SinkFailingFor <= 0 {
		return
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	s := a.st.sinks[sink]
	if s == nil {
		s = &sinkAlert{since: now, first: errText}
		a.st.sinks[sink] = s
	}
	s.failures++
	a.checkSinks(now)
}

// sinkDelivered notes a delivery of sink that succeeded: the end of its
// failing streak, announced when the streak was.
func (a *alerter) sinkDelivered(now time.Time, sink string) {
	if a == nil {
		return
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	s := a.st.sinks[sink]
	if s == nil {
		return
	}
	delete(a.st.sinks, sink)
	if s.alerted {
		a.send("resolved", fmt.Sprintf("pipectl: pipeline %s: resolved: sink %s delivers again, after failing for %s (%d failed attempts).",
			a.pipeline, sink, roundDur(now.Sub(s.since)), s.failures))
	}
}

// checkSinks announces the sinks whose streak reached sink_failing_for.
// The caller holds the lock.
func (a *alerter) checkSinks(now time.Time) {
	names := make([]string, 0, len(a.st.sinks))
	for n := range a.st.sinks {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := a.st.sinks[n]
		if s.alerted || now.Sub(s.since) < a.set.SinkFailingFor {
			continue
		}
		s.alerted = true
		a.send("sink failing", fmt.Sprintf("pipectl: pipeline %s: sink %s is failing: no delivery has succeeded for %s (%d failed attempts); its records wait as retries. First error: %s.",
			a.pipeline, n, roundDur(now.Sub(s.since)), s.failures, a.clean(s.first)))
	}
}

// poll sends what time alone makes due: a pending dead-letter count whose
// interval passed, a sink whose streak reached sink_failing_for between
// two failures. Workers call it each time round their loop.
func (a *alerter) poll(now time.Time) {
	if a == nil {
		return
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	if a.set.DeadLetters {
		a.flushDead(now)
	}
	if a.set.SinkFailingFor > 0 {
		a.checkSinks(now)
	}
}

// clean makes an error fit a chat message: secrets masked, one line, short.
func (a *alerter) clean(errText string) string {
	s := strings.Join(strings.Fields(a.mask.Replace(errText)), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	if s == "" {
		s = "(none recorded)"
	}
	return s
}

// send posts text in the background; a failure is logged, never fatal.
func (a *alerter) send(kind, text string) {
	body, _ := json.Marshal(map[string]string{"text": text})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), alertTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.set.WebhookURL, bytes.NewReader(body))
		if err != nil {
			a.log.Error("alert not posted", "pipeline", a.pipeline, "alert", kind, "error", a.mask.Replace(err.Error()))
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.client.Do(req)
		if err != nil {
			a.log.Error("alert not posted", "pipeline", a.pipeline, "alert", kind, "error", a.mask.Replace(err.Error()))
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			a.log.Error("alert not posted", "pipeline", a.pipeline, "alert", kind, "status", resp.StatusCode)
			return
		}
		a.log.Info("alert posted", "pipeline", a.pipeline, "alert", kind)
	}()
}

// roundDur prints a streak's length without its nanoseconds.
func roundDur(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
