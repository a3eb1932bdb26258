package testenv

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dockerMissing is the message of a test that cannot run because no Docker engine answers.
const dockerMissing = "install the docker client and engine (apt-get install docker.io) and start dockerd; " +
	"scripts/test.sh does both when run as root"

// Docker returns the path of the docker client after checking that it reaches a running
// engine; it fails the test with what to install or start otherwise.
func Docker(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal("docker not found: " + dockerMissing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("docker engine not reachable (%v: %s): %s", err, strings.TrimSpace(string(out)), dockerMissing)
	}
	return bin
}

// Compose returns the command line of Docker Compose: docker-compose (Debian's package, 1.29
// or newer) or the docker compose plugin. It fails the test when neither is installed.
func Compose(t testing.TB) []string {
	t.Helper()
	if bin, err := exec.LookPath("docker-compose"); err == nil {
		return []string{bin}
	}
	if bin, err := exec.LookPath("docker"); err == nil && exec.Command(bin, "compose", "version").Run() == nil {
		return []string{bin, "compose"}
	}
	t.Fatal("neither docker-compose nor the docker compose plugin found: install one (apt-get install docker-compose)")
	return nil
}
