package state

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Queue is the state `pipectl serve` keeps besides inventory: the intake
// queue of deliveries, the sink retries that survive restarts, dead
// letters, run history, cron tick claims, polling checkpoints and the audit
// log of what operators did. It has two implementations, on SQLite (a file
// of its own beside the inventory database, see OpenQueue) and on
// PostgreSQL (tables in the same database), and one conformance suite runs
// against both; a JetStream-backed intake can take the Intake part later
// without changing its callers.
type Queue interface {
	Intake
	Retries
	DeadLetters
	Runs
	Ticks
	Checkpoints
	Audit
	Tokens
	Pauses
	OrderEvents
	Nodes
	Close() error
}

// OpenQueue opens the serve state a URL names, as Open does for inventory:
//
//	""             SQLite in ./.pipectl/queue.db
//	sqlite://PATH  SQLite in queue.db beside PATH (the inventory file), or in
//	               PATH/queue.db when PATH is a directory
//	postgres://…   PostgreSQL, the same database as the inventory
//
// The SQLite intake table is written with synchronous=FULL: a delivery
// Enqueue returned for survives a power cut, not just a crash.
func OpenQueue(ctx context.Context, url string, opts Options) (Queue, error) {
	return openQueue(ctx, url, opts)
}

// Delivery is one unit of work queued for a pipeline: a webhook request as
// it arrived, or a cron tick.
type Delivery struct {
	ID       int64
	Pipeline string
	Trigger  string
	// Version is the pipeline version (a hash of its files) that accepted
	// the delivery; a reload finishes queued deliveries on the new one.
	Version string
	// EventID is the dedupe key (component.Webhook.EventID); "" for none.
	EventID  string
	Received time.Time
	Header   http.Header
	Body     []byte
	// Attempts counts the claims of this delivery so far, this one included:
	// more than one means a worker died or gave it back before finishing.
	Attempts int
}

// QueueDepth is how much waits in a pipeline's queue.
type QueueDepth struct {
	Queued  int       // deliveries waiting or running
	Running int       // of those, claimed by a worker now
	Oldest  time.Time // received time of the oldest; zero when empty
	Retries int       // sink retries waiting
}

// Intake is the durable queue of deliveries.
type Intake interface {
	// Enqueue durably queues d and returns its ID. On SQLite, concurrent
	// calls are group-committed: one writer goroutine takes every waiting
	// delivery into one transaction and one fsync. A d whose EventID was
	// already queued for its pipeline within DedupeHorizon is not queued
	// again: dup is true and id is the first delivery's. ctx bounds the
	// wait for the commit (serve answers 503 when it ends); the delivery
	// may still be committed after, and a retry of it is then a
	// duplicate. A zero d.Received is stamped with the store's clock.
	Enqueue(ctx context.Context, d *Delivery) (id int64, dup bool, err error)
	// Claim leases up to max deliveries of pipeline that are ready, oldest
	// first, for lease: another Claim does not see them until the lease
	// runs out (their worker died) or Release gives them back. Each claim
	// adds one to a delivery's Attempts. max is at least 1 and lease more
	// than 0.
	Claim(ctx context.Context, pipeline string, max int, lease time.Duration) ([]*Delivery, error)
	// Finish removes deliveries whose run committed, and in the same
	// transaction adds the sink retries and dead letters that run produced:
	// a crash leaves either the delivery to run again or all of its
	// outcome. Zero Created times are stamped now; a retry with a zero
	// Next is due at once; a dead letter with no Status is open.
	Finish(ctx context.Context, done []int64, retries []*Retry, dead []*DeadLetter) error
	// Renew extends the lease of claimed deliveries to lease from now: a
	// run that takes longer than its lease keeps its deliveries from being
	// claimed by another worker meanwhile. Deliveries no longer queued are
	// passed over.
	Renew(ctx context.Context, ids []int64, lease time.Duration) error
	// Release gives claimed deliveries back, to be claimed again from
	// notBefore (a zero time: at once), in their original order.
	Release(ctx context.Context, ids []int64, notBefore time.Time) error
	// Depth reports a pipeline's queue; "" sums every pipeline.
	Depth(ctx context.Context, pipeline string) (QueueDepth, error)
	// Pipelines lists the pipelines with queued deliveries or retries.
	Pipelines(ctx context.Context) ([]string, error)
}

// DedupeHorizon is how long an event ID keeps a repeat of its delivery out
// of the queue. Shopify retries a webhook for 4 hours; a day and a half
// covers that and a storefront's manual re-sends the next morning.
const DedupeHorizon = 36 * time.Hour

// Attempt is one try at something: a sink delivery, a replay.
type Attempt struct {
	At     time.Time `json:"at"`
	Status int       `json:"status,omitempty"` // HTTP status, when there was one
	Error  string    `json:"error,omitempty"`  // "" when it succeeded
}

// Retry is a record a sink could not deliver yet, kept until it is
// delivered, it fails for good, or its attempts or age run out.
type Retry struct {
	ID       int64
	Pipeline string
	Version  string
	Sink     string
	// Record is the record as the sink received it (JSON).
	Record []byte
	// Origin is the source payload it came from, and Delivery the delivery
	// (0 when unknown), for the dead letter it may become.
	Origin   []byte
	Header   http.Header
	Delivery int64
	Attempts []Attempt
	Created  time.Time
	Next     time.Time
}

// Retries are sink deliveries to try again.
type Retries interface {
	// ClaimRetries leases up to max retries of pipeline due at now (Next
	// not after it and not leased), oldest first.
	ClaimRetries(ctx context.Context, pipeline string, now time.Time, max int, lease time.Duration) ([]*Retry, error)
	// RetryDelivered removes a retry whose delivery succeeded. It, and
	// RetryAgain and RetryDead, return ErrNotFound for a retry the store
	// does not hold (a second worker's, after the first's lease ran out).
	RetryDelivered(ctx context.Context, id int64) error
	// RetryAgain records a failed attempt and when to try next.
	RetryAgain(ctx context.Context, id int64, a Attempt, next time.Time) error
	// RetryDead records a last failed attempt and turns the retry into dl,
	// in one transaction. What dl leaves empty comes from the retry: its
	// pipeline, version, node (the sink), payload (the origin), header,
	// record, delivery and error (a's); its Attempts are the retry's
	// followed by a.
	RetryDead(ctx context.Context, id int64, a Attempt, dl *DeadLetter) error
}

// Dead-letter statuses.
const (
	DeadOpen     = "open"
	DeadReplayed = "replayed"
	DeadResolved = "resolved"
)

// DeadLetter is a record that failed for good and that no error output
// read: everything needed to understand it and to deliver it again.
type DeadLetter struct {
	ID       int64
	Pipeline string
	Version  string
	Trigger  string
	// Node is where it failed: a source, a step or a sink.
	Node  string
	Error string
	// Payload is the original source payload, raw (a webhook's body exactly
	// as it arrived), with its Header; Edited is the payload an operator
	// saved with `dlq edit` (nil until then), which a replay uses instead.
	Payload []byte
	Header  http.Header
	Edited  []byte
	// Record is the record as the failing node received it, when that is
	// not the payload (a sink's input).
	Record   []byte
	Delivery int64
	Attempts []Attempt
	Status   string
	Reason   string // why it was resolved
	Created  time.Time
	Updated  time.Time
}

// DeadLetterFilter selects dead letters; zero fields select all.
type DeadLetterFilter struct {
	Pipeline string
	Node     string
	Status   string
	Since    time.Time // created at or after
	IDs      []int64
	Limit    int // the newest Limit of those selected
}

// DeadLetters are the dead-letter queue.
type DeadLetters interface {
	// AddDeadLetters stores dead letters found outside a delivery's run
	// (a body that is not JSON), returning their IDs.
	AddDeadLetters(ctx context.Context, dls []*DeadLetter) ([]int64, error)
	// ListDeadLetters lists the entries f selects, newest (highest ID)
	// first.
	ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]*DeadLetter, error)
	// DeadLetter returns one; ErrNotFound when there is none.
	DeadLetter(ctx context.Context, id int64) (*DeadLetter, error)
	// EditDeadLetter saves payload as the entry's Edited payload; the
	// original stays. It and MarkDeadLetter return ErrNotFound for an ID
	// the store does not hold.
	EditDeadLetter(ctx context.Context, id int64, payload []byte) error
	// MarkDeadLetter sets an entry's status, adds attempt (when not nil)
	// and sets its reason (when not "").
	MarkDeadLetter(ctx context.Context, id int64, status string, attempt *Attempt, reason string) error
	// CountDeadLetters counts open dead letters by pipeline.
	CountDeadLetters(ctx context.Context) (map[string]int, error)
}

// ErrNotFound is returned for an ID the store does not hold.
var ErrNotFound = errors.New("not found")

// RunRecord is one run of a pipeline on a trigger (a cron tick, a batch of
// webhook deliveries).
type RunRecord struct {
	ID       int64
	Pipeline string
	Trigger  string
	Tick     time.Time // the cron tick it ran for; zero otherwise
	Started  time.Time
	Ended    time.Time // zero while it runs
	// Outcome is "running", "ok", "failed" (some records failed), "error"
	// (the run itself failed) or "skipped" (a tick that overlapped).
	Outcome string
	Error   string
	// Nodes is the run's per-node counts, as JSON.
	Nodes []byte
}

// RunFilter selects runs, newest first.
type RunFilter struct {
	Pipeline string
	Trigger  string
	Limit    int // 0: all
}

// Runs are the run history.
type Runs interface {
	// StartRun records a run; a zero Started is now, an empty Outcome
	// "running".
	StartRun(ctx context.Context, r *RunRecord) (int64, error)
	// EndRun sets the end (now when zero), outcome, error and nodes of
	// run r.ID; ErrNotFound when there is none.
	EndRun(ctx context.Context, r *RunRecord) error
	ListRuns(ctx context.Context, f RunFilter) ([]*RunRecord, error)
	// Run returns one; ErrNotFound when there is none.
	Run(ctx context.Context, id int64) (*RunRecord, error)
}

// Ticks claim cron ticks, so that every tick runs once however many serve
// processes share the store.
type Ticks interface {
	// ClaimTick claims the tick of pipeline's trigger at `at`; ok is false
	// when someone claimed it first.
	ClaimTick(ctx context.Context, pipeline, trigger string, at time.Time) (ok bool, err error)
	// LastTick is the latest tick claimed; ok is false when none was.
	LastTick(ctx context.Context, pipeline, trigger string) (at time.Time, ok bool, err error)
}

// Checkpoints keep how far polling sources have read
// (component.Checkpoints).
type Checkpoints interface {
	Checkpoint(ctx context.Context, pipeline, source string) (value string, ok bool, err error)
	SaveCheckpoint(ctx context.Context, pipeline, source, value string) error
}

// AuditEntry is one thing an operator did: a dead letter edited, replayed
// or resolved, a pipeline reloaded.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string
	Action  string // "dlq.edit", "dlq.replay", "dlq.resolve", "reload", …
	Subject string // what it was done to: "dlq/42", a pipeline's name
	Reason  string
	Detail  []byte // JSON: a diff, the attempt's outcome
}

// Audit is the log of operators' actions.
type Audit interface {
	// AddAudit appends e (a zero At is now); Actor and Action are
	// required.
	AddAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit lists the entries about subject ("" for all), newest
	// first, at most limit (0: all).
	ListAudit(ctx context.Context, subject string, limit int) ([]*AuditEntry, error)
}
