package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var natsSinkSpec = &component.Spec{
	Kind:    "nats",
	Section: component.SinkSection,
	Summary: "Publishes each record to a NATS JetStream subject, stored once per message id.",
	Description: "Each record is one JetStream message: the `body` mapping, or the record itself, as JSON, published " +
		"to `subject`, followed by a dot and `subject_suffix` when set, evaluated per record. A record is delivered " +
		"when JetStream acknowledges it (its PubAck: a stream stored it). The sink never publishes without waiting " +
		"for that acknowledgement and never buffers a publish while it is disconnected from the server, so a record " +
		"counted as delivered is in a stream and one that is not is reported.\n\n" +
		"Every message carries `message_id` as its Nats-Msg-Id header. JetStream stores a message id once within the " +
		"stream's duplicate window (its `duplicate_window`, two minutes unless the stream sets another), so a retried " +
		"publish, or a run repeated within the window, stores each message once. Past the window a repeated run " +
		"stores the messages again: consumers that must never see a record twice check the id themselves.\n\n" +
		"A publish that is not acknowledged (the server down or unreachable, no acknowledgement within `timeout`, no " +
		"stream answering for the subject, a full stream that discards new messages) is retried up to `max_attempts` " +
		"with the http sink's backoff, and under `pipectl serve` kept and retried later; one the server refuses for " +
		"good (a message over its max_payload, a subject taken by another stream than `stream`) goes straight to the " +
		"sink's `error` output with the server's reason. Messages are published in record order, up to " +
		"`max_in_flight` awaiting their acknowledgement at once; a retried message may be stored after later ones.\n\n" +
		"The stream must exist: the sink never creates one. A run whose subject no stream takes stops at its start " +
		"with `no stream takes subject ...`. Dry runs show each message (subject, headers, body) with secret header " +
		"values redacted and connect to nothing.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "NATS sink settings.",
		Fields: append([]*component.Field{
			{Name: "url", Kind: component.StringField, Default: "nats://127.0.0.1:4222",
				Doc: "NATS server URL (comma-separated for a cluster); ${VAR} allowed. Credentials in it are never printed.", Examples: []any{"${NATS_URL}"}},
			{Name: "subject", Kind: component.StringField, Required: true,
				Doc: "Subject to publish to, or its first tokens when `subject_suffix` is set; ${VAR} allowed. No wildcards.", Examples: []any{"erp.orders"}},
			{Name: "subject_suffix", Kind: component.ExprField, Result: component.StringType,
				Doc:      "Expression appended to `subject` after a dot for each record, so consumers can filter by it (a shop, a warehouse). Its value must be one or more tokens separated by dots, without wildcards or white space.",
				Examples: []any{`"shop_" + string(shop_id)`}},
			{Name: "stream", Kind: component.StringField,
				Doc: "Stream the subject must belong to: a message any other stream would store is refused instead (Nats-Expected-Stream).", Examples: []any{"ERP_ORDERS"}},
			{Name: "message_id", Kind: component.ExprField, Required: true, Result: component.StringType,
				Doc: "Expression sent as the Nats-Msg-Id header: JetStream stores each id once within the stream's duplicate window, so a retried publish is stored once. A string, or an integer id.", Examples: []any{`"order-" + string(id)`}},
			{Name: "headers", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "header value"},
				Doc: "Extra message headers; ${VAR} allowed. Names starting with Nats- are the server's and may not be set."},
			{Name: "body", Kind: component.MappingField, Doc: "Message body as a mapping of fields to expressions; the record itself when absent."},
			{Name: "max_in_flight", Kind: component.IntField, Default: 256, Doc: "Messages published and awaiting their acknowledgement at once."},
			{Name: "timeout", Kind: component.DurationField, Default: 5 * time.Second, Doc: "How long one publish waits for its acknowledgement."},
		}, retryFields()...)},
	Validate: validateNATSSink,
	NewSink:  newNATSSink,
	Examples: []component.Example{{
		Title: "Orders to the ERP's JetStream stream",
		YAML: `sinks:
  erp:
    from: normalize
    nats:
      url: "${NATS_URL}"
      subject: erp.orders
      subject_suffix: '"shop_" + string(shop_id)'
      stream: ERP_ORDERS
      message_id: '"order-" + string(id)'
      headers: {Source: pipectl}`,
	}},
}

// validNATSSubject reports why s cannot be published to, or "" when it can:
// dot-separated tokens, none empty, no wildcards or white space.
func validNATSSubject(s string) string {
	if s == "" {
		return "is empty"
	}
	for _, tok := range strings.Split(s, ".") {
		switch {
		case tok == "":
			return "has an empty token"
		case tok == "*" || tok == ">" || strings.ContainsAny(tok, "*>"):
			return "holds a wildcard (* or >): a message goes to one subject"
		case strings.ContainsAny(tok, " \t\r\n\x00"):
			return "holds white space"
		}
	}
	return ""
}

// checkNATSURLs checks a url setting: comma-separated nats, tls, ws or wss
// URLs with a host.
func checkNATSURLs(s string) error {
	for _, one := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			return errors.New("is not a URL")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return errors.New("must start with nats://, tls://, ws:// or wss://")
		}
		if u.Host == "" {
			return errors.New("has no host")
		}
	}
	return nil
}

func validateNATSSink(cfg *component.Value, report component.Reporter) {
	if u := cfg.Get("url"); u != nil && !u.Unresolved && u.Str != "" {
		if err := checkNATSURLs(u.Str); err != nil {
			report.Errorf(u, "invalid-value", "url %s %v", serverName(u.Str, u.Secret), err)
		}
	}
	if s := cfg.Get("subject"); s != nil && !s.Unresolved {
		if why := validNATSSubject(s.Str); why != "" {
			report.Errorf(s, "invalid-subject", "subject %s %s", quoted(s), why)
		}
	}
	if s := cfg.Get("stream"); s != nil && !s.Unresolved && strings.ContainsAny(s.Str, ".*> \t\r\n") {
		report.Errorf(s, "invalid-value", "stream name %s may not contain '.', '*', '>' or white space", quoted(s))
	}
	if h := cfg.Get("headers"); h != nil {
		for _, k := range h.Keys {
			switch {
			case !validHeaderName(k):
				report.Errorf(h.Map[k], "invalid-value", "%q is not a valid header name", k)
			case strings.HasPrefix(strings.ToLower(k), "nats-"):
				report.Errorf(h.Map[k], "invalid-value", "header %s is the server's: Nats- headers may not be set (the message id comes from `message_id`)", k)
			case strings.ContainsAny(h.Map[k].Str, "\r\n\x00"):
				report.Errorf(h.Map[k], "invalid-value", "header %s holds a line break", k)
			}
		}
	}
	validateRetry(cfg, report, []string{"max_in_flight"}, []string{"timeout"})
}

// NATSMessage is what a nats sink would publish for a record: Describe's
// answer, printed by dry runs. Header values that hold a secret are
// component.Redacted.
type NATSMessage struct {
	Subject string            `json:"subject"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// natsSink publishes each record and waits for its acknowledgement. Write
// evaluates the record's expressions and publishes it asynchronously on
// the caller's goroutine, so first attempts keep record order; a goroutine
// per message waits for its PubAck and makes the retries. At most
// max_in_flight messages await theirs. Building the sink does no I/O: it
// connects in Start, or on the first Write of a sink not started.
type natsSink struct {
	name, url, shown string
	subject          string
	suffix           *exprs.Program
	stream           string
	msgID            *exprs.Program
	headers          []header
	body             []bodyField
	decode           *record.Projection
	timeout          time.Duration
	inFlight         int
	retry            retrier
	delivered        func(sink string, rec *record.Record, detail string)
	fail             func(*record.Record, error)

	vm  vm.VM // Write's
	dmu sync.Mutex
	dvm vm.VM // Describe's

	cmu     sync.Mutex
	nc      *nats.Conn
	js      jetstream.JetStream
	connErr error // the last failure to connect, for messages

	sem    chan struct{}
	wg     sync.WaitGroup
	fmu    sync.Mutex
	failed []error
	closed bool
	// stopCtx ends every delivery in flight: a Close without commit.
	stopCtx context.Context
	stop    context.CancelFunc
	stats   deliveryStats
}

func newNATSSink(ctx component.BuildContext) (component.Sink, error) {
	cfg := ctx.Config
	s := &natsSink{
		name:     ctx.Name,
		url:      strSetting(cfg, "url", nats.DefaultURL),
		subject:  strSetting(cfg, "subject", ""),
		stream:   strSetting(cfg, "stream", ""),
		decode:   ctx.Decode,
		timeout:  durSetting(cfg, "timeout", 5*time.Second),
		inFlight: int(intSetting(cfg, "max_in_flight", 256)),
		fail:     ctx.Fail,
	}
	u := cfg.Get("url")
	s.shown = serverName(s.url, u != nil && u.Secret)
	if err := checkNATSURLs(s.url); err != nil {
		return nil, component.SettingErrorf(u, "invalid-value", "url %s %v", s.shown, err)
	}
	if why := validNATSSubject(s.subject); why != "" {
		return nil, component.SettingErrorf(cfg.Get("subject"), "invalid-subject", "subject %q %s", s.subject, why)
	}
	if s.timeout <= 0 || s.inFlight < 1 {
		return nil, errors.New("timeout must be positive and max_in_flight at least 1")
	}
	var err error
	if s.retry, err = newRetrier(ctx); err != nil {
		return nil, err
	}
	if v := cfg.Get("subject_suffix"); v != nil && v.Str != "" {
		if s.suffix, err = compiled(v, "subject_suffix"); err != nil {
			return nil, err
		}
	}
	v := cfg.Get("message_id")
	if v == nil || v.Str == "" {
		return nil, errors.New("message_id is required: without it a retried publish could be stored twice")
	}
	if s.msgID, err = compiled(v, "message_id"); err != nil {
		return nil, err
	}
	if v := cfg.Get("body"); v != nil && len(v.Keys) > 0 {
		if s.body, err = bodyFields(v); err != nil {
			return nil, err
		}
	}
	if h := cfg.Get("headers"); h != nil {
		for _, k := range h.Keys {
			hv := h.Map[k]
			if !validHeaderName(k) || strings.HasPrefix(strings.ToLower(k), "nats-") || strings.ContainsAny(hv.Str, "\r\n\x00") {
				return nil, fmt.Errorf("header %q is not a header a message may carry", k)
			}
			s.headers = append(s.headers, header{k, hv.Str, hv.Secret || sensitiveHeader(k)})
		}
	}
	if ctx.Runtime != nil {
		s.delivered = ctx.Runtime.Delivered
	}
	s.sem = make(chan struct{}, s.inFlight)
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// natsPublish is a message built from a record, published as many times
// as it takes.
type natsPublish struct {
	subject, id string
	body        []byte
}

func (p *natsPublish) msg(headers []header) *nats.Msg {
	m := nats.NewMsg(p.subject)
	m.Data = p.body
	for _, h := range headers {
		m.Header.Set(h.name, h.value)
	}
	m.Header.Set("Content-Type", "application/json")
	return m
}

// prepare evaluates the record's expressions: the message to publish.
func (s *natsSink) prepare(rec *record.Record, machine *vm.VM) (*natsPublish, error) {
	p := &natsPublish{subject: s.subject}
	var env map[string]any
	fields := func() map[string]any {
		if env == nil {
			env = rec.Fields(s.decode)
		}
		return env
	}
	if s.suffix != nil {
		v, err := s.suffix.Run(machine, fields())
		if err != nil {
			return nil, fmt.Errorf("subject_suffix: %w", err)
		}
		suffix, ok := idString(v)
		if !ok {
			return nil, fmt.Errorf("subject_suffix gave %s, not a string", typeName(v))
		}
		p.subject += "." + suffix
		if why := validNATSSubject(suffix); why != "" {
			return nil, fmt.Errorf("subject_suffix gave %q, which %s", suffix, why)
		}
	}
	v, err := s.msgID.Run(machine, fields())
	if err != nil {
		return nil, fmt.Errorf("message_id: %w", err)
	}
	id, ok := idString(v)
	if !ok {
		return nil, fmt.Errorf("message_id gave %s, not a string", typeName(v))
	}
	if id == "" || strings.ContainsAny(id, "\r\n\x00") {
		return nil, fmt.Errorf("message_id gave %q: an id must be a non-empty line", id)
	}
	p.id = id
	if s.body != nil {
		if p.body, err = appendObject(make([]byte, 0, 256), s.body, fields(), machine, ""); err != nil {
			return nil, err
		}
	} else {
		p.body = rec.Raw
	}
	return p, nil
}

// idString is an expression's value as an id or subject token: a string,
// or an integer with every digit.
func idString(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case int64:
		return strconv.FormatInt(k, 10), true
	case uint64:
		return strconv.FormatUint(k, 10), true
	}
	return "", false
}

// Describe returns the message the sink would publish for rec, as a
// *NATSMessage, with secret header values redacted. It does no I/O.
func (s *natsSink) Describe(rec *record.Record) (any, error) {
	s.dmu.Lock()
	p, err := s.prepare(rec, &s.dvm)
	s.dmu.Unlock()
	if err != nil {
		return nil, err
	}
	d := &NATSMessage{Subject: p.subject, Headers: map[string]string{}, Body: json.RawMessage(p.body)}
	for _, h := range s.headers {
		if h.secret {
			d.Headers[h.name] = component.Redacted
		} else {
			d.Headers[h.name] = h.value
		}
	}
	d.Headers["Content-Type"] = "application/json"
	d.Headers[jetstream.MsgIDHeader] = p.id
	return d, nil
}

// connect returns the sink's JetStream context, connecting the first
// time. The connection retries in the background when the server is not
// there (RetryOnFailedConnect) and never buffers publishes meanwhile
// (ReconnectBufSize(-1)): a publish while disconnected fails at once, and
// is retried as any unacknowledged publish is. The options are
// jsintake.Connect's, which connectors may not import.
func (s *natsSink) connect() (jetstream.JetStream, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.js != nil {
		return s.js, nil
	}
	nc, err := nats.Connect(s.url,
		nats.Name("pipectl sink "+s.name),
		nats.PingInterval(5*time.Second), nats.MaxPingsOutstanding(2),
		nats.ReconnectWait(500*time.Millisecond), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1),
		nats.Timeout(s.timeout),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			s.cmu.Lock()
			s.connErr = err
			s.cmu.Unlock()
		}),
		nats.ConnectHandler(func(*nats.Conn) {
			s.cmu.Lock()
			s.connErr = nil
			s.cmu.Unlock()
		}))
	if err != nil {
		return nil, fmt.Errorf("NATS at %s: %w", s.shown, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(s.inFlight), jetstream.WithPublishAsyncTimeout(s.timeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", s.shown, err)
	}
	s.nc, s.js = nc, js
	return js, nil
}

// Start connects and checks that a stream takes the subject (any subject
// under it, with subject_suffix), so a missing stream stops the run before
// it reads anything. A server that does not answer is no reason to stop:
// the publishes are retried.
func (s *natsSink) Start(ctx context.Context) error {
	js, err := s.connect()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	subject := s.subject
	if s.suffix != nil {
		subject += ".>"
	}
	if s.stream != "" {
		_, err = js.Stream(ctx, s.stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s does not exist at %s: create it with subject %s (the nats sink does not create streams)", s.stream, s.shown, subject)
		}
		return nil
	}
	if _, err = js.StreamNameBySubject(ctx, subject); errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("no stream takes subject %s at %s: create one (the nats sink does not create streams)", subject, s.shown)
	}
	return nil
}

// Write prepares the record's message and publishes it, waiting for the
// acknowledgement in the background. An error preparing it (an
// expression that fails) is returned; a publish that fails later is
// reported through Fail.
func (s *natsSink) Write(ctx context.Context, rec *record.Record) error {
	if s.closed {
		return errors.New("nats sink written after Close")
	}
	p, err := s.prepare(rec, &s.vm)
	if err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", component.ErrNotDelivered, context.Cause(ctx))
	case <-s.stopCtx.Done():
		return component.ErrNotDelivered
	}
	s.wg.Add(1)
	s.stats.begin()
	// The first attempt is published here, so messages leave in record
	// order.
	first, firstErr := s.publishAsync(p)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		defer s.stats.end()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.stopCtx, cancel)()
		var ack *jetstream.PubAck
		err := s.retry.run(rctx, "publish to "+p.subject, func(ctx context.Context, n int) (bool, error) {
			s.stats.attempt(n)
			var err error
			if n == 1 {
				ack, err = s.await(ctx, p, first, firstErr)
			} else {
				f, ferr := s.publishAsync(p)
				ack, err = s.await(ctx, p, f, ferr)
			}
			return err != nil && natsRetryable(err), s.explain(p, err)
		})
		if err != nil {
			s.report(rec, err)
		} else if s.delivered != nil {
			detail := fmt.Sprintf("%s, Nats-Msg-Id %s, stream %s seq %d", p.subject, p.id, ack.Stream, ack.Sequence)
			if ack.Duplicate {
				detail += " (a duplicate: stored before)"
			}
			s.delivered(s.name, rec, detail)
		}
	}()
	return nil
}

// publishAsync publishes p once without waiting for its acknowledgement.
func (s *natsSink) publishAsync(p *natsPublish) (jetstream.PubAckFuture, error) {
	js, err := s.connect()
	if err != nil {
		return nil, err
	}
	s.cmu.Lock()
	connected := s.nc.IsConnected()
	s.cmu.Unlock()
	if !connected {
		// Publishing now would fail on what the client does not know
		// yet (whether the server takes headers), or be lost.
		return nil, nats.ErrConnectionReconnecting
	}
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(p.id)}
	if s.stream != "" {
		opts = append(opts, jetstream.WithExpectStream(s.stream))
	}
	return js.PublishMsgAsync(p.msg(s.headers), opts...)
}

// await waits for a publish's acknowledgement, at most timeout.
func (s *natsSink) await(ctx context.Context, p *natsPublish, f jetstream.PubAckFuture, err error) (*jetstream.PubAck, error) {
	if err != nil {
		return nil, err
	}
	// The JetStream context times the acknowledgement out after timeout;
	// this timer is a backstop.
	t := time.NewTimer(s.timeout + time.Second)
	defer t.Stop()
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-t.C:
		return nil, jetstream.ErrAsyncPublishTimeout
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// natsRetryable reports whether a failed publish may succeed when made
// again: anything but a refusal the server will repeat.
func natsRetryable(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadHeaderMsg):
		return false
	case errors.As(err, &apiErr):
		// 10060: the subject belongs to another stream than `stream`.
		// Storage limits (a full stream) and leader elections are 5xx or
		// 503s that pass.
		return apiErr.ErrorCode != 10060 && apiErr.Code != 400
	}
	return true
}

// explain words a failed publish for the error output and logs: what was
// published where, and why it is not stored.
func (s *natsSink) explain(p *natsPublish, err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("publish to %s (Nats-Msg-Id %s) at %s", p.subject, p.id, s.shown)
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s: no stream takes subject %s (or JetStream is not answering): %w", where, p.subject, err)
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: not acknowledged within %s", where, s.timeout)
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrNoServers):
		s.cmu.Lock()
		cause := s.connErr
		s.cmu.Unlock()
		if cause == nil || errors.Is(cause, nats.ErrNoServers) {
			// nats.go hides why it could not connect; dialling says.
			if why := s.probe(); why != "" {
				return fmt.Errorf("%s: not connected: %s", where, why)
			}
		}
		if cause != nil {
			return fmt.Errorf("%s: not connected: %v", where, cause)
		}
		return fmt.Errorf("%s: not connected to the server", where)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// probe dials the first server of the url setting and returns why that
// fails ("" when it does not): the cause of a connection nats.go reports
// only as "no servers available".
func (s *natsSink) probe() string {
	u, err := url.Parse(strings.TrimSpace(strings.Split(s.url, ",")[0]))
	if err != nil {
		return ""
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "4222")
	}
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return fmt.Sprintf("cannot reach %s: %v", host, oe.Err)
		}
		return err.Error()
	}
	c.Close()
	return ""
}

func (s *natsSink) report(rec *record.Record, err error) {
	if s.fail != nil {
		s.fail(rec, err)
		return
	}
	s.fmu.Lock()
	s.failed = append(s.failed, err)
	s.fmu.Unlock()
}

// Flush waits for every message in flight to be acknowledged or reported,
// or for ctx.
func (s *natsSink) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("messages still awaiting their acknowledgement: %w", context.Cause(ctx))
	}
}

// Close waits for the messages in flight and closes the connection;
// without commit it first stops waiting, and each message not yet
// acknowledged is reported as not delivered (it may still be stored: its
// id keeps a later retry from storing it twice).
func (s *natsSink) Close(ctx context.Context, commit bool) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !commit {
		s.stop()
	}
	err := s.Flush(ctx)
	s.stop()
	s.wg.Wait()
	s.cmu.Lock()
	if s.nc != nil {
		s.nc.Close()
	}
	s.cmu.Unlock()
	if err != nil {
		return err
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if len(s.failed) > 0 {
		return fmt.Errorf("%d message(s) failed, the first: %w", len(s.failed), s.failed[0])
	}
	return nil
}

// Delivery reports the sink's publishes, retries and busy time.
func (s *natsSink) Delivery() component.Delivery { return s.stats.snapshot() }

// RetryPolicy is the sink's retry settings, for the retries serve keeps.
func (s *natsSink) RetryPolicy() component.RetryPolicy { return s.retry.policy }
