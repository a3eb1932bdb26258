//go:build linux

package deploy

import (
	"os/exec"
	"testing"
)

// TestPrometheusConfig checks compose's scrape configuration with Prometheus's own checker.
// The alert rules it loads (alerts.yml) have their own test.
func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Prometheus (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "config", "--syntax-only", "prometheus/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}
