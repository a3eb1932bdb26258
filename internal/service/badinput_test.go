package service_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/internal/service"
)

// TestBadInputIsA400OnEveryStore: text that PostgreSQL cannot store (NUL, an unpaired
// surrogate, invalid UTF-8) and input that SQLite's JSON functions choke on (deep nesting),
// in the body, a query parameter or a path id, is refused with a 400 naming the field, on
// SQLite and on PostgreSQL alike; and a ';' in the query does not silently drop a filter.
func TestBadInputIsA400OnEveryStore(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, withoutWorker())
		calc := `"calculator_inputs":{"tasks_per_week":1,"time_per_task_minutes":1,"hourly_wage":1,"automation_percent":1}`
		chat := func(agent, ctx string) string {
			return `{"agent_id":` + agent + `,"mode":"execute","context":{"workflow_type":"customer_followup",` + ctx + calc + `}}`
		}
		deep := strings.Repeat("[", 1100) + strings.Repeat("]", 1100)
		for _, tc := range []struct {
			method, path, body, field string
		}{
			{"POST", "/api/chat", chat(`"a"`, `"note":"x\u0000y",`), "context"},
			{"POST", "/api/chat", chat(`"a"`, `"note":"\ud800",`), "context"},
			{"POST", "/api/chat", chat(`"a"`, `"\udfff":1,`), "context"},
			{"POST", "/api/chat", chat(`"a"`, `"deep":`+deep+`,`), "context"},
			{"POST", "/api/chat", chat(`"a\u0000"`, ``), "agent_id"},
			{"POST", "/api/chat", chat(`"\ud800"`, ``), "agent_id"},
			{"GET", "/api/workflows?agent=%00", "", "agent"},
			{"GET", "/api/workflows?agent=%ff%fe", "", "agent"},
			{"GET", "/api/workflows?type=%00", "", "type"},
			{"GET", "/api/workflows?type=%C3%28", "", "type"},
			{"GET", "/api/workflows?cursor=%00", "", "cursor"},
			{"GET", "/api/workflows?cursor=%ff", "", "cursor"},
			{"GET", "/api/workflows?status=failed;x=1", "", "status"},
			{"GET", "/api/workflows?status=%zz", "", "status"},
			{"GET", "/api/workflows/%00", "", "path"},
			{"GET", "/api/workflows/%ff", "", "path"},
			{"POST", "/api/workflows/%00/cancel", "", "path"},
			{"POST", "/api/workflows/a%ffb/retry", "", "path"},
		} {
			code, body := s.do(tc.method, tc.path, tc.body, nil)
			if code != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 400; body %s", tc.method, tc.path, code, body)
				continue
			}
			if _, field := errorField(t, string(body)); field != tc.field {
				t.Errorf("%s %s: field %q, want %q; body %s", tc.method, tc.path, field, tc.field, body)
			}
		}
		if n := len(s.listAll("")); n != 0 {
			t.Errorf("%d workflows stored from refused requests", n)
		}
		// The same text, well formed, is stored and read back on every store.
		var a accepted
		s.call("POST", "/api/chat", chat(`"agent \u00e9\ud83d\ude00"`, `"note":"tab\tand \\u0000 as text",`), http.StatusAccepted, &a)
		if got := s.get(a.WorkflowID); got.AgentID != "agent é😀" {
			t.Errorf("agent_id read back as %q", got.AgentID)
		}
		if got := s.listAll("agent=" + url.QueryEscape("agent é😀")); len(got) != 1 {
			t.Errorf("filter by a non-ASCII agent found %d workflows, want 1", len(got))
		}
	})
}

// FuzzQueryAndPath sends arbitrary query strings and path ids to the workflow routes, on
// SQLite and PostgreSQL: every answer is JSON and below 500. The f.Add seeds run in every
// `go test`; `go test -fuzz FuzzQueryAndPath ./internal/service` explores further.
func FuzzQueryAndPath(f *testing.F) {
	// The fuzz function may not log through f: the servers log nowhere.
	quiet := func(c *service.Config) { c.Logger = slog.New(slog.DiscardHandler) }
	servers := []*server{start(f, backends[0], withoutWorker(), quiet), start(f, backends[1], withoutWorker(), quiet)}
	for _, seed := range []struct{ query, id string }{
		{"status=failed", "01a21fdc-e80c-7d2c-9326-19b164e910b2"},
		{"agent=%00", "%00"},
		{"type=\xff", "\xff\xfe"},
		{"cursor=%ff&limit=1", "a\x00b"},
		{"status=failed;x=1", "\xed\xa0\x80"},
		{"limit=99999999999999999999", strings.Repeat("x", 300)},
		{"agent=" + strings.Repeat("%e2%82", 100), "../../etc/passwd"},
		{"cursor=AAAA&cursor=BBBB", "é"},
		{"&&=&a=%", " "},
	} {
		f.Add(seed.query, seed.id)
	}
	f.Fuzz(func(t *testing.T, query, id string) {
		q := escapeOdd(query)
		for _, s := range servers {
			s.t = t
			for _, req := range []struct{ method, path string }{
				{"GET", "/api/workflows?" + q},
				{"GET", "/api/workflows/" + url.PathEscape(id) + "?" + q},
				{"POST", "/api/workflows/" + url.PathEscape(id) + "/cancel"},
				{"POST", "/api/workflows/" + url.PathEscape(id) + "/retry"},
			} {
				if code, body := s.do(req.method, req.path, "", nil); code >= 500 || code == 0 {
					t.Fatalf("%s %s: %d %s", req.method, req.path, code, body)
				}
			}
		}
	})
}

// escapeOdd %-escapes the bytes that cannot travel raw in a request line (controls, space,
// '#', non-ASCII), so that the fuzzer's query reaches the server as written otherwise.
func escapeOdd(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '#' || c >= utf8.RuneSelf || c == 0x7f {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
