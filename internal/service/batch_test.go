//go:build !nosqlite

package service_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// TestBatchAPI: GET /api/batches/{id} answers a batch's counts (checked against
// docs/openapi.json), and 404 for an unknown one; a job of the batch shows its batch and
// parents.
func TestBatchAPI(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withoutWorker())
	b, err := sqlitebroker.Open(t.Context(), filepath.Join(s.cfg.DataDir, config.QueueDBFile), sqlitebroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := queue.NewClient(b)
	id, err := c.OpenBatch(t.Context(), queue.BatchID("api-batch"), queue.OnComplete("dominion.noop", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(t.Context(), "dominion.noop", nil, queue.WithID("api-parent"), queue.InBatch(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(t.Context(), "dominion.noop", nil, queue.WithID("api-child"), queue.InBatch(id), queue.DependsOn("api-parent")); err != nil {
		t.Fatal(err)
	}
	if err := c.SealBatch(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	var got queue.BatchStatus
	s.call("GET", "/api/batches/"+id, "", http.StatusOK, &got)
	if got.ID != id || got.Total != 2 || got.Pending != 2 || !got.Sealed || got.OnComplete == "" {
		t.Errorf("batch: %+v", got)
	}
	var job struct {
		State     string   `json:"state"`
		DependsOn []string `json:"depends_on"`
		Batch     string   `json:"batch"`
	}
	s.call("GET", "/api/jobs/api-child", "", http.StatusOK, &job)
	if job.State != "waiting" || job.Batch != id || len(job.DependsOn) != 1 || job.DependsOn[0] != "api-parent" {
		t.Errorf("a waiting job of the batch: %+v", job)
	}
	if code, body := s.do("GET", "/api/batches/no-such-batch", "", nil); code != http.StatusNotFound {
		t.Errorf("an unknown batch: %d %s", code, body)
	}
}
