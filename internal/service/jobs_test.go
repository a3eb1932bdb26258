package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/api"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// getJob returns the job with that id.
func (s *server) getJob(id string) api.JobView {
	s.t.Helper()
	return getAs[api.JobView](s, "/api/jobs/"+id)
}

// waitJob polls the job until it is in state want.
func (s *server) waitJob(id, want string, timeout time.Duration) api.JobView {
	s.t.Helper()
	return waitAs(s, "/api/jobs/"+id, "job "+id+" "+want, timeout, func(j api.JobView) (bool, string) {
		return j.State == want, fmt.Sprintf("state %s, errors %v", j.State, j.Errors)
	})
}

// One job and a list of jobs go in; the serve process's worker runs them; their state,
// attempts, errors and result come back out. Duplicates are reported per job.
func TestJobsEnqueueRunAndGet(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		var one api.EnqueuedView
		code, body := s.do("POST", "/api/jobs", `{"type":"dominion.sleep","payload":{"ms":1},"id":"sleep-1","max_retries":2,"timeout_ms":60000}`, nil)
		if code != http.StatusCreated {
			t.Fatalf("single job: %d %s", code, body)
		}
		mustUnmarshal(t, body, &one)
		if one.ID != "sleep-1" || !one.Enqueued || one.Queue != "default" || one.StatusURL != "/api/jobs/sleep-1" {
			t.Fatalf("single job answer: %s", body)
		}
		done := s.waitJob("sleep-1", "completed", 20*time.Second)
		if string(done.Result) != `{"slept_ms":1}` || done.Attempts != 1 || done.MaxRetries != 2 || done.TimeoutMS != 60000 {
			t.Errorf("completed job: %+v", done)
		}

		var list api.EnqueueListView
		s.call("POST", "/api/jobs", `{"jobs":[
			{"type":"dominion.noop","id":"a-1"},
			{"type":"dominion.noop","id":"sleep-1"},
			{"type":"dominion.fail","payload":{"message":"boom"},"id":"f-1"},
			{"type":"dominion.noop","queue":"parked","unique_key":"k","unique_ttl_ms":60000,"delay_ms":3600000},
			{"type":"dominion.noop","queue":"parked","unique_key":"k","unique_ttl_ms":60000}
		]}`, http.StatusCreated, &list)
		if list.Enqueued != 3 || list.Duplicates != 2 || len(list.Jobs) != 5 {
			t.Fatalf("list answer: %+v", list)
		}
		if j := list.Jobs[1]; j.Enqueued || j.Error == nil || j.Error.Code != "duplicate_id" || j.ID != "sleep-1" {
			t.Errorf("duplicate id: %+v", j)
		}
		if j := list.Jobs[4]; j.Enqueued || j.Error == nil || j.Error.Code != "duplicate_unique" {
			t.Errorf("duplicate unique key: %+v", j)
		}
		if j := list.Jobs[3]; j.State != "scheduled" || j.Queue != "parked" {
			t.Errorf("delayed job: %+v", j)
		}
		dead := s.waitJob("f-1", "dead", 20*time.Second)
		if len(dead.Errors) != 1 || !strings.Contains(dead.Errors[0].Error, "boom") || dead.Errors[0].Attempt != 1 {
			t.Errorf("dead job errors: %+v", dead.Errors)
		}
		s.waitJob("a-1", "completed", 20*time.Second)
		// A single duplicate is a 409 with the same error.
		code, body = s.do("POST", "/api/jobs", `{"type":"dominion.noop","id":"a-1"}`, nil)
		var er errorResp
		mustUnmarshal(t, body, &er)
		if code != http.StatusConflict || er.Error.Code != "duplicate_id" {
			t.Errorf("single duplicate: %d %s", code, body)
		}
		code, body = s.do("GET", "/api/jobs/nope", "", nil)
		if code != http.StatusNotFound {
			t.Errorf("unknown job: %d %s", code, body)
		}
	})
}

// Every bad request is a 4xx naming the field, and stores nothing.
func TestJobsValidation(t *testing.T) {
	t.Parallel()
	s := start(t, backend{name: "embedded"}, withoutWorker())
	many := `{"jobs":[` + strings.TrimSuffix(strings.Repeat(`{"type":"t"},`, 1001), ",") + `]}`
	oneBadOfMany := `{"jobs":[{"type":"t"},{"type":"t"},{"type":"t","queue":"no spaces"}]}`
	cases := []struct {
		body, contentType string
		status            int
		code, field       string
	}{
		{`{"payload":{}}`, "", 400, "required", "type"},
		{`{"type":""}`, "", 400, "required", "type"},
		{`{"type":5}`, "", 400, "invalid_type", "type"},
		{`{"type":"t\u0000"}`, "", 400, "invalid", "type"},
		{`{"type":"t","payload":{"a":"x\u0000y"}}`, "", 400, "invalid", "payload"},
		{`{"type":"t","payload":{"a":"\ud800"}}`, "", 400, "invalid", "payload"},
		{"{\"type\":\"t\xff\"}", "", 400, "malformed_json", ""},
		{`{"type":"t","bogus":1}`, "", 400, "unknown_field", "bogus"},
		{`{"type":"t","queue":"a b"}`, "", 400, "invalid", "queue"},
		{`{"type":"t","id":""}`, "", 400, "invalid", "id"},
		{`{"type":"t","max_retries":-1}`, "", 400, "out_of_range", "max_retries"},
		{`{"type":"t","max_retries":1.5}`, "", 400, "out_of_range", "max_retries"},
		{`{"type":"t","timeout_ms":"5s"}`, "", 400, "invalid_type", "timeout_ms"},
		{`{"type":"t","delay_ms":10,"run_at":"2030-01-01T00:00:00Z"}`, "", 400, "invalid", "run_at"},
		{`{"type":"t","run_at":"tomorrow"}`, "", 400, "invalid", "run_at"},
		{`{"type":"t","unique_key":"k"}`, "", 400, "required", "unique_ttl_ms"},
		{`{"type":"t","priority":6}`, "", 400, "out_of_range", "priority"},
		{`{"type":"t","priority":-6}`, "", 400, "out_of_range", "priority"},
		{`{"type":"t","priority":1.5}`, "", 400, "out_of_range", "priority"},
		{`{"type":"t","priority":"high"}`, "", 400, "invalid_type", "priority"},
		{`{"jobs":[{"type":"t"},{"type":"t","priority":9}]}`, "", 400, "out_of_range", "jobs[1].priority"},
		{`{"type":"t","rate_key":"customer 42"}`, "", 400, "invalid", "rate_key"},
		{`{"type":"t","rate_key":""}`, "", 400, "invalid", "rate_key"},
		{`{"type":"t","rate_key":"` + strings.Repeat("k", 201) + `"}`, "", 400, "out_of_range", "rate_key"},
		{`{"type":"t","rate_key":42}`, "", 400, "invalid_type", "rate_key"},
		{`{"jobs":[{"type":"t"},{"type":"t","rate_key":"a{b}"}]}`, "", 400, "invalid", "jobs[1].rate_key"},
		{`{"type":"t","depends_on":"a"}`, "", 400, "invalid_type", "depends_on"},
		{`{"type":"t","depends_on":[]}`, "", 400, "out_of_range", "depends_on"},
		{`{"type":"t","depends_on":["a","b c"]}`, "", 400, "invalid", "depends_on[1]"},
		{`{"type":"t","depends_on":[7]}`, "", 400, "invalid_type", "depends_on[0]"},
		{`{"jobs":[{"type":"t"},{"type":"t","depends_on":["` + strings.Repeat("p", 201) + `"]}]}`, "", 400, "out_of_range", "jobs[1].depends_on[0]"},
		{`{"type":"t","run_on_parent_failure":true}`, "", 400, "invalid", "run_on_parent_failure"},
		{`{"type":"t","depends_on":["a"],"run_on_parent_failure":"yes"}`, "", 400, "invalid_type", "run_on_parent_failure"},
		{`{"jobs":[{"type":"t","id":"cy-a","depends_on":["cy-b"]},{"type":"t","id":"cy-b","depends_on":["cy-a"]}]}`, "", 400, "invalid", ""},
		{`{"type":"t","deadline":"soon"}`, "", 400, "invalid", "deadline"},
		{`{"type":"t","deadline":"2001-01-01T00:00:00Z"}`, "", 400, "out_of_range", "deadline"},
		{`{"type":"t","delay_ms":7200000,"deadline":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, "", 400, "out_of_range", "deadline"},
		{`{"jobs":[]}`, "", 400, "required", "jobs"},
		{`{"jobs":{}}`, "", 400, "invalid_type", "jobs"},
		{`{"jobs":[{"type":"t"}],"type":"t"}`, "", 400, "unknown_field", "type"},
		{`{"jobs":[{"type":"t"},7]}`, "", 400, "invalid_type", "jobs[1]"},
		{oneBadOfMany, "", 400, "invalid", "jobs[2].queue"},
		{many, "", 400, "out_of_range", "jobs"},
		{`{"type":"t"}`, "text/plain", 415, "unsupported_media_type", ""},
		{`[]`, "", 400, "invalid_type", ""},
		{`{"type":"t"`, "", 400, "malformed_json", ""},
		{`{"type":"t","payload":"` + strings.Repeat("x", 8<<20) + `"}`, "", 413, "body_too_large", ""},
	}
	for _, c := range cases {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		code, body := s.do("POST", "/api/jobs", c.body, []string{"Content-Type", ct})
		var er errorResp
		mustUnmarshal(t, body, &er)
		if code != c.status || er.Error.Code != c.code || er.Error.Field != c.field || er.Error.Message == "" {
			t.Errorf("%.80s: got %d %s, want %d %s at %q", c.body, code, body, c.status, c.code, c.field)
		}
	}
	for _, path := range []string{"/api/jobs?state=nope", "/api/jobs?limit=0", "/api/jobs?cursor=x", "/api/jobs?queue=a%20b", "/api/jobs?bogus=1"} {
		if code, body := s.do("GET", path, "", nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if code, body := s.do("POST", "/api/queues/a%20b/pause", "", nil); code != http.StatusBadRequest {
		t.Errorf("pause a bad queue name: %d %s", code, body)
	}
	if n := s.jobCount(); n != 0 {
		t.Errorf("%d jobs stored from bad requests", n)
	}
}

// POST /api/jobs takes depends_on and run_on_parent_failure: children wait for their parents
// (in the same list, in any order, or enqueued before), run after them, and a job whose
// parent does not exist is refused alone.
func TestJobsDependsOn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		var out api.EnqueueListView
		s.call("POST", "/api/jobs", `{"jobs":[
			{"type":"dominion.noop","id":"dep-c","depends_on":["dep-a","dep-b"],"run_on_parent_failure":true},
			{"type":"dominion.noop","id":"dep-b","depends_on":["dep-a"]},
			{"type":"dominion.noop","id":"dep-a","delay_ms":300},
			{"type":"dominion.noop","id":"dep-x","depends_on":["no-such-job"]}]}`, http.StatusCreated, &out)
		if out.Enqueued != 3 || out.Refused != 1 || out.Jobs[3].Error == nil || out.Jobs[3].Error.Code != "parent_not_found" ||
			out.Jobs[0].State != "waiting" || out.Jobs[1].State != "waiting" {
			t.Fatalf("list with parents: %+v", out)
		}
		if c := s.getJob("dep-c"); !slices.Equal(c.DependsOn, []string{"dep-a", "dep-b"}) || !c.RunAnyway || c.State != "waiting" {
			t.Fatalf("GET dep-c: %+v, want waiting for dep-a and dep-b, running anyway", c)
		}
		code, body := s.do("POST", "/api/jobs", `{"type":"dominion.noop","depends_on":["gone"]}`, []string{"Content-Type", "application/json"})
		var er errorResp
		mustUnmarshal(t, body, &er)
		if code != http.StatusUnprocessableEntity || er.Error.Code != "parent_not_found" || er.Error.Field != "depends_on" {
			t.Fatalf("one job with an unknown parent: %d %s, want 422 parent_not_found", code, body)
		}
		c := waitAs(s, "/api/jobs/dep-c", "dep-c completed", 15*time.Second, func(j api.JobView) (bool, string) {
			return j.State == "completed", j.State
		})
		a, bj := s.getJob("dep-a"), s.getJob("dep-b")
		if a.State != "completed" || bj.State != "completed" || bj.StartedAt.Before(a.FinishedAt) || c.StartedAt.Before(bj.FinishedAt) {
			t.Fatalf("order: a %s %v-%v, b %s %v-%v, c started %v; want a, then b, then c", a.State, a.StartedAt, a.FinishedAt,
				bj.State, bj.StartedAt, bj.FinishedAt, c.StartedAt)
		}
	})
}

// On Redis Cluster, POST /api/jobs links a job to a parent of its own queue (it waits, then
// runs after it), and refuses one whose parent is on another queue with 422 unsupported
// naming both queues, storing nothing of it.
func TestJobsDependsOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t)
	s := start(t, backend{name: "embedded"}, func(cfg *service.Config) { cfg.RedisURL = c.URL() })
	var out api.EnqueueListView
	s.call("POST", "/api/jobs", `{"jobs":[
		{"type":"dominion.noop","id":"cl-child","depends_on":["cl-parent"]},
		{"type":"dominion.noop","id":"cl-parent","delay_ms":300},
		{"type":"dominion.noop","id":"cl-stray","queue":"elsewhere","depends_on":["cl-parent"]}]}`, http.StatusCreated, &out)
	e := out.Jobs[2].Error
	if out.Enqueued != 2 || out.Refused != 1 || out.Jobs[0].State != "waiting" || e == nil || e.Code != "unsupported" ||
		e.Field != "depends_on" || !strings.Contains(e.Message, "queue elsewhere") || !strings.Contains(e.Message, "queue default") {
		t.Fatalf("a parent on the job's queue and one on another: %+v (refusal %+v)", out, e)
	}
	j := waitAs(s, "/api/jobs/cl-child", "cl-child completed", 15*time.Second, func(j api.JobView) (bool, string) {
		return j.State == "completed", j.State
	})
	if p := s.getJob("cl-parent"); j.StartedAt.Before(p.FinishedAt) {
		t.Fatalf("the child started at %v, before its parent finished at %v", j.StartedAt, p.FinishedAt)
	}
	if code, body := s.do("GET", "/api/jobs/cl-stray", "", nil); code != http.StatusNotFound {
		t.Fatalf("GET the refused job: %d %s, want 404", code, body)
	}
}

// POST /api/jobs takes priority, deadline and rate_key; GET shows them, pending jobs highest
// priority first.
func TestJobsPriorityAndDeadline(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, withoutWorker())
		deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		s.call("POST", "/api/jobs", `{"jobs":[{"type":"t","queue":"q","id":"low","priority":-5},
			{"type":"t","queue":"q","id":"mid"},
			{"type":"t","queue":"q","id":"high","priority":5,"deadline":"`+deadline.Format(time.RFC3339)+`","rate_key":"customer:42"}]}`, http.StatusCreated, nil)
		var page api.JobListView
		s.call("GET", "/api/jobs?queue=q&state=pending", "", http.StatusOK, &page)
		var got []string
		for _, j := range page.Jobs {
			got = append(got, fmt.Sprintf("%s:%d", j.ID, j.Priority))
		}
		if want := []string{"high:5", "mid:0", "low:-5"}; !slices.Equal(got, want) {
			t.Errorf("pending jobs %v, want %v", got, want)
		}
		if j := s.getJob("high"); j.Priority != 5 || !j.Deadline.Equal(deadline) || j.RateKey != "customer:42" {
			t.Errorf("GET high: priority %d deadline %v rate key %q, want 5, %v and customer:42", j.Priority, j.Deadline, j.RateKey, deadline)
		}
	})
}

// GET /api/jobs pages through one state or every state of a queue with a cursor, each job
// once.
func TestJobsListPaginated(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, withoutWorker())
		var jobs []string
		for i := range 23 {
			jobs = append(jobs, fmt.Sprintf(`{"type":"t","queue":"q","id":"p-%02d"}`, i))
		}
		for i := range 7 {
			jobs = append(jobs, fmt.Sprintf(`{"type":"t","queue":"q","id":"s-%02d","delay_ms":3600000}`, i))
		}
		s.call("POST", "/api/jobs", `{"jobs":[`+strings.Join(jobs, ",")+`]}`, http.StatusCreated, nil)
		seen := map[string]int{}
		path := "/api/jobs?queue=q&limit=10"
		pages := 0
		for path != "" && pages < 10 {
			var page api.JobListView
			s.call("GET", path, "", http.StatusOK, &page)
			for _, j := range page.Jobs {
				seen[j.ID]++
				if want := map[byte]string{'p': "pending", 's': "scheduled"}[j.ID[0]]; j.State != want {
					t.Errorf("job %s is %s, want %s", j.ID, j.State, want)
				}
			}
			path, pages = page.NextURL, pages+1
		}
		if len(seen) != 30 {
			t.Errorf("listed %d distinct jobs in %d pages, want 30: %v", len(seen), pages, seen)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("job %s listed %d times", id, n)
			}
		}
		var sched api.JobListView
		s.call("GET", "/api/jobs?queue=q&state=scheduled&limit=5", "", http.StatusOK, &sched)
		if len(sched.Jobs) != 5 || sched.NextCursor == "" {
			t.Fatalf("scheduled page: %+v", sched)
		}
		var rest api.JobListView
		s.call("GET", sched.NextURL, "", http.StatusOK, &rest)
		if len(rest.Jobs) != 2 || rest.Jobs[0].State != "scheduled" {
			t.Errorf("second scheduled page: %+v", rest)
		}
	})
}

// Cancel, retry and delete a job, with a 409 naming the state when the state does not allow
// it; pause and resume a queue; list queues, workers and schedules.
func TestJobActionsQueuesWorkersSchedules(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		// A queue that does not exist yet is not paused (nor created): 404 naming it.
		code, body := s.do("POST", "/api/queues/default/pause", "", nil)
		var e errorResp
		_ = json.Unmarshal(body, &e)
		if code != http.StatusNotFound || e.Error.Code != "not_found" || !strings.Contains(e.Error.Message, `queue not found: "default" (there are none)`) {
			t.Errorf("pause of a queue that does not exist: %d %s, want 404 not_found naming it", code, body)
		}
		s.call("POST", "/api/jobs", `{"type":"dominion.noop","id":"later","delay_ms":3600000}`, http.StatusCreated, nil)
		s.call("POST", "/api/queues/default/pause", "", http.StatusOK, nil)
		s.call("POST", "/api/jobs", `{"type":"dominion.noop","id":"c-1"}`, http.StatusCreated, nil)
		var st struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		s.call("POST", "/api/jobs/c-1/cancel", "", http.StatusOK, &st)
		if st.State != "canceled" {
			t.Errorf("cancel: %+v", st)
		}
		code, body = s.do("POST", "/api/jobs/c-1/cancel", "", nil)
		if code != http.StatusConflict || !strings.Contains(string(body), "it is canceled") {
			t.Errorf("second cancel: %d %s", code, body)
		}
		s.call("POST", "/api/jobs/c-1/retry", "", http.StatusOK, &st)
		if st.State != "pending" {
			t.Errorf("retry: %+v", st)
		}
		var qs struct {
			Queues []struct {
				Name          string    `json:"name"`
				Pending       int64     `json:"pending"`
				Paused        bool      `json:"paused"`
				OldestPending time.Time `json:"oldest_pending"`
			} `json:"queues"`
		}
		s.call("GET", "/api/queues", "", http.StatusOK, &qs)
		found := false
		for _, q := range qs.Queues {
			if q.Name == "default" {
				// oldest_pending as `dominion info --json` shows it: the pending job's enqueue time.
				found = q.Paused && q.Pending == 1 && time.Since(q.OldestPending).Abs() < time.Hour
			}
		}
		if !found {
			t.Errorf("queues: %+v", qs)
		}
		s.call("DELETE", "/api/jobs/c-1", "", http.StatusOK, &st)
		if st.State != "deleted" {
			t.Errorf("delete: %+v", st)
		}
		if code, _ := s.do("DELETE", "/api/jobs/c-1", "", nil); code != http.StatusNotFound {
			t.Errorf("delete again: %d", code)
		}
		s.call("POST", "/api/queues/default/resume", "", http.StatusOK, nil)
		s.call("POST", "/api/jobs", `{"type":"dominion.noop","id":"r-1"}`, http.StatusCreated, nil)
		s.waitJob("r-1", "completed", 20*time.Second)

		var ws struct {
			Workers []struct {
				ID     string   `json:"id"`
				Queues []string `json:"queues"`
				Types  []string `json:"types"`
			} `json:"workers"`
		}
		s.eventually("a live worker", 10*time.Second, func() (bool, string) {
			s.call("GET", "/api/workers", "", http.StatusOK, &ws)
			return len(ws.Workers) == 1, fmt.Sprintf("%+v", ws)
		})
		// The job types it handles, as `dominion info --json` shows them.
		if types := ws.Workers[0].Types; !slices.Contains(types, "dominion.noop") || !slices.Contains(types, "execute_workflow") {
			t.Errorf("worker types %v", types)
		}
		var sc struct {
			Schedules []struct {
				Name    string `json:"name"`
				Enabled bool   `json:"enabled"`
			} `json:"schedules"`
		}
		s.call("GET", "/api/schedules", "", http.StatusOK, &sc)
		if len(sc.Schedules) != 2 || sc.Schedules[0].Name != "cleanup_old_workflows" || !sc.Schedules[0].Enabled {
			t.Errorf("schedules: %+v", sc)
		}
	})
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
