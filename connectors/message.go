package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/pipelines/component"
)

// messageTrigger reads a JetStream subject with a durable pull consumer for
// `pipectl serve`. Building it does no I/O; Consume connects.
type messageTrigger struct {
	url, stream, subject, durable, deliver string
	ackWait                                time.Duration
	batch                                  int
	log                                    *slog.Logger
}

// messageAckWait is how long the server waits for a message's
// acknowledgement before handing it over again. Taking a message is one
// durable enqueue (milliseconds), so this only bounds how late a message
// comes back after serve was killed while taking it.
const messageAckWait = 30 * time.Second

func newMessageTrigger(ctx component.BuildContext) (component.Trigger, error) {
	cfg := ctx.Config
	t := &messageTrigger{
		url:     strSetting(cfg, "url", nats.DefaultURL),
		stream:  strSetting(cfg, "stream", ""),
		subject: strSetting(cfg, "subject", ""),
		durable: strSetting(cfg, "durable", ""),
		deliver: strSetting(cfg, "deliver", "all"),
		ackWait: messageAckWait,
		batch:   64,
		log:     ctx.Runtime.Logger,
	}
	if t.subject == "" {
		return nil, component.SettingErrorf(cfg, "missing-field", "message trigger %q has no subject", ctx.Name)
	}
	if t.durable == "" {
		t.durable = durableName(ctx.Pipeline, ctx.Name)
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// validateMessage checks what can be checked without a server: a durable
// name JetStream accepts.
func validateMessage(cfg *component.Value, report component.Reporter) {
	if d := cfg.Get("durable"); d != nil && !d.Unresolved && strings.ContainsAny(d.Str, ". *>\t\r\n") {
		report.Errorf(d, "invalid-durable", "durable consumer name %s may not contain '.', '*', '>' or white space", quoted(d))
	}
	if s := cfg.Get("subject"); s != nil && !s.Unresolved && (strings.HasPrefix(s.Str, ".") || strings.HasSuffix(s.Str, ".") || strings.Contains(s.Str, "..")) {
		report.Errorf(s, "invalid-subject", "subject %s has an empty token", quoted(s))
	}
}

// durableName is the consumer a trigger reads with when none is named:
// one per pipeline and trigger, shared by every serve process, so each
// message is taken once across all of them.
func durableName(pipeline, trigger string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch r {
			case '.', '*', '>', ' ', '\t', '\r', '\n':
				return '_'
			}
			return r
		}, s)
	}
	return "pipectl_" + clean(pipeline) + "_" + clean(trigger)
}

func (t *messageTrigger) TriggerKind() string { return "message" }

func (t *messageTrigger) Source() string {
	stream := t.stream
	if stream == "" {
		stream = "(the stream taking the subject)"
	}
	return fmt.Sprintf("%s stream %s subject %s consumer %s", t.url, stream, t.subject, t.durable)
}

// Consume connects, finds the stream, creates or updates the durable
// consumer and hands messages to take until ctx ends. What fails on the
// way (the server down, the stream not there yet) is logged and tried
// again every few seconds: serve keeps taking webhooks meanwhile.
func (t *messageTrigger) Consume(ctx context.Context, take func(context.Context, component.Message) error) error {
	nc, err := nats.Connect(t.url,
		nats.Name("pipectl serve: message trigger "+t.durable),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.PingInterval(5*time.Second), nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1))
	if err != nil {
		return fmt.Errorf("message trigger: NATS at %s: %w", t.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("message trigger: JetStream at %s: %w", t.url, err)
	}
	for ctx.Err() == nil {
		cons, err := t.acquire(ctx, js)
		if err != nil {
			return err
		}
		t.log.Info("message trigger consuming", "source", t.Source())
		t.fetch(ctx, cons, take)
	}
	return ctx.Err()
}

// acquire creates or updates the consumer, trying again with a growing
// wait while the server or the stream is not there.
func (t *messageTrigger) acquire(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		cons, err := t.consumer(ctx, js)
		if err == nil {
			return cons, nil
		}
		if errors.Is(err, errRefused) {
			return nil, err
		}
		t.log.Warn("message trigger: not consuming yet", "source", t.Source(), "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// fetch takes batches from cons until ctx ends or the consumer is gone
// (deleted by an operator: acquire makes it again).
func (t *messageTrigger) fetch(ctx context.Context, cons jetstream.Consumer, take func(context.Context, component.Message) error) {
	gone := func(err error) bool {
		return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(t.batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.pause(ctx, "fetching", err)
			if gone(err) {
				return
			}
			continue
		}
		for m := range batch.Messages() {
			if ctx.Err() != nil {
				break // not acknowledged: handed over again after AckWait
			}
			t.takeOne(ctx, m, take)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			t.pause(ctx, "fetching", err)
			if gone(err) {
				return
			}
		}
	}
}

// errRefused marks a consumer the server will not create as configured:
// retrying does not help, a changed pipeline does.
var errRefused = errors.New("refused")

// consumer finds the stream and creates or updates the durable consumer.
func (t *messageTrigger) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream := t.stream
	if stream == "" {
		name, err := js.StreamNameBySubject(cctx, t.subject)
		if err != nil {
			return nil, fmt.Errorf("no stream takes subject %s: %w", t.subject, err)
		}
		stream = name
	}
	deliver := jetstream.DeliverAllPolicy
	if t.deliver == "new" {
		deliver = jetstream.DeliverNewPolicy
	}
	c, err := js.CreateOrUpdateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable:       t.durable,
		Description:   "pipectl serve: message trigger",
		FilterSubject: t.subject,
		DeliverPolicy: deliver,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.ackWait,
		MaxAckPending: 4 * t.batch,
	})
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusBadRequest {
		return nil, fmt.Errorf("%w: stream %s will not take consumer %s: %v", errRefused, stream, t.durable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s, consumer %s: %w", stream, t.durable, err)
	}
	return c, nil
}

// takeOne hands one message over and acknowledges it once take has
// queued it; a message take fails on is handed over again after a delay.
func (t *messageTrigger) takeOne(ctx context.Context, m jetstream.Msg, take func(context.Context, component.Message) error) {
	msg := component.Message{Subject: m.Subject(), Header: http.Header(m.Headers()), Body: m.Data()}
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" {
		msg.EventID = id
	} else if md, err := m.Metadata(); err == nil {
		msg.EventID = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	if err := take(ctx, msg); err != nil {
		t.log.Warn("message trigger: message not queued; it comes again", "source", t.Source(), "subject", msg.Subject, "error", err.Error())
		m.NakWithDelay(5 * time.Second)
		return
	}
	// Acknowledged and confirmed: a lost acknowledgement only means the
	// message comes again, and its event id keeps it from being queued
	// twice.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		t.log.Warn("message trigger: acknowledgement not confirmed; the message may come again and will not be queued twice", "source", t.Source(), "error", err.Error())
	}
}

// pause logs a failure and waits a second before the next try.
func (t *messageTrigger) pause(ctx context.Context, doing string, err error) {
	if ctx.Err() != nil {
		return
	}
	t.log.Warn("message trigger: "+doing, "source", t.Source(), "error", err.Error())
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}
