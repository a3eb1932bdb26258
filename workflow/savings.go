package workflow

import "math"

// CalculatorInputs are the seed's savings calculator inputs ("calculator_inputs" in the
// /api/chat context).
type CalculatorInputs struct {
	TasksPerWeek       float64 `json:"tasks_per_week"`
	TimePerTaskMinutes float64 `json:"time_per_task_minutes"`
	HourlyWage         float64 `json:"hourly_wage"`
	AutomationPercent  float64 `json:"automation_percent"`
}

// Savings is what automating a workflow is estimated to save. Hours are rounded to two
// decimals and money to the cent.
type Savings struct {
	WeeklyHoursSaved float64 `json:"weekly_hours_saved"`
	WeeklySavings    float64 `json:"weekly_savings"`
	MonthlySavings   float64 `json:"monthly_savings"`
	YearlySavings    float64 `json:"yearly_savings"`
}

// Weeks per month and per year used to extend the weekly figure.
const (
	WeeksPerYear  = 52.0
	WeeksPerMonth = WeeksPerYear / 12 // 4.333…
)

// Estimate computes the savings of in (docs/workflows.md, "Savings"):
//
//	weekly hours saved = tasks_per_week × time_per_task_minutes / 60 × automation_percent / 100
//	weekly savings     = weekly hours saved × hourly_wage
//	monthly savings    = weekly savings × 52 / 12
//	yearly savings     = weekly savings × 52
//
// The seed's example (20 tasks, 5 minutes, $25/h, 80 %) saves 1.33 h and $33.33 a week.
// Every figure is computed from the unrounded weekly values, then rounded. Estimate does
// not validate: call Engine.Validate (or ValidateInputs) first.
func Estimate(in CalculatorInputs) Savings {
	hours := in.TasksPerWeek * in.TimePerTaskMinutes / 60 * in.AutomationPercent / 100
	weekly := hours * in.HourlyWage
	return Savings{
		WeeklyHoursSaved: round2(hours),
		WeeklySavings:    round2(weekly),
		MonthlySavings:   round2(weekly * WeeksPerMonth),
		YearlySavings:    round2(weekly * WeeksPerYear),
	}
}

// round2 rounds to two decimals, half away from zero.
func round2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	return math.Round(x*100) / 100
}
