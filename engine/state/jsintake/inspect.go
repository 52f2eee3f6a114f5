package jsintake

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamStatus is the intake stream as the server counts it, for `pipectl
// cluster status`.
type StreamStatus struct {
	Stream    string
	Messages  uint64 // kept in the stream, run or not (it keeps MaxAge)
	Bytes     uint64
	Replicas  int
	Consumers []ConsumerStatus
}

// ConsumerStatus is one pipeline's consumer.
type ConsumerStatus struct {
	Pipeline string
	Consumer string
	// Pending is published and not yet handed to any worker: the lag.
	Pending uint64
	// AckPending is handed to a worker and not acknowledged yet.
	AckPending int
	// Redelivered is, of AckPending, handed over more than once: a worker
	// died or gave it back.
	Redelivered int
	// Waiting counts the pull requests waiting for messages: idle workers.
	Waiting int
}

// Inspect reads the intake stream and its consumers at url without
// creating or changing anything.
func Inspect(ctx context.Context, url, stream string) (*StreamStatus, error) {
	nc, err := Connect(url, "pipectl cluster status")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream at %s: %w", url, err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s at %s: %w", stream, url, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	out := &StreamStatus{Stream: stream, Messages: info.State.Msgs, Bytes: info.State.Bytes, Replicas: info.Config.Replicas}
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		if !strings.HasPrefix(ci.Name, "pl_") {
			continue
		}
		out.Consumers = append(out.Consumers, ConsumerStatus{Pipeline: strings.TrimPrefix(ci.Name, "pl_"), Consumer: ci.Name,
			Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting})
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", stream, err)
	}
	return out, nil
}
