package store

import (
	"fmt"
	"time"
)

// ISOWeek returns the ISO 8601 week of t as "YYYY-Www" (e.g. "2026-W05").
func ISOWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// ParseISOWeek parses "YYYY-Www" and returns the start of that week
// (Monday 00:00 UTC). It returns an error wrapping ErrInvalid for anything
// else, including weeks the year does not have (W53 of a 52-week year).
func ParseISOWeek(s string) (time.Time, error) {
	bad := fmt.Errorf("store: week %q is not an ISO week YYYY-Www: %w", s, ErrInvalid)
	if len(s) != 8 || s[4] != '-' || s[5] != 'W' {
		return time.Time{}, bad
	}
	year, ok := digits(s[:4])
	if !ok {
		return time.Time{}, bad
	}
	week, ok := digits(s[6:])
	if !ok || week < 1 || week > 53 {
		return time.Time{}, bad
	}
	// Week 1 is the week with January 4th in it.
	jan4 := time.Date(year, time.January, 4, 0, 0, 0, 0, time.UTC)
	monday1 := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	start := monday1.AddDate(0, 0, 7*(week-1))
	if ISOWeek(start) != s {
		return time.Time{}, bad
	}
	return start, nil
}

func digits(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
