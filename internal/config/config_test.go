package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UsesRedis() || c.DataDir != "data" || c.LogLevel != slog.LevelInfo || c.Lease != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if got, want := c.QueueDBPath(), "data/queue.db"; !strings.HasSuffix(strings.ReplaceAll(got, `\`, "/"), want) {
		t.Fatalf("QueueDBPath = %q, want %q", got, want)
	}
	if got := c.BrokerDescription(); !strings.HasPrefix(got, "sqlite ") {
		t.Fatalf("BrokerDescription = %q", got)
	}
}

// TestVarDefaults checks that the defaults written in Vars (which the docs show) are the
// ones SetDefaults gives a Config built by hand.
func TestVarDefaults(t *testing.T) {
	t.Parallel()
	loaded, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var set Config
	set.SetDefaults()
	if loaded.Getenv == nil {
		t.Error("Load leaves Getenv nil: the workflow types file could not read the environment")
	}
	loaded.Getenv = nil // a func is never DeepEqual
	if !reflect.DeepEqual(loaded, set) {
		t.Errorf("Load with no environment:\n got %+v\nwant %+v (SetDefaults)", loaded, set)
	}
	for _, v := range Vars() {
		if v.Usage == "" || v.set == nil {
			t.Errorf("%s: no usage or no parser", v.Name)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"REDIS_URL": "redis://:pw@localhost:6379/1", "DOMINION_DATA_DIR": "/var/lib/d",
		"DOMINION_LOG_LEVEL": "WARN", "DOMINION_LEASE": "2s", "DOMINION_REDIS_PREFIX": "p",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesRedis() || c.DataDir != "/var/lib/d" || c.LogLevel != slog.LevelWarn || c.Lease != 2*time.Second || c.RedisPrefix != "p" {
		t.Fatalf("%+v", c)
	}
	const sentinel = "redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster?db=2"
	if c, err := Load(env(map[string]string{"REDIS_URL": sentinel})); err != nil || c.RedisURL != sentinel {
		t.Fatalf("Load(a Sentinel URL) = %q, %v", c.RedisURL, err)
	}
}

// TestLoadEveryVariable sets every variable of Variables() and checks that each lands in its
// field (and that the defaults apply when none is set).
func TestLoadEveryVariable(t *testing.T) {
	t.Parallel()
	d, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr != "127.0.0.1:8080" || d.DashboardAddr != "127.0.0.1:8081" || d.AllowInsecure || d.AllowedHosts != nil || d.DatabaseURL != "" || d.APIToken != "" ||
		d.DashboardToken != "" || d.WorkflowsFile != "" || d.SchedulesFile != "" || d.SMTP != (workflow.SMTPConfig{}) {
		t.Errorf("defaults: %+v", d)
	}
	m := map[string]string{
		"REDIS_URL": "redis://127.0.0.1:6379/0", "DOMINION_REDIS_PREFIX": "pfx", "DOMINION_DATA_DIR": "/d",
		"DOMINION_REDIS_WAIT_REPLICAS": "1", "DOMINION_REDIS_WAIT_TIMEOUT": "250ms", "DOMINION_LOG_LEVEL": "debug", "DOMINION_LEASE": "3s", "DOMINION_ADDR": " 127.0.0.1:9000 ",
		"DATABASE_URL": "postgres://u:pw@db:5432/x", "DOMINION_API_TOKEN": "api-tok",
		"DOMINION_DASHBOARD_ADDR": ":9001", "DOMINION_DASHBOARD_TOKEN": "dash-tok",
		"DOMINION_WORKFLOWS": "/etc/w.yaml", "DOMINION_SCHEDULES": "/etc/s.yaml",
		"SMTP_ADDR": "mail:25", "SMTP_USERNAME": "me", "SMTP_PASSWORD": "smtp-pw", "SMTP_FROM": "d@example.com",
		"DOMINION_ALLOW_INSECURE": "1", "DOMINION_ALLOWED_HOSTS": " dominion.example.com, 10.0.0.5 ,",
		"DOMINION_HANDLERS": handlersFile(t), "DOMINION_QUEUES": queuesFile(t),
		"DOMINION_LOG_FORMAT": "JSON", "DOMINION_METRICS_ADDR": " :9090 ", "OTEL_TRACES_EXPORTER": "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318/v1/traces",
		"GOGC": " 200 ",
	}
	if len(m) != len(Variables()) {
		t.Fatalf("the test sets %d variables, Variables lists %d", len(m), len(Variables()))
	}
	for _, v := range Variables() {
		if _, ok := m[v]; !ok {
			t.Fatalf("the test does not set %s", v)
		}
	}
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		RedisURL: "redis://127.0.0.1:6379/0", RedisPrefix: "pfx", DataDir: "/d", LogLevel: slog.LevelDebug,
		RedisWaitReplicas: 1, RedisWaitTimeout: 250 * time.Millisecond, Lease: 3 * time.Second, Addr: "127.0.0.1:9000", DashboardAddr: ":9001",
		DatabaseURL: "postgres://u:pw@db:5432/x", APIToken: "api-tok", DashboardToken: "dash-tok",
		WorkflowsFile: "/etc/w.yaml", SchedulesFile: "/etc/s.yaml",
		SMTP:          workflow.SMTPConfig{Addr: "mail:25", Username: "me", Password: "smtp-pw", From: "d@example.com"},
		AllowInsecure: true, AllowedHosts: []string{"dominion.example.com", "10.0.0.5"},
		HandlersFile: m["DOMINION_HANDLERS"], Handlers: c.Handlers,
		QueuesFile: m["DOMINION_QUEUES"], QueueLimits: map[string]queue.QueueLimits{"q": {Queue: queue.Limit{Concurrency: 2}}},
		LogFormat: "json", MetricsAddr: ":9090", GOGC: "200",
		Tracing: Tracing{Exporter: "otlp", Endpoint: "http://otel:4318", TracesEndpoint: "http://otel:4318/v1/traces"},
	}
	if c.Handlers == nil || len(c.Handlers.Endpoints) != 1 || c.Handlers.Endpoints[0].Type != "hook" {
		t.Errorf("handlers: %+v", c.Handlers)
	}
	if c.Getenv == nil || c.Getenv("DOMINION_DATA_DIR") != "/d" {
		t.Error("Load's Getenv is not the environment it was given")
	}
	c.Getenv = nil // a func is never DeepEqual
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Passw0rd"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DOMINION_LOG_LEVEL": "loud"}, `DOMINION_LOG_LEVEL: unknown log level "loud" (valid: debug, info, warn, error)`},
		{map[string]string{"DOMINION_LEASE": "soon"}, `DOMINION_LEASE: "soon" is not a positive duration`},
		{map[string]string{"DOMINION_ALLOW_INSECURE": "maybe"}, `DOMINION_ALLOW_INSECURE: "maybe" is not a boolean`},
		{map[string]string{"DOMINION_LEASE": "-1s"}, `DOMINION_LEASE: "-1s" is not a positive duration`},
		{map[string]string{"DOMINION_REDIS_WAIT_REPLICAS": "-1"}, `DOMINION_REDIS_WAIT_REPLICAS: "-1" is not a number of replicas from 0 to 100`},
		{map[string]string{"DOMINION_REDIS_WAIT_TIMEOUT": "0s"}, `DOMINION_REDIS_WAIT_TIMEOUT: "0s" is not a duration from 1ms to 1m`},
		{map[string]string{"DOMINION_LOG_FORMAT": "xml"}, `DOMINION_LOG_FORMAT: unknown log format "xml" (valid: text, json)`},
		{map[string]string{"REDIS_URL": "http://:" + secret + "@host"}, `REDIS_URL: unsupported scheme "http"`},
		{map[string]string{"REDIS_URL": secret + "@host:6379"}, `REDIS_URL: not a URL`},
		{map[string]string{"REDIS_URL": "redis://:" + secret + "@host:port/0"}, `REDIS_URL: malformed URL`},
		{map[string]string{"REDIS_URL": "redis-cluster://:" + secret + "@h1:7000,h2:7001/0"}, `REDIS_URL: a Redis Cluster URL has no path`},
		{map[string]string{"REDIS_URL": "redis-sentinel://:" + secret + "@h1:26379,h2:26379"}, `REDIS_URL: a Sentinel URL needs the master's name`},
		{map[string]string{"REDIS_URL": "redis-sentinel://:" + secret + "@h1,h2:x/m"}, `REDIS_URL: host 2 of 2: the port is not a number`},
		{map[string]string{"DATABASE_URL": "mysql://root:" + secret + "@db/x"}, `DATABASE_URL: store: unsupported DSN scheme "mysql"; want postgres://`},
		{map[string]string{"DATABASE_URL": "root:" + secret + "@db/x"}, `DATABASE_URL: store: the DSN looks like a URL without a valid scheme`},
	} {
		_, err := Load(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want an error containing %q", tc.env, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Load(%v): the error shows the password: %v", tc.env, err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, password string }{
		{"redis://:s3cr3t-pw@127.0.0.1:6379/0", "s3cr3t-pw"},
		{"redis://user:s3cr3t-pw@127.0.0.1:6379", "s3cr3t-pw"},
		{"rediss://default:s3cr3t-pw@redis.example.com:6380/2?dial_timeout=3s", "s3cr3t-pw"},
		{"redis://:s3cr3t%2Fpw@127.0.0.1:6379/0", "s3cr3t/pw"}, // escaped '/' in the password
		{"redis-sentinel://:s3cr3t-pw@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster", "s3cr3t-pw"},
		{"redis-sentinel://10.0.0.1,10.0.0.2/mymaster?sentinel_password=s3cr3t-pw", "s3cr3t-pw"},
	} {
		c := Config{RedisURL: tc.raw}
		desc := c.BrokerDescription()
		if strings.Contains(desc, "s3cr3t") || !strings.Contains(desc, "xxxxx") {
			t.Errorf("BrokerDescription(%q) = %q", tc.raw, desc)
		}
		msg := "dial " + tc.raw + ": AUTH " + tc.password + " failed"
		if got := c.Redact(msg); strings.Contains(got, "s3cr3t") {
			t.Errorf("Redact(%q) = %q", msg, got)
		}
	}
	// No password: nothing to hide, nothing changed.
	c := Config{RedisURL: "redis://127.0.0.1:6379/0"}
	if got := c.BrokerDescription(); got != "redis redis://127.0.0.1:6379/0" {
		t.Errorf("BrokerDescription = %q", got)
	}
	if got := (Config{}).Redact("plain"); got != "plain" {
		t.Errorf("Redact without URL = %q", got)
	}
}

// TestRedactEverySecret checks that Redact removes the DATABASE_URL password (in the URL,
// alone, escaped, or as a query parameter), the SMTP password and the tokens, and leaves
// the rest of the text alone.
func TestRedactEverySecret(t *testing.T) {
	t.Parallel()
	c := Config{
		RedisURL:       "redis://:redis-Secret1@127.0.0.1:6379/0",
		DatabaseURL:    "postgres://dominion:pg-Secret%2F2@db.example.com:5432/dominion?sslmode=disable",
		SMTP:           workflow.SMTPConfig{Addr: "mail:587", Username: "me", Password: "smtp-Secret3", From: "d@example.com"},
		APIToken:       "api-Secret4",
		DashboardToken: "dash-Secret5",
	}
	msg := "open " + c.DatabaseURL + ": auth pg-Secret/2 (pg-Secret%2F2) failed; smtp AUTH me smtp-Secret3; " +
		"redis " + c.RedisURL + "; Bearer api-Secret4; token dash-Secret5; host db.example.com"
	got := c.Redact(msg)
	if strings.Contains(got, "Secret") {
		t.Errorf("Redact left a secret:\n%s", got)
	}
	for _, keep := range []string{
		"postgres://dominion:xxxxx@db.example.com:5432/dominion?sslmode=disable", "redis://:xxxxx@127.0.0.1:6379/0",
		"smtp AUTH me xxxxx", "host db.example.com",
	} {
		if !strings.Contains(got, keep) {
			t.Errorf("Redact(…) = %q, want it to contain %q", got, keep)
		}
	}

	// A password given as a query parameter, and a DATABASE_URL alone (no Redis).
	q := Config{DatabaseURL: "postgresql://db/x?user=u&password=qp-Secret6"}
	if got := q.Redact("connect " + q.DatabaseURL + " with qp-Secret6"); strings.Contains(got, "Secret") {
		t.Errorf("Redact(query password) = %q", got)
	}
	// libpq's keyword/value form.
	kv := Config{DatabaseURL: "host=db user=u password='kv-Secret7' dbname=x"}
	if got := kv.Redact("connect " + kv.DatabaseURL + ": kv-Secret7"); strings.Contains(got, "Secret") {
		t.Errorf("Redact(keyword/value password) = %q", got)
	}
	// A SQLite path is not a secret; short secrets are not replaced outside their URL.
	s := Config{DatabaseURL: "/var/lib/dominion/dominion.db", SMTP: workflow.SMTPConfig{Password: "abc"}}
	if got, in := s.Redact("open /var/lib/dominion/dominion.db: abc"), "open /var/lib/dominion/dominion.db: abc"; got != in {
		t.Errorf("Redact(%q) = %q", in, got)
	}
}

func TestParseQueues(t *testing.T) {
	t.Parallel()
	got, err := ParseQueues("workflows=3, default=1,low")
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.QueueWeight{{Name: "workflows", Weight: 3}, {Name: "default", Weight: 1}, {Name: "low", Weight: 1}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s := queue.FormatQueues(got); s != "workflows=3,default=1,low=1" {
		t.Errorf("FormatQueues = %q", s)
	}
	for in, wantErr := range map[string]string{
		"":             "empty queue list",
		"a=x":          `queue "a": weight "x" is not a positive integer`,
		"a=0":          `queue "a": weight "0" is not a positive integer`,
		"a,,b":         "empty queue name",
		"=3":           "empty queue name",
		"a b=1":        `queue name "a b"`,
		"a=1,a=2":      `queue "a" is listed twice`,
		"workflows=3=": `weight "3=" is not a positive integer`,
	} {
		if _, err := ParseQueues(in); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseQueues(%q) = %v, want an error containing %q", in, err, wantErr)
		}
	}
}

// handlersFile writes a handler file with one endpoint and returns its path.
func handlersFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "handlers.yaml")
	if err := os.WriteFile(path, []byte("handlers:\n  - type: hook\n    url: http://127.0.0.1:9/hook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTracingEnabled: tracing is on with OTEL_TRACES_EXPORTER=otlp, or with an OTLP endpoint
// and no exporter named; off otherwise (the default costs nothing).
func TestTracingEnabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    Tracing
		want bool
	}{
		{Tracing{}, false},
		{Tracing{Exporter: "otlp"}, true},
		{Tracing{Endpoint: "http://c:4318"}, true},
		{Tracing{TracesEndpoint: "http://c:4318/v1/traces"}, true},
		{Tracing{Exporter: "none", Endpoint: "http://c:4318"}, false},
		{Tracing{Exporter: "console"}, false},
	} {
		if got := tc.t.Enabled(); got != tc.want {
			t.Errorf("%+v.Enabled() = %t, want %t", tc.t, got, tc.want)
		}
	}
}

// queuesFile writes a queues file limiting queue q to 2 running jobs and returns its path.
func queuesFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "queues.yaml")
	if err := os.WriteFile(p, []byte("queues:\n  q:\n    concurrency: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The workflow store's file follows what the data directory holds: queue.db in a new one
// (with the queue), dominion.db where one exists; with REDIS_URL, dominion.db unless a
// queue.db holds the workflows already; DATABASE_URL always wins.
func TestStoreDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files []string
		redis bool
		dbURL string
		want  string
	}{
		{name: "new", want: QueueDBFile},
		{name: "queue only", files: []string{QueueDBFile}, want: QueueDBFile},
		{name: "two files", files: []string{QueueDBFile, StoreDBFile}, want: StoreDBFile},
		{name: "redis, new", redis: true, want: StoreDBFile},
		{name: "redis, after embedded", redis: true, files: []string{QueueDBFile}, want: QueueDBFile},
		{name: "redis, store file", redis: true, files: []string{StoreDBFile}, want: StoreDBFile},
		{name: "database url", files: []string{QueueDBFile}, dbURL: "postgres://h/db", want: "postgres://h/db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{DataDir: t.TempDir(), DatabaseURL: tc.dbURL}
			if tc.redis {
				c.RedisURL = "redis://localhost:6379/0"
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(c.DataDir, f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want := tc.want
			if tc.dbURL == "" {
				want = filepath.Join(c.DataDir, tc.want)
			}
			if got := c.StoreDSN(); got != want {
				t.Errorf("StoreDSN() = %s, want %s", got, want)
			}
			if got, in := c.StoreInQueueFile(), want == c.QueueDBPath(); got != in {
				t.Errorf("StoreInQueueFile() = %v, want %v", got, in)
			}
		})
	}
}
