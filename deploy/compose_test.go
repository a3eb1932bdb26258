//go:build linux

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// composeFile is the deployment the tests check, with its example secrets.
const (
	composeFile = "compose.yaml"
	envExample  = ".env.example"
)

// composeConfig is the part of `docker compose config` (the file resolved, variables
// substituted) the tests read.
type composeConfig struct {
	Services map[string]struct {
		Image           string            `yaml:"image"`
		Command         []string          `yaml:"command"`
		Environment     map[string]string `yaml:"environment"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		Profiles        []string          `yaml:"profiles"`
		Deploy          struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
	} `yaml:"services"`
}

// compose runs Docker Compose on compose.yaml with extra arguments and the environment env
// (nothing of the test's own environment but PATH and HOME), and returns stdout, stderr and
// the error.
func compose(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmdline := append(testenv.Compose(t), append([]string{"--file", composeFile}, args...)...)
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// resolved is compose.yaml as Docker Compose resolves it with .env.example, shared by the
// tests (Docker Compose takes seconds to start).
var resolved struct {
	once sync.Once
	c    composeConfig
	err  error
}

func resolvedCompose(t *testing.T) composeConfig {
	t.Helper()
	resolved.once.Do(func() {
		out, stderr, err := compose(t, nil, "--env-file", envExample, "config")
		if err != nil {
			resolved.err = fmt.Errorf("compose config with %s: %v\n%s", envExample, err, stderr)
			return
		}
		if err := yaml.Unmarshal([]byte(out), &resolved.c); err != nil {
			resolved.err = fmt.Errorf("compose config output: %v\n%s", err, out)
		}
	})
	if resolved.err != nil {
		t.Fatal(resolved.err)
	}
	return resolved.c
}

// TestComposeConfig checks that Docker Compose accepts the deployment with the example
// secrets, that the monitoring services come only with their profile, and that a missing
// secret is refused with its name rather than run empty.
func TestComposeConfig(t *testing.T) {
	t.Parallel()
	c := resolvedCompose(t)
	for _, name := range []string{"redis", "postgres", "serve", "worker", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("compose config has no service %q", name)
		}
	}
	if w := c.Services["worker"]; w.Deploy.Replicas != 2 ||
		!slices.Equal(w.Command, []string{"worker", "--queues", "workflows=3,default=1"}) {
		t.Errorf("worker: %d replicas of %q; want 2 of worker --queues workflows=3,default=1", w.Deploy.Replicas, w.Command)
	}
	checkScrapeTargets(t, c)
	for _, name := range []string{"prometheus", "grafana"} {
		if !slices.Equal(c.Services[name].Profiles, []string{"monitoring"}) {
			t.Errorf("%s is in profiles %q, want [monitoring]", name, c.Services[name].Profiles)
		}
	}
	empty := t.TempDir() + "/empty.env"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := compose(t, nil, "--env-file", empty, "config"); err == nil || !strings.Contains(stderr, "in deploy/.env") {
		t.Errorf("compose config without the secrets: want an error naming deploy/.env; got %v\n%s", err, stderr)
	}
}

// checkScrapeTargets checks that Prometheus scrapes each Dominion service where it serves
// /metrics: serve on its DOMINION_ADDR, the workers on their DOMINION_METRICS_ADDR.
func checkScrapeTargets(t *testing.T, c composeConfig) {
	t.Helper()
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	listens := map[string]string{ // service → the address it serves /metrics on
		"serve":  c.Services["serve"].Environment["DOMINION_ADDR"],
		"worker": c.Services["worker"].Environment["DOMINION_METRICS_ADDR"],
	}
	scraped := map[string]string{} // service → the port Prometheus scrapes
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := strings.Cut(target, ":")
				scraped[host] = port
			}
		}
		for _, d := range sc.DNSSDConfigs {
			for _, name := range d.Names {
				scraped[name] = strconv.Itoa(d.Port)
			}
		}
	}
	for service, addr := range listens {
		_, port, _ := strings.Cut(addr, ":")
		if port == "" || scraped[service] != port {
			t.Errorf("%s serves /metrics on %q; prometheus.yml scrapes it on port %q", service, addr, scraped[service])
		}
	}
}

// TestComposeTopology runs compose.yaml's Dominion processes (one serve, the worker's
// replicas) from the image, with their commands and environment as Docker Compose resolves
// them, on the host's network against the test's Redis and PostgreSQL (their images cannot
// be pulled here): serve takes the seed's requests with the example token, the workers run
// them, and every process stops with exit 0 within its stop_grace_period.
func TestComposeTopology(t *testing.T) {
	t.Parallel()
	img := image(t)
	c := resolvedCompose(t)
	redisPassword := c.Services["redis"].Environment["REDISCLI_AUTH"]
	redis := testenv.StartRedis(t, testenv.WithPassword(redisPassword))
	databaseURL := testenv.StartPostgres(t).NewDatabase(t)
	port := freePort(t)

	// Compose's host names (redis, postgres) become the test's servers; the rest is kept.
	env := func(service string) map[string]string {
		e := maps.Clone(c.Services[service].Environment)
		checkSameSecret(t, service, "REDIS_URL", e["REDIS_URL"], redis.URL())
		e["REDIS_URL"] = redis.URL()
		e["DATABASE_URL"] = databaseURL
		return e
	}
	serveEnv := env("serve")
	if serveEnv["DOMINION_ADDR"] != ":8080" {
		t.Errorf("serve's DOMINION_ADDR is %q, want :8080 (the published port)", serveEnv["DOMINION_ADDR"])
	}
	serveEnv["DOMINION_ADDR"] = ":" + port
	token := serveEnv["DOMINION_API_TOKEN"]
	serve := startContainer(t, img, serveEnv, c.Services["serve"].Command...)
	var workers []*container
	var workerMetrics []string
	for range c.Services["worker"].Deploy.Replicas {
		// Compose gives each replica its own address; here they share the host's: a port each.
		e := env("worker")
		mport := freePort(t)
		e["DOMINION_METRICS_ADDR"] = "127.0.0.1:" + mport
		workerMetrics = append(workerMetrics, "http://127.0.0.1:"+mport+"/metrics")
		workers = append(workers, startContainer(t, img, e, c.Services["worker"].Command...))
	}
	serve.waitHealthy(t)

	base := "http://127.0.0.1:" + port
	var ids []string
	for range 6 {
		ids = append(ids, submit(t, base, token))
	}
	waitCompleted(t, base, token, ids)
	// serve runs no worker (--no-worker): the workers ran every workflow (each logs so just
	// after recording it), in text or JSON logs.
	completed := regexp.MustCompile(`msg="workflow completed"|"msg":"workflow completed"`)
	testenv.Eventually(t, 10*time.Second, func() error {
		n := 0
		for _, w := range workers {
			n += len(completed.FindAllString(w.logs(t), -1))
		}
		if n != len(ids) {
			return fmt.Errorf("the workers' logs show %d workflows completed, want %d", n, len(ids))
		}
		return nil
	})

	// Each worker serves its metrics where DOMINION_METRICS_ADDR says (Prometheus scrapes it):
	// its slots, whether or not it ran a job (one worker may have leased all six).
	finished := 0
	for _, u := range workerMetrics {
		status, body := request(t, http.MethodGet, u, "", "")
		if status != http.StatusOK || !strings.Contains(string(body), "\ndominion_worker_slots ") {
			t.Errorf("GET %s: %d; want the worker's metrics (dominion_worker_slots)", u, status)
		}
		finished += strings.Count(string(body), "\ndominion_jobs_finished_total{")
	}
	if finished == 0 {
		t.Errorf("no worker's metrics count a finished job")
	}

	grace, err := time.ParseDuration(c.Services["worker"].StopGracePeriod)
	if err != nil {
		t.Fatalf("worker's stop_grace_period: %v", err)
	}
	var wg sync.WaitGroup
	for _, ct := range append(workers, serve) {
		wg.Go(func() {
			if code, took := ct.stop(t, grace); code != 0 || took >= grace {
				t.Errorf("%s: docker stop: exit %d after %s, want 0 within %s", ct.name, code, took, grace)
			}
		})
	}
	wg.Wait()
}

// checkSameSecret checks that compose's URL and the test's carry the same password, so that
// the test runs with the secret from .env.example.
func checkSameSecret(t *testing.T, service, name, composeURL, testURL string) {
	t.Helper()
	cu, err1 := url.Parse(composeURL)
	tu, err2 := url.Parse(testURL)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s's %s: %v %v", service, name, err1, err2)
	}
	cp, _ := cu.User.Password()
	tp, _ := tu.User.Password()
	if cp != tp || cp == "" {
		t.Errorf("%s's %s has not the password of %s", service, name, envExample)
	}
}
