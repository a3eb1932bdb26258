package queue

import (
	"strings"
	"testing"
	"time"
)

func TestLatestTick(t *testing.T) {
	t.Parallel()
	s := &Scheduler{}
	cases := []struct {
		spec, from, now, want string
	}{
		{"* * * * * *", "2026-03-01T00:00:01Z", "2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00Z"},
		{"0 2 * * *", "2026-03-01T02:00:00Z", "2026-03-09T01:59:59Z", "2026-03-08T02:00:00Z"},
		{"0 2 * * *", "2026-03-01T02:00:00Z", "2026-03-09T02:00:00Z", "2026-03-09T02:00:00Z"},
		{"@yearly", "2024-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"* 2 * * *", "2026-03-01T02:00:00Z", "2026-03-05T12:00:00Z", "2026-03-05T02:59:00Z"},
	}
	for _, c := range cases {
		e, err := compile(Schedule{Name: "x", Spec: c.spec, Type: "t"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		from, _ := time.Parse(time.RFC3339Nano, c.from)
		now, _ := time.Parse(time.RFC3339Nano, c.now)
		want, _ := time.Parse(time.RFC3339, c.want)
		if got := s.latestTick(e, from, now); !got.Equal(want) {
			t.Errorf("%s: latest tick from %s to %s = %s, want %s", c.spec, c.from, c.now, got, want)
		}
	}
}

func TestTickJobIDIsValid(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 3, 29, 3, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	id := TickJobID("cleanup_old_workflows", tick)
	if id != "cleanup_old_workflows:20260329T010000Z" {
		t.Fatalf("id = %s", id)
	}
	c := NewClient(nil)
	if _, err := c.build("t", nil, []Option{WithID(id)}); err != nil {
		t.Fatalf("tick job id refused: %v", err)
	}
}

func TestValidateSchedules(t *testing.T) {
	t.Parallel()
	ok := Schedule{Name: "ok", Spec: "@daily", Type: "t"}
	cases := []struct {
		s    []Schedule
		want string
	}{
		{[]Schedule{ok, ok}, `schedule "ok": defined twice`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *", Type: "t", TimeZone: "Local"}}, `schedule "a": time zone "Local" is not allowed`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *", Type: "t", TimeZone: "Europe/Atlantis"}}, `schedule "a": unknown time zone "Europe/Atlantis"`},
		{[]Schedule{{Name: "a", Spec: "0 2 * *", Type: "t"}}, `schedule "a": cron spec "0 2 * *": has 4 fields`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *", Type: "u"}}, `schedule "a": unknown job type "u" (known: t)`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *"}}, `schedule "a": no job type`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *", Type: "t", Payload: []byte("{")}}, `schedule "a": payload is not valid JSON`},
		{[]Schedule{{Name: "a:b", Spec: "0 2 * * *", Type: "t"}}, `schedule "a:b": bad name`},
		{[]Schedule{{Name: "a", Spec: "0 2 * * *", Type: "t", Queue: "a b"}}, `schedule "a": queue name "a b"`},
		{[]Schedule{{Spec: "0 2 * * *", Type: "t"}}, `schedule with an empty name`},
	}
	for _, c := range cases {
		err := ValidateSchedules(c.s, []string{"t"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c.s, err, c.want)
		}
	}
	if err := ValidateSchedules([]Schedule{ok}, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateSchedules([]Schedule{{Name: "any", Spec: "@hourly", Type: "whatever"}}, nil); err != nil {
		t.Fatalf("nil known types accept any type: %v", err)
	}
}
