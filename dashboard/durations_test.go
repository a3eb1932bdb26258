package dashboard_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkWorkflowDurations: a workflow's page shows how long its last attempt ran (its
// metric) and the time from acceptance to finish, which counts the wait in the queue too; a
// running workflow shows both so far.
func checkWorkflowDurations(t *testing.T, h *httpClient, d *demo) {
	t.Helper()
	w, err := d.store.GetWorkflow(t.Context(), d.doneWF)
	if err != nil || len(w.Metrics) == 0 {
		t.Fatalf("workflow %s: %+v, %v", d.doneWF, w, err)
	}
	page := h.get("/workflows/" + d.doneWF).body
	last, total := shownDuration(t, page, "last-attempt"), shownDuration(t, page, "total-duration")
	if want := w.Metrics[len(w.Metrics)-1].Duration; !about(last, want) {
		t.Errorf("last attempt shown as %s, its metric says %s", last, want)
	}
	if want := w.FinishedAt.Sub(w.CreatedAt); !about(total, want) || total < last {
		t.Errorf("accepted to finish shown as %s, want %s (created %s, finished %s)", total, want, w.CreatedAt, w.FinishedAt)
	}
	if list := h.get("/workflows").body; !strings.Contains(list, `<td class="num nowrap">`) {
		t.Error("the workflows list's Duration column may wrap")
	}
	running := h.get("/workflows/" + d.runningWF).body
	for _, id := range []string{"last-attempt", "total-duration"} {
		if v := shownText(t, running, id); !strings.HasSuffix(v, " so far") {
			t.Errorf("running workflow: %s shows %q, want a duration so far", id, v)
		}
	}
}

// shownText is the text of the element with data-test="id" on page.
func shownText(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`data-test="` + id + `">([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s on the page", id)
	}
	return m[1]
}

// shownDuration parses the duration shown in the element with data-test="id" (as the
// dashboard writes them: 250µs, 120ms, 2.5s, 3m 04s).
func shownDuration(t *testing.T, page, id string) time.Duration {
	t.Helper()
	text := strings.TrimSuffix(shownText(t, page, id), " so far")
	if m := regexp.MustCompile(`^(\d+)m (\d+)s$`).FindStringSubmatch(text); m != nil {
		mins, _ := strconv.Atoi(m[1])
		secs, _ := strconv.Atoi(m[2])
		return time.Duration(mins)*time.Minute + time.Duration(secs)*time.Second
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		t.Fatalf("%s shows %q, not a duration", id, text)
	}
	return d
}

// about says whether shown is want as the dashboard rounds it (to the unit it shows).
func about(shown, want time.Duration) bool {
	unit := time.Microsecond
	switch {
	case want >= time.Minute:
		unit = time.Second
	case want >= time.Second:
		unit = 100 * time.Millisecond
	case want >= time.Millisecond:
		unit = time.Millisecond
	}
	diff := shown - want
	return diff > -unit && diff < unit
}
