package dashboard_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/queue"
)

// testOverviewShowsLastHour: the overview's charts and rates show the last hour at once,
// from the history the workers recorded in the broker, to a visitor who was not watching.
func testOverviewShowsLastHour(t *testing.T, b *browser) {
	e := newEnv(t, nil)
	now := time.Now()
	// The last hour as workers record it: one sample per slot, 2 jobs processed per second.
	for at := now.Add(-queue.HistoryKeep + queue.HistorySlot); at.Before(now); at = at.Add(queue.HistorySlot) {
		done := int64(at.Sub(now.Add(-queue.HistoryKeep)).Seconds()) * 2
		s := queue.Sample{At: at, Pending: 5, Active: 1, Processed: 100000 + done, Failed: 10}
		if _, err := e.broker.RecordSample(context.Background(), s, queue.HistorySlot, queue.HistoryKeep); err != nil {
			t.Fatal(err)
		}
	}
	// The page as served (before any live sample) has the rate of the history's last slot.
	if page := e.httpClient().get("/").body; !strings.Contains(page, `data-test="rate-processed">2.0<`) {
		t.Errorf("the overview as served does not show 2.0 processed/s from the recorded history")
	}
	tb := b.tab(t)
	tb.do("open overview", chromedp.Navigate(e.base+"/"))
	tb.waitVisible(`[data-chart=rates] path.line`, 10*time.Second)
	labels := evalIn[[]string](tb, `Array.from(document.querySelectorAll('[data-chart=rates] text')).map(t => t.textContent)`)
	if !slices.Contains(labels, "-50m") {
		t.Errorf("the throughput chart's time axis is %v; want it to reach back about an hour (-50m)", labels)
	}
	// The line spans the hour: it starts near the chart's left edge.
	startX := evalIn[float64](tb, `parseFloat(document.querySelector('[data-chart=rates] path.line').getAttribute('d').slice(1))`)
	if startX > 80 {
		t.Errorf("the throughput line starts at x=%.0f; want it near the left edge (the hour's start)", startX)
	}
	// The y axes are labeled with round integers (5 pending once gave 0, 1.3, 2.5, 3.8, 5).
	for _, chart := range []string{"rates", "depth"} {
		ys := evalIn[[]string](tb, `Array.from(document.querySelectorAll('[data-chart=`+chart+`] text[dominant-baseline=middle]')).map(t => t.textContent)`)
		for _, y := range ys {
			if _, err := strconv.Atoi(y); err != nil {
				t.Errorf("the %s chart's y axis reads %v; want round integers", chart, ys)
				break
			}
		}
	}
	if aria := evalIn[string](tb, `document.querySelector('[data-chart=rates]').getAttribute('aria-label')`); !strings.Contains(aria, "last hour") {
		t.Errorf("chart label %q", aria)
	}
}
