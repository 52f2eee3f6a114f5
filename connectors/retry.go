package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

// retryFields are the retry settings of the nats and postgres sinks: the
// http sink's, with the same defaults and meaning, so a consultant learns
// them once.
func retryFields() []*component.Field {
	return []*component.Field{
		{Name: "max_attempts", Kind: component.IntField, Default: 10, Doc: "Attempts before a record goes to the error output."},
		{Name: "backoff", Kind: component.DurationField, Default: time.Second, Doc: "Longest wait before the first retry; doubles after each attempt."},
		{Name: "max_backoff", Kind: component.DurationField, Default: time.Minute, Doc: "Longest wait between attempts."},
		{Name: "max_age", Kind: component.DurationField, Default: 24 * time.Hour,
			Doc: "Under `pipectl serve`, how long a record keeps being retried (its retries are kept in the state store across restarts) before it becomes a dead letter, whatever `max_attempts` says."},
	}
}

// validateRetry checks the settings retryFields declares, and the
// positive ints and durations the caller names besides.
func validateRetry(cfg *component.Value, report component.Reporter, ints, durations []string) {
	for _, k := range append([]string{"max_attempts"}, ints...) {
		if v := cfg.Get(k); v != nil && v.Set && v.Int < 1 {
			report.Errorf(v, "invalid-value", "%s must be at least 1", k)
		}
	}
	for _, k := range durations {
		if v := cfg.Get(k); v != nil && v.Set && v.Dur <= 0 {
			report.Errorf(v, "invalid-value", "%s must be positive", k)
		}
	}
	for _, k := range []string{"backoff", "max_backoff", "max_age"} {
		if v := cfg.Get(k); v != nil && v.Set && v.Dur < 0 {
			report.Errorf(v, "invalid-value", "%s must not be negative", k)
		}
	}
}

// retrier makes a delivery's attempts for the nats and postgres sinks with
// the policy the http sink follows: until a success, a failure that will
// not change, max_attempts, or the context. Under serve (retryLater) it
// makes one attempt and reports a failure that may pass later as
// retryable, for serve to keep.
type retrier struct {
	sink       string
	policy     component.RetryPolicy
	retryLater bool
	logger     *slog.Logger
}

func newRetrier(ctx component.BuildContext) (retrier, error) {
	cfg := ctx.Config
	r := retrier{sink: ctx.Name, policy: component.RetryPolicy{
		MaxAttempts: int(intSetting(cfg, "max_attempts", 10)),
		Backoff:     durSetting(cfg, "backoff", time.Second),
		MaxBackoff:  durSetting(cfg, "max_backoff", time.Minute),
		MaxAge:      durSetting(cfg, "max_age", 24*time.Hour),
	}}
	if r.policy.MaxAttempts < 1 {
		return r, component.SettingErrorf(cfg.Get("max_attempts"), "invalid-value", "max_attempts must be at least 1")
	}
	if r.policy.Backoff < 0 || r.policy.MaxBackoff < 0 || r.policy.MaxAge < 0 {
		return r, fmt.Errorf("backoff, max_backoff and max_age must not be negative")
	}
	if ctx.Runtime != nil {
		r.retryLater = ctx.Runtime.RetryLater
		r.logger = ctx.Runtime.Logger
	}
	return r, nil
}

// attemptFunc makes attempt n (1 for the first) and says whether its
// failure may pass when tried again.
type attemptFunc func(ctx context.Context, n int) (retryable bool, err error)

// run makes attempts until one succeeds or no more should be made. A
// failure is a *component.DeliveryError with the attempts made; one that
// ctx ended wraps component.ErrNotDelivered. what names the delivery in
// messages.
func (r *retrier) run(ctx context.Context, what string, attempt attemptFunc) error {
	for n := 1; ; n++ {
		retryable, err := attempt(ctx, n)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return &component.DeliveryError{Attempts: n,
				Err: fmt.Errorf("%w: %s stopped after %d attempt(s): %w", component.ErrNotDelivered, what, n, err)}
		}
		if !retryable {
			return &component.DeliveryError{Attempts: n, Err: err}
		}
		if r.retryLater {
			return &component.DeliveryError{Attempts: n, Err: err, Retryable: true}
		}
		if n >= r.policy.MaxAttempts {
			if n > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, n)
			}
			return &component.DeliveryError{Attempts: n, Err: err}
		}
		wait := r.policy.Delay(n, 0)
		if r.logger != nil {
			r.logger.Warn("retrying", "sink", r.sink, "attempt", n, "of", r.policy.MaxAttempts, "wait", wait.Round(time.Millisecond).String(), "error", err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &component.DeliveryError{Attempts: n,
				Err: fmt.Errorf("%w: %s stopped waiting to retry after %d attempt(s): %w", component.ErrNotDelivered, what, n, err)}
		}
	}
}

// serverName shows a server URL without its credentials (user, password
// or token): scheme, host and path only. A URL built from a secret
// variable shows as component.Redacted.
func serverName(raw string, secret bool) string {
	if secret {
		return component.Redacted
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(an invalid URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// add counts attempts made for several records at once (a postgres
// batch): each record's is one attempt, and a retry when n > 1.
func (d *deliveryStats) add(records int, n int) {
	d.mu.Lock()
	d.attempts += int64(records)
	if n > 1 {
		d.retries += int64(records)
	}
	d.mu.Unlock()
}
