package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":                         "redis://127.0.0.1:6379/0",
		"redis://:s3cret@127.0.0.1:6379/0":                 "redis://:xxxxx@127.0.0.1:6379/0",
		"redis://alice:s3cret@host:6379/2":                 "redis://alice:xxxxx@host:6379/2",
		"rediss://default:s3cret@example.com:6380":         "rediss://default:xxxxx@example.com:6380",
		"redis://alice@host:6379":                          "redis://alice@host:6379",
		"redis://:p@ss:w%rd@host:6379/0":                   "redis://xxxxx@host:6379/0",
		"postgres://u:pw@h:5432/db?sslmode=disable":        "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                              "postgresql://u@h/db",
		"postgres://h/db?password=pw&sslmode=disable":      "postgres://h/db?password=xxxxx&sslmode=disable",
		"postgres://h/db?sslpassword=pw":                   "postgres://h/db?sslpassword=xxxxx",
		"postgres://u:p%40ss@h/db":                         "postgres://u:xxxxx@h/db",
		"postgres://u:pw@[::1/db":                          "postgres://xxxxx@[::1/db",
		"/var/lib/dominion/dominion.db":                    "/var/lib/dominion/dominion.db",
		"dominion.db?_pragma=busy_timeout(100)":            "dominion.db?_pragma=busy_timeout(100)",
		"postgres://user:pa:ss@host/db":                    "postgres://user:xxxxx@host/db",
		"postgres://user:pw@host/db?Password=pw&x=pw-safe": "postgres://user:xxxxx@host/db?Password=xxxxx&x=pw-safe",
		"host=db user=u password=hunter2 dbname=x":         "host=db user=u password=xxxxx dbname=x",
		"host=db password='hun ter\\'2' sslmode=allow":     "host=db password=xxxxx sslmode=allow",
		"sslpassword=hunter2":                              "sslpassword=xxxxx",
		"user:hunter2@host:6379":                           "xxxxx@host:6379",
		// Sentinel and Cluster: several hosts, the last one with or without a port.
		"redis-sentinel://:pw@h1:26379,h2:26379,h3/mymaster?db=2":              "redis-sentinel://:xxxxx@h1:26379,h2:26379,h3/mymaster?db=2",
		"redis-sentinel://u:pw@h1,h2:26379/m?sentinel_password=spw":            "redis-sentinel://u:xxxxx@h1,h2:26379/m?sentinel_password=xxxxx",
		"redis-sentinel://h1:26379,h2/m?SENTINEL_PASSWORD=spw&db=1":            "redis-sentinel://h1:26379,h2/m?SENTINEL_PASSWORD=xxxxx&db=1",
		"redis-cluster://default:pw@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002": "redis-cluster://default:xxxxx@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002",
		"redis-cluster://:p@ss@h1:7000,h2:7001":                                "redis-cluster://:xxxxx@h1:7000,h2:7001",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	secrets := Secrets("host=db password='hun ter\\'2'")
	if len(secrets) == 0 || secrets[0] != "hun ter'2" {
		t.Errorf("Secrets = %q, want the unquoted password first", secrets)
	}
	for _, raw := range []string{
		"redis-sentinel://:pw-1@h1,h2/m?sentinel_password=pw-2",
		"redis-sentinel://u:pw-1@h1:26379,h2:26379/m?db=0&sentinel_password=pw-2",
	} {
		if got := Secrets(raw); !slices.Contains(got, "pw-1") || !slices.Contains(got, "pw-2") {
			t.Errorf("Secrets(%q) = %q, want both passwords", raw, got)
		}
	}
	if got := Secrets("/var/lib/dominion.db"); len(got) != 0 {
		t.Errorf("Secrets(a path) = %q", got)
	}
}

// TestRedactorKeepsTheErrorChain: the redacted error names no secret and still wraps the
// original; an error without secrets is returned as it is.
func TestRedactorKeepsTheErrorChain(t *testing.T) {
	t.Parallel()
	r := New([]string{"postgres://u:p%2Fw0rd@h/db?password=other"})
	base := errors.New("boom")
	err := r.Errorf("dial postgres://u:p%%2Fw0rd@h: p/w0rd and other failed: %w", base)
	if msg := err.Error(); strings.Contains(msg, "w0rd") || strings.Contains(msg, "other") {
		t.Fatalf("redacted error still shows a secret: %s", msg)
	}
	if !errors.Is(err, base) {
		t.Fatalf("redacting lost the error chain")
	}
	plain := fmt.Errorf("nothing secret: %w", base)
	if r.Error(plain) != plain {
		t.Fatalf("an error without secrets was rewrapped")
	}
	if got := New([]string{"db.sqlite"}).Error(plain); got != plain {
		t.Fatalf("the redactor of a path changed an error")
	}
	if New(nil).Error(nil) != nil {
		t.Fatalf("Error(nil) is not nil")
	}
}

// TestRedactorString removes the URLs, their secrets and the free-standing secrets of at
// least 4 bytes, and any URL password written in the text.
func TestRedactorString(t *testing.T) {
	t.Parallel()
	r := New([]string{"redis://:redis-Secret1@127.0.0.1:6379/0", ""}, "tok-Secret2", "abc", "")
	got := r.String("redis://:redis-Secret1@127.0.0.1:6379/0 said redis-Secret1; Bearer tok-Secret2; abc; " +
		"http://me:http-Secret3@example.com/x")
	if strings.Contains(got, "Secret") || !strings.Contains(got, "redis://:xxxxx@127.0.0.1:6379/0") ||
		!strings.Contains(got, "; abc; ") || !strings.Contains(got, "http://me:xxxxx@example.com/x") {
		t.Errorf("String = %q", got)
	}
	var buf bytes.Buffer
	if _, err := r.Writer(&buf).Write([]byte("auth tok-Secret2\n")); err != nil || buf.String() != "auth xxxxx\n" {
		t.Errorf("Writer wrote %q, %v", buf.String(), err)
	}
}

// TestRedactorSentinelURL: a Sentinel URL quoted in an error loses both its passwords, the
// master's and the sentinels', and the passwords quoted alone are removed too.
func TestRedactorSentinelURL(t *testing.T) {
	t.Parallel()
	raw := "redis-sentinel://:Master-Secret1@10.0.0.1:26379,10.0.0.2/mymaster?sentinel_password=Sentinel-Secret2"
	got := New([]string{raw}).String("dial " + raw + ": Master-Secret1 refused, Sentinel-Secret2 too")
	if strings.Contains(got, "Secret") || !strings.Contains(got, "10.0.0.1:26379,10.0.0.2/mymaster") {
		t.Errorf("String = %q", got)
	}
}

// BenchmarkWriterLogLine is the cost of the redacting writer every log line of `dominion`
// goes through (cmd/dominion: cfg.Redactor().Writer(os.Stderr)), for a request's line and
// for one that names a URL with a password:
//
//	go test ./internal/redact -run '^$' -bench WriterLogLine -benchmem
func BenchmarkWriterLogLine(b *testing.B) {
	r := New([]string{"redis://:s3cret-pw@10.0.0.5:6379/0", "postgres://app:pg-pass@db:5432/dominion"}, "api-token-1234")
	w := r.Writer(io.Discard)
	for name, line := range map[string]string{
		"request": `time=2026-12-03T13:03:29.969Z level=INFO msg="http request" method=POST route="POST /api/chat" path=/api/chat request_id=dba2fba2087442333ae33cf2 status=202 bytes=315 took=1.555079ms remote=127.0.0.1:48414` + "\n",
		"url":     `time=2026-12-03T13:03:29.969Z level=WARN msg="webhook failed" url=https://user:hook-pass@hooks.example.com/x err="connection refused"` + "\n",
	} {
		b.Run(name, func(b *testing.B) {
			p := []byte(line)
			for b.Loop() {
				if _, err := w.Write(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestText checks Text on URLs in free text: each password hidden, also one with a '/' as
// typed; a host's port and path with an '@' in it left as it is, and a URL inside that path
// still redacted.
func TestText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"dial redis://u:pw@h:6379/0: refused", "dial redis://u:xxxxx@h:6379/0: refused"},
		{"redis://:pa/ss@h:6379", "redis://:xxxxx@h:6379"},
		{"connect postgres://app:a/b/c@db:5432/x failed", "connect postgres://app:xxxxx@db:5432/x failed"},
		{"two: redis://a:1@h and redis://b:p/2@h", "two: redis://a:xxxxx@h and redis://b:xxxxx@h"},
		{"see http://h:8080/users/@alice", "see http://h:8080/users/@alice"},
		{"GET http://[::1]:8080/x@y", "GET http://[::1]:8080/x@y"},
		{"GET http://h:80/?next=redis://u:pw@h2/0", "GET http://h:80/?next=redis://u:xxxxx@h2/0"},
		{"no URL: a:b@c", "no URL: a:b@c"},
		{"dial redis://u:p@ss@h:6379/0 failed", "dial redis://u:xxxxx@h:6379/0 failed"},
		{`url="redis://:a@b@c@h" err=x@y`, `url="redis://:xxxxx@h" err=x@y`},
		{"redis://u:pw@h/0 then mail a@b", "redis://u:xxxxx@h/0 then mail a@b"},
		{"postgres://u@h/db?sslmode=disable&password=s3cret failed", "postgres://u@h/db?sslmode=disable&password=xxxxx failed"},
		{"postgres://h/db?PASSWORD=a&SSLPassword=b#f", "postgres://h/db?PASSWORD=xxxxx&SSLPassword=xxxxx#f"},
		{`"redis-sentinel://h1,h2/m?sentinel_password=s'p" x`, `"redis-sentinel://h1,h2/m?sentinel_password=xxxxx'p" x`},
		{"see https://h/reset?password=&x=1", "see https://h/reset?password=xxxxx&x=1"},
		{"password=abc without a URL", "password=abc without a URL"},
		{"http://h/path", "http://h/path"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
