package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"

	"github.com/codex-dominion/dominion/queue"
)

// rowsView is what a jobs page's stream needs to render its list again: which page of which
// state, and the browser's CSRF token for the rows' buttons.
type rowsView struct {
	state queue.State
	page  int
	csrf  string
}

// maxRowsPages bounds the distinct lists of jobs read for their pages per sample.
const maxRowsPages = 20

// rowsView reads the list a jobs page's stream asked for (?queue=Q&state=S&page=N); nil
// without a state.
func (d *Dashboard) rowsView(w http.ResponseWriter, r *http.Request, q string) (*rowsView, error) {
	v := r.URL.Query()
	if q == "" || !v.Has("state") {
		return nil, nil
	}
	st, err := queue.ParseState(v.Get("state"))
	if err != nil {
		return nil, err
	}
	page, ok := boundedInt(v.Get("page"), 1, maxPage)
	if !ok {
		return nil, errors.New("page must be a whole number from 1 to " + strconv.Itoa(maxPage))
	}
	return &rowsView{state: st, page: page, csrf: d.csrfToken(w, r)}, nil
}

// pushRows sends the pages that list jobs the list anew: one read per distinct list, however
// many pages show it, for at most maxRowsPages lists.
func (h *hub) pushRows(ctx context.Context, stats []queue.QueueStats, subs []*subscriber) {
	type list struct {
		queue string
		state queue.State
		page  int
	}
	byList := map[list][]*subscriber{}
	for _, sub := range subs {
		k := list{sub.queue, sub.rows.state, sub.rows.page}
		if len(byList) < maxRowsPages || byList[k] != nil {
			byList[k] = append(byList[k], sub)
		}
	}
	d := h.d
	for k, subs := range byList {
		p := &jobsPage{Queue: k.queue, State: k.state, Queues: stats}
		p.paginate(stats, k.page, d.cfg.PageSize)
		p.BaseURL = d.jobsURL(p.Queue, p.State, 0, "")
		p.Here = d.jobsURL(p.Queue, p.State, p.Page, "")
		if err := d.listJobs(ctx, p); err != nil {
			continue // the counts still change; the list at the next sample
		}
		frames := map[string][]byte{} // by CSRF token: one rendering per browser
		for _, sub := range subs {
			f, ok := frames[sub.rows.csrf]
			if !ok {
				f = d.rowsFrame(p, sub.rows.csrf)
				frames[sub.rows.csrf] = f
			}
			if f != nil {
				h.mu.Lock()
				if _, open := h.subs[sub]; open {
					send(sub, f)
				}
				h.mu.Unlock()
			}
		}
	}
}

// rowsFrame renders the list of jobs p for a browser with token csrf, as a "rows" frame.
func (d *Dashboard) rowsFrame(p *jobsPage, csrf string) []byte {
	var buf bytes.Buffer
	v := &view{Prefix: d.prefix, CSRF: csrf, ReadOnly: d.cfg.ReadOnly, Page: p}
	if err := d.tmpl.byName["jobs"].ExecuteTemplate(&buf, "jobslist", v); err != nil {
		d.log.Error("dashboard: render the list of jobs", "err", err)
		return nil
	}
	b, _ := json.Marshal(map[string]string{"html": buf.String(), "sig": p.RowsSig()})
	return sseFrame("rows", b)
}

// RowsSig sums up what the list of jobs shows (the count, and each job's ID, state, attempt
// and priority), so that a page replaces its list only when that changed.
func (p *jobsPage) RowsSig() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%t|", p.Count, p.Page, p.Search)
	for _, j := range p.Jobs {
		fmt.Fprintf(h, "%s/%s/%d/%d|", j.ID, j.State, j.Attempt, j.Priority)
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
