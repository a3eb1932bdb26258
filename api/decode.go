package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/workflow"
)

// MaxBodyBytes bounds a request body: a larger one is refused with 413.
const MaxBodyBytes = 1 << 20

// maxStringBytes bounds agent_id and workflow_type as the decoder sees them (the engine has
// its own, possibly tighter, limits).
const maxStringBytes = 1 << 10

// Field paths, as error responses name them.
const (
	fieldAgentID      = "agent_id"
	fieldMode         = "mode"
	fieldContext      = "context"
	fieldWorkflowType = "context.workflow_type"
	fieldCalculator   = "context.calculator_inputs"
)

var (
	topFields        = []string{"agent_id", "mode", "context"}
	calculatorFields = []string{"tasks_per_week", "time_per_task_minutes", "hourly_wage", "automation_percent"}
)

// readJSONBody checks the content type and reads the body, at most limit bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Error) {
	if e := checkJSONContentType(r.Header.Get("Content-Type")); e != nil {
		return nil, e
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, badRequest(CodeMalformedJSON, "", "could not read the request body: %v", err)
	}
	return body, nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

// checkJSONContentType accepts application/json, with or without parameters; a charset
// parameter must be UTF-8.
func checkJSONContentType(ct string) *Error {
	unsupported := func(msg string) *Error {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: msg}
	}
	if ct == "" {
		return unsupported("missing Content-Type: send the body as application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported(fmt.Sprintf("Content-Type %q is not supported: send the body as application/json", ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return unsupported(fmt.Sprintf("charset %q is not supported: send UTF-8", cs))
	}
	return nil
}

// decodeChat decodes a POST /api/chat body into a workflow request. It checks the JSON's
// form and types, and that mode is known; the engine checks the values (Engine.Validate).
//
// Unknown keys are refused at the top level and in calculator_inputs (a misspelt input would
// otherwise be silently ignored) and kept inside context, which is passed on whole. The first
// problem found is returned: the body's form, then mode (it decides what else is needed), then
// the other fields in document order.
func decodeChat(body []byte) (workflow.Request, *Error) {
	var req workflow.Request
	top, e := decodeObject(body, "", true)
	if e != nil {
		return req, e
	}
	if req.Mode, e = decodeMode(top); e != nil {
		return req, e
	}
	if e := refuseUnknown(top, "", topFields); e != nil {
		return req, e
	}
	if req.AgentID, e = optionalString(top, "agent_id", fieldAgentID); e != nil {
		return req, e
	}
	rawCtx, ok := present(top, "context")
	if !ok {
		return req, badRequest(workflow.CodeRequired, fieldContext,
			"context is required: an object with workflow_type and calculator_inputs")
	}
	ctx, e := decodeObject(rawCtx, fieldContext, false)
	if e != nil {
		return req, e
	}
	if req.Type, e = optionalString(ctx, "workflow_type", fieldWorkflowType); e != nil {
		return req, e
	}
	if why := checkJSONText(rawCtx); why != "" {
		return req, badRequest(workflow.CodeInvalid, fieldContext, "context %s", why)
	}
	if e := decodeCalculator(ctx, &req.Inputs); e != nil {
		return req, e
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, rawCtx); err != nil {
		return req, badRequest(CodeMalformedJSON, fieldContext, "context is not valid JSON")
	}
	req.Context = buf.Bytes()
	return req, nil
}

// decodeMode decodes mode, which is required and must be one of workflow.Modes. It returns
// the mode given also with its error.
func decodeMode(top map[string]json.RawMessage) (string, *Error) {
	mode, e := optionalString(top, "mode", fieldMode)
	if e != nil {
		return mode, e
	}
	modes := strings.Join(workflow.Modes(), ", ")
	switch {
	case mode == "":
		return mode, badRequest(workflow.CodeRequired, fieldMode, "mode is required (one of: %s)", modes)
	case !slices.Contains(workflow.Modes(), mode):
		return mode, badRequest(workflow.CodeUnknownMode, fieldMode, "unknown mode %q (allowed modes: %s)", httpx.Clip(mode), modes)
	}
	return mode, nil
}

// decodeCalculator decodes context.calculator_inputs, a required object of the four numbers
// of calculatorFields and no other key, into in; on an error in holds the numbers before it.
func decodeCalculator(ctx map[string]json.RawMessage, in *workflow.CalculatorInputs) *Error {
	rawCalc, ok := present(ctx, "calculator_inputs")
	if !ok {
		return badRequest(workflow.CodeRequired, fieldCalculator,
			"context.calculator_inputs is required: an object with %s", strings.Join(calculatorFields, ", "))
	}
	calc, e := decodeObject(rawCalc, fieldCalculator, false)
	if e != nil {
		return e
	}
	if e := refuseUnknown(calc, fieldCalculator, calculatorFields); e != nil {
		return e
	}
	for i, dst := range []*float64{&in.TasksPerWeek, &in.TimePerTaskMinutes, &in.HourlyWage, &in.AutomationPercent} {
		name := calculatorFields[i]
		if *dst, e = requiredNumber(calc, name, fieldCalculator+"."+name); e != nil {
			return e
		}
	}
	return nil
}

// decodeObject decodes raw as a JSON object into its members. whole says raw is the request
// body, which is checked to be JSON (syntax errors and trailing data are malformed JSON);
// otherwise raw is a value of a body already checked. Why a body is not JSON is worked out
// only when it is not.
func decodeObject(raw []byte, field string, whole bool) (map[string]json.RawMessage, *Error) {
	if whole {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return nil, badRequest(CodeMalformedJSON, "", "request body is empty: send a JSON object")
		}
		if !utf8.Valid(raw) {
			return nil, badRequest(CodeMalformedJSON, "", "request body is not valid UTF-8")
		}
	}
	if whole && !json.Valid(raw) {
		return nil, badRequest(CodeMalformedJSON, "", "request body is not valid JSON: %s", syntaxProblem(raw))
	}
	if kind := jsonKind(raw); kind != "object" {
		if field == "" {
			return nil, badRequest(CodeInvalidType, "", "request body must be a JSON object, not %s", kind)
		}
		return nil, badRequest(CodeInvalidType, field, "%s must be an object, not %s", field, kind)
	}
	return members(raw), nil
}

// syntaxProblem describes where a body stops being JSON.
func syntaxProblem(b []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	err := dec.Decode(&v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before the JSON value is complete"
	case err != nil:
		return strings.TrimPrefix(err.Error(), "json: ")
	case dec.More():
		return fmt.Sprintf("unexpected data after the JSON value (at byte %d)", dec.InputOffset())
	}
	return "syntax error"
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// present returns m[key] unless it is absent or null.
func present(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	raw, ok := m[key]
	if !ok || jsonKind(raw) == "null" {
		return nil, false
	}
	return raw, true
}

func refuseUnknown(m map[string]json.RawMessage, parent string, allowed []string) *Error {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	field := unknown[0]
	where := "the request body"
	if parent != "" {
		field = parent + "." + field
		where = parent
	}
	return badRequest(CodeUnknownField, httpx.Clip(field), "unknown field %q in %s; accepted fields: %s",
		httpx.Clip(unknown[0]), where, strings.Join(allowed, ", "))
}

// optionalString returns m[key] as a string; "" when it is absent or null.
func optionalString(m map[string]json.RawMessage, key, field string) (string, *Error) {
	raw, ok := present(m, key)
	if !ok {
		return "", nil
	}
	if kind := jsonKind(raw); kind != "a string" {
		return "", badRequest(CodeInvalidType, field, "%s must be a string, not %s", field, kind)
	}
	if why := checkJSONText(raw); why != "" {
		return "", badRequest(workflow.CodeInvalid, field, "%s %s", field, why)
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", badRequest(CodeInvalidType, field, "%s is not a valid string", field)
	}
	if len(s) > maxStringBytes {
		return "", badRequest(workflow.CodeOutOfRange, field, "%s is %d bytes long; the limit is %d", field, len(s), maxStringBytes)
	}
	return s, nil
}

func requiredNumber(m map[string]json.RawMessage, key, field string) (float64, *Error) {
	raw, ok := present(m, key)
	if !ok {
		return 0, badRequest(workflow.CodeRequired, field, "%s is required", field)
	}
	if kind := jsonKind(raw); kind != "a number" {
		return 0, badRequest(CodeInvalidType, field, "%s must be a number, not %s", field, kind)
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, badRequest(workflow.CodeOutOfRange, field, "%s is too large a number", field)
	}
	return f, nil
}
