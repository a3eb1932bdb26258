package workflow_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/workflow"
)

func TestEstimateSeedExample(t *testing.T) {
	t.Parallel()
	// The seed's request: 20 tasks a week, 5 minutes each, $25/h, 80 % automated.
	got := workflow.Estimate(workflow.CalculatorInputs{TasksPerWeek: 20, TimePerTaskMinutes: 5, HourlyWage: 25, AutomationPercent: 80})
	want := workflow.Savings{WeeklyHoursSaved: 1.33, WeeklySavings: 33.33, MonthlySavings: 144.44, YearlySavings: 1733.33}
	if got != want {
		t.Fatalf("Estimate(seed) = %+v, want %+v", got, want)
	}
}

func TestEstimate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   workflow.CalculatorInputs
		want workflow.Savings
	}{
		{workflow.CalculatorInputs{}, workflow.Savings{}},
		{workflow.CalculatorInputs{TasksPerWeek: 60, TimePerTaskMinutes: 10, HourlyWage: 30, AutomationPercent: 100},
			workflow.Savings{WeeklyHoursSaved: 10, WeeklySavings: 300, MonthlySavings: 1300, YearlySavings: 15600}},
		{workflow.CalculatorInputs{TasksPerWeek: 20, TimePerTaskMinutes: 5, HourlyWage: 25, AutomationPercent: 0}, workflow.Savings{}},
	} {
		if got := workflow.Estimate(tc.in); got != tc.want {
			t.Errorf("Estimate(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// The JSON names are the API's.
	b, _ := json.Marshal(workflow.Estimate(workflow.CalculatorInputs{TasksPerWeek: 1, TimePerTaskMinutes: 60, HourlyWage: 10, AutomationPercent: 100}))
	if string(b) != `{"weekly_hours_saved":1,"weekly_savings":10,"monthly_savings":43.33,"yearly_savings":520}` {
		t.Errorf("JSON = %s", b)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	e := workflow.NewEngine(workflow.Config{Logger: quiet}) // default types: customer_followup
	ok := seedRequest("customer_followup")
	if err := e.Validate(ok); err != nil {
		t.Fatalf("Validate(seed request) = %v", err)
	}
	preview := ok
	preview.Mode, preview.Type = workflow.ModePreview, ""
	if err := e.Validate(preview); err != nil {
		t.Errorf("Validate(preview without type) = %v", err)
	}
	mod := func(f func(*workflow.Request)) workflow.Request { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name       string
		req        workflow.Request
		field      string
		code       string
		msgContain string
	}{
		{"no agent", mod(func(r *workflow.Request) { r.AgentID = " " }), "agent_id", workflow.CodeRequired, "agent_id is required"},
		{"agent with newline", mod(func(r *workflow.Request) { r.AgentID = "a\nb" }), "agent_id", workflow.CodeInvalid, "control"},
		{"long agent", mod(func(r *workflow.Request) { r.AgentID = strings.Repeat("a", 201) }), "agent_id", workflow.CodeInvalid, "200"},
		{"no mode", mod(func(r *workflow.Request) { r.Mode = "" }), "mode", workflow.CodeRequired, "execute, preview"},
		{"bad mode", mod(func(r *workflow.Request) { r.Mode = "explode" }), "mode", workflow.CodeUnknownMode, `"explode"`},
		{"no type", mod(func(r *workflow.Request) { r.Type = "" }), "context.workflow_type", workflow.CodeRequired, "customer_followup"},
		{"unknown type", mod(func(r *workflow.Request) { r.Type = "world_domination" }), "context.workflow_type", workflow.CodeUnknownType,
			`unknown workflow type "world_domination" (known: customer_followup)`},
		{"context not object", mod(func(r *workflow.Request) { r.Context = json.RawMessage(`[1]`) }), "context", workflow.CodeInvalid, "JSON object"},
		{"negative tasks", mod(func(r *workflow.Request) { r.Inputs.TasksPerWeek = -1 }), "context.calculator_inputs.tasks_per_week", workflow.CodeOutOfRange, "negative"},
		{"absurd tasks", mod(func(r *workflow.Request) { r.Inputs.TasksPerWeek = 1e12 }), "context.calculator_inputs.tasks_per_week", workflow.CodeOutOfRange, "at most"},
		{"absurd minutes", mod(func(r *workflow.Request) { r.Inputs.TimePerTaskMinutes = 20000 }), "context.calculator_inputs.time_per_task_minutes", workflow.CodeOutOfRange, "a week"},
		{"negative wage", mod(func(r *workflow.Request) { r.Inputs.HourlyWage = -25 }), "context.calculator_inputs.hourly_wage", workflow.CodeOutOfRange, "negative"},
		{"NaN wage", mod(func(r *workflow.Request) { r.Inputs.HourlyWage = math.NaN() }), "context.calculator_inputs.hourly_wage", workflow.CodeInvalid, "finite"},
		{"automation over 100", mod(func(r *workflow.Request) { r.Inputs.AutomationPercent = 101 }), "context.calculator_inputs.automation_percent", workflow.CodeOutOfRange, "between 0 and 100"},
		{"automation negative", mod(func(r *workflow.Request) { r.Inputs.AutomationPercent = -5 }), "context.calculator_inputs.automation_percent", workflow.CodeOutOfRange, "negative"},
	} {
		err := e.Validate(tc.req)
		var ie *workflow.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: Validate = %v, want *InputError", tc.name, err)
			continue
		}
		if ie.Field != tc.field || ie.Code != tc.code || !strings.Contains(ie.Message, tc.msgContain) {
			t.Errorf("%s: got field %q code %q message %q; want field %q code %q message containing %q",
				tc.name, ie.Field, ie.Code, ie.Message, tc.field, tc.code, tc.msgContain)
		}
		if _, err := e.Preview(tc.req); !errors.As(err, &ie) {
			t.Errorf("%s: Preview accepted what Validate refused", tc.name)
		}
	}
	sav, err := e.Preview(ok)
	if err != nil || sav.WeeklySavings != 33.33 {
		t.Errorf("Preview(seed) = %+v, %v", sav, err)
	}
}
