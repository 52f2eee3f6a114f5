package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ProcessedKeys is what a delivery queue kept outside the store (JetStream)
// needs from the store: its deliveries are not rows here, so finishing one
// records its key as processed instead of deleting it. Only the PostgreSQL
// queue has it; a queue on SQLite serves one process and keeps its own
// deliveries.
type ProcessedKeys interface {
	// FinishProcessed records keys as processed by consumer and, in the
	// same transaction, adds the retries and dead letters their run
	// produced (as Finish does). A key already recorded is kept with its
	// first time.
	FinishProcessed(ctx context.Context, consumer string, keys []string, retries []*Retry, dead []*DeadLetter) error
	// Processed returns those of keys that consumer processed within
	// DedupeHorizon.
	Processed(ctx context.Context, consumer string, keys []string) (map[string]bool, error)
}

var errNoProcessedKeys = errors.New("this state store keeps no processed-message keys (PostgreSQL does)")

// AsProcessedKeys returns q's processed-message keys, or an error saying
// that q cannot keep them.
func AsProcessedKeys(q Queue) (ProcessedKeys, error) {
	if pk, ok := q.(ProcessedKeys); ok {
		return pk, nil
	}
	return nil, errNoProcessedKeys
}

func (q *pgQueue) FinishProcessed(ctx context.Context, consumer string, keys []string, retries []*Retry, dead []*DeadLetter) error {
	if err := checkOutcome(retries, dead); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	now := utc(q.clock.Now())
	prune := q.pruneDue(now)
	err := q.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if prune {
			b.Queue(`DELETE FROM processed_messages WHERE processed_at <= $1`, now.Add(-DedupeHorizon))
		}
		if len(keys) > 0 {
			b.Queue(`INSERT INTO processed_messages (consumer, msg_key, processed_at)
				SELECT $1, k, $3 FROM unnest($2::text[]) AS k
				ON CONFLICT (consumer, msg_key) DO UPDATE SET processed_at = excluded.processed_at
				WHERE processed_messages.processed_at <= $4`, consumer, keys, now, now.Add(-DedupeHorizon))
		}
		q.queueOutcome(b, retries, dead)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("finish %d deliveries of %s: %w", len(keys), consumer, err)
	}
	return nil
}

func (q *pgQueue) Processed(ctx context.Context, consumer string, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := q.pool.Query(ctx, `SELECT msg_key FROM processed_messages
		WHERE consumer = $1 AND msg_key = ANY($2::text[]) AND processed_at > $3`,
		consumer, keys, utc(q.clock.Now()).Add(-DedupeHorizon))
	if err != nil {
		return nil, fmt.Errorf("processed keys of %s: %w", consumer, err)
	}
	defer rows.Close()
	ks, err := collect(rows, scanString)
	if err != nil {
		return nil, fmt.Errorf("processed keys of %s: %w", consumer, err)
	}
	for _, k := range ks {
		out[k] = true
	}
	return out, nil
}

// Ping reports whether the database answers; serve's readiness asks it.
func (q *pgQueue) Ping(ctx context.Context) error {
	return q.pool.Ping(ctx)
}

// WaitingClaimer is a queue whose Claim, finding nothing ready, waits a
// while for a delivery to arrive (JetStream's pull). A worker on it claims
// again at once after an empty claim instead of polling: a delivery queued
// by another process is taken as soon as it arrives.
type WaitingClaimer interface {
	ClaimWaits() bool
}
