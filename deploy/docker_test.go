//go:build linux

package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// seedRequest is the seed's example request (README).
const seedRequest = `{"agent_id":"agent_jermaine_super_action","mode":"execute","context":{"workflow_type":"customer_followup","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`

// The image's non-root user, and its largest size: unpacked, as `docker images` shows it
// (in its megabytes, 10^6 bytes), which is the size a user reads; about 28.8 MB, nearly all
// the binary (docs/deploy.md says what it holds and what was left out to get there).
const (
	imageUser    = "65532:65532"
	maxImageSize = 30_000_000
)

// built is the image the tests share: built once, by scripts/image.sh as `make image` does,
// and removed by TestMain.
var built struct {
	once sync.Once
	tag  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.tag != "" && built.err == nil {
		if out, err := exec.Command("docker", "rmi", "--force", built.tag).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "docker rmi %s: %v: %s", built.tag, err, out)
		}
	}
	os.Exit(code)
}

// image returns the tag of the image built from this tree.
func image(t *testing.T) string {
	t.Helper()
	testenv.Docker(t)
	built.once.Do(func() {
		built.tag = "dominion-test:" + randomHex(6)
		ctxDir, err := os.MkdirTemp("", "dominion-image-")
		if err != nil {
			built.err = err
			return
		}
		defer os.RemoveAll(ctxDir)
		cmd := exec.Command("../scripts/image.sh", built.tag)
		// The go on the test's PATH may be missing or another version: use the one testing us.
		cmd.Env = append(os.Environ(), "IMAGE_CONTEXT="+ctxDir,
			"PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("scripts/image.sh: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.tag
}

// TestImage checks what a user of the image sees before running it: small, a non-root user,
// a health check that needs no shell, and a binary that runs.
func TestImage(t *testing.T) {
	t.Parallel()
	img := image(t)
	var meta struct {
		Size   int64
		Config struct {
			User        string
			Entrypoint  []string
			Cmd         []string
			Env         []string
			Healthcheck struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .}}", img)), &meta); err != nil {
		t.Fatal(err)
	}
	t.Logf("image size: %.2f MB unpacked", mb(meta.Size))
	if meta.Size <= 0 || meta.Size >= maxImageSize {
		t.Errorf("image is %.2f MB unpacked (docker images), want under %.0f MB", mb(meta.Size), mb(maxImageSize))
	}
	if meta.Config.User != imageUser {
		t.Errorf("image user %q, want %q (non-root)", meta.Config.User, imageUser)
	}
	if got := strings.Join(meta.Config.Healthcheck.Test, " "); got != "CMD /dominion health" {
		t.Errorf("health check %q, want CMD /dominion health (no shell)", got)
	}
	if got := strings.Join(meta.Config.Entrypoint, " ") + " " + strings.Join(meta.Config.Cmd, " "); got != "/dominion serve" {
		t.Errorf("entry point and command %q, want /dominion serve", got)
	}
	out := docker(t, "run", "--rm", "--network", "none", img, "version")
	if !strings.HasPrefix(out, "dominion ") || !strings.Contains(out, " linux/") ||
		!strings.Contains(out, "without SQLite: needs REDIS_URL and DATABASE_URL") {
		t.Errorf("dominion version in the image: %q, want the platform and that the build has no SQLite", out)
	}
}

// TestImageRefusesEmbeddedMode: the image's binary has no SQLite (-tags nosqlite), so serve
// without REDIS_URL and DATABASE_URL exits with an error saying to set them, instead of
// starting on files in the container.
func TestImageRefusesEmbeddedMode(t *testing.T) {
	t.Parallel()
	img := image(t)
	cmd := exec.CommandContext(t.Context(), "docker", "run", "--rm", "--network", "none",
		"-e", "DOMINION_API_TOKEN=token-"+randomHex(8), img, "serve")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() == 0 ||
		!strings.Contains(string(out), "no SQLite") || !strings.Contains(string(out), "set REDIS_URL and DATABASE_URL") {
		t.Errorf("serve in the image without REDIS_URL and DATABASE_URL: want a refusal saying to set them; got %v\n%s", err, out)
	}
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// TestImageTimeZones checks that the image, which has no /usr/share/zoneinfo, runs a schedule
// in a named time zone (the zone data is in the binary).
func TestImageTimeZones(t *testing.T) {
	t.Parallel()
	img := image(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "schedules.yaml"), []byte(`schedules:
  - name: tokyo_report
    spec: "0 9 * * 1"
    time_zone: Asia/Tokyo
    type: generate_weekly_report
`), 0o644); err != nil {
		t.Fatal(err)
	}
	redis := testenv.StartRedis(t)
	out := docker(t, "run", "--rm", "--network", "host", "-v", dir+":/config:ro", "-e", "REDIS_URL="+redis.URL(),
		"-e", "DOMINION_SCHEDULES=/config/schedules.yaml", img, "schedules", "list", "--json")
	if !strings.Contains(out, "Asia/Tokyo") {
		t.Errorf("schedules list in the image does not show the Tokyo schedule:\n%s", out)
	}
}

// TestContainer runs `dominion serve` from the image with the host's network against the
// test's Redis and PostgreSQL: it becomes healthy, the seed's request completes, it runs as
// a non-root user, and `docker stop` ends it gracefully.
func TestContainer(t *testing.T) {
	t.Parallel()
	img := image(t)
	redis := testenv.StartRedis(t, testenv.WithPassword("redis-"+randomHex(8)))
	databaseURL := testenv.StartPostgres(t).NewDatabase(t)
	port := freePort(t)
	token := "token-" + randomHex(12)
	c := startContainer(t, img, map[string]string{
		"REDIS_URL":          redis.URL(),
		"DATABASE_URL":       databaseURL,
		"DOMINION_ADDR":      ":" + port, // every interface, as the image's default :8080
		"DOMINION_API_TOKEN": token,
	}, "serve", "--shutdown-timeout", "10s")
	c.waitHealthy(t)
	base := "http://127.0.0.1:" + port

	if status, body := request(t, http.MethodPost, base+"/api/chat", "", seedRequest); status != http.StatusUnauthorized {
		t.Errorf("POST /api/chat without the token: %d %s, want 401", status, body)
	}
	id := submit(t, base, token)
	waitCompleted(t, base, token, []string{id})

	uid := c.processUIDs(t)
	if uid != "65532 65532 65532 65532" {
		t.Errorf("the container's process has uids %q, want 65532 (non-root) for all", uid)
	}

	code, took := c.stop(t, 20*time.Second)
	if code != 0 || took >= 10*time.Second {
		t.Errorf("docker stop: exit %d after %s; want 0 within the 10 s shutdown timeout (SIGTERM reaches PID 1)\n%s",
			code, took.Round(time.Millisecond), c.logs(t))
	}
	logs := c.logs(t)
	for _, secret := range []string{token, redis.Password(), passwordOf(databaseURL)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the container's log shows a secret:\n%s", logs)
		}
	}
}

// TestContainerClosedByDefault checks that the image, which listens on every interface,
// refuses to serve without a token: anyone who reaches the port could change queues and
// workflows.
func TestContainerClosedByDefault(t *testing.T) {
	t.Parallel()
	img := image(t)
	cmd := exec.CommandContext(t.Context(), "docker", "run", "--rm", "--network", "none", img)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "DOMINION_API_TOKEN") {
		t.Errorf("serve without a token in the image: want a refusal naming DOMINION_API_TOKEN; got %v\n%s", err, out)
	}
}

// container is one container started by a test; it is removed when the test ends.
type container struct {
	id   string
	name string
}

// startContainer runs img with args in the background, on the host's network, with env and
// a health check every second instead of the image's interval.
func startContainer(t *testing.T, img string, env map[string]string, args ...string) *container {
	t.Helper()
	c := &container{name: "dominion-test-" + randomHex(6)}
	run := []string{"run", "--detach", "--name", c.name, "--network", "host", "--health-interval", "1s"}
	for k, v := range env {
		run = append(run, "--env", k+"="+v)
	}
	c.id = docker(t, append(append(run, img), args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logs:\n%s", c.name, c.logs(t))
		}
		_, _ = exec.Command("docker", "rm", "--force", "--volumes", c.id).CombinedOutput()
	})
	return c
}

// state is the part of docker inspect the tests read.
type state struct {
	Running  bool
	ExitCode int
	Pid      int
	Health   *struct{ Status string }
}

func (c *container) state(t *testing.T) state {
	t.Helper()
	var s state
	if err := json.Unmarshal([]byte(docker(t, "inspect", "--format", "{{json .State}}", c.id)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitHealthy waits until Docker reports the image's health check passing.
func (c *container) waitHealthy(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		s := c.state(t)
		switch {
		case !s.Running:
			return fmt.Errorf("%s exited %d before it was healthy:\n%s", c.name, s.ExitCode, c.logs(t))
		case s.Health == nil:
			return fmt.Errorf("%s has no health check", c.name)
		case s.Health.Status != "healthy":
			return fmt.Errorf("%s is %s, not healthy", c.name, s.Health.Status)
		}
		return nil
	})
}

// processUIDs returns the real, effective, saved and file-system uids of the container's
// main process, as the host's /proc shows them.
func (c *container) processUIDs(t *testing.T) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.state(t).Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Join(strings.Fields(rest), " ")
		}
	}
	t.Fatalf("no Uid line in /proc status:\n%s", status)
	return ""
}

// stop runs docker stop with a grace period and returns the exit code and how long it took.
func (c *container) stop(t *testing.T, grace time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	docker(t, "stop", "--time", strconv.Itoa(int(grace.Seconds())), c.id)
	took := time.Since(start)
	return c.state(t).ExitCode, took
}

func (c *container) logs(t *testing.T) string {
	out, err := exec.Command("docker", "logs", c.id).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(docker logs: %v: %s)", err, out)
	}
	return string(out)
}

// docker runs the docker client and returns its output, trimmed; it fails the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// submit posts the seed's request and returns the workflow's id.
func submit(t *testing.T, base, token string) string {
	t.Helper()
	status, body := request(t, http.MethodPost, base+"/api/chat", token, seedRequest)
	var accepted struct {
		WorkflowID string `json:"workflow_id"`
	}
	if status != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.WorkflowID == "" {
		t.Fatalf("POST /api/chat: %d %s, want 202 and a workflow id", status, body)
	}
	return accepted.WorkflowID
}

// waitCompleted waits until every workflow of ids is completed with the seed's savings.
func waitCompleted(t *testing.T, base, token string, ids []string) {
	t.Helper()
	for _, id := range ids {
		testenv.Eventually(t, 60*time.Second, func() error {
			status, body := request(t, http.MethodGet, base+"/api/workflows/"+id, token, "")
			var wf struct {
				Status  string `json:"status"`
				Metrics []struct {
					Savings float64 `json:"savings"`
				} `json:"metrics"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &wf) != nil || wf.Status != "completed" {
				return fmt.Errorf("workflow %s is not completed: %d %s", id, status, body)
			}
			if len(wf.Metrics) != 1 || wf.Metrics[0].Savings != 33.33 {
				t.Errorf("workflow %s completed without the seed's savings ($33.33): %s", id, body)
			}
			return nil
		})
	}
}

// request sends one API request (with the bearer token, when given) and returns the status
// and body; a request that gets no answer gives status 0.
func request(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// freePort returns a TCP port on the host that was free a moment ago (testenv.FreePort).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// passwordOf returns the password of a URL ("" when it has none).
func passwordOf(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if userinfo, _, ok := strings.Cut(raw[i+3:], "@"); ok {
			_, pw, _ := strings.Cut(userinfo, ":")
			return pw
		}
	}
	return ""
}
