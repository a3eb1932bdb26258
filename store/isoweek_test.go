package store

import (
	"errors"
	"testing"
	"time"
)

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
