package queue

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rate is N starts per Per: "100/s", "5/m", "1/h", "10/500ms" in text (MarshalText).
type Rate struct {
	N   int
	Per time.Duration
}

// IsZero reports whether the rate sets no limit.
func (r Rate) IsZero() bool { return r.N == 0 }

// Interval is the time between two starts at the steady rate, rounded up to the nanosecond so
// that N intervals are never shorter than Per.
func (r Rate) Interval() time.Duration {
	return (r.Per + time.Duration(r.N) - 1) / time.Duration(r.N)
}

// String returns the rate as ParseRate reads it.
func (r Rate) String() string {
	if r.N == 0 {
		return ""
	}
	per := r.Per.String()
	switch r.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	}
	return strconv.Itoa(r.N) + "/" + per
}

// MarshalText writes the rate as String does.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a rate as ParseRate does.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Bounds of a limit, so that a typing error cannot ask for something absurd.
const (
	MaxLimitN      = 1_000_000 // of a rate's N, a burst and a concurrency
	MinRatePeriod  = time.Millisecond
	MaxRatePeriod  = 24 * time.Hour
	MaxLimitRules  = 100 // key prefixes plus types of one queue
	MaxRateKeySize = 200
)

// ParseRate reads "N/unit" where unit is s, m, h or a Go duration ("500ms", "10s"); "" is no
// limit.
func ParseRate(s string) (Rate, error) {
	if s == "" {
		return Rate{}, nil
	}
	ns, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n <= 0 || n > MaxLimitN {
		return Rate{}, fmt.Errorf("rate %q: want N/unit with 1 <= N <= %d, as in 100/s, 5/m, 10/500ms", s, MaxLimitN)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		per, err = time.ParseDuration(unit)
		if err != nil {
			return Rate{}, fmt.Errorf("rate %q: unit %q is not s, m, h or a duration", s, unit)
		}
	}
	if per < MinRatePeriod || per > MaxRatePeriod {
		return Rate{}, fmt.Errorf("rate %q: the period must be between %s and %s", s, MinRatePeriod, MaxRatePeriod)
	}
	if per/time.Duration(n) < time.Microsecond {
		return Rate{}, fmt.Errorf("rate %q: more than one start per microsecond", s)
	}
	return Rate{N: n, Per: per}, nil
}

// Limit bounds how fast and how many jobs start. The zero Limit limits nothing.
type Limit struct {
	// Rate is how many jobs may start per period, shared by every worker (zero: no limit).
	// The starts are spread evenly: one every Rate.Interval().
	Rate Rate `json:"rate,omitzero" yaml:"rate"`
	// Burst is how many more may start at once after a quiet spell: at most
	// Rate.N + Burst start in any window of one period.
	Burst int `json:"burst,omitempty" yaml:"burst"`
	// Concurrency is how many may run at once across every worker (zero: no limit; 1 makes
	// them exclusive).
	Concurrency int `json:"concurrency,omitempty" yaml:"concurrency"`
}

// IsZero reports whether l limits nothing.
func (l Limit) IsZero() bool { return l.Rate.IsZero() && l.Concurrency == 0 }

// String describes l as the command line reads it: "rate 100/s burst 10 concurrency 3".
func (l Limit) String() string {
	var parts []string
	if !l.Rate.IsZero() {
		parts = append(parts, "rate "+l.Rate.String())
		if l.Burst > 0 {
			parts = append(parts, "burst "+strconv.Itoa(l.Burst))
		}
	}
	if l.Concurrency > 0 {
		parts = append(parts, "concurrency "+strconv.Itoa(l.Concurrency))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// Check says what is wrong with l, or returns nil.
func (l Limit) Check() error {
	switch {
	case l.Rate.N < 0 || l.Rate.N > MaxLimitN:
		return fmt.Errorf("rate %d is not between 0 and %d", l.Rate.N, MaxLimitN)
	case l.Rate.N > 0 && (l.Rate.Per < MinRatePeriod || l.Rate.Per > MaxRatePeriod):
		return fmt.Errorf("rate period %s is not between %s and %s", l.Rate.Per, MinRatePeriod, MaxRatePeriod)
	case l.Burst < 0 || l.Burst > MaxLimitN:
		return fmt.Errorf("burst %d is not between 0 and %d", l.Burst, MaxLimitN)
	case l.Burst > 0 && l.Rate.N == 0:
		return fmt.Errorf("burst %d without a rate", l.Burst)
	case l.Concurrency < 0 || l.Concurrency > MaxLimitN:
		return fmt.Errorf("concurrency %d is not between 0 and %d", l.Concurrency, MaxLimitN)
	}
	return nil
}

// RateState is a rate limiter's state between starts (see Limit.Admit); the zero RateState is
// that of a limiter never used.
type RateState struct {
	// TAT is the theoretical arrival time of the next start: its slot.
	TAT time.Time
	// Starts counts the starts of the current period of Rate.N starts (with no burst), Late is
	// the most one of them came after its slot; both are zero with a burst.
	Starts int
	Late   time.Duration
	// Until is when the state stops mattering: a limiter whose state has passed it starts
	// afresh, as if never used, so a broker may drop it then.
	Until time.Time
}

// Admit applies the rate limit to one start, given s, the limiter's state. It returns when
// the start is allowed (now, or later when over the limit) and the state after that start.
//
// With a burst it is the generic cell rate algorithm (GCRA): the next slot is one interval
// after the previous one, and a start may come up to Burst intervals before its slot.
//
// With no burst a start comes at its slot or later, and the next slot is one interval after
// this one, not after the start: a worker that comes late (it takes a few milliseconds to wake
// and reach the broker) loses no time at each start. Lateness is repaid once per period
// instead: after the Rate.N starts of a period, the next slot moves on by the most any of them
// came after its slot, so each start comes at least one period after the start Rate.N before
// it, and no window of one period holds more than Rate.N starts. A start one interval or more
// after its slot (a quiet spell) begins a new period at itself.
func (l Limit) Admit(s RateState, now time.Time) (at time.Time, next RateState) {
	t := l.Rate.Interval()
	at = now
	if l.Burst > 0 {
		if early := s.TAT.Add(-time.Duration(l.Burst) * t); early.After(now) {
			at = early
		}
		tat := s.TAT
		if tat.Before(at) {
			tat = at
		}
		tat = tat.Add(t)
		return at, RateState{TAT: tat, Until: tat.Add(t)}
	}
	if s.TAT.After(now) {
		at = s.TAT
	}
	if s.TAT.IsZero() || at.Sub(s.TAT) >= t {
		s = RateState{TAT: at}
	}
	next = RateState{TAT: s.TAT.Add(t), Starts: s.Starts + 1, Late: max(s.Late, at.Sub(s.TAT))}
	if next.Starts >= l.Rate.N {
		next = RateState{TAT: next.TAT.Add(next.Late)}
	}
	next.Until = next.TAT.Add(t)
	return at, next
}

// QueueLimits are the limits of one queue, stored in the broker (Broker.SetLimits) so that
// every worker applies them. A job's key is its RateKey; each key has its own count, under
// the limit of its job's type (Types) if there is one, else of the longest prefix of Keys it
// starts with ("" matches every key). A type limit applies to every job of the type: the jobs
// of the type without a key are counted together (see CountKey). Any other job without a key
// is bounded by Queue only.
type QueueLimits struct {
	Queue Limit            `json:"queue,omitzero" yaml:",inline"`
	Keys  map[string]Limit `json:"keys,omitempty" yaml:"keys"`
	Types map[string]Limit `json:"types,omitempty" yaml:"types"`
}

// IsZero reports whether the queue has no limit.
func (l QueueLimits) IsZero() bool { return l.Queue.IsZero() && len(l.Keys) == 0 && len(l.Types) == 0 }

// Check says what is wrong with l, or returns nil.
func (l QueueLimits) Check() error {
	if err := l.Queue.Check(); err != nil {
		return err
	}
	if len(l.Keys)+len(l.Types) > MaxLimitRules {
		return fmt.Errorf("%d key and type limits: at most %d", len(l.Keys)+len(l.Types), MaxLimitRules)
	}
	for p, k := range l.Keys {
		if err := CheckRateKey(p); err != nil {
			return fmt.Errorf("key prefix: %w", err)
		}
		if err := k.Check(); err != nil {
			return fmt.Errorf("key prefix %q: %w", p, err)
		}
	}
	for typ, k := range l.Types {
		if typ == "" || len(typ) > MaxRateKeySize || !validName(typ) {
			return fmt.Errorf("type %q: use 1 to %d letters, digits, '.', '_', '-' or ':'", typ, MaxRateKeySize)
		}
		if err := k.Check(); err != nil {
			return fmt.Errorf("type %q: %w", typ, err)
		}
	}
	return nil
}

// ForKey returns the limit, beyond the queue's, of a job of type typ with rate key key, and
// whether there is one; the job counts under CountKey(typ, key).
func (l QueueLimits) ForKey(typ, key string) (Limit, bool) {
	if k, ok := l.Types[typ]; ok {
		return k, true
	}
	if key == "" {
		return Limit{}, false
	}
	best, found := "", false
	for p := range l.Keys {
		if strings.HasPrefix(key, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	return l.Keys[best], found
}

// CountKey is what a job of type typ with rate key key counts under, for its key's or type's
// limit: its key, or "@" and its type when it has none ('@' is in no rate key, so the two never
// meet).
func CountKey(typ, key string) string {
	if key == "" {
		return "@" + typ
	}
	return key
}

// String describes the limits on one line: "rate 100/s; key customer: concurrency 1".
func (l QueueLimits) String() string {
	if l.IsZero() {
		return "none"
	}
	var parts []string
	if !l.Queue.IsZero() {
		parts = append(parts, l.Queue.String())
	}
	for _, p := range slices.Sorted(maps.Keys(l.Keys)) {
		parts = append(parts, fmt.Sprintf("key %q %s", p, l.Keys[p]))
	}
	for _, t := range slices.Sorted(maps.Keys(l.Types)) {
		parts = append(parts, fmt.Sprintf("type %s %s", t, l.Types[t]))
	}
	return strings.Join(parts, "; ")
}

// CheckRateKey says what is wrong with a job's rate key or a key prefix ("" is allowed): at
// most MaxRateKeySize letters, digits, '.', '_', '-' or ':'.
func CheckRateKey(k string) error {
	if len(k) > MaxRateKeySize || !validName(k) {
		return fmt.Errorf("%q: use at most %d letters, digits, '.', '_', '-' or ':'", k, MaxRateKeySize)
	}
	return nil
}

// RateKey puts the job under the limits its queue sets for key (see QueueLimits): a customer
// ID, for instance, so that each customer's jobs are limited on their own.
func RateKey(key string) Option { return func(j *Job) { j.RateKey = key } }

// Gate decides, job by job in queue order, which pending jobs of a limited queue may start
// now. It is for brokers that decide in Go (sqlitebroker, jobtest); fill it with the queue's
// state, call Admit for each candidate, then store TAT and the KeyTAT entries in Changed.
type Gate struct {
	Limits QueueLimits
	Now    time.Time
	// Running counts the queue's active jobs, KeyRunning those of each CountKey.
	Running    int
	KeyRunning map[string]int
	// TAT is the queue's rate limiter state, KeyTAT each CountKey's (see Limit.Admit).
	TAT    RateState
	KeyTAT map[string]RateState
	// Changed lists the keys whose KeyTAT Admit moved.
	Changed []string
	// Slot is the soonest time a job held back by a rate may start (zero: none).
	Slot time.Time
}

// Admit reports whether a job of type typ and rate key key may start now, and counts it if
// so. stop reports that the queue as a whole is at its limit: no later job may start in this
// fetch either.
func (g *Gate) Admit(typ, key string) (ok, stop bool) {
	q := g.Limits.Queue
	if q.Concurrency > 0 && g.Running >= q.Concurrency {
		return false, true
	}
	var tat RateState
	if !q.Rate.IsZero() {
		var at time.Time
		if at, tat = q.Admit(g.TAT, g.Now); at.After(g.Now) {
			g.hold(at)
			return false, true
		}
	}
	if k, limited := g.Limits.ForKey(typ, key); limited && !g.admitKey(k, CountKey(typ, key)) {
		return false, false
	}
	if !q.Rate.IsZero() {
		g.TAT = tat
	}
	g.Running++
	return true, false
}

// admitKey applies key's limit k, counting the start when it is allowed.
func (g *Gate) admitKey(k Limit, key string) bool {
	if k.Concurrency > 0 && g.KeyRunning[key] >= k.Concurrency {
		return false
	}
	if !k.Rate.IsZero() {
		at, tat := k.Admit(g.KeyTAT[key], g.Now)
		if at.After(g.Now) {
			g.hold(at)
			return false
		}
		g.KeyTAT[key] = tat
		g.Changed = append(g.Changed, key)
	}
	g.KeyRunning[key]++
	return true
}

func (g *Gate) hold(at time.Time) {
	if g.Slot.IsZero() || at.Before(g.Slot) {
		g.Slot = at
	}
}
