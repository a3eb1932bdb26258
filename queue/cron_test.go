package queue

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadTimeZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// ticks lists the ticks of spec in zone in (from, to], as UTC RFC 3339 strings.
func ticks(t *testing.T, spec, zone, from, to string) []string {
	t.Helper()
	c, err := ParseCron(spec, mustZone(t, zone))
	if err != nil {
		t.Fatal(err)
	}
	end := mustTime(t, to)
	var out []string
	prev := mustTime(t, from)
	for i := 0; ; i++ {
		n := c.Next(prev)
		if n.IsZero() || n.After(end) {
			return out
		}
		if !n.After(prev) {
			t.Fatalf("%s: Next(%s) = %s does not move forward", spec, prev, n)
		}
		if i > 10000 {
			t.Fatalf("%s: too many ticks", spec)
		}
		out = append(out, n.UTC().Format(time.RFC3339))
		prev = n
	}
}

func TestCronParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                  "empty cron spec",
		"* * * *":           "has 4 fields",
		"* * * * * * *":     "has 7 fields",
		"60 * * * *":        "minute field \"60\": 60 is out of range 0-59",
		"* 24 * * *":        "hour field \"24\": 24 is out of range 0-23",
		"* * 0 * *":         "day-of-month field \"0\": 0 is out of range 1-31",
		"* * * 13 *":        "month field \"13\": 13 is out of range 1-12",
		"* * * * 8":         "day-of-week field \"8\": 8 is out of range 0-7",
		"*/0 * * * *":       "step \"0\" must be a positive number",
		"5-1 * * * *":       "range 5-1 goes backwards",
		"a * * * *":         "\"a\" is not a number",
		"0 0 L * *":         "L, W and # are not supported",
		"1,,2 * * * *":      "empty list item",
		"? * * * *":         "minute field \"?\": \"?\" is not a number",
		"@fortnightly":      "unknown descriptor",
		"@every 500ms":      "whole number of seconds",
		"@every soon":       "bad @every interval",
		"0 0 30 2 *":        "never matches a real date",
		"61 * * * * *":      "second field \"61\"",
		"0 0 * * mon-frix":  "\"frix\" is not a number",
		"0 0 31 4,6,9,11 *": "never matches",
	}
	for spec, want := range cases {
		_, err := ParseCron(spec, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCron(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
}

func TestCronNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec, zone, from, to string
		want                 []string
	}{
		{"0 2 * * *", "UTC", "2026-03-01T00:00:00Z", "2026-03-03T12:00:00Z",
			[]string{"2026-03-01T02:00:00Z", "2026-03-02T02:00:00Z", "2026-03-03T02:00:00Z"}},
		// The seed's weekly report: Mondays at 09:00 (2026-03-02 and 03-09 are Mondays).
		{"0 9 * * 1", "UTC", "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z",
			[]string{"2026-03-02T09:00:00Z", "2026-03-09T09:00:00Z"}},
		{"0 9 * * MON", "UTC", "2026-03-02T09:00:00Z", "2026-03-10T00:00:00Z",
			[]string{"2026-03-09T09:00:00Z"}},
		{"*/20 * * * *", "UTC", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z",
			[]string{"2026-03-01T00:20:00Z", "2026-03-01T00:40:00Z", "2026-03-01T01:00:00Z"}},
		{"*/20 * * * * *", "UTC", "2026-03-01T00:00:00Z", "2026-03-01T00:01:00Z",
			[]string{"2026-03-01T00:00:20Z", "2026-03-01T00:00:40Z", "2026-03-01T00:01:00Z"}},
		{"10/25 * * * *", "UTC", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z",
			[]string{"2026-03-01T00:10:00Z", "2026-03-01T00:35:00Z"}},
		{"0 0 1-3,15 * *", "UTC", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z",
			[]string{"2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z", "2026-04-03T00:00:00Z", "2026-04-15T00:00:00Z"}},
		// Day of month and day of week both restricted: either matches (13th, or a Friday).
		{"0 0 13 * 5", "UTC", "2026-03-01T00:00:00Z", "2026-03-19T00:00:00Z",
			[]string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"}},
		// 7 is Sunday too (2026-03-01 is a Sunday).
		{"0 0 * * 7", "UTC", "2026-02-28T00:00:00Z", "2026-03-09T00:00:00Z",
			[]string{"2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"}},
		{"0 0 29 feb *", "UTC", "2026-01-01T00:00:00Z", "2033-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"@daily", "UTC", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", []string{"2026-03-02T00:00:00Z"}},
		{"@hourly", "UTC", "2026-03-01T00:30:00Z", "2026-03-01T02:00:00Z",
			[]string{"2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z"}},
		{"@weekly", "UTC", "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z",
			[]string{"2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z"}},
		{"@monthly", "UTC", "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z",
			[]string{"2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"}},
		{"@yearly", "UTC", "2026-03-01T00:00:00Z", "2028-01-01T00:00:00Z",
			[]string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		// @every ticks at multiples of the interval since the epoch, whatever the zone.
		{"@every 10m", "Asia/Kolkata", "2026-03-01T00:05:00Z", "2026-03-01T00:30:00Z",
			[]string{"2026-03-01T00:10:00Z", "2026-03-01T00:20:00Z", "2026-03-01T00:30:00Z"}},
		{"@every 1s", "UTC", "2026-03-01T00:00:00.5Z", "2026-03-01T00:00:03Z",
			[]string{"2026-03-01T00:00:01Z", "2026-03-01T00:00:02Z", "2026-03-01T00:00:03Z"}},
		// Time zones: 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
		{"0 9 * * 1", "Europe/Berlin", "2026-03-22T00:00:00Z", "2026-04-07T00:00:00Z",
			[]string{"2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z"}},
		{"0 2 * * *", "America/New_York", "2026-01-10T00:00:00Z", "2026-01-11T12:00:00Z",
			[]string{"2026-01-10T07:00:00Z", "2026-01-11T07:00:00Z"}},
		{"30 5 * * *", "Asia/Kolkata", "2026-01-09T12:00:00Z", "2026-01-10T12:00:00Z",
			[]string{"2026-01-10T00:00:00Z"}},
	}
	for _, c := range cases {
		got := ticks(t, c.spec, c.zone, c.from, c.to)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q in %s from %s to %s:\n got %v\nwant %v", c.spec, c.zone, c.from, c.to, got, c.want)
		}
	}
}

// TestCronDaylightSaving checks the documented rules on the days clocks change: a schedule
// with specific hours runs each wall-clock time once (a skipped time at the jump, a repeated
// time at its first occurrence); one whose hour field is '*' follows the clock.
func TestCronDaylightSaving(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, spec, zone, from, to string
		want                       []string
	}{
		// Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist;
		// it runs once, at the jump (03:00 CEST = 01:00 UTC).
		{"berlin spring 02:30", "30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", "2026-03-31T00:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		// Berlin, 25 October 2026: 03:00 CEST goes back to 02:00 CET, so 02:30 occurs twice;
		// it runs once, at the first (02:30 CEST = 00:30 UTC).
		{"berlin fall 02:30", "30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", "2026-10-27T00:00:00Z",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		// Several times in the skipped hour run once, together, at the jump.
		{"berlin spring */15 2", "*/15 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z"}},
		{"berlin fall */15 2", "*/15 2 * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", "2026-10-25T12:00:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T00:15:00Z", "2026-10-25T00:30:00Z", "2026-10-25T00:45:00Z"}},
		// A time in the skipped hour and the time just after the jump are one tick.
		{"berlin spring 2-3", "0 2,3 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z"}},
		// Hour '*': the clock as it is, no run in the skipped hour, two in the repeated one.
		{"berlin spring hourly", "30 * * * *", "Europe/Berlin", "2026-03-28T23:45:00Z", "2026-03-29T02:00:00Z",
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"}},
		{"berlin fall hourly", "0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", "2026-10-25T02:00:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}},
		// New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT; 02:30 runs at 03:00 EDT (07:00 UTC).
		{"new york spring 02:30", "30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		// New York, 1 November 2026: 02:00 EDT goes back to 01:00 EST; 02:30 occurs once,
		// 01:30 twice and runs at its first occurrence (EDT).
		{"new york fall 02:30", "30 2 * * *", "America/New_York", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z",
			[]string{"2026-10-31T06:30:00Z", "2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"}},
		{"new york fall 01:30", "30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z",
			[]string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		// A whole skipped day: Samoa went from 29 to 31 December 2011.
		{"apia skipped day", "0 12 * * *", "Pacific/Apia", "2011-12-28T12:00:00Z", "2012-01-01T00:00:00Z",
			[]string{"2011-12-28T22:00:00Z", "2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z", "2011-12-31T22:00:00Z"}},
	}
	for _, c := range cases {
		got := ticks(t, c.spec, c.zone, c.from, c.to)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q in %s:\n got %v\nwant %v", c.name, c.spec, c.zone, got, c.want)
		}
	}
}

// TestCronDaylightSavingNoDoubleRun walks a whole year of every spec/zone pair and checks
// that ticks move forward, that a spec with specific hours never runs one wall-clock time
// twice, and that each calendar day of a daily spec runs exactly once.
func TestCronDaylightSavingNoDoubleRun(t *testing.T) {
	t.Parallel()
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Tehran", "UTC"}
	specs := []string{"30 2 * * *", "0 1 * * *", "*/10 1-3 * * *", "15 0,2,23 * * *", "0 30 2 * * *"}
	for _, zone := range zones {
		loc := mustZone(t, zone)
		for _, spec := range specs {
			c, err := ParseCron(spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			days := map[string]int{}
			prev := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
			end := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
			for {
				n := c.Next(prev)
				if !n.After(prev) {
					t.Fatalf("%s %s: Next(%s) = %s", zone, spec, prev, n)
				}
				if !n.Before(end) {
					break
				}
				wall := n.In(loc).Format("2006-01-02 15:04:05")
				if seen[wall] {
					t.Errorf("%s %s: wall-clock time %s ran twice (%s)", zone, spec, wall, n.UTC())
				}
				seen[wall] = true
				days[n.In(loc).Format("2006-01-02")]++
				prev = n
			}
			if spec == "30 2 * * *" || spec == "0 1 * * *" || spec == "0 30 2 * * *" {
				if len(days) != 365 {
					t.Errorf("%s %s: ran on %d days in 2026, want 365", zone, spec, len(days))
				}
				for d, n := range days {
					if n != 1 {
						t.Errorf("%s %s: ran %d times on %s", zone, spec, n, d)
					}
				}
			}
		}
	}
}

// TestCronNextFromAnyInstant checks that Next from any instant agrees with the chain of ticks.
func TestCronNextFromAnyInstant(t *testing.T) {
	t.Parallel()
	loc := mustZone(t, "Europe/Berlin")
	for _, spec := range []string{"*/7 * * * * *", "0 */3 * * * *", "30 2 * * *", "0 * * * *"} {
		c, err := ParseCron(spec, loc)
		if err != nil {
			t.Fatal(err)
		}
		// Around the fall-back change: the chain of ticks from before it, then random instants.
		start := mustTime(t, "2026-10-24T23:50:00Z")
		var all []time.Time
		for p := start; p.Before(start.Add(4 * time.Hour)); {
			p = c.Next(p)
			all = append(all, p)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 300 {
			at := start.Add(time.Duration(r.Int64N(int64(3 * time.Hour))))
			want := all[slices.IndexFunc(all, func(x time.Time) bool { return x.After(at) })]
			if got := c.Next(at); !got.Equal(want) {
				t.Fatalf("%s: Next(%s) = %s, want %s", spec, at.UTC(), got.UTC(), want.UTC())
			}
		}
	}
}

// FuzzParseCron checks that ParseCron never panics on any spec (schedules come from files and
// from the API), and that an accepted spec's next run comes after the time asked, quickly.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "0 30 9 * * mon-fri", "@every 90s", "@daily",
		"0 0 29 2 *", "1-59/0 * * * *", "5,10-20/3 */2 L * *", "@every -1s", "* * * * 8"} {
		f.Add(s)
	}
	from := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := ParseCron(spec, time.UTC)
		if err != nil {
			return
		}
		start := time.Now()
		next := c.Next(from)
		if !next.IsZero() && !next.After(from) {
			t.Fatalf("ParseCron(%q).Next(%s) = %s, not after it", spec, from, next)
		}
		if d := time.Since(start); d > 5*time.Second { // a bound against a hang, not a speed check
			t.Fatalf("ParseCron(%q).Next took %s", spec, d)
		}
	})
}
