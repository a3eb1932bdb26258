package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsEveryRequest(t *testing.T) {
	t.Parallel()
	var got, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != `{"x":1}` || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Authorization") != "Bearer t" {
			bad.Add(1)
		}
		if got.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusTeapot) // every tenth fails
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Options{
		URL: srv.URL, Body: []byte(`{"x":1}`), Header: http.Header{"Authorization": {"Bearer t"}},
		Concurrency: 8, Requests: 200, Warmup: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Load() != 210 || bad.Load() != 0 {
		t.Errorf("server saw %d requests (%d malformed), want 210", got.Load(), bad.Load())
	}
	if res.Requests != 200 || res.OK+res.Failed != 200 || res.Statuses[http.StatusTeapot] != res.Failed ||
		res.Failed < 19 || res.Failed > 21 || res.FirstError != "status 418" {
		t.Errorf("result %+v", res)
	}
	if !(res.P50 > 0 && res.P50 <= res.P90 && res.P90 <= res.P99 && res.P99 <= res.Max) || res.Throughput <= 0 {
		t.Errorf("percentiles out of order: %s", res)
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 1: 100, 0: 1} {
		if got := quantile(d, q); got != want {
			t.Errorf("quantile %v = %d, want %d", q, got, want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
}
