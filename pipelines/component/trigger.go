package component

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Trigger is a built trigger kind: what `pipectl serve` needs to start a
// pipeline's sources. It is one of Webhook, Schedule or Messages; `run`, `validate`,
// dry runs and tests never build triggers.
type Trigger interface {
	// TriggerKind is the kind's name ("webhook", "cron").
	TriggerKind() string
}

// Webhook is a built webhook trigger: how serve accepts, verifies and
// deduplicates the requests it receives at Path.
type Webhook interface {
	Trigger
	Path() string
	Method() string
	// MaxBody is the largest body accepted, in bytes; larger ones get 413.
	MaxBody() int64
	// Verify checks the request's signature over the raw body in constant
	// time against every configured secret (several during a rotation).
	// It returns nil, or an error wrapping ErrUnsigned or ErrBadSignature.
	Verify(h http.Header, body []byte) error
	// Ping reports a request that only checks the URL is alive: the
	// unsigned `webhook_id=N` form WooCommerce posts when a webhook is
	// saved, which must be answered 200 and queued nowhere.
	Ping(h http.Header, body []byte) bool
	// EventID is the key under which a delivery is queued once: a repeated
	// delivery of the same event has the same key. "" when the request
	// carries nothing to tell repeats apart.
	EventID(h http.Header, body []byte) string
}

// Schedule is a built cron trigger.
type Schedule interface {
	Trigger
	// Next is the first tick strictly after t, in t's instant (the
	// schedule is read in Location).
	Next(t time.Time) time.Time
	Location() *time.Location
	// CatchUp is what to do with ticks missed while nothing served:
	// "none", "latest" or "all".
	CatchUp() string
	// Overlap is what to do with a tick that comes while the previous run
	// is still going: "skip" or "queue".
	Overlap() string
}

// Messages is a built message trigger: a subject on NATS JetStream that
// `pipectl serve` reads with a durable consumer, each message one delivery.
type Messages interface {
	Trigger
	// Consume hands each message to take until ctx ends, reconnecting and
	// retrying what fails on the way. A message is acknowledged only after
	// take returned nil (serve has then queued it durably); otherwise it
	// is handed over again later. Consume returns ctx's error, or an error
	// that retrying cannot mend (the settings are refused by the server).
	Consume(ctx context.Context, take func(ctx context.Context, m Message) error) error
	// Source says where the messages come from, for logs: the server, the
	// stream, the subject and the durable consumer.
	Source() string
}

// Message is one message a Messages trigger read.
type Message struct {
	Subject string
	Header  http.Header
	Body    []byte
	// EventID is the key under which the message is queued once: its
	// Nats-Msg-Id when the publisher set one, else its stream and
	// sequence, so a redelivery is never queued twice.
	EventID string
}

// Errors a Webhook's Verify wraps.
var (
	ErrUnsigned     = errors.New("the request carries no signature")
	ErrBadSignature = errors.New("the signature does not match")
)

// Checkpoints keep how far a polling source has read, by pipeline and
// source, across runs and restarts. A source loads its checkpoint when it
// starts and saves the new one only from Ack, once everything it read is
// committed: a run that fails reads the same records again next time.
type Checkpoints interface {
	Checkpoint(ctx context.Context, pipeline, source string) (value string, ok bool, err error)
	SaveCheckpoint(ctx context.Context, pipeline, source, value string) error
}

// Acker is a Source told that everything it emitted in this run has been
// committed by every sink: the point at which advancing a checkpoint, or
// acknowledging a message, is safe. The engine calls Ack once, after the
// sinks closed with commit, and never when the run failed.
type Acker interface {
	Ack(ctx context.Context) error
}
