package serve_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/natstest"
)

// messagePipeline is pipelineText's pipeline started by a message trigger
// on subject instead of a webhook.
func messagePipeline(wmsURL, subject string) string {
	return `pipeline: orders
triggers:
  created:
    message: {subject: ` + subject + `, url: "` + natstest.URL() + `"}
sources:
  orders: {trigger: created, event: {}}
steps:
  ticket:
    from: orders
    map:
      order_id: string(id)
      sku: sku
sinks:
  wms:
    from: ticket
    http:
      url: ` + wmsURL + `/tickets
      idempotency_key: order_id
      backoff: 10ms
      max_backoff: 20ms
      max_attempts: 4
`
}

// publisherStream makes the stream an OMS would publish order events to,
// on the real NATS, and returns a JetStream client and the subject.
func publisherStream(t *testing.T) (jetstream.JetStream, string, string) {
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
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	return js, stream, prefix + ".orders.created"
}

func publish(t *testing.T, js jetstream.JetStream, subject, body, msgID string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// TestMessagesAreQueuedAndRunOnce: an OMS publishes order events to its
// stream; serve reads them with a durable consumer, each runs through the
// pipeline once, a message that is not JSON becomes a dead letter with its
// raw body, and when the consumer is made again from the stream's first
// message (every message handed over a second time), nothing runs twice.
func TestMessagesAreQueuedAndRunOnce(t *testing.T) {
	js, stream, subject := publisherStream(t)
	w := newWMS(t, nil)
	h := start(t, compile(t, t.TempDir(), messagePipeline(w.srv.URL, subject)))
	for i := 1; i <= 10; i++ {
		publish(t, js, subject, fmt.Sprintf(`{"id": %d, "sku": "A"}`, i), fmt.Sprintf("order-%d", i))
	}
	for i := 11; i <= 15; i++ {
		publish(t, js, subject, fmt.Sprintf(`{"id": %d, "sku": "B"}`, i), "") // no Nats-Msg-Id
	}
	publish(t, js, subject, `not json {`, "")
	eventually(t, "every order at the WMS", func() bool { return len(w.received()) == 15 })
	eventually(t, "the message that is not JSON kept as a dead letter", func() bool {
		dls, err := h.q.ListDeadLetters(context.Background(), state.DeadLetterFilter{Pipeline: "orders"})
		return err == nil && len(dls) == 1 && string(dls[0].Payload) == `not json {` && dls[0].Header.Get("Nats-Subject") == subject
	})

	// The consumer made again, from the first message: all 16 come again.
	ctx := context.Background()
	if err := js.DeleteConsumer(ctx, stream, "pipectl_orders_created"); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	q2 := h.q
	srv := serve.New(serve.Config{Queue: q2, PollEvery: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	if err := srv.Load([]*serve.Pipeline{compile(t, t.TempDir(), messagePipeline(w.srv.URL, subject))}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	publish(t, js, subject, `{"id": 16, "sku": "C"}`, "order-16")
	eventually(t, "the new order at the WMS", func() bool { return len(w.received()) == 16 })
	eventually(t, "the consumer has acknowledged every message again", func() bool {
		c, err := js.Consumer(ctx, stream, "pipectl_orders_created")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream == 17 && info.NumAckPending == 0
	})
	time.Sleep(100 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, n := range w.seen {
		if n != 1 {
			t.Errorf("order %s reached the WMS %d times", k, n)
		}
	}
	dls, _ := h.q.ListDeadLetters(ctx, state.DeadLetterFilter{Pipeline: "orders"})
	if len(w.keys) != 16 || len(dls) != 2 {
		// The message that is not JSON has no event id to tell it was
		// seen: it is kept again, which loses nothing.
		t.Errorf("after the replay: %d orders at the WMS, %d dead letters; want 16 and 2", len(w.keys), len(dls))
	}
}
