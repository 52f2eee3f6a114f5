// Package natstest gives a test a JetStream stream of its own on the NATS
// server integration tests use, deleted when the test ends, so tests of
// several packages can share one server. Only tests import it.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipectl/pipectl/internal/pgtest"
)

// URL is the server integration tests use: the one on this machine unless
// PIPECTL_TEST_NATS_URL names another.
func URL() string {
	if u := os.Getenv("PIPECTL_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Stream returns a fresh stream name and subject prefix for a test, both
// unique to it; the stream, once something created it, is deleted when
// the test ends. The test is skipped (or failed, with
// PIPECTL_REQUIRE_SERVICES=1) when JetStream does not answer.
func Stream(t testing.TB) (stream, prefix string) {
	t.Helper()
	reachOnce.Do(func() {
		nc, err := nats.Connect(URL(), nats.Timeout(3*time.Second))
		if err != nil {
			reachErr = err
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
		}
		reachErr = err
	})
	if reachErr != nil {
		pgtest.Unavailable(t, "NATS JetStream at %s: %v", URL(), reachErr)
	}
	b := make([]byte, 6)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	stream = "PIPECTL_TEST_" + strings.ToUpper(suffix)
	t.Cleanup(func() {
		nc, err := nats.Connect(URL())
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
	})
	return stream, "pipectl_test_" + suffix + ".in"
}
