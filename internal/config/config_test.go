package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
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
		{map[string]string{"DOMINION_LEASE": "-1s"}, `DOMINION_LEASE: "-1s" is not a positive duration`},
		{map[string]string{"REDIS_URL": "http://:" + secret + "@host"}, `REDIS_URL: unsupported scheme "http"`},
		{map[string]string{"REDIS_URL": secret + "@host:6379"}, `REDIS_URL: not a URL`},
		{map[string]string{"REDIS_URL": "redis://:" + secret + "@host:port/0"}, `REDIS_URL: malformed URL`},
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
	if s := FormatQueues(got); s != "workflows=3,default=1,low=1" {
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
