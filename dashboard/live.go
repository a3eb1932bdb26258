package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// point is one sample of the charts: rates per second and queue depths, summed over queues.
// A rate is nil when it cannot be computed (first sample, or after a gap in sampling).
type point struct {
	T         int64    `json:"t"` // Unix milliseconds
	Processed *float64 `json:"p"`
	Failed    *float64 `json:"f"`
	Pending   int64    `json:"d"`
	Active    int64    `json:"a"`
	Waiting   int64    `json:"w"` // scheduled + retry
	Dead      int64    `json:"x"`
}

// sample is what the poller broadcasts each tick: the chart point and the value of every
// live number on the pages, by key (see the data-live attributes in the templates).
//
// A sample the job events asked for carries only the values that changed since the sample
// before, and a chart point only once per pointGap; a periodic one carries every value.
type sample struct {
	T      int64          `json:"t"`
	Point  *point         `json:"point,omitempty"`
	Values map[string]any `json:"values"`
	Error  string         `json:"error,omitempty"`
	// Mode is what drives the updates: modeEvents, modeBusy or modeRefresh.
	Mode string `json:"mode"`
}

// jobState is sent to the browsers watching one job's, workflow's or batch's page.
type jobState struct {
	ID       string          `json:"id"`
	State    string          `json:"state"`
	Attempt  int             `json:"attempt"`
	Progress *queue.Progress `json:"progress,omitempty"`
	// Counts are a batch's jobs by state ("batch-total", "batch-pending", …), shown in place.
	Counts map[string]int64 `json:"counts,omitempty"`
}

// sig is what a page has shown of the item: a change is sent.
func (js jobState) sig() string {
	s := js.State + "/" + strconv.Itoa(js.Attempt)
	if p := js.Progress; p != nil {
		s += "/" + strconv.Itoa(p.Percent) + "/" + strconv.FormatInt(p.At.UnixNano(), 10) + "/" + p.Message
	}
	if c := js.Counts; c != nil {
		for _, k := range []string{"batch-total", "batch-completed", "batch-dead", "batch-canceled"} {
			s += "/" + strconv.FormatInt(c[k], 10)
		}
	}
	return s
}

type subscriber struct {
	ch      chan []byte
	watch   string    // "job:ID", "workflow:ID" or "batch:ID": the page shows that one item
	queue   string    // the page shows this queue only: it gets that queue's values, when they change
	rows    *rowsView // the page lists jobs of queue: the list is pushed when the queue changes
	lastJob string    // the item's state last sent
	// resync: a frame was dropped (the page was too slow), so the next one carries every value.
	resync bool
}

// hub runs the one poller of a Dashboard and fans its samples out to every live page.
//
// The poller samples when the job events say something changed, at most once per
// minUpdateGap however many events arrive, and every interval in any case (what events do not
// report: workers, latency, due scheduled jobs; and everything while there are no events).
type hub struct {
	d        *Dashboard
	interval time.Duration
	linger   time.Duration // keep sampling this long after the last page closed

	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	watched   map[string]int // subscribers per watched item (subscriber.watch)
	history   []point        // oldest first, at most d.cfg.History
	last      *framer        // the last sample, whose every value a new subscriber gets at once
	values    map[string]any // the last sample's values (the poller alone uses them)
	lastAlone time.Time
	prev      *prevCounters
	wfValues  map[string]any
	wfAt      time.Time
	closed    bool
	lastErr   string // the poller's last logged error, "" once it read again (only the poller uses it)

	// unfollow ends the subscription to job events (nil: none), followFailed is when the
	// last attempt failed (or the subscription ended); the poller alone uses them. nudge asks
	// the poller to refresh the open job pages now; changed says that events arrived.
	unfollow     context.CancelFunc
	followFailed time.Time
	nudge        chan struct{}
	changed      chan struct{}
	lost         bool      // the subscription ended by itself (under mu)
	busy         bool      // more than busyEvents a second arrive (under mu)
	busyUntil    time.Time // no subscription until then: too many events (the poller's)

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started sync.Once
}

type prevCounters struct {
	at                time.Time
	processed, failed int64
}

func newHub(d *Dashboard) *hub {
	return &hub{
		d: d, interval: d.cfg.Interval, linger: 30 * time.Second,
		subs: map[*subscriber]struct{}{}, watched: map[string]int{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), nudge: make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
	}
}

// minUpdateGap bounds the samples the job events ask for: at most four a second, however many
// jobs run.
const minUpdateGap = 250 * time.Millisecond

// frameBuffer is how many frames a page's connection holds for it; a page further behind
// misses frames and gets every value in the next (resync).
const frameBuffer = 16

// subscribe registers a live page; the poller starts (or wakes) for it. It returns the
// charts' points sampled in this process, oldest first, and the last sample frame.
func (h *hub) subscribe(watch, queue string, rows *rowsView) (*subscriber, []point, []byte, bool) {
	h.started.Do(func() { go h.run() })
	s := &subscriber{ch: make(chan []byte, frameBuffer), watch: watch, queue: queue, rows: rows}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, nil, false
	}
	h.subs[s] = struct{}{}
	if watch != "" {
		h.watched[watch]++
	}
	signal(h.wake)
	var last []byte
	if h.last != nil {
		last = h.last.get(true, queue)
	}
	return s, slices.Clone(h.history), last, true
}

// chartHistory is what a new page's charts show at once: the last hour of the history the
// workers recorded in the broker (queue.HistoryStore), up to where the points this process
// sampled begin, then those. Without the broker's history (unreachable), only the latter.
func (d *Dashboard) chartHistory(ctx context.Context, live []point, now time.Time) []point {
	samples, err := d.cfg.Queues.History(ctx, now.Add(-queue.HistoryKeep))
	if err != nil {
		d.log.Debug("dashboard: read the queue history", "err", d.redact(err.Error()))
	}
	pts := historyPoints(samples)
	if len(live) > 0 {
		i := 0
		for i < len(pts) && pts[i].T < live[0].T {
			i++
		}
		pts = append(pts[:i], live...)
	}
	return pts
}

// historyPoints turns the broker's samples into chart points, each rate computed over the
// slot before it (none after a gap in the samples).
func historyPoints(samples []queue.Sample) []point {
	pts := make([]point, 0, len(samples))
	for i, s := range samples {
		p := point{T: s.At.UnixMilli(), Pending: s.Pending, Active: s.Active, Waiting: s.Scheduled + s.Retry, Dead: s.Dead}
		if i > 0 {
			prev := samples[i-1]
			if dt := s.At.Sub(prev.At).Seconds(); dt > 0 && dt <= 2.5*queue.HistorySlot.Seconds() {
				pr := max(float64(s.Processed-prev.Processed), 0) / dt
				fr := max(float64(s.Failed-prev.Failed), 0) / dt
				p.Processed, p.Failed = &pr, &fr
			}
		}
		pts = append(pts, p)
	}
	return pts
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		if s.watch != "" {
			if h.watched[s.watch]--; h.watched[s.watch] == 0 {
				delete(h.watched, s.watch)
			}
		}
		if len(h.subs) == 0 {
			h.lastAlone = time.Now()
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
	h.mu.Unlock()
	close(h.stop)
	h.started.Do(func() { close(h.done) }) // never started: nothing to wait for
	<-h.done
}

// watching reports whether the poller should sample now: someone is watching, or was within
// the linger time (navigating from page to page reconnects).
func (h *hub) watching(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0 || now.Sub(h.lastAlone) < h.linger
}

// run is the hub's poller: it takes a sample (sampleWhenWatched), waits for the next reason
// to take one (awaitNext), and so on until the hub stops.
func (h *hub) run() {
	defer close(h.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		if h.unfollow != nil {
			h.unfollow()
		}
	}()
	go func() {
		<-h.stop
		cancel()
	}()
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	ps := pollSchedule{sampleNow: true, full: true}
	for {
		if ps.sampleNow && !h.sampleWhenWatched(ctx, &ps) {
			return
		}
		if !h.awaitNext(ctx, tick.C, &ps) {
			return
		}
	}
}

// pollSchedule is when the poller samples next, and how.
type pollSchedule struct {
	sampleNow, full bool
	last            time.Time        // when the last sample was taken
	due             <-chan time.Time // the sample events asked for, held back by minUpdateGap
	busy            <-chan time.Time // the next sample while too many events arrive (modeBusy)
}

// sampleWhenWatched waits, while nobody watches, for a page to open, then takes a sample and
// schedules the next. It returns false when the hub stopped meanwhile.
func (h *hub) sampleWhenWatched(ctx context.Context, ps *pollSchedule) bool {
	if !h.watching(time.Now()) {
		h.follow(false)
		select {
		case <-h.wake:
			ps.full = true
		case <-h.stop:
			return false
		}
	}
	h.follow(true)
	h.poll(ctx, ps.full)
	ps.last, ps.sampleNow, ps.full, ps.due, ps.busy = time.Now(), false, false, nil, nil
	if h.mode(ps.last) == modeBusy {
		ps.busy = time.After(busyPoll)
	}
	return true
}

// awaitNext waits for the next thing the poller acts on: a tick, events, a due or busy
// sample, a nudge (pushing the watched items at once) or a new page. It returns false when the
// hub stopped.
func (h *hub) awaitNext(ctx context.Context, tick <-chan time.Time, ps *pollSchedule) bool {
	select {
	case <-tick:
		ps.sampleNow, ps.full = true, true
	case <-h.changed:
		if ps.due == nil {
			if wait := minUpdateGap - time.Since(ps.last); wait > 0 {
				ps.due = time.After(wait)
			} else {
				ps.sampleNow = true
			}
		}
	case <-ps.due:
		ps.sampleNow = true
	case <-ps.busy:
		ps.sampleNow = true
	case <-h.nudge:
		h.pushItems(ctx, h.watchedItems())
	case <-h.wake:
		// A new page: it already got the last sample.
	case <-h.stop:
		return false
	}
	return true
}

// poll takes one sample and sends it to the subscribers: every value when full (the
// periodic refresh), else the values that changed since the last sample, if any did.
func (h *hub) poll(ctx context.Context, full bool) {
	d := h.d
	ctx, cancel := context.WithTimeout(ctx, max(h.interval*3, 3*time.Second))
	defer cancel()
	now := time.Now()
	s := sample{T: now.UnixMilli(), Values: map[string]any{}, Mode: h.mode(now)}
	stats, err := d.cfg.Queues.Queues(ctx)
	if err != nil {
		if ctx.Err() != nil && h.isClosed() {
			return
		}
		s.Error = "Could not read the queue statistics. The details are in the server log."
		if msg := d.redact(err.Error()); msg != h.lastErr {
			h.lastErr = msg // logged once per distinct error, not once a sample
			d.log.Warn("dashboard: read the queue statistics", "err", msg)
		}
	} else {
		if h.lastErr != "" {
			h.lastErr = ""
			d.log.Info("dashboard: the queue statistics answer again")
		}
		h.fill(&s, stats, now)
	}

	if workers, err := d.cfg.Queues.Workers(ctx); err == nil {
		s.Values["workers"] = len(workers)
		busy := 0
		for _, w := range workers {
			busy += len(w.Jobs)
		}
		s.Values["workers.busy"] = busy
	}
	if d.cfg.Workflows != nil {
		h.workflowValues(ctx, &s, now)
	}
	if rows := h.broadcast(s, full); err == nil && len(rows) > 0 {
		h.pushRows(ctx, stats, rows)
	}
	if full {
		h.pushItems(ctx, h.watchedItems())
	} else {
		// A job's event does not say its batch: an open batch page is read at each sample
		// that events asked for (at most every minUpdateGap).
		h.pushItems(ctx, h.watchedItems("batch:"))
	}
}

// pushItems sends the state of the jobs and workflows whose page is open, when it changed:
// one read per distinct item, however many pages show it.
func (h *hub) pushItems(ctx context.Context, watched map[string][]*subscriber) {
	for key, subs := range watched {
		js, ok := h.itemState(ctx, key)
		if !ok {
			continue
		}
		b, _ := json.Marshal(js)
		sig := js.sig()
		h.mu.Lock()
		for _, sub := range subs {
			if _, ok := h.subs[sub]; ok && sub.lastJob != sig {
				sub.lastJob = sig
				send(sub, sseFrame("job", b))
			}
		}
		h.mu.Unlock()
	}
}

// maxWatched bounds the distinct jobs and workflows read per tick for their pages.
const maxWatched = 100

// itemState reads the state of a watched job or workflow; false when it could not be read.
func (h *hub) itemState(ctx context.Context, key string) (jobState, bool) {
	kind, id, _ := strings.Cut(key, ":")
	switch kind {
	case "job":
		job, err := h.d.cfg.Queues.Get(ctx, id)
		if errors.Is(err, queue.ErrJobNotFound) {
			return jobState{ID: id, State: "deleted"}, true
		}
		if err != nil {
			return jobState{}, false
		}
		return jobState{ID: id, State: string(job.State), Attempt: job.Attempt, Progress: job.Progress}, true
	case "workflow":
		if h.d.cfg.Workflows == nil {
			return jobState{}, false
		}
		wf, err := h.d.cfg.Workflows.Get(ctx, id)
		if err != nil {
			return jobState{}, false
		}
		// Attempt carries the step reached, so that each finished step refreshes the page.
		return jobState{ID: id, State: string(wf.Status), Attempt: workflowSig(wf)}, true
	case "batch":
		b, err := h.d.cfg.Queues.Batch(ctx, id)
		if err != nil {
			return jobState{}, false
		}
		return jobState{ID: id, State: batchState(b), Counts: map[string]int64{
			"batch-total": b.Total, "batch-pending": b.Pending, "batch-completed": b.Completed,
			"batch-dead": b.Dead, "batch-canceled": b.Canceled,
		}}, true
	}
	return jobState{}, false
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// send queues msg for a subscriber; a page too slow to keep up misses frames rather than
// holding up the others. It reports whether msg was queued.
func send(s *subscriber, msg []byte) bool {
	select {
	case s.ch <- msg:
		return true
	default:
		return false
	}
}

// fill computes the live values from the queue statistics, and the chart point when one is
// due (pointGap after the last).
func (h *hub) fill(s *sample, stats []queue.QueueStats, now time.Time) {
	v := s.Values
	totals := make([]int64, len(queue.States))
	var processed, failed int64
	for _, q := range stats {
		for i, st := range queue.States {
			n := q.Count(st)
			totals[i] += n
			v["queue."+q.Name+"."+string(st)] = n
		}
		processed += q.Processed
		failed += q.Failed
		v["queue."+q.Name+".processed"] = q.Processed
		v["queue."+q.Name+".failed"] = q.Failed
		v["queue."+q.Name+".latency"] = latency(q, now)
	}
	for i, st := range queue.States {
		v["total."+string(st)] = totals[i]
	}
	v["total.processed"] = processed
	v["total.failed"] = failed
	v["queues"] = len(stats)

	h.mu.Lock()
	prev := h.prev
	if prev != nil && now.Sub(prev.at) < h.pointGap() {
		h.mu.Unlock()
		return
	}
	h.prev = &prevCounters{at: now, processed: processed, failed: failed}
	h.mu.Unlock()
	total := func(st queue.State) int64 { return totals[slices.Index(queue.States, st)] }
	p := &point{T: s.T, Pending: total(queue.StatePending), Active: total(queue.StateActive),
		Waiting: total(queue.StateScheduled) + total(queue.StateRetry), Dead: total(queue.StateDead)}
	if prev != nil {
		dt := now.Sub(prev.at).Seconds()
		// After a pause in sampling (nobody watching), the chart shows a gap, not an average.
		if dt > 0 && dt < h.interval.Seconds()*3+1 {
			pr := max(float64(processed-prev.processed), 0) / dt
			fr := max(float64(failed-prev.failed), 0) / dt
			p.Processed, p.Failed = &pr, &fr
			v["rate.processed"] = strconv.FormatFloat(pr, 'f', 1, 64)
			v["rate.failed"] = strconv.FormatFloat(fr, 'f', 1, 64)
		}
	}
	s.Point = p
}

// pointGap is the least time between two chart points: a second, or the interval if shorter
// (tests). The rates are computed over it.
func (h *hub) pointGap() time.Duration {
	return min(h.interval, time.Second) * 9 / 10 // the samples of a steady tick drift a little
}

// latency is how long the oldest pending job of q has waited, for display.
func latency(q queue.QueueStats, now time.Time) string {
	if q.OldestPending.IsZero() || q.Pending == 0 {
		return "—"
	}
	return formatDuration(now.Sub(q.OldestPending))
}

// workflowValues adds the workflow counters of today, read at most every 5 s.
func (h *hub) workflowValues(ctx context.Context, s *sample, now time.Time) {
	h.mu.Lock()
	cached, at := h.wfValues, h.wfAt
	h.mu.Unlock()
	if cached == nil || now.Sub(at) >= 5*time.Second {
		vals, err := h.d.workflowValues(ctx, now)
		if err == nil && vals != nil {
			cached = vals
			h.mu.Lock()
			h.wfValues, h.wfAt = vals, now
			h.mu.Unlock()
		}
	}
	for k, val := range cached {
		s.Values[k] = val
	}
}

func sseFrame(event string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\ndata: ")
	b.Write(data) // JSON: no newlines
	b.WriteString("\n\n")
	return b.Bytes()
}

// events is the server-sent event stream of a live page: the chart history at once (with
// ?charts, the last hour's: chartHistory), then the samples of the shared poller (with
// ?queue=Q, only that queue's values, when they change; with ?job=ID, also that job's state
// when it changes). It answers only the dashboard's own pages (sameOrigin).
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r, true) {
		http.Error(w, "the live stream is for the dashboard's own pages", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	only := q.Get("queue")
	if only != "" && queue.CheckQueueName(only) != nil {
		http.Error(w, "queue: "+queue.CheckQueueName(only).Error(), http.StatusBadRequest)
		return
	}
	rows, err := d.rowsView(w, r, only)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sub, live, last, ok := d.hub.subscribe(watched(q), only, rows)
	if !ok {
		http.Error(w, "dashboard is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer d.hub.unsubscribe(sub)
	hist := []byte("[]")
	if q.Has("charts") { // the overview's
		if pts := d.chartHistory(r.Context(), live, time.Now()); len(pts) > 0 {
			hist, _ = json.Marshal(pts)
		}
	}
	s := startStream(w)
	if s.send([]byte("retry: 2000\n\n"), sseFrame("history", hist), last) {
		s.relay(r.Context(), sub.ch)
	}
}

// watched returns what a live page follows besides its queues, from its query: "job:<id>",
// "workflow:<id>" or "batch:<id>", the first of these given an ID of at most 200 bytes; ""
// for nothing.
func watched(q url.Values) string {
	for _, kind := range []string{"job", "workflow", "batch"} {
		if id := q.Get(kind); id != "" && len(id) <= 200 {
			return kind + ":" + id
		}
	}
	return ""
}

// sseStream is the server-sent event stream of one live page.
type sseStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startStream sends the headers of an event stream that no proxy should buffer or cache.
func startStream(w http.ResponseWriter) *sseStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseStream{w: w, rc: http.NewResponseController(w)}
}

// send writes frames and flushes them; it gives up (false) on a page that does not read them
// within writeTimeout (the stream outlives any write timeout the server has, so it sets its
// own).
func (s *sseStream) send(frames ...[]byte) bool {
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	for _, f := range frames {
		if _, err := s.w.Write(f); err != nil {
			return false
		}
	}
	return s.rc.Flush() == nil
}

// relay sends the frames of ch, and a keep-alive comment every 20 s, until ch
// is closed, ctx is done or a write fails.
func (s *sseStream) relay(ctx context.Context, ch <-chan []byte) {
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		var msg []byte
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			msg = m
		case <-keepalive.C:
			msg = []byte(": keep-alive\n\n")
		case <-ctx.Done():
			return
		}
		if !s.send(msg) {
			return
		}
	}
}

// writeTimeout bounds how long a live page may take to read a frame.
const writeTimeout = 10 * time.Second
