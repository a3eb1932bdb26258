package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// proc is a dominion process started by a test (testenv.Process: its output in a file,
// killed at the end of the test, its output logged when the test failed).
type proc struct {
	*testenv.Process
	t *testing.T
}

// startProc starts the binary with args, configured by cfg through the environment only (as
// an operator would).
func startProc(t *testing.T, name string, cfg config.Config, args ...string) *proc {
	t.Helper()
	p := testenv.StartProcess(t, &testenv.Process{
		Name: name,
		Command: func() *exec.Cmd {
			cmd := exec.Command(binPath, args...)
			cmd.Env = processEnv(cfg)
			return cmd
		},
		Log: filepath.Join(t.TempDir(), "output.log"),
	})
	return &proc{Process: p, t: t}
}

// processEnv is the environment of a child process: ours without Dominion's variables, plus
// those of cfg.
func processEnv(cfg config.Config) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(config.Variables(), name) && !strings.HasPrefix(name, "DOMINION_") && name != "GORACE" {
			env = append(env, kv)
		}
	}
	if raceEnabled {
		// The race detector sleeps a second at exit by default; halt_on_error makes a race
		// end the process with a non-zero code at once.
		env = append(env, "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	}
	env = append(env, "DOMINION_DATA_DIR="+cfg.DataDir, "DOMINION_LEASE="+cfg.Lease.String(), "DOMINION_LOG_LEVEL=info")
	for name, v := range map[string]string{
		config.EnvRedisURL: cfg.RedisURL, config.EnvDatabaseURL: cfg.DatabaseURL,
		config.EnvWorkflows: cfg.WorkflowsFile, config.EnvSchedules: cfg.SchedulesFile,
		config.EnvAPIToken: cfg.APIToken, config.EnvSMTPAddr: cfg.SMTP.Addr,
		config.EnvSMTPUsername: cfg.SMTP.Username, config.EnvSMTPPassword: cfg.SMTP.Password,
		config.EnvSMTPFrom: cfg.SMTP.From, config.EnvHandlers: cfg.HandlersFile,
		config.EnvOTelEndpoint: cfg.Tracing.Endpoint, config.EnvQueues: cfg.QueuesFile,
	} {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// signal sends sig and waits up to within for the process to exit; it returns the exit code
// (-1 when a signal ended it).
func (p *proc) signal(sig syscall.Signal, within time.Duration) int {
	p.t.Helper()
	if err := p.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	code, exited := p.Wait(within)
	if !exited {
		p.t.Fatalf("%s did not exit within %s after %s", p.Name, within, sig)
	}
	return code
}
