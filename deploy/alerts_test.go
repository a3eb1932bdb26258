//go:build linux

package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"github.com/codex-dominion/dominion/internal/metrics"
)

// TestAlertRules checks the alert rules with Prometheus's own checker.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Prometheus (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// TestDashboardAndRulesUseRealMetrics: the Grafana dashboard is JSON Grafana can import, and
// every dominion_* metric it or the alert rules name is one Dominion exports.
func TestDashboardAndRulesUseRealMetrics(t *testing.T) {
	t.Parallel()
	dash, err := os.ReadFile("grafana/dominion.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("grafana/dominion.json: %v (uid %q, %d panels)", err, d.UID, len(d.Panels))
	}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	known := metrics.Names()
	name := regexp.MustCompile(`dominion_[a-z_]+`)
	for _, src := range [][]byte{dash, rules} {
		for _, m := range name.FindAllString(string(src), -1) {
			if !slices.Contains(known, m) {
				t.Errorf("%s is not a metric Dominion exports (known: %v)", m, known)
			}
		}
	}
}

// TestAlertsDocumented: every alert rule of prometheus/alerts.yml has its row in the alerts
// table of docs/deploy.md, which says what it means and what to do.
func TestAlertsDocumented(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(names) == 0 {
		t.Fatal("prometheus/alerts.yml has no alert rule")
	}
	for _, m := range names {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(m[1]) + "`[^|\n]*\\|[^|\n]+\\|[^|\n]+\\|$")
		if !row.Match(doc) {
			t.Errorf("docs/deploy.md has no row for alert %s in its alerts table (| `%s` | means | what to do |)", m[1], m[1])
		}
	}
}
