// Package config is Dominion's configuration, read once at the edge of the program (from the
// environment, then command-line flags) and passed to everything that needs it. Nothing else
// in Dominion reads the environment.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/httpjobs"
	"github.com/codex-dominion/dominion/internal/logging"
	"github.com/codex-dominion/dominion/internal/redact"
	"github.com/codex-dominion/dominion/internal/schedules"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// Environment variables read by Load.
const (
	EnvRedisURL          = "REDIS_URL"
	EnvRedisPrefix       = "DOMINION_REDIS_PREFIX"
	EnvRedisWaitReplicas = "DOMINION_REDIS_WAIT_REPLICAS"
	EnvRedisWaitTimeout  = "DOMINION_REDIS_WAIT_TIMEOUT"
	EnvDataDir           = "DOMINION_DATA_DIR"
	EnvLogLevel          = "DOMINION_LOG_LEVEL"
	EnvLease             = "DOMINION_LEASE"
	EnvAddr              = "DOMINION_ADDR"
	EnvDatabaseURL       = "DATABASE_URL"
	EnvAPIToken          = "DOMINION_API_TOKEN"
	EnvDashboardAddr     = "DOMINION_DASHBOARD_ADDR"
	EnvDashboardToken    = "DOMINION_DASHBOARD_TOKEN"
	EnvWorkflows         = "DOMINION_WORKFLOWS"
	EnvSchedules         = schedules.EnvFile // DOMINION_SCHEDULES
	EnvHandlers          = httpjobs.EnvFile  // DOMINION_HANDLERS
	EnvQueues            = "DOMINION_QUEUES"
	EnvSMTPAddr          = "SMTP_ADDR"
	EnvSMTPUsername      = "SMTP_USERNAME"
	EnvSMTPPassword      = "SMTP_PASSWORD"
	EnvSMTPFrom          = "SMTP_FROM"
	EnvAllowInsecure     = "DOMINION_ALLOW_INSECURE"
	EnvAllowedHosts      = "DOMINION_ALLOWED_HOSTS"
	EnvLogFormat         = "DOMINION_LOG_FORMAT"
	EnvMetricsAddr       = "DOMINION_METRICS_ADDR"
	// Go's runtime reads GOGC; the configuration notes only whether it is set.
	EnvGOGC = "GOGC"
	// The OpenTelemetry variables that turn tracing on; internal/tracing reads the other
	// OTEL_* variables (headers, timeouts, sampler, service name) as the SDK does.
	EnvOTelTracesExporter = "OTEL_TRACES_EXPORTER"
	EnvOTelEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTelTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// Defaults.
const (
	DefaultDataDir       = "data"
	QueueDBFile          = "queue.db"
	StoreDBFile          = "dominion.db"
	DefaultLease         = 10 * time.Second
	DefaultAddr          = "127.0.0.1:8080"
	DefaultDashboardAddr = "127.0.0.1:8081" // leaves 8080 to `dominion serve`
)

// Config is Dominion's configuration.
type Config struct {
	// RedisURL selects the Redis broker when set (redis://, rediss://, unix://,
	// redis-sentinel:// or redis-cluster://); when empty, the
	// embedded SQLite broker in DataDir is used. It holds the password, if any:
	// print it only through Redact or RedactedRedisURL.
	RedisURL string
	// RedisPrefix is put before every Redis key (empty: the broker's default).
	RedisPrefix string
	// RedisWaitReplicas, when above zero, makes every enqueue and job outcome wait until
	// that many replicas have it before it is acknowledged (Redis WAIT), for at most
	// RedisWaitTimeout (redisbroker.Options.WaitReplicas).
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	// DataDir holds the embedded broker's file (queue.db); created when missing.
	DataDir string
	// LogLevel is the minimum level logged (to stderr).
	LogLevel slog.Level
	// Lease is how long a worker's lease on a job lasts without a heartbeat.
	Lease time.Duration
	// GOGC is the environment's GOGC, which Go's runtime applies: when it is empty,
	// cmd/dominion tunes the collector (internal/gctune).
	GOGC string

	// Addr is the listen address of `dominion serve` (DOMINION_ADDR, default
	// "127.0.0.1:8080"); DashboardAddr that of `dominion dashboard` (DOMINION_DASHBOARD_ADDR,
	// default "127.0.0.1:8081"). Without a token they must be loopback addresses unless
	// AllowInsecure (DOMINION_ALLOW_INSECURE=1) is set.
	Addr          string
	DashboardAddr string
	AllowInsecure bool
	// AllowedHosts are the host names the HTTP servers answer to besides the loopback names
	// and the listen host (DOMINION_ALLOWED_HOSTS, comma-separated; "*": any).
	AllowedHosts []string
	// DatabaseURL is the workflow store (DATABASE_URL): postgres://… or libpq's
	// "host=… dbname=…" form for PostgreSQL, or a SQLite file (a path, sqlite:PATH or
	// file:PATH); anything else is refused by Load (store.ParseDSN). Empty means the
	// embedded file (StoreDSN). It may hold a password: print it
	// only through Redact.
	DatabaseURL string
	// APIToken, when set, is required as a bearer token on every /api/ route and is the
	// dashboard's login token unless DashboardToken is set (DOMINION_API_TOKEN,
	// DOMINION_DASHBOARD_TOKEN).
	APIToken       string
	DashboardToken string
	// WorkflowsFile is the YAML file of workflow types (DOMINION_WORKFLOWS; empty: the
	// built-in types); SchedulesFile that of the periodic jobs (DOMINION_SCHEDULES; empty:
	// the defaults).
	WorkflowsFile string
	SchedulesFile string
	// Getenv looks up the variables a workflow types file names as ${VAR} (Load sets it to
	// its getenv, os.Getenv in main; nil: none is set). The file may change after Load (the
	// --workflows flag), so it is read where it is used, through this.
	Getenv func(string) string
	// HandlersFile is the YAML file of job types served by HTTP endpoints
	// (DOMINION_HANDLERS); Handlers are its endpoints, read by Load (secrets included: never
	// print them).
	HandlersFile string
	Handlers     *httpjobs.Handlers
	// QueuesFile is the YAML file of queue limits (DOMINION_QUEUES; LoadQueueLimits);
	// QueueLimits are its limits, read by Load, which serve and worker store in the broker.
	QueuesFile  string
	QueueLimits map[string]queue.QueueLimits
	// SMTP is the server of the workflows' email steps (SMTP_ADDR, SMTP_USERNAME,
	// SMTP_PASSWORD, SMTP_FROM).
	SMTP workflow.SMTPConfig
	// LogFormat is "text" or "json" (DOMINION_LOG_FORMAT).
	LogFormat string
	// MetricsAddr is where `dominion worker` and `dominion scheduler` serve GET /metrics
	// (DOMINION_METRICS_ADDR; empty: nowhere). serve and dashboard serve it on their own
	// listener.
	MetricsAddr string
	// Tracing says whether, and where, traces are exported (OTEL_* variables).
	Tracing Tracing
}

// Tracing is the part of the OpenTelemetry configuration Dominion reads to decide whether to
// trace: it is on when OTEL_TRACES_EXPORTER is otlp, or when it is unset and an OTLP
// endpoint is set.
type Tracing struct {
	Exporter       string
	Endpoint       string
	TracesEndpoint string
}

// Enabled reports whether traces are to be exported.
func (t Tracing) Enabled() bool {
	switch strings.ToLower(t.Exporter) {
	case "otlp":
		return true
	case "":
		return t.Endpoint != "" || t.TracesEndpoint != ""
	}
	return false
}

// Variables returns the name of every environment variable Load reads, in the order of Vars.
func Variables() []string {
	vars := Vars()
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.Name
	}
	return names
}

// Var is one environment variable of the configuration: Load parses it with its set
// function, and docs/configuration.md and `dominion help` are generated from the same
// definitions (name, default, usage).
type Var struct {
	Name string
	// Default is the value used when the variable is unset or empty, as written in the
	// environment ("" when there is none; DefaultText then says what happens instead).
	Default     string
	DefaultText string
	// Usage says what the variable sets, in one or a few sentences.
	Usage string
	// Secret marks a value that is never printed (Redact removes it).
	Secret bool
	set    func(c *Config, value string) error
}

// Vars returns the definition of every environment variable, in the order they are
// documented. Add a variable to the function of its group below (and its field in Config) and
// Load, the docs and the help pick it up.
func Vars() []Var {
	return slices.Concat(
		storageVars(),
		runtimeVars(),
		serverVars(),
		fileVars(),
		smtpVars(),
		observabilityVars(),
	)
}

// storageVars returns the variables of the broker and the workflow store: where the jobs
// and the workflows are kept.
func storageVars() []Var {
	return []Var{
		{Name: EnvRedisURL, DefaultText: "the embedded SQLite broker in DOMINION_DATA_DIR", Secret: true,
			Usage: "use the Redis broker: redis://[[user]:password@]host:port[/db], rediss://… (TLS), unix://…, or Sentinel: redis-sentinel://[[user]:password@]host1:26379,host2:26379,host3:26379/master-name[?db=N&sentinel_password=…]; Redis Cluster: redis-cluster://[[user]:password@]host1:7000,host2:7001 (docs/redis.md)",
			set:   func(c *Config, s string) error { c.RedisURL = strings.TrimSpace(s); return checkRedisURL(c.RedisURL) }},
		{Name: EnvDataDir, Default: DefaultDataDir,
			Usage: "directory of the embedded SQLite files: queue.db holds the queue (unless REDIS_URL) and the workflow store (unless DATABASE_URL); with REDIS_URL, or where an earlier version made it, the store is dominion.db; relative to the working directory (logged absolute at start); created by serve, worker, scheduler and enqueue when missing, refused by info, jobs, queues and schedules list",
			set:   func(c *Config, s string) error { c.DataDir = s; return nil }},
		{Name: EnvDatabaseURL, DefaultText: "DOMINION_DATA_DIR/queue.db (with the queue) or dominion.db", Secret: true,
			Usage: "the workflow store (serve, worker, dashboard, migrate): postgres://user:password@host:5432/db or libpq's \"host=… user=… password=… dbname=…\", or a SQLite file (a path, sqlite:PATH or file:PATH); other schemes are refused",
			set:   setDatabaseURL},
		{Name: EnvRedisPrefix, DefaultText: "dominion",
			Usage: "prefix of every Redis key",
			set:   func(c *Config, s string) error { c.RedisPrefix = s; return nil }},
		{Name: EnvRedisWaitReplicas, Default: "0",
			Usage: "with Redis replicas (Sentinel): every enqueue and job outcome waits until this many replicas have it before it is acknowledged (Redis WAIT), so that a failover loses none; when fewer confirm within DOMINION_REDIS_WAIT_TIMEOUT the call fails and is retried (docs/redis.md#sentinel); 0: acknowledge at once",
			set:   setRedisWaitReplicas},
		{Name: EnvRedisWaitTimeout, Default: redisbroker.DefaultWaitTimeout.String(),
			Usage: "how long an enqueue or job outcome waits for DOMINION_REDIS_WAIT_REPLICAS replicas",
			set:   setRedisWaitTimeout},
	}
}

// runtimeVars returns the variables of the log level and the job lease.
func runtimeVars() []Var {
	return []Var{
		{Name: EnvLogLevel, Default: "info",
			Usage: "debug, info, warn or error; logs go to stderr",
			set:   setLogLevel},
		{Name: EnvLease, Default: DefaultLease.String(),
			Usage: "how long a job stays leased without a worker heartbeat (a crashed worker's jobs run again after this)",
			set:   setLease},
		{Name: EnvGOGC, DefaultText: "tuned: a heap goal of 64 MB while the live heap is small (at most 400), Go's 100 from 32 MB live",
			Usage: "Go's garbage collector target, as Go reads it (a percentage, or off); when set, dominion leaves the collector to it (docs/deploy.md)",
			set:   trimmed(func(c *Config) *string { return &c.GOGC })},
	}
}

// serverVars returns the variables of the HTTP servers: listen addresses, hosts and tokens.
func serverVars() []Var {
	return []Var{
		{Name: EnvAddr, Default: DefaultAddr,
			Usage: "the listen address of 'dominion serve' (port 0: any free port); without DOMINION_API_TOKEN only a loopback address (see DOMINION_ALLOW_INSECURE)",
			set:   trimmed(func(c *Config) *string { return &c.Addr })},
		{Name: EnvAllowInsecure, DefaultText: "off: without a token, only loopback addresses",
			Usage: "1: let 'dominion serve' and 'dominion dashboard' listen beyond loopback without a token (logged as a warning; flag --insecure-listen)",
			set:   setAllowInsecure},
		{Name: EnvAllowedHosts, DefaultText: "localhost, 127.0.0.1, ::1 and the listen host",
			Usage: "more host names the HTTP servers answer to (comma-separated; * for any); other Host headers get 403",
			set:   setAllowedHosts},
		{Name: EnvAPIToken, Secret: true,
			Usage: "when set, every /api/ route needs Authorization: Bearer <token>, and the dashboard asks for it at login",
			set:   trimmed(func(c *Config) *string { return &c.APIToken })},
		{Name: EnvDashboardToken, DefaultText: "DOMINION_API_TOKEN", Secret: true,
			Usage: "the dashboard's login token instead of DOMINION_API_TOKEN",
			set:   trimmed(func(c *Config) *string { return &c.DashboardToken })},
		{Name: EnvDashboardAddr, Default: DefaultDashboardAddr,
			Usage: "the listen address of 'dominion dashboard'; without a token only a loopback address (see DOMINION_ALLOW_INSECURE)",
			set:   trimmed(func(c *Config) *string { return &c.DashboardAddr })},
	}
}

// fileVars returns the variables naming the YAML files of workflow types, schedules, HTTP
// handlers and queue limits.
func fileVars() []Var {
	return []Var{
		{Name: EnvWorkflows, DefaultText: "the built-in types",
			Usage: "YAML file of workflow types",
			set:   trimmed(func(c *Config) *string { return &c.WorkflowsFile })},
		{Name: EnvSchedules, DefaultText: "the daily clean-up and the Monday report",
			Usage: "YAML file of schedules (periodic jobs)",
			set:   trimmed(func(c *Config) *string { return &c.SchedulesFile })},
		{Name: EnvHandlers, DefaultText: "none",
			Usage: "YAML file of job types served by HTTP endpoints (URL, timeout, headers, HMAC secret from secret_env or secret_file); every worker POSTs such jobs there (see docs/http-handlers.md)",
			set:   trimmed(func(c *Config) *string { return &c.HandlersFile })},
		{Name: EnvQueues, DefaultText: "none: limits set with 'dominion queues limit' stay as they are",
			Usage: "YAML file of queue rate and concurrency limits, stored in the broker by serve and worker at start (see docs/limits.md)",
			set:   trimmed(func(c *Config) *string { return &c.QueuesFile })},
	}
}

// smtpVars returns the variables of the SMTP server of the email steps.
func smtpVars() []Var {
	return []Var{
		{Name: EnvSMTPAddr, Usage: "host:port of the SMTP server of the workflows' email steps",
			set: trimmed(func(c *Config) *string { return &c.SMTP.Addr })},
		{Name: EnvSMTPUsername, Usage: "SMTP user name (PLAIN authentication when set)",
			set: func(c *Config, s string) error { c.SMTP.Username = s; return nil }},
		{Name: EnvSMTPPassword, Usage: "SMTP password", Secret: true,
			set: func(c *Config, s string) error { c.SMTP.Password = s; return nil }},
		{Name: EnvSMTPFrom, Usage: "the sender address of the email steps",
			set: trimmed(func(c *Config) *string { return &c.SMTP.From })},
	}
}

// observabilityVars returns the variables of the log format, the metrics listener and
// OpenTelemetry tracing.
func observabilityVars() []Var {
	return []Var{
		{Name: EnvLogFormat, Default: logging.FormatText,
			Usage: "text or json: the format of the log lines",
			set:   setLogFormat},
		{Name: EnvMetricsAddr, DefaultText: "off",
			Usage: "where 'dominion worker' and 'dominion scheduler' serve Prometheus metrics at GET /metrics (their --metrics-addr); serve and dashboard serve /metrics on their own listener",
			set:   trimmed(func(c *Config) *string { return &c.MetricsAddr })},
		{Name: EnvOTelTracesExporter, DefaultText: "otlp when an OTLP endpoint is set, else none",
			Usage: "otlp turns OpenTelemetry tracing on (OTLP over HTTP with protobuf: OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/json is refused), none turns it off; the other OTEL_* variables are read as the OpenTelemetry specification says (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, …: docs/observability.md)",
			set:   trimmed(func(c *Config) *string { return &c.Tracing.Exporter })},
		{Name: EnvOTelEndpoint, DefaultText: "none: tracing off",
			Usage: "base URL of the OTLP/HTTP collector, e.g. http://otel-collector:4318; setting it turns tracing on",
			set:   trimmed(func(c *Config) *string { return &c.Tracing.Endpoint })},
		{Name: EnvOTelTracesEndpoint, DefaultText: "OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces",
			Usage: "full URL traces are posted to, instead",
			set:   trimmed(func(c *Config) *string { return &c.Tracing.TracesEndpoint })},
	}
}

// trimmed returns a set function that stores the value, spaces trimmed, in field(c).
func trimmed(field func(c *Config) *string) func(c *Config, s string) error {
	return func(c *Config, s string) error { *field(c) = strings.TrimSpace(s); return nil }
}

func setDatabaseURL(c *Config, s string) error {
	c.DatabaseURL = strings.TrimSpace(s)
	if c.DatabaseURL == "" {
		return nil
	}
	_, err := store.ParseDSN(c.DatabaseURL) // it never quotes the DSN, which may hold a password
	return err
}

func setAllowInsecure(c *Config, s string) error {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean (1 or 0)", s)
	}
	c.AllowInsecure = b
	return nil
}

func setAllowedHosts(c *Config, s string) error {
	for h := range strings.SplitSeq(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.AllowedHosts = append(c.AllowedHosts, h)
		}
	}
	return nil
}

func setRedisWaitReplicas(c *Config, s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 100 {
		return fmt.Errorf("%q is not a number of replicas from 0 to 100", s)
	}
	c.RedisWaitReplicas = n
	return nil
}

func setRedisWaitTimeout(c *Config, s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < time.Millisecond || d > time.Minute {
		return fmt.Errorf("%q is not a duration from 1ms to 1m (e.g. 1s)", s)
	}
	c.RedisWaitTimeout = d
	return nil
}

func setLogLevel(c *Config, s string) error {
	lvl, err := ParseLevel(s)
	c.LogLevel = lvl
	return err
}

func setLogFormat(c *Config, s string) error {
	f, err := logging.ParseFormat(s)
	c.LogFormat = f
	return err
}

func setLease(c *Config, s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration (e.g. 10s)", s)
	}
	c.Lease = d
	return nil
}

// Load reads the configuration from the environment through getenv (os.Getenv in main):
// each variable of Vars, its default when it is unset or empty.
func Load(getenv func(string) string) (Config, error) {
	c := Config{Getenv: getenv}
	for _, v := range Vars() {
		s := getenv(v.Name)
		if s == "" {
			s = v.Default
		}
		if err := v.set(&c, s); err != nil {
			return Config{}, fmt.Errorf("%s: %w", v.Name, err)
		}
	}
	var err error
	if c.Handlers, err = httpjobs.Load(c.HandlersFile, getenv); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvHandlers, err)
	}
	if c.QueueLimits, err = LoadQueueLimits(c.QueuesFile); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvQueues, err)
	}
	c.SetDefaults()
	return c, nil
}

// SetDefaults fills the fields left empty with their defaults (Load calls it; tests that
// build a Config by hand get the same values).
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.RedisWaitTimeout <= 0 {
		c.RedisWaitTimeout = redisbroker.DefaultWaitTimeout
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DashboardAddr == "" {
		c.DashboardAddr = DefaultDashboardAddr
	}
	if c.LogFormat == "" {
		c.LogFormat = logging.FormatText
	}
}

// checkRedisURL refuses a URL the Redis broker cannot use (redisbroker.CheckURL). Its errors
// never quote the URL, which may hold a password.
func checkRedisURL(s string) error {
	if s == "" {
		return nil
	}
	return redisbroker.CheckURL(s)
}

// ParseLevel parses a log level: debug, info, warn (or warning) or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (valid: debug, info, warn, error)", s)
}

// UsesRedis reports whether the Redis broker is configured.
func (c Config) UsesRedis() bool { return c.RedisURL != "" }

// QueueDBPath is the embedded broker's file.
func (c Config) QueueDBPath() string { return filepath.Join(c.DataDir, QueueDBFile) }

// StoreDSN is the workflow store's DSN: DatabaseURL when set; else the embedded queue's file
// DataDir/queue.db, which then holds workflows and jobs (StoreInQueueFile); else
// DataDir/dominion.db.
func (c Config) StoreDSN() string {
	switch {
	case c.DatabaseURL != "":
		return c.DatabaseURL
	case c.StoreInQueueFile():
		return c.QueueDBPath()
	}
	return c.storeFile()
}

// StoreInQueueFile reports whether the workflow store lives in the embedded queue's file
// (queue.db) when DatabaseURL is not set: yes, unless the data directory holds a dominion.db
// (made by a version that kept the workflows in a file of their own, or while RedisURL was
// set), or RedisURL is set and there is no queue.db to keep. The workflows stay where they
// are when RedisURL comes or goes.
func (c Config) StoreInQueueFile() bool {
	if c.DatabaseURL != "" || exists(c.storeFile()) {
		return false
	}
	return !c.UsesRedis() || exists(c.QueueDBPath())
}

// exists reports whether there is a file at path (an error other than "not there" counts as
// there: opening it will say what is wrong).
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// storeFile is the workflow store's own file, DataDir/dominion.db.
func (c Config) storeFile() string {
	dir := c.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	return filepath.Join(dir, StoreDBFile)
}

// RedactedRedisURL is RedisURL with its password, if any, replaced.
func (c Config) RedactedRedisURL() string {
	if c.RedisURL == "" {
		return ""
	}
	return redact.URL(c.RedisURL)
}

// BrokerDescription says which broker is configured, safe to print: "redis redis://:xxxxx@host:6379"
// or "sqlite data/queue.db".
func (c Config) BrokerDescription() string {
	if c.UsesRedis() {
		return "redis " + c.RedactedRedisURL()
	}
	return "sqlite " + c.QueueDBPath()
}

// Redactor removes every secret of the configuration from text and errors: the Redis and
// database URLs are replaced by their redacted forms, and their passwords, the SMTP password
// and the API and dashboard tokens, wherever else they appear, by "xxxxx". Everything
// Dominion prints goes through it, so that a secret quoted by some lower layer does not leak
// either.
func (c Config) Redactor() redact.Redactor {
	return redact.New([]string{c.RedisURL, c.DatabaseURL}, c.SMTP.Password, c.APIToken, c.DashboardToken)
}

// Redact is c.Redactor().String(s).
func (c Config) Redact(s string) string { return c.Redactor().String(s) }

// NewLogger returns a text logger writing to w at level and above (see package logging).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return logging.New(w, level, logging.FormatText)
}

// Logger returns a logger writing to w (stderr in the binary) at level and above, in the
// configured format (DOMINION_LOG_FORMAT).
func (c Config) Logger(w io.Writer, level slog.Level) *slog.Logger {
	return logging.New(w, level, c.LogFormat)
}
