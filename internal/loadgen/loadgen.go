// Package loadgen measures the throughput and latency of one HTTP request sent again and
// again by a fixed number of concurrent connections (a closed-loop load: each connection
// sends its next request when the previous answer has arrived).
//
// It is used by the API benchmark (internal/service: BenchmarkChatLoad) to measure
// POST /api/chat; figures go to docs/BENCHMARKS.md.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options describe one load run.
type Options struct {
	// URL and Method of the request (Method defaults to POST).
	URL    string
	Method string
	// Body is sent with every request; Header is added to it (Content-Type defaults to
	// application/json when Body is set).
	Body   []byte
	Header http.Header
	// Concurrency is the number of connections sending at once (default 64).
	Concurrency int
	// Requests is the number of measured requests, shared among the connections.
	Requests int
	// Warmup requests are sent first and not measured (they open the connections).
	Warmup int
	// Want is the status code that counts as success (default 202).
	Want int
	// Client sends the requests; default a client with a keep-alive pool of Concurrency
	// connections.
	Client *http.Client
}

// Result is what one run measured. Latencies are of successful and failed requests alike.
type Result struct {
	Requests   int           // measured requests sent
	OK         int           // answered with Options.Want
	Failed     int           // transport errors and other statuses
	Elapsed    time.Duration // wall time of the measured part
	Throughput float64       // OK answers per second
	P50        time.Duration
	P90        time.Duration
	P99        time.Duration
	Max        time.Duration
	Statuses   map[int]int // count by status code (0: transport error)
	FirstError string      // the first failure, for diagnosis
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests, %d ok, %d failed in %s: %.0f ok/s, p50 %s, p90 %s, p99 %s, max %s",
		r.Requests, r.OK, r.Failed, r.Elapsed.Round(time.Millisecond), r.Throughput,
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// NewClient returns an HTTP client that keeps up to conns connections to one host open.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Run sends opts.Warmup and then opts.Requests requests and measures the latter.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.URL == "" || opts.Requests <= 0 {
		return Result{}, errors.New("loadgen: URL and a positive Requests are required")
	}
	if opts.Method == "" {
		opts.Method = http.MethodPost
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.Want == 0 {
		opts.Want = http.StatusAccepted
	}
	client := opts.Client
	if client == nil {
		client = NewClient(opts.Concurrency)
		defer client.CloseIdleConnections()
	}
	if opts.Warmup > 0 {
		if _, err := run(ctx, client, opts, opts.Warmup); err != nil {
			return Result{}, err
		}
	}
	return run(ctx, client, opts, opts.Requests)
}

type sample struct {
	took   time.Duration
	status int
	err    error
}

func run(ctx context.Context, client *http.Client, opts Options, n int) (Result, error) {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		perConn = make([][]sample, opts.Concurrency)
	)
	start := time.Now()
	for c := range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]sample, 0, n/opts.Concurrency+1)
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				own = append(own, once(ctx, client, opts))
			}
			perConn[c] = own
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := Result{Elapsed: elapsed, Statuses: map[int]int{}}
	lat := make([]time.Duration, 0, n)
	for _, own := range perConn {
		for _, s := range own {
			res.Requests++
			res.Statuses[s.status]++
			lat = append(lat, s.took)
			if s.err == nil && s.status == opts.Want {
				res.OK++
				continue
			}
			res.Failed++
			if res.FirstError == "" {
				if s.err != nil {
					res.FirstError = s.err.Error()
				} else {
					res.FirstError = fmt.Sprintf("status %d", s.status)
				}
			}
		}
	}
	slices.Sort(lat)
	res.P50, res.P90, res.P99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	res.Throughput = float64(res.OK) / elapsed.Seconds()
	return res, nil
}

func once(ctx context.Context, client *http.Client, opts Options) sample {
	req, err := http.NewRequestWithContext(ctx, opts.Method, opts.URL, bytes.NewReader(opts.Body))
	if err != nil {
		return sample{err: err}
	}
	for k, vs := range opts.Header {
		req.Header[k] = vs
	}
	if len(opts.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return sample{took: time.Since(t0), err: err}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return sample{took: time.Since(t0), status: resp.StatusCode}
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
