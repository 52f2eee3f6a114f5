package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pipectl/pipectl/engine/state"
)

// Refusal reasons, as counted in pipectl_webhooks_refused_total.
const (
	refusedNotFound    = "not_found"
	refusedMethod      = "method"
	refusedSignature   = "signature"
	refusedTooLarge    = "too_large"
	refusedNotJSON     = "not_json"
	refusedUnavailable = "unavailable"
)

// intake answers a webhook. It is acknowledged (200) only once the
// delivery is durably queued: the raw body, its headers, the trigger, the
// pipeline version and the time it arrived.
func (s *Server) intake(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if s.inFlight.Add(1) >= burstInFlight {
		s.burstUntil.Store(start.Add(burstHold).UnixNano())
	}
	defer s.inFlight.Add(-1)
	set := s.set.Load()
	h, ok := set.byPath[r.URL.Path]
	if !ok {
		s.metrics.refused("", "", refusedNotFound)
		http.NotFound(w, r)
		return
	}
	name := h.p.Plan.Name
	if r.Method != h.wh.Method() {
		s.metrics.refused(name, h.trigger, refusedMethod)
		w.Header().Set("Allow", h.wh.Method())
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.draining.Load() {
		s.metrics.refused(name, h.trigger, refusedUnavailable)
		unavailable(w, "draining")
		return
	}
	if s.cfg.Roles.NoIntake {
		s.metrics.refused(name, h.trigger, refusedUnavailable)
		unavailable(w, "this pipectl serve runs without the intake role")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.wh.MaxBody()))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.metrics.refused(name, h.trigger, refusedTooLarge)
			s.log.Warn("webhook refused: body too large", "pipeline", name, "trigger", h.trigger, "limit", tooLarge.Limit)
			http.Error(w, fmt.Sprintf("body larger than %d bytes", tooLarge.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if h.wh.Ping(r.Header, body) {
		s.log.Info("webhook ping answered", "pipeline", name, "trigger", h.trigger)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.wh.Verify(r.Header, body); err != nil {
		// Logged without the body: an unsigned request is anyone's.
		s.metrics.refused(name, h.trigger, refusedSignature)
		s.kpis.refused(name, refusedSignature)
		s.log.Warn("webhook refused: signature", "pipeline", name, "trigger", h.trigger, "remote", r.RemoteAddr, "error", err.Error())
		http.Error(w, "signature missing or wrong", http.StatusUnauthorized)
		return
	}
	now := s.cfg.Clock.Now()
	header := keptHeader(r.Header)
	if !json.Valid(body) {
		// Signed, so the storefront sent something real: keep it.
		s.metrics.refused(name, h.trigger, refusedNotJSON)
		s.kpis.refused(name, refusedNotJSON)
		dl := &state.DeadLetter{Pipeline: name, Version: h.p.Version, Trigger: h.trigger, Node: h.trigger,
			Error: "the body is not JSON", Payload: body, Header: header, Status: state.DeadOpen, Created: now, Updated: now}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.EnqueueTimeout)
		defer cancel()
		if _, err := s.cfg.Queue.AddDeadLetters(ctx, []*state.DeadLetter{dl}); err != nil {
			s.log.Error("keeping a webhook body that is not JSON", "pipeline", name, "trigger", h.trigger, "error", err.Error())
			unavailable(w, "the state store did not answer")
			return
		}
		s.metrics.deadLetters(name, h.trigger, 1)
		h.p.alerts.deadLetter(now, h.trigger, dl.Error)
		s.log.Warn("webhook refused: not JSON; kept as a dead letter", "pipeline", name, "trigger", h.trigger)
		http.Error(w, "the body is not JSON", http.StatusBadRequest)
		return
	}
	d := &state.Delivery{Pipeline: name, Trigger: h.trigger, Version: h.p.Version, EventID: h.wh.EventID(r.Header, body),
		Received: now, Header: header, Body: body}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.EnqueueTimeout)
	defer cancel()
	id, dup, err := s.cfg.Queue.Enqueue(ctx, d)
	if err != nil {
		s.metrics.refused(name, h.trigger, refusedUnavailable)
		s.log.Error("webhook not queued", "pipeline", name, "trigger", h.trigger, "error", err.Error())
		unavailable(w, "the queue did not commit in time")
		return
	}
	s.metrics.received(name, h.trigger, dup, time.Since(start))
	if !dup {
		s.wake(name)
	}
	w.Header().Set("Content-Type", "application/json")
	if dup {
		fmt.Fprintf(w, `{"duplicate_of":%d}`+"\n", id)
		return
	}
	fmt.Fprintf(w, `{"queued":%d}`+"\n", id)
}

// unavailable answers 503 with a Retry-After, so a storefront tries again.
func unavailable(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", strconv.Itoa(5))
	http.Error(w, why, http.StatusServiceUnavailable)
}

// keptHeader is the part of a request's header kept with its delivery:
// all of it but credentials a proxy may have added.
func keptHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		out.Del(k)
	}
	return out
}

// wake tells a pipeline's worker that a delivery is waiting.
func (s *Server) wake(name string) {
	s.mu.Lock()
	w := s.workers[name]
	s.mu.Unlock()
	if w != nil {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}
