package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":        "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                              "postgresql://u@h/db",
		"postgres://h/db?password=pw&sslmode=disable":      "postgres://h/db?password=xxxxx&sslmode=disable",
		"postgres://h/db?sslpassword=pw":                   "postgres://h/db?sslpassword=xxxxx",
		"postgres://u:p%40ss@h/db":                         "postgres://u:xxxxx@h/db",
		"postgres://u:pw@[::1/db":                          "postgres://xxxxx@[::1/db",
		"/var/lib/dominion/dominion.db":                    "/var/lib/dominion/dominion.db",
		"dominion.db?_pragma=busy_timeout(100)":            "dominion.db?_pragma=busy_timeout(100)",
		"redis://:pw@localhost:6379/0":                     "redis://:xxxxx@localhost:6379/0",
		"postgres://user:pa:ss@host/db":                    "postgres://user:xxxxx@host/db",
		"postgres://user:pw@host/db?Password=pw&x=pw-safe": "postgres://user:xxxxx@host/db?Password=xxxxx&x=pw-safe",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactorScrubsErrors(t *testing.T) {
	r := newRedactor("postgres://u:p%2Fw0rd@h/db?password=other")
	base := errors.New("boom")
	err := r.errorf("dial postgres://u:p%%2Fw0rd@h: p/w0rd and other failed: %w", base)
	if msg := err.Error(); strings.Contains(msg, "w0rd") || strings.Contains(msg, "other") {
		t.Fatalf("scrubbed error still shows a secret: %s", msg)
	}
	if !errors.Is(err, base) {
		t.Fatalf("scrubbing lost the error chain")
	}
	plain := fmt.Errorf("nothing secret: %w", base)
	if r.scrub(plain) != plain {
		t.Fatalf("an error without secrets was rewrapped")
	}
	if got := newRedactor("db.sqlite").scrub(plain); got != plain {
		t.Fatalf("sqlite redactor changed an error")
	}
}

func TestISOWeek(t *testing.T) {
	for _, tc := range []struct {
		week  string
		start time.Time
	}{
		{"2026-W01", time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC)},
		{"2026-W05", time.Date(2026, 1, 26, 0, 0, 0, 0, time.UTC)},
		{"2020-W53", time.Date(2020, 12, 28, 0, 0, 0, 0, time.UTC)},
		{"2021-W01", time.Date(2021, 1, 4, 0, 0, 0, 0, time.UTC)},
		{"2026-W53", time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC)},
		{"2015-W53", time.Date(2015, 12, 28, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := ParseISOWeek(tc.week)
		if err != nil || !got.Equal(tc.start) {
			t.Errorf("ParseISOWeek(%s) = %v, %v; want %v", tc.week, got, err, tc.start)
		}
		for d := range 7 {
			if w := ISOWeek(tc.start.AddDate(0, 0, d).Add(23 * time.Hour)); w != tc.week {
				t.Errorf("ISOWeek(%s + %d days) = %s, want %s", tc.start, d, w, tc.week)
			}
		}
	}
	for _, bad := range []string{"", "2026", "2026-W1", "2026-w01", "2026-W00", "2026-W54", "2025-W53",
		"2026-Wx1", "20x6-W01", "2026-W01 ", "+026-W01"} {
		if _, err := ParseISOWeek(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseISOWeek(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
