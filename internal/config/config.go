// Package config is Dominion's configuration, read once at the edge of the program (from the
// environment, then command-line flags) and passed to everything that needs it. Nothing else
// in Dominion reads the environment.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/schedules"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// Environment variables read by Load.
const (
	EnvRedisURL       = "REDIS_URL"
	EnvRedisPrefix    = "DOMINION_REDIS_PREFIX"
	EnvDataDir        = "DOMINION_DATA_DIR"
	EnvLogLevel       = "DOMINION_LOG_LEVEL"
	EnvLease          = "DOMINION_LEASE"
	EnvAddr           = "DOMINION_ADDR"
	EnvDatabaseURL    = "DATABASE_URL"
	EnvAPIToken       = "DOMINION_API_TOKEN"
	EnvDashboardAddr  = "DOMINION_DASHBOARD_ADDR"
	EnvDashboardToken = "DOMINION_DASHBOARD_TOKEN"
	EnvWorkflows      = "DOMINION_WORKFLOWS"
	EnvSchedules      = schedules.EnvFile // DOMINION_SCHEDULES
	EnvSMTPAddr       = "SMTP_ADDR"
	EnvSMTPUsername   = "SMTP_USERNAME"
	EnvSMTPPassword   = "SMTP_PASSWORD"
	EnvSMTPFrom       = "SMTP_FROM"
)

// Variables returns every environment variable Load reads, for documentation and its tests.
func Variables() []string {
	return []string{
		EnvRedisURL, EnvRedisPrefix, EnvDataDir, EnvLogLevel, EnvLease, EnvAddr, EnvDatabaseURL,
		EnvAPIToken, EnvDashboardAddr, EnvDashboardToken, EnvWorkflows, EnvSchedules,
		EnvSMTPAddr, EnvSMTPUsername, EnvSMTPPassword, EnvSMTPFrom,
	}
}

// Defaults.
const (
	DefaultDataDir       = "data"
	QueueDBFile          = "queue.db"
	DefaultLease         = 10 * time.Second
	DefaultAddr          = ":8080"
	DefaultDashboardAddr = ":8081" // leaves :8080 to `dominion serve`
)

// Config is Dominion's configuration.
type Config struct {
	// RedisURL selects the Redis broker when set (redis://, rediss:// or unix://); when
	// empty, the embedded SQLite broker in DataDir is used. It holds the password, if any:
	// print it only through Redact or RedactedRedisURL.
	RedisURL string
	// RedisPrefix is put before every Redis key (empty: the broker's default).
	RedisPrefix string
	// DataDir holds the embedded broker's file (queue.db); created when missing.
	DataDir string
	// LogLevel is the minimum level logged (to stderr).
	LogLevel slog.Level
	// Lease is how long a worker's lease on a job lasts without a heartbeat.
	Lease time.Duration

	// Addr is the listen address of `dominion serve` (DOMINION_ADDR, default ":8080");
	// DashboardAddr that of `dominion dashboard` (DOMINION_DASHBOARD_ADDR, default ":8081").
	Addr          string
	DashboardAddr string
	// DatabaseURL is the workflow store (DATABASE_URL): postgres://… or libpq's
	// "host=… dbname=…" form for PostgreSQL, or a SQLite file (a path, sqlite:PATH or
	// file:PATH); anything else is refused by Load (store.ParseDSN). Empty means
	// DataDir/dominion.db. It may hold a password: print it
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
	// SMTP is the server of the workflows' email steps (SMTP_ADDR, SMTP_USERNAME,
	// SMTP_PASSWORD, SMTP_FROM).
	SMTP workflow.SMTPConfig
}

// Load reads the configuration from the environment through getenv (os.Getenv in main).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		RedisURL:       strings.TrimSpace(getenv(EnvRedisURL)),
		RedisPrefix:    getenv(EnvRedisPrefix),
		DataDir:        getenv(EnvDataDir),
		Lease:          DefaultLease,
		Addr:           strings.TrimSpace(getenv(EnvAddr)),
		DashboardAddr:  strings.TrimSpace(getenv(EnvDashboardAddr)),
		DatabaseURL:    strings.TrimSpace(getenv(EnvDatabaseURL)),
		APIToken:       strings.TrimSpace(getenv(EnvAPIToken)),
		DashboardToken: strings.TrimSpace(getenv(EnvDashboardToken)),
		WorkflowsFile:  strings.TrimSpace(getenv(EnvWorkflows)),
		SchedulesFile:  strings.TrimSpace(getenv(EnvSchedules)),
		SMTP: workflow.SMTPConfig{
			Addr:     strings.TrimSpace(getenv(EnvSMTPAddr)),
			Username: getenv(EnvSMTPUsername),
			Password: getenv(EnvSMTPPassword),
			From:     strings.TrimSpace(getenv(EnvSMTPFrom)),
		},
	}
	c.SetDefaults()
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != nil {
			return Config{}, err
		}
	}
	if c.DatabaseURL != "" {
		if _, err := store.ParseDSN(c.DatabaseURL); err != nil {
			// ParseDSN never quotes the DSN, which may hold a password.
			return Config{}, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
	}
	if s := getenv(EnvLogLevel); s != "" {
		lvl, err := ParseLevel(s)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvLogLevel, err)
		}
		c.LogLevel = lvl
	}
	if s := getenv(EnvLease); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s: %q is not a positive duration (e.g. 10s)", EnvLease, s)
		}
		c.Lease = d
	}
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
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DashboardAddr == "" {
		c.DashboardAddr = DefaultDashboardAddr
	}
}

// checkRedisURL refuses a URL the Redis broker cannot use. Its errors never quote the URL,
// which may hold a password.
func checkRedisURL(s string) error {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return fmt.Errorf("%s: not a URL; want redis://[:password@]host:port[/db], rediss://… or unix://…", EnvRedisURL)
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
	default:
		return fmt.Errorf("%s: unsupported scheme %q; want redis, rediss or unix", EnvRedisURL, scheme)
	}
	if _, err := url.Parse(s); err != nil {
		// url.Error quotes the whole URL: give only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: malformed URL: %v", EnvRedisURL, err)
	}
	return nil
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

// RedactedRedisURL is RedisURL with its password, if any, replaced (redisbroker.RedactURL).
func (c Config) RedactedRedisURL() string {
	if c.RedisURL == "" {
		return ""
	}
	return redisbroker.RedactURL(c.RedisURL)
}

// BrokerDescription says which broker is configured, safe to print: "redis redis://:xxxxx@host:6379"
// or "sqlite data/queue.db".
func (c Config) BrokerDescription() string {
	if c.UsesRedis() {
		return "redis " + c.RedactedRedisURL()
	}
	return "sqlite " + c.QueueDBPath()
}

// Redact removes every secret of the configuration from s (an error message, a log line):
// the Redis and database URLs are replaced by their redacted forms, and their passwords, the
// SMTP password and the API and dashboard tokens, wherever else they appear, by "xxxxx".
// Everything Dominion prints goes through it, so that a secret quoted by some lower layer
// does not leak either.
func (c Config) Redact(s string) string {
	if s == "" {
		return s
	}
	if c.RedisURL != "" {
		s = strings.ReplaceAll(s, c.RedisURL, c.RedactedRedisURL())
	}
	if c.DatabaseURL != "" {
		s = strings.ReplaceAll(s, c.DatabaseURL, store.Redact(c.DatabaseURL))
	}
	secrets := append(passwords(c.RedisURL), store.Secrets(c.DatabaseURL)...)
	secrets = append(secrets, c.SMTP.Password, c.APIToken, c.DashboardToken)
	for _, secret := range secrets {
		// A very short secret would garble the text everywhere it appears by chance; one in
		// a URL is still removed with the URL above.
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		}
	}
	return s
}

// passwords returns the secrets of the Redis URL rawURL: its password, decoded and as
// written, and the values of password= and sslpassword= query parameters.
func passwords(rawURL string) []string {
	if !strings.Contains(rawURL, "://") {
		return nil // a SQLite path
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if pass, ok := u.User.Password(); ok && pass != "" {
			out = append(out, pass)
			if _, written, ok := strings.Cut(u.User.String(), ":"); ok && written != pass {
				out = append(out, written)
			}
		}
	}
	for k, vs := range u.Query() {
		if k := strings.ToLower(k); k != "password" && k != "sslpassword" {
			continue
		}
		for _, v := range vs {
			if v != "" {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	return out
}

// NewLogger returns a text logger writing to w (stderr in the binary) at level and above.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
