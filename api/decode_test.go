package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/workflow"
)

const seed = `{"agent_id":"agent_jermaine_super_action","mode":"execute","context":{"workflow_type":"customer_followup",` +
	`"calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`

func TestDecodeChatSeed(t *testing.T) {
	t.Parallel()
	req, e := decodeChat([]byte(seed))
	if e != nil {
		t.Fatal(e)
	}
	want := workflow.Request{
		AgentID: "agent_jermaine_super_action", Mode: "execute", Type: "customer_followup",
		Inputs:  workflow.CalculatorInputs{TasksPerWeek: 20, TimePerTaskMinutes: 5, HourlyWage: 25, AutomationPercent: 80},
		Context: json.RawMessage(`{"workflow_type":"customer_followup","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}`),
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v\nwant %+v", req, want)
	}
}

// Errors name the field by its full path, and the first problem in a fixed order.
func TestDecodeChatErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body, code, field string
	}{
		{`{"mode":"execute","agent_id":"a","context":{"calculator_inputs":{"tasks_per_week":"x"}}}`, CodeInvalidType, "context.calculator_inputs.tasks_per_week"},
		{`{"mode":"preview","agent_id":"a","context":{"calculator_inputs":{"tasks_per_week":1,"time_per_task_minutes":1,"hourly_wage":1}}}`, workflow.CodeRequired, "context.calculator_inputs.automation_percent"},
		{`{"mode":"nope","bogus":1}`, workflow.CodeUnknownMode, "mode"}, // mode first: it names the allowed modes
		{`{"mode":"execute","b":1,"a":2}`, CodeUnknownField, "a"},       // the first unknown key, sorted
		{`{"mode":"execute","context":null}`, workflow.CodeRequired, "context"},
		{`{"mode":"execute","context":{"calculator_inputs":{"x":1}}}`, CodeUnknownField, "context.calculator_inputs.x"},
		{`"just a string"`, CodeInvalidType, ""},
		{`null`, CodeInvalidType, ""},
		{`{"mode":"execute"`, CodeMalformedJSON, ""},
		{`  `, CodeMalformedJSON, ""},
		{`{"mode":"execute","context":{"note":"a\u0000b"}}`, workflow.CodeInvalid, "context"},
		{`{"mode":"execute","context":{"\u0000":1}}`, workflow.CodeInvalid, "context"},
		{`{"mode":"execute","context":{"note":"\ud800"}}`, workflow.CodeInvalid, "context"},
		{`{"mode":"execute","context":{"note":"\udfff\ud800x"}}`, workflow.CodeInvalid, "context"},
		{`{"mode":"execute","context":{"deep":` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}}`, workflow.CodeInvalid, "context"},
		{`{"mode":"execute","agent_id":"\u0000"}`, workflow.CodeInvalid, "agent_id"},
		{`{"mode":"execute","agent_id":"a","context":{"workflow_type":"\ud800"}}`, workflow.CodeInvalid, "context.workflow_type"},
	} {
		_, e := decodeChat([]byte(c.body))
		if e == nil || e.Code != c.code || e.Field != c.field || e.Status != http.StatusBadRequest {
			t.Errorf("%s: got %v, want 400 %s at %q", c.body, e, c.code, c.field)
		}
	}
}

func TestContentType(t *testing.T) {
	t.Parallel()
	for ct, ok := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"Application/JSON; charset=UTF-8":   true,
		"application/json;charset=utf8":     true,
		"":                                  false,
		"text/json":                         false,
		"application/json; charset=utf-16":  false,
		"application/jsonx":                 false,
		"application/json; charset=\"utf-8": false, // malformed parameter
		"multipart/form-data; boundary=x":   false,
	} {
		e := checkJSONContentType(ct)
		if (e == nil) != ok || (e != nil && e.Status != http.StatusUnsupportedMediaType) {
			t.Errorf("%q: %v, want ok=%v", ct, e, ok)
		}
	}
}

// A body over the limit is refused with 413 whether or not its length is announced.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte(" "), MaxBodyBytes+1)
	for _, announce := range []bool{true, false} {
		r := httptest.NewRequest("POST", "/api/chat", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if !announce {
			r.ContentLength = -1
		}
		_, e := readJSONBody(httptest.NewRecorder(), r, MaxBodyBytes)
		if e == nil || e.Status != http.StatusRequestEntityTooLarge || e.Code != CodeBodyTooLarge {
			t.Errorf("announce=%v: %v", announce, e)
		}
	}
	r := httptest.NewRequest("POST", "/api/chat", bytes.NewReader(body[:MaxBodyBytes]))
	r.Header.Set("Content-Type", "application/json")
	if b, e := readJSONBody(httptest.NewRecorder(), r, MaxBodyBytes); e != nil || len(b) != MaxBodyBytes {
		t.Errorf("a body of exactly the limit: %v", e)
	}
}

var knownCodes = []string{
	CodeMalformedJSON, CodeInvalidType, CodeUnknownField,
	workflow.CodeRequired, workflow.CodeOutOfRange, workflow.CodeUnknownMode, workflow.CodeInvalid,
}

// FuzzDecodeChat checks that the decoder never panics, that every refusal is a 400 with a
// known code, a message and a field path into the body, and that what it accepts is well
// formed and decodes the same when encoded again. The f.Add seeds run in every `go test`;
// `go test -fuzz FuzzDecodeChat ./api` explores further.
func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		seed,
		strings.Replace(seed, `"execute"`, `"preview"`, 1),
		`{"agent_id":"a","mode":"preview","context":{"calculator_inputs":{"tasks_per_week":0,"time_per_task_minutes":0,"hourly_wage":0,"automation_percent":0}}}`,
		`{"agent_id":"a","mode":"execute","context":{"workflow_type":"x","extra":{"nested":[1,2,{"a":null}]},"calculator_inputs":{"tasks_per_week":1e3,"time_per_task_minutes":0.5,"hourly_wage":-1,"automation_percent":100}}}`,
		`{"agent_id":"a","mode":"execute","context":{"calculator_inputs":{"tasks_per_week":1e400}}}`,
		`{"agent_id":"a","mode":"execute","context":{"calculator_inputs":{"tasks_per_week":-0}}}`,
		`{"agent_id":"\u0000","mode":"execute","context":[]}`,
		`{"agent_id":"a","mode":"execute","context":{"x":"\u0000","calculator_inputs":{}}}`,
		`{"agent_id":"a","mode":"execute","context":{"\udc00":1}}`,
		`{"agent_id":"a","mode":"execute","context":{"x":"\ud83d\ude00 \\u0000","calculator_inputs":{"tasks_per_week":1,"time_per_task_minutes":1,"hourly_wage":1,"automation_percent":1}}}`,
		`{"agent_id":"a","mode":"execute","context":{"x":` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}}`,
		`{"mode":"chat"}`, `{"mode":1}`, `{"mode":null}`, `{}`, `[]`, `null`, `1`, `"x"`, `true`, ``, ` `, `{`, `{"a":1}{}`,
		`{"mode":"execute","mode":"preview"}`,
		"{\"agent_id\":\"\xff\xfe\"}",
		`{"agent_id":"a","mode":"execute","context":{"workflow_type":"` + strings.Repeat("y", 2000) + `"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := decodeChat(body)
		if e != nil {
			if e.Status != http.StatusBadRequest || !slices.Contains(knownCodes, e.Code) || e.Message == "" {
				t.Fatalf("bad error %+v for %q", e, body)
			}
			if e.Field != "" && !slices.Contains([]string{"agent_id", "mode", "context"}, e.Field) &&
				!strings.HasPrefix(e.Field, "context.") && e.Code != CodeUnknownField {
				t.Fatalf("field %q is not a path into the body", e.Field)
			}
			if _, err := json.Marshal(errorBody{Error: e}); err != nil {
				t.Fatalf("error does not encode: %v", err)
			}
			return
		}
		if !json.Valid(body) || !slices.Contains(workflow.Modes(), req.Mode) {
			t.Fatalf("accepted %q as %+v", body, req)
		}
		for _, v := range []float64{req.Inputs.TasksPerWeek, req.Inputs.TimePerTaskMinutes, req.Inputs.HourlyWage, req.Inputs.AutomationPercent} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite input accepted from %q", body)
			}
		}
		var ctx map[string]json.RawMessage
		if err := json.Unmarshal(req.Context, &ctx); err != nil || ctx == nil {
			t.Fatalf("context %q is not a JSON object", req.Context)
		}
		// Encoding what was decoded and decoding it again gives the same request.
		again, e := decodeChat(mustMarshal(t, map[string]any{
			"agent_id": req.AgentID, "mode": req.Mode, "context": req.Context,
		}))
		if e != nil {
			t.Fatalf("re-encoded request refused: %v (from %q)", e, body)
		}
		if again.AgentID != req.AgentID || again.Mode != req.Mode || again.Type != req.Type || again.Inputs != req.Inputs {
			t.Fatalf("round trip changed the request: %+v then %+v", req, again)
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
