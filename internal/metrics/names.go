package metrics

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/codex-dominion/dominion/queue"
)

// Names returns the name of every dominion_* series Dominion exports (with a histogram's
// _bucket, _sum and _count), for checking dashboards and alert rules against the code.
func Names() []string {
	m := New()
	m.WatchStats(Sources{
		Queues:  func(context.Context) ([]queue.QueueStats, error) { return []queue.QueueStats{{Name: "q"}}, nil },
		Workers: func(context.Context) ([]queue.WorkerInfo, error) { return nil, nil },
		Outbox:  func(context.Context) (int64, error) { return 0, nil },
	})
	j := &queue.Job{Queue: "q", Type: "t", EnqueuedAt: time.Now(), StartedAt: time.Now()}
	m.series("q", "t").enqueued.Inc()
	m.JobStarted(j)
	m.JobFinished(j, queue.StateCompleted, time.Millisecond)
	m.Tick("s", queue.TickEnqueued)
	m.WorkflowFinished("t", "completed", time.Millisecond, 1)
	m.httpSeries("/", "GET", 200).requests.Inc()
	m.httpSeries("/", "GET", 200).duration.Observe(0)
	families, _ := m.reg.Gather()
	var out []string
	for _, f := range families {
		n := f.GetName()
		if len(n) < len(namespace)+1 || n[:len(namespace)+1] != namespace+"_" {
			continue
		}
		out = append(out, n)
		if f.GetType() == dto.MetricType_HISTOGRAM {
			out = append(out, n+"_bucket", n+"_sum", n+"_count")
		}
	}
	return out
}
