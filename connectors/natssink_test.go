package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/internal/natstest"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// natsStream creates a stream of its own for the test, taking every
// subject under the prefix it returns, and a JetStream context to read it.
func natsStream(t *testing.T, cfg jetstream.StreamConfig) (jetstream.JetStream, string, string) {
	t.Helper()
	stream, prefix := natstest.Stream(t)
	nc, err := nats.Connect(natstest.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = stream
	cfg.Subjects = []string{prefix + ".>"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return js, stream, prefix
}

// storedMsg is a message as the stream holds it.
type storedMsg struct {
	Subject, ID, Body string
}

// stored reads every message of a stream, in stream order.
func stored(t *testing.T, js jetstream.JetStream, stream string) []storedMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, storedMsg{m.Subject, m.Header.Get(jetstream.MsgIDHeader), string(m.Data)})
	}
	return out
}

func nodeStats(res *engine.Result, name string) engine.NodeStats {
	for _, n := range res.Nodes {
		if n.Name == name {
			return n
		}
	}
	return engine.NodeStats{}
}

// Records reach the stream as JSON with their message ids; running the
// same records again stores nothing twice, the server recognising each
// id within the duplicate window.
func TestNATSSinkPublishesEachMessageOnce(t *testing.T) {
	js, stream, prefix := natsStream(t, jetstream.StreamConfig{Duplicates: time.Minute})
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.ndjson"),
		`{"id":820982911946154508,"shop":"acme","total":"12.50"}`+"\n"+`{"id":2,"shop":"bolt","total":"3"}`+"\n"+`{"id":3,"shop":"acme","total":"7.25"}`+"\n")
	src := `pipeline: t
sources:
  in:
    file: {path: "${IN}"}
sinks:
  erp:
    from: in
    nats:
      url: "${NATS_URL}"
      subject: "${PREFIX}.orders"
      subject_suffix: shop
      stream: "${STREAM}"
      message_id: '"order-" + string(id)'
      headers: {Source: pipectl}
`
	env := map[string]string{"IN": in, "NATS_URL": natstest.URL(), "PREFIX": prefix, "STREAM": stream}
	want := []storedMsg{
		{prefix + ".orders.acme", "order-820982911946154508", `{"id":820982911946154508,"shop":"acme","total":"12.50"}`},
		{prefix + ".orders.bolt", "order-2", `{"id":2,"shop":"bolt","total":"3"}`},
		{prefix + ".orders.acme", "order-3", `{"id":3,"shop":"acme","total":"7.25"}`},
	}
	for run := 1; run <= 2; run++ {
		res := runPipeline(t, src, env)
		if st := nodeStats(res, "erp"); st.In != 3 || st.Out != 3 || st.Errored != 0 || len(res.Unhandled) > 0 {
			t.Fatalf("run %d: stats %+v, unhandled %d", run, st, len(res.Unhandled))
		}
		if diff := cmp.Diff(want, stored(t, js, stream)); diff != "" {
			t.Errorf("run %d: stream holds (-want +got):\n%s", run, diff)
		}
	}
}

// A message the server refuses for good (over the stream's message size)
// goes to the error output with the server's reason, once, and the others
// are stored.
func TestNATSSinkRefusedMessageGoesToTheErrorOutput(t *testing.T) {
	js, stream, prefix := natsStream(t, jetstream.StreamConfig{MaxMsgSize: 200})
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.ndjson"),
		`{"id":1}`+"\n"+`{"id":2,"note":"`+strings.Repeat("x", 300)+`"}`+"\n"+`{"id":3}`+"\n")
	dead := filepath.Join(dir, "dead.ndjson")
	src := `pipeline: t
sources:
  in:
    file: {path: "${IN}"}
sinks:
  erp:
    from: in
    nats: {url: "${NATS_URL}", subject: "${PREFIX}.orders", message_id: string(id), backoff: 1ms}
  dead:
    from: erp.error
    file: {path: "${DEAD}"}
`
	res := runPipeline(t, src, map[string]string{"IN": in, "NATS_URL": natstest.URL(), "PREFIX": prefix, "DEAD": dead})
	if st := nodeStats(res, "erp"); st.Out != 2 || st.Errored != 1 {
		t.Errorf("stats %+v", st)
	}
	var ids []string
	for _, m := range stored(t, js, stream) {
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]string{"1", "3"}, ids); diff != "" {
		t.Errorf("stored ids (-want +got):\n%s", diff)
	}
	var er struct {
		Node, Error string
		Attempts    int
		Record      json.RawMessage
	}
	if err := json.Unmarshal([]byte(readFile(t, dead)), &er); err != nil {
		t.Fatalf("dead letters: %v\n%s", err, readFile(t, dead))
	}
	if er.Node != "erp" || er.Attempts != 1 || !strings.Contains(er.Error, "message size exceeds maximum") ||
		!strings.Contains(er.Error, "Nats-Msg-Id 2") || !strings.Contains(string(er.Record), `"id":2`) {
		t.Errorf("error record: %+v", er)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func natsSink(t *testing.T, settings string, rt *component.Runtime, f *failures) component.Sink {
	t.Helper()
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    nats: "+settings+"\n", nil)
	var fail func(*record.Record, error)
	if f != nil {
		fail = f.add
	}
	return newSink(t, p, "out", rt, fail)
}

// A server that is not there fails each record with a message naming the
// server and the cause; retried in the sink by a batch run, reported as
// retryable under serve, which keeps it. Nothing is buffered meanwhile.
func TestNATSSinkServerDownIsRetryable(t *testing.T) {
	addr := closedPort(t)
	var f failures
	s := natsSink(t, `{url: "nats://`+addr+`", subject: orders, message_id: string(id), max_attempts: 2, backoff: 1ms, timeout: 200ms}`, nil, &f)
	start := time.Now()
	writeAll(t, s, `{"id":1}`, `{"id":2}`)
	errs := f.list()
	if len(errs) != 2 {
		t.Fatalf("failures: %v", errs)
	}
	for _, e := range errs {
		if !strings.Contains(e, "publish to orders (Nats-Msg-Id ") || !strings.Contains(e, "at nats://"+addr) ||
			!strings.Contains(e, "not connected: cannot reach "+addr+": connect: connection refused") || !strings.Contains(e, "(gave up after 2 attempts)") {
			t.Errorf("failure: %s", e)
		} else {
			t.Log(e)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %s: publishes waited instead of failing while disconnected", d)
	}

	fs := &errCollector{}
	s = newNATSSinkWithFail(t, `{url: "nats://`+addr+`", subject: orders, message_id: string(id), timeout: 200ms}`, &component.Runtime{RetryLater: true}, fs)
	writeAll(t, s, `{"id":1}`)
	got := fs.list()
	var de *component.DeliveryError
	if len(got) != 1 || !errors.As(got[0], &de) || !de.Retryable || de.Attempts != 1 {
		t.Errorf("under serve: %v", got)
	}
}

// errCollector keeps the errors a sink reports, as errors.
type errCollector struct {
	mu  sync.Mutex
	all []error
}

func (c *errCollector) add(_ *record.Record, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, err)
}

func (c *errCollector) list() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.all...)
}

func newNATSSinkWithFail(t *testing.T, settings string, rt *component.Runtime, c *errCollector) component.Sink {
	t.Helper()
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    nats: "+settings+"\n", nil)
	return newSink(t, p, "out", rt, c.add)
}

// A run whose subject no stream takes stops at its start, saying so.
func TestNATSSinkWithoutAStreamStopsAtStart(t *testing.T) {
	_, prefix := natstest.Stream(t) // nothing creates the stream
	s := natsSink(t, `{url: "`+natstest.URL()+`", subject: "`+prefix+`.orders", message_id: string(id)}`, nil, nil)
	err := s.(component.Starter).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no stream takes subject "+prefix+".orders") {
		t.Errorf("start: %v", err)
	}
	s.Close(context.Background(), false)
}

// Building and describing, as dry runs do, connects to nothing; the
// description is the exact message, secret headers redacted.
func TestNATSSinkDryRunTouchesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    nats: {url: \"nats://"+ln.Addr().String()+
		"\", subject: erp.orders, subject_suffix: shop, message_id: '\"o-\" + string(id)', headers: {X-Api-Token: \"${ERP_TOKEN}\", Source: pipectl}, body: {order: id}}\n",
		map[string]string{"ERP_TOKEN": "s3cr3t-value"})
	s := newSink(t, p, "out", &component.Runtime{DryRun: true}, nil)
	d, err := s.(component.Describer).Describe(record.New([]byte(`{"id":7,"shop":"acme"}`), nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &connectors.NATSMessage{Subject: "erp.orders.acme", Body: json.RawMessage(`{"order":7}`), Headers: map[string]string{
		"X-Api-Token": component.Redacted, "Source": "pipectl", "Content-Type": "application/json", "Nats-Msg-Id": "o-7"}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	if _, err := s.(component.Describer).Describe(record.New([]byte(`{"id":7,"shop":"a.*"}`), nil)); err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Errorf("a suffix with a wildcard: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("a dry run's sink connected %d time(s)", n)
	}
}
