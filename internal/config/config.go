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

	"github.com/codex-dominion/dominion/queue/redisbroker"
)

// Environment variables read by Load.
const (
	EnvRedisURL    = "REDIS_URL"
	EnvRedisPrefix = "DOMINION_REDIS_PREFIX"
	EnvDataDir     = "DOMINION_DATA_DIR"
	EnvLogLevel    = "DOMINION_LOG_LEVEL"
	EnvLease       = "DOMINION_LEASE"
)

// Defaults.
const (
	DefaultDataDir = "data"
	QueueDBFile    = "queue.db"
	DefaultLease   = 10 * time.Second
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
}

// Load reads the configuration from the environment through getenv (os.Getenv in main).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		RedisURL:    strings.TrimSpace(getenv(EnvRedisURL)),
		RedisPrefix: getenv(EnvRedisPrefix),
		DataDir:     getenv(EnvDataDir),
		Lease:       DefaultLease,
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != nil {
			return Config{}, err
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

// Redact removes every secret of the configuration from s (an error message, a log line): the
// Redis URL is replaced by its redacted form, and its password, wherever else it appears, by
// "xxxxx". Everything Dominion prints about the broker goes through it, so that a password
// quoted by some lower layer does not leak either.
func (c Config) Redact(s string) string {
	if c.RedisURL == "" || s == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.RedisURL, c.RedactedRedisURL())
	for _, secret := range passwords(c.RedisURL) {
		// A very short password would garble the text everywhere it appears by chance; it is
		// still removed from the URL above.
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		}
	}
	return s
}

// passwords returns the password of rawURL, decoded and as written.
func passwords(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return nil
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		return nil
	}
	out := []string{pass}
	if _, written, ok := strings.Cut(u.User.String(), ":"); ok && written != pass {
		out = append(out, written)
	}
	return out
}

// NewLogger returns a text logger writing to w (stderr in the binary) at level and above.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
