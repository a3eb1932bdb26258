package service_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/service"
)

// TestLoadTypesExpandsFromTheLoadedEnvironment checks that the workflow types file's ${VAR}
// comes from the environment config.Load was given (the edge of the program), not from the
// process's own.
func TestLoadTypesExpandsFromTheLoadedEnvironment(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "workflows.yaml")
	const types = "workflows:\n  - name: hook\n    steps:\n      - {kind: http, url: \"${HOOK_BASE}/x\", secret: \"${HOOK_SECRET}\"}\n"
	if err := os.WriteFile(file, []byte(types), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvWorkflows: file, "HOOK_BASE": "https://hooks.example.com", "HOOK_SECRET": "s3cret"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	reg, err := service.LoadTypes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	typ, ok := reg.Get("hook")
	if !ok || typ.Steps[0].URL != "https://hooks.example.com/x" || typ.Steps[0].Secret != "s3cret" {
		t.Fatalf("hook type: %+v", typ)
	}
}
