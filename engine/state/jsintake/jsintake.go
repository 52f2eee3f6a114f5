// Package jsintake keeps serve's intake queue in NATS JetStream, so that
// any number of pipectl processes on any number of machines take webhooks
// and run them, while everything else serve keeps (retries, dead letters,
// run history, tick claims, processed-message keys) stays in PostgreSQL.
//
// A delivery is one message on the stream (PIPECTL_IN by default), on the
// subject <prefix>.<pipeline>.<trigger>.p00: the raw body as the message
// data, the webhook's headers and pipectl's own (trigger, version, event
// id, time received) as message headers. Each pipeline has one durable pull
// consumer, pl_<pipeline>, that every worker of every process shares: the
// server hands each message to one of them.
//
// Where each guarantee comes from:
//   - Enqueue returns only once JetStream acknowledged the publish (never a
//     core publish); serve answers the webhook 200 only then.
//   - Repeats of an event id are kept out twice over: within the stream's
//     duplicate window by Nats-Msg-Id (Enqueue reports them as duplicates),
//     and up to state.DedupeHorizon by the processed-message key Finish
//     writes to PostgreSQL in the same transaction as the run's retries and
//     dead letters; Claim acknowledges a delivery whose key is there without
//     handing it out.
//   - A claim's lease is the consumer's AckWait: a worker that dies leaves
//     its deliveries to be redelivered to another when it runs out. The
//     AckWait is fixed; a delayed retry is a delayed nak the caller times
//     (consumer BackOff is never set: it would silently replace AckWait).
//   - A worker past its lease acknowledges only what it committed and never
//     naks a delivery it may no longer own (the server takes acks and naks
//     from an older delivery of the same message).
package jsintake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// Config names the stream and says how it is kept. Zero fields take the
// defaults of the design: PIPECTL_IN on pipectl.in.>, 7 days, a 30-minute
// duplicate window, file storage, one replica.
type Config struct {
	// Stream is the JetStream stream of deliveries.
	Stream string
	// Prefix starts every delivery's subject; the stream takes Prefix.>.
	Prefix string
	// Replicas is the stream's replica count: 3 on a cluster, where the
	// publish is acknowledged after a quorum has it. One server keeps a
	// delivery across a crash of pipectl, and across a power cut only with
	// jetstream { sync_interval: always } in its configuration.
	Replicas int
	// MaxAge is how long a delivery is kept, run or not, for replays.
	MaxAge time.Duration
	// MaxBytes bounds the stream (-1, the default: no bound). A full stream
	// refuses publishes (the intake answers 503) rather than dropping the
	// oldest deliveries, which may not have run yet.
	MaxBytes int64
	// DuplicateWindow is how long Nats-Msg-Id keeps a repeated event id out
	// of the stream; longer horizons are PostgreSQL's.
	DuplicateWindow time.Duration
	// AckWait is a new consumer's until a Claim names its lease.
	AckWait time.Duration
	// Wait is how long a Claim that finds nothing ready waits for a
	// delivery to arrive before returning none (default 200 ms).
	Wait time.Duration
	// Name names this process's connection in the server's monitoring.
	Name string
	// Clock stamps the time a delivery was received.
	Clock component.Clock
}

// DefaultStream is the stream serve queues webhooks on unless told
// otherwise.
const DefaultStream = "PIPECTL_IN"

// PrefixOf is the subject prefix of a stream's deliveries: pipectl.in for
// the default stream, pipectl.in_<name> for another, so that the streams
// of several pipectl environments on one NATS never share a subject
// (JetStream refuses streams whose subjects overlap).
func PrefixOf(stream string) string {
	if stream == DefaultStream {
		return "pipectl.in"
	}
	return "pipectl.in_" + token(strings.ToLower(stream))
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Prefix == "" {
		c.Prefix = PrefixOf(c.Stream)
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 168 * time.Hour
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = -1
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = 30 * time.Minute
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.Wait <= 0 {
		c.Wait = 200 * time.Millisecond
	}
	if c.Name == "" {
		c.Name = "pipectl"
	}
	if c.Clock == nil {
		c.Clock = component.SystemClock{}
	}
	return c
}

// Message headers pipectl writes beside the webhook's own, which travel
// as httpHeader + their name.
const (
	hdrPipeline = "Pipectl-Pipeline"
	hdrTrigger  = "Pipectl-Trigger"
	hdrVersion  = "Pipectl-Version"
	hdrEventID  = "Pipectl-Event-Id"
	hdrReceived = "Pipectl-Received"
	httpHeader  = "Http-"
)

// Queue is serve's state with its intake on JetStream: Enqueue, Claim,
// Finish, Renew, Release, Depth and Pipelines are the stream's; every
// other method is the PostgreSQL queue's it wraps.
type Queue struct {
	state.Queue
	keys   state.ProcessedKeys
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	mu        sync.Mutex
	consumers map[string]*consumer // by pipeline
	inflight  map[int64]*claimed   // by stream sequence
}

type consumer struct {
	name    string
	c       jetstream.Consumer
	ackWait time.Duration
}

// claimed is a delivery handed out and not yet finished or released.
type claimed struct {
	msg      jetstream.Msg
	consumer string
	key      string
	// deadline is when the server may hand the delivery to another
	// worker: past it, this process no longer owns it.
	deadline time.Time
}

// Open connects to the NATS server(s) at url, creates or updates the
// stream, and returns the queue on it and on rest, which must be the
// PostgreSQL serve state (state.OpenQueue with a postgres:// URL). Close
// closes both.
func Open(ctx context.Context, url string, rest state.Queue, cfg Config) (*Queue, error) {
	keys, err := state.AsProcessedKeys(rest)
	if err != nil {
		return nil, fmt.Errorf("a JetStream intake needs its state in PostgreSQL: %w", err)
	}
	cfg = cfg.withDefaults()
	nc, err := Connect(url, cfg.Name)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream at %s: %w", url, err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "pipectl serve: deliveries as they arrived (webhooks, cron ticks)",
		Subjects:    []string{cfg.Prefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgSize:  -1,
		Duplicates:  cfg.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("stream %s at %s: %w", cfg.Stream, url, err)
	}
	return &Queue{Queue: rest, keys: keys, cfg: cfg, nc: nc, js: js, stream: stream,
		consumers: map[string]*consumer{}, inflight: map[int64]*claimed{}}, nil
}

// Connect dials NATS with the settings a long-running node needs: a lost
// server is noticed within about 10 s (the default ping interval is two
// minutes), the client reconnects for ever, from the first dial on, and
// nothing is buffered while disconnected: a publish then fails at once
// (the webhook is answered 503 and sent again) instead of reaching the
// stream after its caller was told it failed.
func Connect(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.PingInterval(5*time.Second), nats.MaxPingsOutstanding(2),
		nats.ReconnectWait(500*time.Millisecond), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// token makes a name one subject token: '.', '*', '>' and white space
// would split or widen a subject.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// ConsumerName is the durable consumer of a pipeline's deliveries.
func ConsumerName(pipeline string) string { return "pl_" + token(pipeline) }

func (q *Queue) subject(pipeline, trigger string) string {
	return q.cfg.Prefix + "." + token(pipeline) + "." + token(trigger) + ".p00"
}

// Enqueue publishes d and returns its stream sequence once JetStream
// acknowledged it. A repeat of d's event id within the duplicate window is
// not stored again: dup is true and id is the first's sequence.
func (q *Queue) Enqueue(ctx context.Context, d *state.Delivery) (int64, bool, error) {
	if d == nil || d.Pipeline == "" {
		return 0, false, errors.New("enqueue: a delivery needs its pipeline")
	}
	received := d.Received
	if received.IsZero() {
		received = q.cfg.Clock.Now()
	}
	msg := nats.NewMsg(q.subject(d.Pipeline, d.Trigger))
	msg.Data = d.Body
	for k, vs := range d.Header {
		msg.Header[httpHeader+k] = vs
	}
	msg.Header.Set(hdrPipeline, d.Pipeline)
	msg.Header.Set(hdrTrigger, d.Trigger)
	msg.Header.Set(hdrVersion, d.Version)
	msg.Header.Set(hdrReceived, received.UTC().Format(time.RFC3339Nano))
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(q.cfg.Stream)}
	if d.EventID != "" {
		msg.Header.Set(hdrEventID, d.EventID)
		opts = append(opts, jetstream.WithMsgID(d.Pipeline+":"+d.EventID))
	}
	if err := q.ensureConsumer(ctx, d.Pipeline); err != nil {
		return 0, false, fmt.Errorf("enqueue for %s: %w", d.Pipeline, err)
	}
	ack, err := q.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("enqueue for %s: JetStream did not acknowledge: %w", d.Pipeline, err)
	}
	return int64(ack.Sequence), ack.Duplicate, nil
}

// ensureConsumer makes sure the pipeline's consumer exists, so its depth
// counts deliveries before any worker claimed one. An existing consumer is
// left as it is.
func (q *Queue) ensureConsumer(ctx context.Context, pipeline string) error {
	q.mu.Lock()
	c := q.consumers[pipeline]
	q.mu.Unlock()
	if c != nil {
		return nil
	}
	jc, err := q.stream.Consumer(ctx, ConsumerName(pipeline))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		_, err = q.consumerFor(ctx, pipeline, q.cfg.AckWait)
		return err
	}
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerName(pipeline), err)
	}
	q.mu.Lock()
	if q.consumers[pipeline] == nil {
		q.consumers[pipeline] = &consumer{name: ConsumerName(pipeline), c: jc, ackWait: jc.CachedInfo().Config.AckWait}
	}
	q.mu.Unlock()
	return nil
}

// consumerFor returns the pipeline's consumer with AckWait lease, creating
// it or changing its AckWait as needed.
func (q *Queue) consumerFor(ctx context.Context, pipeline string, lease time.Duration) (*consumer, error) {
	q.mu.Lock()
	c := q.consumers[pipeline]
	q.mu.Unlock()
	if c != nil && c.ackWait == lease {
		return c, nil
	}
	name := ConsumerName(pipeline)
	jc, err := q.js.CreateOrUpdateConsumer(ctx, q.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "pipectl serve: the deliveries of pipeline " + pipeline,
		FilterSubject: q.cfg.Prefix + "." + token(pipeline) + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       lease,
		// No MaxDeliver: a delivery that fails is dead-lettered by serve
		// with its payload; one the server stopped delivering would sit
		// in the stream with nobody told.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	c = &consumer{name: name, c: jc, ackWait: lease}
	q.mu.Lock()
	q.consumers[pipeline] = c
	q.mu.Unlock()
	return c, nil
}

// Claim takes up to max deliveries of pipeline, oldest first: what is
// ready at once, or, when nothing is, the first to arrive within
// Config.Wait. Deliveries whose key PostgreSQL holds as processed are
// acknowledged and passed over. lease is the consumer's AckWait; a claim
// with another lease changes it for every worker.
// ClaimWaits says a Claim that finds nothing ready waits up to Config.Wait
// for a delivery (state.WaitingClaimer).
func (q *Queue) ClaimWaits() bool { return true }

func (q *Queue) Claim(ctx context.Context, pipeline string, max int, lease time.Duration) ([]*state.Delivery, error) {
	if pipeline == "" || max < 1 || lease <= 0 {
		return nil, fmt.Errorf("claim deliveries: need a pipeline, max ≥ 1 and a lease > 0 (got %q, %d, %s)", pipeline, max, lease)
	}
	c, err := q.consumerFor(ctx, pipeline, lease)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", pipeline, err)
	}
	msgs, err := fetch(c.c, max, 0)
	if err == nil && len(msgs) == 0 {
		msgs, err = fetch(c.c, 1, q.cfg.Wait)
	}
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", pipeline, err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	claimedAt := time.Now()
	var out []*state.Delivery
	var keys []string
	byKey := map[string]bool{}
	var repeats []jetstream.Msg
	cls := map[int64]*claimed{}
	for _, m := range msgs {
		d, err := delivery(m)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries of %s: %w", pipeline, err)
		}
		key := processedKey(d)
		if byKey[key] {
			repeats = append(repeats, m) // the same event twice in one claim
			continue
		}
		byKey[key] = true
		keys = append(keys, key)
		out = append(out, d)
		cls[d.ID] = &claimed{msg: m, consumer: c.name, key: key, deadline: claimedAt.Add(c.ackWait)}
	}
	done, err := q.keys.Processed(ctx, c.name, keys)
	if err != nil {
		// Not acknowledged: the server hands them out again after AckWait.
		return nil, fmt.Errorf("claim deliveries of %s: %w", pipeline, err)
	}
	for _, m := range repeats {
		_ = m.Ack()
	}
	kept := out[:0]
	q.mu.Lock()
	for _, d := range out {
		cl := cls[d.ID]
		if done[cl.key] {
			_ = cl.msg.Ack()
			continue
		}
		q.inflight[d.ID] = cl
		kept = append(kept, d)
	}
	q.mu.Unlock()
	slices.SortFunc(kept, func(a, b *state.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return kept, nil
}

// fetch pulls up to n messages: those ready at once when wait is 0, else
// waiting up to wait for them. It reads the batch to its end, so no
// message is left delivered to this process and unseen.
func fetch(c jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	var b jetstream.MessageBatch
	var err error
	if wait == 0 {
		b, err = c.FetchNoWait(n)
	} else {
		b, err = c.Fetch(n, jetstream.FetchMaxWait(wait))
	}
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		return out, err
	}
	return out, nil
}

// processedKey is what marks a delivery processed: its event id, which a
// repeat of it carries too, or else its place in the stream.
func processedKey(d *state.Delivery) string {
	if d.EventID != "" {
		return "event:" + d.EventID
	}
	return "seq:" + strconv.FormatInt(d.ID, 10)
}

func delivery(m jetstream.Msg) (*state.Delivery, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message on %s: %w", m.Subject(), err)
	}
	h := m.Headers()
	d := &state.Delivery{
		ID:       int64(md.Sequence.Stream),
		Pipeline: h.Get(hdrPipeline),
		Trigger:  h.Get(hdrTrigger),
		Version:  h.Get(hdrVersion),
		EventID:  h.Get(hdrEventID),
		Attempts: int(md.NumDelivered),
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(hdrReceived)); err == nil {
		d.Received = t
	} else {
		d.Received = md.Timestamp
	}
	for k, vs := range h {
		if name, ok := strings.CutPrefix(k, httpHeader); ok {
			if d.Header == nil {
				d.Header = http.Header{}
			}
			d.Header[name] = vs
		}
	}
	if data := m.Data(); len(data) > 0 {
		d.Body = data
	}
	return d, nil
}

// take removes ids from the deliveries in flight and returns those this
// process held.
func (q *Queue) take(ids []int64) []*claimed {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*claimed
	for _, id := range ids {
		if cl := q.inflight[id]; cl != nil {
			out = append(out, cl)
			delete(q.inflight, id)
		}
	}
	return out
}

// Finish records the keys of the deliveries done as processed, with the
// run's retries and dead letters, in one PostgreSQL transaction, and then
// acknowledges them. A crash between the two leaves them to be delivered
// again, and Claim then passes them over. Acknowledgements that fail are
// not errors, for the same reason.
func (q *Queue) Finish(ctx context.Context, done []int64, retries []*state.Retry, dead []*state.DeadLetter) error {
	cls := q.take(done)
	if len(cls) == 0 {
		return q.Queue.Finish(ctx, nil, retries, dead)
	}
	byConsumer := map[string][]string{}
	var order []string
	for _, cl := range cls {
		if _, ok := byConsumer[cl.consumer]; !ok {
			order = append(order, cl.consumer)
		}
		byConsumer[cl.consumer] = append(byConsumer[cl.consumer], cl.key)
	}
	for i, name := range order {
		rs, ds := retries, dead
		if i > 0 {
			rs, ds = nil, nil
		}
		if err := q.keys.FinishProcessed(ctx, name, byConsumer[name], rs, ds); err != nil {
			q.putBack(cls)
			return err
		}
	}
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = cl.msg.DoubleAck(actx)
		})
	}
	wg.Wait()
	return nil
}

func (q *Queue) putBack(cls []*claimed) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, cl := range cls {
		md, err := cl.msg.Metadata()
		if err == nil {
			q.inflight[int64(md.Sequence.Stream)] = cl
		}
	}
}

// Renew tells the server the deliveries are still being worked on, which
// restarts their AckWait; lease must be the consumer's AckWait (the server
// knows no other). Deliveries not held here are passed over.
func (q *Queue) Renew(ctx context.Context, ids []int64, lease time.Duration) error {
	now := time.Now()
	q.mu.Lock()
	var msgs []jetstream.Msg
	for _, id := range ids {
		if cl := q.inflight[id]; cl != nil && now.Before(cl.deadline) {
			msgs = append(msgs, cl.msg)
			cl.deadline = now.Add(lease)
		}
	}
	q.mu.Unlock()
	var errs []error
	for _, m := range msgs {
		if err := m.InProgress(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("renew the lease of deliveries %v: %w", ids, err)
	}
	return nil
}

// Release gives deliveries back to be delivered again from notBefore (a
// zero time: at once). One whose lease ran out is not naked: the server
// may have handed it to another worker already, and a nak from this,
// older delivery would be taken for that worker's.
func (q *Queue) Release(ctx context.Context, ids []int64, notBefore time.Time) error {
	now := time.Now()
	var errs []error
	for _, cl := range q.take(ids) {
		if !now.Before(cl.deadline) {
			continue
		}
		var err error
		if notBefore.IsZero() {
			err = cl.msg.Nak()
		} else {
			err = cl.msg.NakWithDelay(max(notBefore.Sub(q.cfg.Clock.Now()), time.Millisecond))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release deliveries %v: %w", ids, err)
	}
	return nil
}

// Depth reports what waits in a pipeline's consumer (its undelivered and
// unacknowledged messages) and its retries in PostgreSQL; "" sums every
// pipeline. Running counts deliveries handed out and not yet acknowledged,
// which includes those naked for later.
func (q *Queue) Depth(ctx context.Context, pipeline string) (state.QueueDepth, error) {
	// The stream first, then the retries: a Finish commits its retries
	// before it acknowledges, so in this order a run in between is counted
	// twice, never not at all.
	var qd state.QueueDepth
	infos, err := q.consumerInfos(ctx, pipeline)
	if err != nil {
		return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
	}
	rest, err := q.Queue.Depth(ctx, pipeline)
	if err != nil {
		return qd, err
	}
	qd.Retries = rest.Retries
	for _, ci := range infos {
		waiting := int(ci.NumPending) + ci.NumAckPending
		qd.Queued += waiting
		qd.Running += ci.NumAckPending
		if waiting == 0 {
			continue
		}
		oldest, err := q.oldest(ctx, ci)
		if err != nil {
			return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
		}
		if !oldest.IsZero() && (qd.Oldest.IsZero() || oldest.Before(qd.Oldest)) {
			qd.Oldest = oldest
		}
	}
	return qd, nil
}

// consumerInfos returns the pipeline's consumer, or every pipeline's for "".
func (q *Queue) consumerInfos(ctx context.Context, pipeline string) ([]*jetstream.ConsumerInfo, error) {
	if pipeline != "" {
		c, err := q.stream.Consumer(ctx, ConsumerName(pipeline))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		return []*jetstream.ConsumerInfo{ci}, nil
	}
	var out []*jetstream.ConsumerInfo
	l := q.stream.ListConsumers(ctx)
	for ci := range l.Info() {
		if strings.HasPrefix(ci.Name, "pl_") {
			out = append(out, ci)
		}
	}
	return out, l.Err()
}

// oldest is the time the consumer's first unacknowledged delivery was
// received.
func (q *Queue) oldest(ctx context.Context, ci *jetstream.ConsumerInfo) (time.Time, error) {
	m, err := q.stream.GetMsg(ctx, ci.AckFloor.Stream+1, jetstream.WithGetMsgSubject(ci.Config.FilterSubject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, m.Header.Get(hdrReceived))
	if err != nil {
		return m.Time, nil
	}
	return t, nil
}

// Pipelines lists the pipelines with deliveries waiting in their consumer
// or retries in PostgreSQL.
func (q *Queue) Pipelines(ctx context.Context) ([]string, error) {
	out, err := q.Queue.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	infos, err := q.consumerInfos(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("queued pipelines: %w", err)
	}
	for _, ci := range infos {
		if ci.NumPending+uint64(ci.NumAckPending) == 0 {
			continue
		}
		name := strings.TrimPrefix(ci.Config.FilterSubject, q.cfg.Prefix+".")
		name, _, _ = strings.Cut(name, ".")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Ping reports whether JetStream and PostgreSQL both answer: serve's
// readiness is false when either does not.
func (q *Queue) Ping(ctx context.Context) error {
	if _, err := q.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	if p, ok := q.Queue.(interface{ Ping(context.Context) error }); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("PostgreSQL: %w", err)
		}
	}
	return nil
}

// Close closes the NATS connection and the PostgreSQL state. Deliveries
// still claimed are neither acknowledged nor naked: they are delivered
// again when their AckWait runs out.
func (q *Queue) Close() error {
	q.nc.Close()
	return q.Queue.Close()
}

var _ state.Queue = (*Queue)(nil)
