package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/codex-dominion/dominion/internal/metrics"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// deadline bounds every wait: the machine is loaded.
const deadline = 30 * time.Second

// scraper GETs /metrics from m's handler over HTTP, as Prometheus does, and parses the
// exposition text.
type scraper struct {
	t   *testing.T
	url string
}

func newScraper(t *testing.T, m *metrics.Metrics) *scraper {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return &scraper{t: t, url: srv.URL + "/metrics"}
}

func (s *scraper) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatalf("GET %s: %v", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s", s.url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of name whose labels include want ("k=v" pairs): a
// counter's or gauge's value, a histogram's sample count; -1 when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, want []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// series is a series' expected value.
type series struct {
	name   string
	labels []string
	want   float64
}

// check reports the series of fams whose value is not the expected one.
func check(t *testing.T, fams map[string]*dto.MetricFamily, want []series) {
	t.Helper()
	for _, c := range want {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// waitValue scrapes until the series of name with labels has value v.
func (s *scraper) waitValue(name string, v float64, labels ...string) {
	s.t.Helper()
	last := 0.0
	testenv.Until(s.t, deadline, fmt.Sprintf("%s%v = %v", name, labels, v), func() bool {
		last = value(s.scrape(), name, labels...)
		return last == v
	}, func() string { return fmt.Sprintf("last scraped %v", last) })
}

// TestJobMetrics runs jobs on a real worker and checks what /metrics reports about them:
// enqueued, finished by outcome (completed, retried, dead, canceled), handler durations,
// pickup latencies and busy slots.
func TestJobMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	b := jobtest.NewBroker()
	c := queue.NewClient(b, queue.WithEnqueueMiddleware(m.EnqueueMiddleware()))
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "mail", Weight: 1}}, Concurrency: 4,
		HeartbeatInterval: 50 * time.Millisecond, Observer: m,
		Backoff: func(int) time.Duration { return time.Millisecond },
	})
	m.WorkerSlots(4)
	var flaky atomic.Int32
	w.HandleFunc("ok", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	w.HandleFunc("flaky", func(context.Context, *queue.Job) (any, error) {
		if flaky.Add(1) == 1 {
			return nil, errors.New("first attempt fails")
		}
		return nil, nil
	})
	w.HandleFunc("bad", func(context.Context, *queue.Job) (any, error) {
		return nil, queue.NoRetry(errors.New("never works"))
	})
	started := make(chan struct{})
	w.HandleFunc("block", func(ctx context.Context, _ *queue.Job) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	jobtest.StartWorker(t, w)
	ctx := t.Context()
	for _, typ := range []string{"ok", "ok", "flaky", "bad", "block"} {
		if _, err := c.Enqueue(ctx, typ, nil, queue.OnQueue("mail"), queue.MaxRetries(3)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-started:
	case <-time.After(deadline):
		t.Fatal("the blocking job did not start")
	}
	s.waitValue("dominion_worker_busy_slots", 1)
	block := b.Enqueued("block", nil)[0]
	if _, err := c.Cancel(ctx, block.ID); err != nil {
		t.Fatal(err)
	}

	fin := "dominion_jobs_finished_total"
	s.waitValue(fin, 2, "queue=mail", "type=ok", "outcome=completed")
	s.waitValue(fin, 1, "queue=mail", "type=flaky", "outcome=retried")
	s.waitValue(fin, 1, "queue=mail", "type=flaky", "outcome=completed")
	s.waitValue(fin, 1, "queue=mail", "type=bad", "outcome=dead")
	s.waitValue(fin, 1, "queue=mail", "type=block", "outcome=canceled")
	s.waitValue("dominion_worker_busy_slots", 0)

	fams := s.scrape()
	check(t, fams, []series{
		{"dominion_jobs_enqueued_total", []string{"queue=mail", "type=ok"}, 2},
		{"dominion_jobs_enqueued_total", []string{"queue=mail", "type=block"}, 1},
		{"dominion_job_duration_seconds", []string{"queue=mail", "type=ok"}, 2},
		{"dominion_job_duration_seconds", []string{"queue=mail", "type=flaky"}, 2},
		{"dominion_job_pickup_latency_seconds", []string{"queue=mail", "type=flaky"}, 2},
		{"dominion_job_pickup_latency_seconds", []string{"queue=mail", "type=bad"}, 1},
		{"dominion_worker_slots", nil, 4},
	})
	// The blocked handler ran until its cancel was noticed: its duration is in the histogram.
	h := fams["dominion_job_duration_seconds"]
	for _, mt := range h.GetMetric() {
		if hasLabels(mt, []string{"type=block"}) && mt.GetHistogram().GetSampleSum() <= 0 {
			t.Errorf("duration of the canceled job: sum %v, want > 0", mt.GetHistogram().GetSampleSum())
		}
	}
}

// TestEnqueueCountedOnCommit enqueues jobs into transactions of the embedded broker (as a
// workflow and its job are stored together): a job whose transaction rolls back, which the
// caller may then store again, is not counted as enqueued; one whose transaction commits is,
// once.
func TestEnqueueCountedOnCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := metrics.New()
	s := newScraper(t, m)
	b, err := sqlitebroker.Open(ctx, t.TempDir()+"/queue.db", sqlitebroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := queue.NewClient(b, queue.WithEnqueueMiddleware(m.EnqueueMiddleware()))
	enqueueIn := func(tx *sqlitebroker.Tx, id string) error {
		store := func(_ context.Context, jobs []*queue.Job) ([]error, error) { return tx.Enqueue(jobs) }
		_, err := c.EnqueueVia(queue.InTransaction(ctx, tx), store, "ok", nil, queue.OnQueue("mail"), queue.WithID(id))
		return err
	}
	rollBack := errors.New("the caller's own write failed")
	err = b.InTx(ctx, func(tx *sqlitebroker.Tx) error {
		if err := enqueueIn(tx, "job-1"); err != nil {
			return err
		}
		return rollBack
	})
	if !errors.Is(err, rollBack) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if got := value(s.scrape(), "dominion_jobs_enqueued_total", "queue=mail", "type=ok"); got > 0 {
		t.Fatalf("enqueued after a rolled-back transaction: %v, want none", got)
	}
	if err := b.InTx(ctx, func(tx *sqlitebroker.Tx) error { return enqueueIn(tx, "job-1") }); err != nil {
		t.Fatal(err)
	}
	if got := value(s.scrape(), "dominion_jobs_enqueued_total", "queue=mail", "type=ok"); got != 1 {
		t.Fatalf("enqueued after the transaction that stored the job: %v, want 1", got)
	}
	if _, err := b.Get(ctx, "job-1"); err != nil {
		t.Fatalf("the job committed: %v", err)
	}
}

// TestJobLabelsBounded checks that the job metrics have at most MaxJobSeries (queue, type)
// pairs, the jobs of any further pair being counted under queue="other", type="other".
func TestJobLabelsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	c := queue.NewClient(jobtest.NewBroker(), queue.WithEnqueueMiddleware(m.EnqueueMiddleware()))
	const extra = 25
	reqs := make([]queue.Request, 0, metrics.MaxJobSeries+extra)
	for i := range metrics.MaxJobSeries + extra {
		reqs = append(reqs, queue.Request{Type: fmt.Sprintf("type%d", i), Options: []queue.Option{queue.OnQueue(fmt.Sprintf("q%d", i))}})
	}
	if _, _, err := c.EnqueueMany(t.Context(), reqs); err != nil {
		t.Fatal(err)
	}
	// A pair seen before the cap keeps its own series.
	if _, err := c.Enqueue(t.Context(), "type0", nil, queue.OnQueue("q0")); err != nil {
		t.Fatal(err)
	}
	fams := s.scrape()
	series := fams["dominion_jobs_enqueued_total"].GetMetric()
	if len(series) != metrics.MaxJobSeries+1 {
		t.Errorf("dominion_jobs_enqueued_total has %d series, want %d (MaxJobSeries and other)", len(series), metrics.MaxJobSeries+1)
	}
	if got := value(fams, "dominion_jobs_enqueued_total", "queue=other", "type=other"); got != extra {
		t.Errorf("jobs counted under other: %v, want %d", got, extra)
	}
	if got := value(fams, "dominion_jobs_enqueued_total", "queue=q0", "type=type0"); got != 2 {
		t.Errorf("jobs of q0/type0: %v, want 2", got)
	}
	last := fmt.Sprintf("type%d", metrics.MaxJobSeries+extra-1)
	if got := value(fams, "dominion_jobs_enqueued_total", "type="+last); got != -1 {
		t.Errorf("a pair past the cap has its own series (%v)", got)
	}
}

// TestSchedulerTicks runs two schedulers of the same every-second schedule on one broker:
// each tick is enqueued by one of them and is a duplicate for the other.
func TestSchedulerTicks(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	b := jobtest.NewBroker()
	sched := []queue.Schedule{{Name: "report", Spec: "* * * * * *", Type: "ok"}}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for range 2 {
		sc, err := queue.NewScheduler(b, queue.SchedulerConfig{Schedules: sched, Observer: m, Client: queue.NewClient(b)})
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- sc.Run(ctx) }()
	}
	t.Cleanup(func() {
		stop()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	testenv.Until(t, deadline, "an enqueued and a duplicate tick", func() bool {
		fams := s.scrape()
		return value(fams, "dominion_scheduler_ticks_total", "schedule=report", "result=enqueued") >= 1 &&
			value(fams, "dominion_scheduler_ticks_total", "schedule=report", "result=duplicate") >= 1
	})
}

// TestHTTPMetrics sends requests through the HTTP middleware and checks the requests and
// durations per route pattern (never the raw path), method and status.
func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/workflows/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(m.HTTP(mux))
	t.Cleanup(srv.Close)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/workflows/a1"}, {"GET", "/api/workflows/b2"}, {"GET", "/api/workflows/missing"},
		{"POST", "/api/chat"}, {"BREW", "/api/chat"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	fams := s.scrape()
	check(t, fams, []series{
		{"dominion_http_requests_total", []string{"route=/api/workflows/{id}", "method=GET", "status=200"}, 2},
		{"dominion_http_requests_total", []string{"route=/api/workflows/{id}", "method=GET", "status=404"}, 1},
		{"dominion_http_requests_total", []string{"route=/api/chat", "method=POST", "status=202"}, 1},
		{"dominion_http_requests_total", []string{"route=", "method=other", "status=405"}, 1},
		{"dominion_http_request_duration_seconds", []string{"route=/api/workflows/{id}", "method=GET", "status=200"}, 2},
		{"dominion_http_request_duration_seconds", []string{"route=/api/workflows/{id}", "method=GET", "status=404"}, 1},
		{"dominion_http_request_duration_seconds", []string{"route=/api/chat", "method=POST", "status=202"}, 1},
	})
	for _, mt := range fams["dominion_http_requests_total"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if strings.Contains(l.GetValue(), "a1") || strings.Contains(l.GetValue(), "missing") {
				t.Errorf("a label holds a raw path: %v", mt.GetLabel())
			}
		}
	}
}

// TestWorkflowMetrics checks the workflows finished, their durations and savings.
func TestWorkflowMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	m.WorkflowFinished("invoice", "completed", 2*time.Second, 12.5)
	m.WorkflowFinished("invoice", "completed", time.Second, 7.5)
	m.WorkflowFinished("invoice", "failed", time.Second, 100)
	fams := s.scrape()
	check(t, fams, []series{
		{"dominion_workflows_finished_total", []string{"type=invoice", "status=completed"}, 2},
		{"dominion_workflows_finished_total", []string{"type=invoice", "status=failed"}, 1},
		{"dominion_workflow_duration_seconds", []string{"type=invoice", "status=completed"}, 2},
		{"dominion_workflow_weekly_savings_dollars_total", []string{"type=invoice"}, 20},
	})
}

// TestStatsReadAtMostOncePerSecond scrapes /metrics many times in a row and checks that the
// broker and store were read at most once per second, and what was read: a live worker and
// the jobs per queue and state.
func TestStatsReadAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	b := jobtest.NewBroker()
	var queues, workers, outbox atomic.Int32
	m.WatchStats(metrics.Sources{
		Queues: func(ctx context.Context) ([]queue.QueueStats, error) {
			queues.Add(1)
			return b.Queues(ctx)
		},
		Workers: func(ctx context.Context) ([]queue.WorkerInfo, error) {
			workers.Add(1)
			return b.Workers(ctx)
		},
		Outbox: func(context.Context) (int64, error) {
			outbox.Add(1)
			return 3, nil
		},
	})
	c := queue.NewClient(b)
	if _, err := c.Enqueue(t.Context(), "later", nil, queue.OnQueue("mail"), queue.RunIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w := queue.NewWorker(b, queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "other", Weight: 1}},
		Concurrency: 3, HeartbeatInterval: 50 * time.Millisecond})
	jobtest.StartWorker(t, w)
	s.waitValue("dominion_workers_live", 1)

	queues.Store(0)
	workers.Store(0)
	outbox.Store(0)
	start := time.Now()
	const scrapes = 30
	var fams map[string]*dto.MetricFamily
	for range scrapes {
		fams = s.scrape()
	}
	allowed := int32(time.Since(start)/time.Second) + 1
	for name, n := range map[string]int32{"Queues": queues.Load(), "Workers": workers.Load(), "Outbox": outbox.Load()} {
		if n > allowed {
			t.Errorf("%d scrapes in %v read %s %d times, want at most %d", scrapes, time.Since(start), name, n, allowed)
		}
	}
	check(t, fams, []series{
		{"dominion_queue_jobs", []string{"queue=mail", "state=scheduled"}, 1},
		{"dominion_queue_jobs", []string{"queue=mail", "state=pending"}, 0},
		{"dominion_workers_live", nil, 1},
		{"dominion_workers_slots", nil, 3},
		{"dominion_workers_busy_slots", nil, 0},
		{"dominion_outbox_waiting", nil, 3},
		{"dominion_stats_up", nil, 1},
	})
}

// TestQueueStatsBounded checks that the broker statistics report at most MaxQueueSeries
// queues one by one and sum the others under queue="other".
func TestQueueStatsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScraper(t, m)
	b := jobtest.NewBroker()
	m.WatchStats(metrics.Sources{Queues: b.Queues})
	const extra = 5
	reqs := make([]queue.Request, 0, metrics.MaxQueueSeries+extra)
	for i := range metrics.MaxQueueSeries + extra {
		reqs = append(reqs, queue.Request{Type: "t", Options: []queue.Option{queue.OnQueue(fmt.Sprintf("q%04d", i)), queue.RunIn(time.Hour)}})
	}
	last := fmt.Sprintf("q%04d", metrics.MaxQueueSeries+extra-1)
	reqs = append(reqs, queue.Request{Type: "t", Options: []queue.Option{queue.OnQueue(last)}})
	if _, _, err := queue.NewClient(b).EnqueueMany(t.Context(), reqs); err != nil {
		t.Fatal(err)
	}
	fams := s.scrape()
	queues := map[string]bool{}
	for _, mt := range fams["dominion_queue_jobs"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "queue" {
				queues[l.GetValue()] = true
			}
		}
	}
	if len(queues) != metrics.MaxQueueSeries+1 {
		t.Errorf("dominion_queue_jobs has %d queues, want %d (MaxQueueSeries and other)", len(queues), metrics.MaxQueueSeries+1)
	}
	check(t, fams, []series{
		{"dominion_queue_jobs", []string{"queue=q0000", "state=scheduled"}, 1},
		{"dominion_queue_jobs", []string{"queue=other", "state=scheduled"}, extra},
		{"dominion_queue_jobs", []string{"queue=other", "state=pending"}, 1},
		{"dominion_queue_jobs", []string{"queue=" + last}, -1},
		{"dominion_stats_up", nil, 1},
	})
	if age := value(fams, "dominion_queue_oldest_pending_age_seconds", "queue=other"); age <= 0 {
		t.Errorf("oldest pending age of other = %v, want that of the pending job in %s", age, last)
	}
}
