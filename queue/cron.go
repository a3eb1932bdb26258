package queue

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed cron spec bound to a time zone. Its Next method gives the schedule's ticks;
// two processes with the same spec and zone compute the same ticks, to the second, which is
// what lets several schedulers agree on a tick's job ID.
//
// Accepted specs:
//
//	MIN HOUR DOM MONTH DOW        the standard five fields
//	SEC MIN HOUR DOM MONTH DOW    six fields: seconds first
//	@yearly (@annually) @monthly @weekly @daily (@midnight) @hourly
//	@every DURATION               a fixed interval (whole seconds, at least 1s)
//
// A field is a comma-separated list of '*', a value, or a range 'a-b', each optionally with a
// step '/n' ('a/n' means from a to the field's maximum). Months and days of the week may be
// given by their English three-letter names (JAN, MON); day of week 7 is Sunday like 0; '?'
// is '*' in the day fields. As in Vixie cron, when both day of month and day of week are
// restricted (neither starts with '*' or '?') a day matches when either matches.
//
// Daylight-saving changes. A schedule whose hour field covers every hour (for example
// "*/5 * * * *") follows the clock as it is: it does not run in an hour the clocks skip and
// runs in both passes of an hour the clocks repeat. A schedule with specific hours runs each
// matching wall-clock time exactly once: a time the clocks skip (02:30 on the night clocks go
// from 02:00 to 03:00) runs at the instant they jump (03:00 new time), and a time that occurs
// twice (02:30 on the night clocks go from 03:00 back to 02:00) runs at its first occurrence
// only.
//
// "@every d" ticks at the multiples of d since the Unix epoch (00:00:00 UTC, 1 January 1970),
// so "@every 10m" ticks at :00, :10, :20 … whatever the zone and whenever a scheduler starts.
type Cron struct {
	spec  string
	loc   *time.Location
	every time.Duration

	second, minute, hour, dom, month, dow uint64 // bit sets of allowed values
	domStar, dowStar                      bool
	hourAll                               bool // the hour field allows every hour
}

// cronField describes one field of a spec.
type cronField struct {
	name     string
	min, max int
	names    []string // names of the values from min on, if any
}

var (
	fieldSecond = cronField{name: "second", min: 0, max: 59}
	fieldMinute = cronField{name: "minute", min: 0, max: 59}
	fieldHour   = cronField{name: "hour", min: 0, max: 23}
	fieldDom    = cronField{name: "day-of-month", min: 1, max: 31}
	fieldMonth  = cronField{name: "month", min: 1, max: 12,
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	fieldDow = cronField{name: "day-of-week", min: 0, max: 7,
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

var cronDescriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

// ParseCron parses spec (see Cron) for the time zone loc (UTC when nil). The error says what
// is wrong with which field.
func ParseCron(spec string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Cron{spec: spec, loc: loc}
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("empty cron spec")
	}
	if rest, ok := strings.CutPrefix(s, "@every"); ok {
		d, err := parseEvery(spec, rest)
		if err != nil {
			return nil, err
		}
		c.every = d
		return c, nil
	}
	if strings.HasPrefix(s, "@") {
		full, ok := cronDescriptors[strings.ToLower(s)]
		if !ok {
			return nil, fmt.Errorf("cron spec %q: unknown descriptor (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION)", spec)
		}
		s = full
	}
	fields, err := cronFields(spec, s)
	if err != nil {
		return nil, err
	}
	if err := c.setFields(fields); err != nil {
		return nil, err
	}
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("cron spec %q: never matches a real date", spec)
	}
	return c, nil
}

// parseEvery parses the interval of "@every DURATION" (rest is what follows "@every").
func parseEvery(spec, rest string) (time.Duration, error) {
	rest = strings.TrimSpace(rest)
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("cron spec %q: bad @every interval %q: want a duration like 30s, 10m or 1h30m", spec, rest)
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("cron spec %q: @every interval must be a whole number of seconds, at least 1s", spec)
	}
	return d, nil
}

// cronFields splits s into its six fields, a seconds field of "0" first when it has five.
func cronFields(spec, s string) ([]string, error) {
	fields := strings.Fields(s)
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, fmt.Errorf("cron spec %q: has %d fields, want 5 (minute hour day-of-month month day-of-week) or 6 (second first)", spec, len(fields))
	}
	return fields, nil
}

// setFields parses the six fields into c's bit sets; the error names the first bad field.
func (c *Cron) setFields(fields []string) error {
	sets := []struct {
		dst *uint64
		f   cronField
	}{
		{&c.second, fieldSecond}, {&c.minute, fieldMinute}, {&c.hour, fieldHour},
		{&c.dom, fieldDom}, {&c.month, fieldMonth}, {&c.dow, fieldDow},
	}
	for i, set := range sets {
		v, err := parseCronField(set.f, fields[i])
		if err != nil {
			return fmt.Errorf("cron spec %q: %w", c.spec, err)
		}
		*set.dst = v
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = fields[3][0] == '*' || fields[3][0] == '?'
	c.dowStar = fields[5][0] == '*' || fields[5][0] == '?'
	c.hourAll = c.hour == 1<<24-1
	return nil
}

func parseCronField(f cronField, expr string) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(expr, ",") {
		if part == "" {
			return 0, fmt.Errorf("%s field %q: empty list item", f.name, expr)
		}
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("%s field %q: step %q must be a positive number", f.name, expr, stepStr)
			}
			step = n
		}
		var lo, hi int
		switch {
		case rng == "*" || (rng == "?" && (f.name == fieldDom.name || f.name == fieldDow.name)):
			lo, hi = f.min, f.max
			if f.name == fieldDow.name {
				hi = 6
			}
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a, expr); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = f.value(b, expr); err != nil {
					return 0, err
				}
				if hi < lo {
					return 0, fmt.Errorf("%s field %q: range %s goes backwards", f.name, expr, rng)
				}
			} else if hasStep {
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

// value parses one value of the field: a number in range or a name.
func (f cronField) value(s, expr string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		hint := ""
		if strings.ContainsAny(s, "LW#") {
			hint = " (L, W and # are not supported)"
		}
		return 0, fmt.Errorf("%s field %q: %q is not a number%s", f.name, expr, s, hint)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s field %q: %d is out of range %d-%d", f.name, expr, n, f.min, f.max)
	}
	return n, nil
}

// String returns the spec as given.
func (c *Cron) String() string { return c.spec }

// Location returns the time zone of the schedule.
func (c *Cron) Location() *time.Location { return c.loc }

// Next returns the schedule's first tick strictly after t, or the zero time when there is
// none within ten years. Ticks fall on whole seconds.
func (c *Cron) Next(t time.Time) time.Time {
	if c.every > 0 {
		e := int64(c.every / time.Second)
		s := t.Unix()
		n := (s/e + 1) * e
		if s < 0 && s%e != 0 {
			n = (s / e) * e
		}
		return time.Unix(n, 0).In(c.loc)
	}
	from := t.Truncate(time.Second).Add(time.Second) // the earliest candidate instant
	horizon := from.AddDate(10, 0, 0)
	local := from.In(c.loc)
	_, off := local.Zone()
	start, end := local.ZoneBounds()
	prevOff, hasPrev := off, false
	if !start.IsZero() {
		_, prevOff = start.Add(-time.Nanosecond).In(c.loc).Zone()
		hasPrev = true
	}
	// Walk the zone's periods of constant UTC offset, from the one holding t on. Within a
	// period wall-clock time and instants map one to one.
	for range 1000 {
		lo := from
		if hasPrev && start.After(lo) {
			lo = start
		}
		if hasPrev && !start.Before(from) && prevOff < off && !c.hourAll {
			// Clocks jumped forward at start: wall-clock times in the gap run at start.
			if _, ok := c.nextCivil(civil(start, prevOff), civil(start, off)); ok {
				return start.In(c.loc)
			}
		}
		lowCivil := civil(lo, off)
		if hasPrev && prevOff > off && !c.hourAll {
			// Clocks went back at start: wall-clock times up to the old offset's have
			// already occurred in the previous period.
			if seen := civil(start, prevOff); lowCivil.Before(seen) {
				lowCivil = seen
			}
		}
		highCivil := civil(horizon, off)
		if !end.IsZero() {
			highCivil = civil(end, off)
		}
		if m, ok := c.nextCivil(lowCivil, highCivil); ok {
			return time.Unix(m.Unix()-int64(off), 0).In(c.loc)
		}
		if end.IsZero() || end.After(horizon) {
			return time.Time{}
		}
		prevOff, hasPrev = off, true
		start = end
		next := end.In(c.loc)
		_, off = next.Zone()
		_, end = next.ZoneBounds()
	}
	return time.Time{}
}

// civil returns the wall-clock time of instant t at UTC offset off, as a UTC time.Time: a
// calendar without time zones.
func civil(t time.Time, off int) time.Time {
	return time.Unix(t.Unix()+int64(off), 0).UTC()
}

// nextCivil returns the first wall-clock time in [lo, hi) that matches the spec's fields.
func (c *Cron) nextCivil(lo, hi time.Time) (time.Time, bool) {
	t := lo
	for t.Before(hi) {
		y, mo, d := t.Date()
		if c.month&(1<<uint(mo)) == 0 {
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		h, mi, s := t.Clock()
		if c.hour&(1<<uint(h)) == 0 {
			if nh, ok := nextBit(c.hour, h); ok {
				t = time.Date(y, mo, d, nh, 0, 0, 0, time.UTC)
			} else {
				t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			}
			continue
		}
		if c.minute&(1<<uint(mi)) == 0 {
			if nm, ok := nextBit(c.minute, mi); ok {
				t = time.Date(y, mo, d, h, nm, 0, 0, time.UTC)
			} else {
				t = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
			}
			continue
		}
		if c.second&(1<<uint(s)) == 0 {
			if ns, ok := nextBit(c.second, s); ok {
				t = time.Date(y, mo, d, h, mi, ns, 0, time.UTC)
			} else {
				t = time.Date(y, mo, d, h, mi+1, 0, 0, time.UTC)
			}
			continue
		}
		return t, true
	}
	return time.Time{}, false
}

// nextBit returns the smallest set bit of set above v.
func nextBit(set uint64, v int) (int, bool) {
	rest := set >> uint(v+1)
	if rest == 0 {
		return 0, false
	}
	return v + 1 + bits.TrailingZeros64(rest), true
}

func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}
