package sqlitebroker

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// nanos stores a time as Unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes stores an empty slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanJob reads the jobColumns of one row, followed by extra destinations.
func scanJob(row rowScanner, extra ...any) (*queue.Job, error) {
	var (
		j                                        queue.Job
		state                                    string
		timeout, uniqueFor, resultTTL            int64
		runAt, enqueuedAt, startedAt, finishedAt int64
		retriedAt, deadline                      int64
		uniqueKey, errs, metadata, progress      sql.NullString
		rateKey, parents, batch                  sql.NullString
		cancelRequested                          bool
		payload, result                          []byte
	)
	dest := append([]any{
		&j.ID, &j.Queue, &j.Type, &payload, &state, &j.Attempt, &j.MaxRetries, &timeout, &runAt,
		&uniqueKey, &uniqueFor, &resultTTL, &result, &errs, &enqueuedAt, &startedAt, &finishedAt,
		&j.WorkerID, &cancelRequested, &metadata, &retriedAt, &j.Priority, &deadline, &progress,
		&rateKey, &parents, &j.RunOnParentFailure, &batch,
	}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	j.State = queue.State(state)
	j.Payload = payload
	j.Result = result
	j.Timeout = time.Duration(timeout)
	j.RunAt = fromNanos(runAt)
	j.UniqueKey = uniqueKey.String
	j.RateKey = rateKey.String
	j.Batch = batch.String
	if parents.Valid && parents.String != "" {
		if err := json.Unmarshal([]byte(parents.String), &j.DependsOn); err != nil {
			return nil, fmt.Errorf("job %s: parents: %w", j.ID, err)
		}
	}
	j.UniqueFor = time.Duration(uniqueFor)
	j.ResultTTL = time.Duration(resultTTL)
	j.EnqueuedAt = fromNanos(enqueuedAt)
	j.StartedAt = fromNanos(startedAt)
	j.FinishedAt = fromNanos(finishedAt)
	j.RetriedAt = fromNanos(retriedAt)
	j.Deadline = fromNanos(deadline)
	j.CancelRequested = cancelRequested
	if metadata.Valid && metadata.String != "" {
		if err := json.Unmarshal([]byte(metadata.String), &j.Metadata); err != nil {
			return nil, fmt.Errorf("job %s: metadata: %w", j.ID, err)
		}
	}
	if progress.Valid && progress.String != "" {
		j.Progress = new(queue.Progress)
		if err := json.Unmarshal([]byte(progress.String), j.Progress); err != nil {
			return nil, fmt.Errorf("job %s: progress: %w", j.ID, err)
		}
	}
	if errs.Valid && errs.String != "" {
		if err := json.Unmarshal([]byte(errs.String), &j.Errors); err != nil {
			return nil, fmt.Errorf("job %s: error history: %w", j.ID, err)
		}
	}
	return &j, nil
}

// metadataJSON stores a job's metadata as a JSON object, NULL when it has none.
func metadataJSON(md map[string]string) any {
	if len(md) == 0 {
		return nil
	}
	b, _ := json.Marshal(md) // a map of strings always marshals
	return string(b)
}
