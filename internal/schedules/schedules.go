// Package schedules reads Dominion's periodic jobs from a YAML file (DOMINION_SCHEDULES, or the
// schedules section of another config file) on top of the seed's defaults. The queue package
// runs them (queue.Scheduler); it knows nothing of YAML.
//
// The file is either a mapping with a "schedules" list (other top-level keys are ignored, so
// that the workflow config file may hold the schedules too) or the list itself:
//
//	schedules:
//	  - name: cleanup_old_workflows     # a default: only the fields given change
//	    spec: "0 3 * * *"
//	  - name: generate_weekly_report
//	    enabled: false
//	  - name: sync_crm                  # a new schedule
//	    spec: "*/10 * * * *"            # or "@every 10m", "@daily", six fields with seconds
//	    time_zone: Europe/Berlin        # default UTC
//	    queue: default                  # default "default"
//	    type: dominion.noop             # default: the name
//	    payload: {full: false}
//	    catch_up: true                  # default false
//	    max_retries: 5                  # default: the queue's (3)
//	    timeout: 10m
//	    priority: 2                     # -5 to 5, default 0
//	    deadline: 1h                    # each job must finish within 1h of its enqueue
//	    rate_key: crm                   # the queue's limits for key "crm" apply
//
// See docs/scheduling.md.
package schedules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// EnvFile names the environment variable that holds the path of the schedules file.
const EnvFile = "DOMINION_SCHEDULES"

// Defaults are the seed's schedules: cleanup_old_workflows(days=30) every day at 02:00 and
// generate_weekly_report() every Monday at 09:00, both UTC, on the default queue, catching up
// a tick missed while no scheduler ran.
func Defaults() []queue.Schedule {
	return []queue.Schedule{
		{Name: workflow.JobCleanup, Spec: "0 2 * * *", TimeZone: "UTC", Queue: queue.DefaultQueue,
			Type: workflow.JobCleanup, Payload: json.RawMessage(`{"days":30}`), CatchUp: true},
		{Name: workflow.JobReport, Spec: "0 9 * * 1", TimeZone: "UTC", Queue: queue.DefaultQueue,
			Type: workflow.JobReport, Payload: json.RawMessage(`{}`), CatchUp: true},
	}
}

// KnownTypes lists the job types Dominion's workers handle: the workflow service's and the
// built-in ones. A schedule of another type stops start-up.
func KnownTypes() []string {
	return []string{workflow.JobExecute, workflow.JobCleanup, workflow.JobReport, jobs.Noop, jobs.Sleep, jobs.Fail}
}

// Load returns the defaults with the schedules of the YAML file at path applied (just the
// defaults when path is empty). Errors name the file, the line and the schedule.
func Load(path string) ([]queue.Schedule, error) {
	if path == "" {
		return Defaults(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schedules file: %w", err)
	}
	out, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("schedules file %s: %w", path, err)
	}
	return out, nil
}

// fields are the keys a schedule entry may have.
var fields = []string{"name", "spec", "time_zone", "queue", "type", "payload", "enabled", "catch_up", "max_retries", "timeout",
	"priority", "deadline", "rate_key"}

type entry struct {
	Name       string    `yaml:"name"`
	Spec       *string   `yaml:"spec"`
	TimeZone   *string   `yaml:"time_zone"`
	Queue      *string   `yaml:"queue"`
	Type       *string   `yaml:"type"`
	Payload    yaml.Node `yaml:"payload"`
	Enabled    *bool     `yaml:"enabled"`
	CatchUp    *bool     `yaml:"catch_up"`
	MaxRetries *int      `yaml:"max_retries"`
	Timeout    *string   `yaml:"timeout"`
	Priority   *int      `yaml:"priority"`
	Deadline   *string   `yaml:"deadline"`
	RateKey    *string   `yaml:"rate_key"`
}

// Parse returns the defaults with the schedules of the YAML document data applied.
func Parse(data []byte) ([]queue.Schedule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := Defaults()
	if len(doc.Content) == 0 { // empty file
		return out, nil
	}
	list := doc.Content[0]
	if list.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
			if doc.Content[0].Content[i].Value == "schedules" {
				list = doc.Content[0].Content[i+1]
			}
		}
		if list == nil || list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
			return out, nil
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of schedules (or a mapping with a \"schedules\" list)", list.Line)
	}
	seen := map[string]int{}
	for _, n := range list.Content {
		s, line, err := parseEntry(n)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("line %d: schedule %q: defined twice (first at line %d)", line, s.Name, prev)
		}
		seen[s.Name] = line
		i := slices.IndexFunc(out, func(d queue.Schedule) bool { return d.Name == s.Name })
		if i < 0 {
			out = append(out, queue.Schedule{Name: s.Name, Queue: queue.DefaultQueue, TimeZone: "UTC", Type: s.Name})
			i = len(out) - 1
		}
		if err := apply(&out[i], s); err != nil {
			return nil, fmt.Errorf("line %d: schedule %q: %w", line, s.Name, err)
		}
	}
	return out, nil
}

func parseEntry(n *yaml.Node) (entry, int, error) {
	if n.Kind != yaml.MappingNode {
		return entry{}, n.Line, fmt.Errorf("line %d: a schedule must be a mapping (name: …, spec: …)", n.Line)
	}
	name := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			name = n.Content[i+1].Value
		}
	}
	if name == "" {
		return entry{}, n.Line, fmt.Errorf("line %d: schedule without a name", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(fields, k.Value) {
			return entry{}, k.Line, fmt.Errorf("line %d: schedule %q: unknown field %q (known: %s)", k.Line, name, k.Value, strings.Join(fields, ", "))
		}
	}
	var e entry
	if err := n.Decode(&e); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return entry{}, n.Line, fmt.Errorf("line %d: schedule %q: %s", n.Line, name, strings.Join(te.Errors, "; "))
		}
		return entry{}, n.Line, fmt.Errorf("line %d: schedule %q: %w", n.Line, name, err)
	}
	return e, n.Line, nil
}

// apply sets the fields e gives on s.
func apply(s *queue.Schedule, e entry) error {
	if e.Spec != nil {
		s.Spec = *e.Spec
	}
	if e.TimeZone != nil {
		s.TimeZone = *e.TimeZone
	}
	if e.Queue != nil {
		s.Queue = *e.Queue
	}
	if e.Type != nil {
		s.Type = *e.Type
	}
	if e.Enabled != nil {
		s.Disabled = !*e.Enabled
	}
	if e.CatchUp != nil {
		s.CatchUp = *e.CatchUp
	}
	if e.Payload.Kind != 0 {
		var v any
		if err := e.Payload.Decode(&v); err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("payload is not representable as JSON: %w", err)
		}
		s.Payload = raw
	}
	opts, err := jobOptions(e)
	if err != nil {
		return err
	}
	s.Options = append(s.Options, opts...)
	if s.Spec == "" {
		return errors.New("no spec (e.g. spec: \"0 2 * * *\")")
	}
	return nil
}

// jobOptions returns the job options e sets: max_retries, timeout, priority, deadline and
// rate_key.
func jobOptions(e entry) ([]queue.Option, error) {
	var opts []queue.Option
	if e.MaxRetries != nil {
		if *e.MaxRetries < 0 {
			return nil, fmt.Errorf("max_retries %d is negative", *e.MaxRetries)
		}
		opts = append(opts, queue.MaxRetries(*e.MaxRetries))
	}
	for _, d := range []struct {
		name string
		v    *string
		opt  func(time.Duration) queue.Option
	}{{"timeout", e.Timeout, queue.Timeout}, {"deadline", e.Deadline, queue.DeadlineIn}} {
		if d.v == nil {
			continue
		}
		v, err := time.ParseDuration(*d.v)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s %q is not a positive duration (e.g. 10m)", d.name, *d.v)
		}
		opts = append(opts, d.opt(v))
	}
	if p := e.Priority; p != nil {
		if *p < queue.MinPriority || *p > queue.MaxPriority {
			return nil, fmt.Errorf("priority %d is not from %d to %d", *p, queue.MinPriority, queue.MaxPriority)
		}
		opts = append(opts, queue.Priority(*p))
	}
	if e.RateKey != nil {
		if err := queue.CheckRateKey(*e.RateKey); err != nil {
			return nil, fmt.Errorf("rate_key %w", err)
		}
		opts = append(opts, queue.RateKey(*e.RateKey))
	}
	return opts, nil
}
