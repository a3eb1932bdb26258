package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// Progress is how far a running attempt says it is. It is stored with the job (Job.Progress)
// and delivered as an EventProgress.
type Progress struct {
	// Percent is 0 to 100.
	Percent int `json:"percent"`
	// Message says what the attempt is doing, at most MaxProgressMessage bytes.
	Message string `json:"message,omitempty"`
	// At is when the attempt reported it.
	At time.Time `json:"at"`
}

// MaxProgressMessage bounds Progress.Message, in bytes; a longer message is cut.
const MaxProgressMessage = 500

// DefaultProgressInterval is how often, at most, a worker writes one job's progress to the
// broker (WorkerConfig.ProgressInterval): reports in between are coalesced, the latest wins.
const DefaultProgressInterval = 250 * time.Millisecond

// ProgressUpdate is the progress of one attempt, as a worker writes it to the broker.
type ProgressUpdate struct {
	JobID    string
	Queue    string
	WorkerID string
	Attempt  int
	Progress Progress
}

// ErrNotInJob is returned by ReportProgress when ctx is not a running job's context.
var ErrNotInJob = errors.New("not called with a running job's context")

// ReportProgress records that the job whose handler got ctx is percent (0 to 100) done,
// doing message. It returns at once: the worker writes the latest report to the broker at
// most once per WorkerConfig.ProgressInterval, so a handler may report as often as it likes.
// The progress shows in Job.Progress (Client.Get, `dominion jobs show`, the API and the
// dashboard) and as an EventProgress to subscribers. A report after the attempt ended is
// dropped.
func ReportProgress(ctx context.Context, percent int, message string) error {
	r, ok := ctx.Value(progressKey{}).(*progressReporter)
	if !ok {
		return ErrNotInJob
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("progress of job %s: percent %d is not between 0 and 100", r.job.ID, percent)
	}
	r.report(Progress{Percent: percent, Message: cut(message, MaxProgressMessage), At: time.Now()})
	return nil
}

// cut returns s cut to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

type progressKey struct{}

// progressReporter coalesces one attempt's progress reports: the first is written at once,
// later ones at most once per interval, the latest winning.
type progressReporter struct {
	w   *Worker
	job *Job

	mu      sync.Mutex
	latest  *Progress   // reported and not yet written
	timer   *time.Timer // a write is due
	written time.Time   // when the last write began
	// writing is held by a write, so that writes happen one at a time, in order.
	writing sync.Mutex
}

func (r *progressReporter) report(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest = &p
	if r.timer != nil {
		return // the write that is due takes the latest
	}
	wait := time.Until(r.written.Add(r.w.cfg.ProgressInterval))
	r.timer = time.AfterFunc(max(wait, 0), r.flush)
}

// settle writes at once the report still waiting for its turn, if any, so that the progress
// a handler reported last is stored (and its event sent) before the attempt's outcome.
func (r *progressReporter) settle() {
	r.mu.Lock()
	pending := r.timer != nil && r.timer.Stop()
	r.mu.Unlock()
	if pending {
		r.flush()
		return
	}
	r.writing.Lock() // wait for a write under way
	r.writing.Unlock()
}

// flush writes the latest report. A failed write is dropped (progress is advisory); the next
// report tries again.
func (r *progressReporter) flush() {
	r.writing.Lock()
	defer r.writing.Unlock()
	r.mu.Lock()
	p := r.latest
	r.latest, r.timer, r.written = nil, nil, time.Now()
	r.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.w.cfg.Lease/2)
	defer cancel()
	err := r.w.broker.SetProgress(ctx, ProgressUpdate{
		JobID: r.job.ID, Queue: r.job.Queue, WorkerID: r.w.cfg.ID, Attempt: r.job.Attempt, Progress: *p,
	})
	if err != nil {
		r.w.log.Debug("queue: progress not recorded", "job_id", r.job.ID, "err", err)
	}
}
