package workflow

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/codex-dominion/dominion/internal/envexpand"
	"github.com/codex-dominion/dominion/internal/redact"
	"github.com/codex-dominion/dominion/internal/yamlfile"

	"go.yaml.in/yaml/v3"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/internal/notify"
)

// Step kinds built in.
const (
	KindHTTP  = "http"  // a request to a URL; 2xx is success
	KindEmail = "email" // a message sent through the SMTP server
	KindDelay = "delay" // waits (the seed's simulated work)
)

// Kinds returns the built-in step kinds, sorted.
func Kinds() []string { return []string{KindDelay, KindEmail, KindHTTP} }

// Defaults and bounds of step settings.
const (
	DefaultStepTimeout = 30 * time.Second
	MaxStepTimeout     = time.Hour
	MaxDelay           = 24 * time.Hour
	DefaultHTTPMethod  = "POST"
	DefaultSubject     = "Workflow {{.Type}} {{.WorkflowID}}: {{.Step.Name}}"
	DefaultBody        = "Workflow {{.WorkflowID}} ({{.Type}}) for agent {{.AgentID}} reached step {{.Step.Name}}.\n" +
		"Estimated savings: ${{printf \"%.2f\" .Savings.WeeklySavings}} a week ({{printf \"%.2f\" .Savings.WeeklyHoursSaved}} hours).\n"
	maxNameLen = 100
)

// StepSpec is one step of a workflow type. Name and Kind apply to every kind; the other
// fields to one kind each:
//
//   - http: URL (required), Method (default POST), Headers, Secret (signs the body with
//     HMAC-SHA256 in X-Dominion-Signature), Timeout (default 30 s).
//   - email: To (required), Subject and Body (text/template over the step data; defaults
//     DefaultSubject and DefaultBody), Timeout (default 30 s).
//   - delay: Duration (required), Timeout (default none).
//
// Needs and Retry apply to every kind (see Type for how steps are ordered).
type StepSpec struct {
	Name string // unique within its type; default <kind>_<position>
	Kind string // KindHTTP, KindEmail or KindDelay

	// Needs names the steps this one waits for. nil (no needs: in the YAML) means the step
	// before it in the list, as steps always ran; an empty list means none (the step starts
	// with the workflow).
	Needs []string
	// Retry, when Attempts is set, is how this step is retried when it fails: Attempts
	// tries, Backoff before the second, doubling after each (capped at MaxRetryBackoff);
	// after the last the workflow fails. Without it a failure goes to the queue, which
	// retries the step's job (Config.MaxRetries).
	Retry StepRetry

	URL     string
	Method  string
	Headers map[string]string
	Secret  string
	Timeout time.Duration

	To      []string
	Subject string
	Body    string

	Duration time.Duration
}

// StepRetry is a step's own retry policy (StepSpec.Retry).
type StepRetry struct {
	Attempts int           // tries in all, 1 to MaxRetryAttempts; 0: the queue's retries
	Backoff  time.Duration // wait before the second try (default DefaultRetryBackoff)
}

// Bounds and defaults of StepRetry.
const (
	MaxRetryAttempts    = 100
	DefaultRetryBackoff = time.Second
	MaxRetryBackoff     = time.Hour
)

// Type is a workflow type: a named list of steps, and the notifications sent when one of its
// workflows completes or fails. When no step has Needs, the steps run in order, one after
// the other, as one execute_workflow job. When one has, the type is a graph (Graph is
// true): each step runs as its own execute_workflow_step job once the steps it needs
// finished, so steps whose needs are met run at the same time on any workers.
type Type struct {
	Name        string
	Description string
	Steps       []StepSpec
	Notify      []NotifyRule
}

// Registry holds workflow types by name, and the channels the weekly report is sent on. It
// is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	types  map[string]Type
	report []notify.Channel
}

// SetReportChannels sets the channels each weekly report is sent on when it is generated
// (checked like a notify rule's channels).
func (r *Registry) SetReportChannels(chs []notify.Channel) error {
	chs = slices.Clone(chs)
	for j := range chs {
		if err := chs[j].Check(); err != nil {
			return fmt.Errorf("weekly_report notify: %w", &channelError{index: j, kind: chs[j].Kind, err: err})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report = chs
	return nil
}

// ReportChannels returns the channels the weekly report is sent on.
func (r *Registry) ReportChannels() []notify.Channel {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return cloneChannels(r.report)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]Type{}} }

//go:embed defaults.yaml
var defaultsYAML []byte

// DefaultsYAML returns the shipped default configuration (workflow/defaults.yaml).
func DefaultsYAML() []byte { return bytes.Clone(defaultsYAML) }

// DefaultTypes returns a new registry with the shipped default types (defaults.yaml,
// embedded): customer_followup, as in the seed.
func DefaultTypes() *Registry {
	r, err := ParseTypes("defaults.yaml", defaultsYAML, nil)
	if err != nil {
		panic("workflow: the embedded defaults.yaml is broken: " + err.Error())
	}
	return r
}

// LoadTypes reads workflow types from the YAML file at path (DOMINION_WORKFLOWS), ${VAR}
// looked up through getenv (see ParseTypes). Errors name the file, and the line where there
// is one.
func LoadTypes(path string, getenv func(string) string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workflow types: %w", err)
	}
	return ParseTypes(path, data, getenv)
}

// Add validates t, fills in its defaults (step names, http method, timeouts) and adds it. It
// fails if t is invalid or a type of that name exists.
func (r *Registry) Add(t Type) error {
	t, err := normalizeType(t)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types == nil {
		r.types = map[string]Type{}
	}
	if _, dup := r.types[t.Name]; dup {
		return fmt.Errorf("workflow type %q is already defined", t.Name)
	}
	r.types[t.Name] = t
	return nil
}

// Get returns the type called name.
func (r *Registry) Get(name string) (Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	if !ok {
		return Type{}, false
	}
	return cloneType(t), true
}

// steps returns the number of steps of the type called name, and whether there is one,
// without the copy Get makes (Submit asks it of every request).
func (r *Registry) steps(name string) (int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return len(t.Steps), ok
}

// hasGraph reports whether one of the types runs as a graph.
func (r *Registry) hasGraph() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, t := range r.types {
		if t.Graph() {
			return true
		}
	}
	return false
}

// Names returns the type names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List returns the types, sorted by name.
func (r *Registry) List() []Type {
	names := r.Names()
	out := make([]Type, 0, len(names))
	for _, n := range names {
		if t, ok := r.Get(n); ok {
			out = append(out, t)
		}
	}
	return out
}

func cloneChannels(chs []notify.Channel) []notify.Channel {
	chs = slices.Clone(chs)
	for i := range chs {
		chs[i].To = slices.Clone(chs[i].To)
	}
	return chs
}

func cloneType(t Type) Type {
	t.Notify = slices.Clone(t.Notify)
	for i := range t.Notify {
		t.Notify[i].On = slices.Clone(t.Notify[i].On)
		t.Notify[i].Channels = cloneChannels(t.Notify[i].Channels)
	}
	t.Steps = slices.Clone(t.Steps)
	for i := range t.Steps {
		t.Steps[i].To = slices.Clone(t.Steps[i].To)
		if t.Steps[i].Needs != nil {
			t.Steps[i].Needs = append([]string{}, t.Steps[i].Needs...)
		}
		if t.Steps[i].Headers != nil {
			h := make(map[string]string, len(t.Steps[i].Headers))
			for k, v := range t.Steps[i].Headers {
				h[k] = v
			}
			t.Steps[i].Headers = h
		}
	}
	return t
}

// normalizeType checks t and returns it with defaults filled in.
func normalizeType(t Type) (Type, error) {
	if err := checkName(t.Name); err != nil {
		return t, fmt.Errorf("workflow type name: %w", err)
	}
	if len(t.Steps) == 0 {
		return t, fmt.Errorf("workflow type %q has no steps", t.Name)
	}
	t = cloneType(t)
	seen := map[string]int{}
	for i := range t.Steps {
		s := &t.Steps[i]
		if err := normalizeStep(s, i); err != nil {
			return t, &stepError{typ: t.Name, index: i, name: s.Name, err: err}
		}
		if j, dup := seen[s.Name]; dup {
			return t, &stepError{typ: t.Name, index: i, name: s.Name,
				err: fmt.Errorf("the name is already used by step %d", j+1)}
		}
		seen[s.Name] = i
	}
	if err := checkNeeds(t); err != nil {
		return t, err
	}
	rules, err := checkRules(t.Notify)
	if err != nil {
		return t, fmt.Errorf("workflow type %q, %w", t.Name, err)
	}
	t.Notify = rules
	return t, nil
}

// stepError names the step a problem is in.
type stepError struct {
	typ   string
	index int
	name  string
	err   error
}

func (e *stepError) Error() string {
	name := ""
	if e.name != "" {
		name = fmt.Sprintf(" (%q)", e.name)
	}
	return fmt.Sprintf("workflow type %q, step %d%s: %v", e.typ, e.index+1, name, e.err)
}

func (e *stepError) Unwrap() error { return e.err }

func checkName(n string) error {
	if n == "" {
		return errors.New("empty name")
	}
	if len(n) > maxNameLen {
		return fmt.Errorf("name %q is longer than %d characters", httpx.ClipTo(n, 40), maxNameLen)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("name %q: use letters, digits, '_', '-' and '.'", httpx.ClipTo(n, 40))
		}
	}
	return nil
}

// normalizeStep checks s, the step at index i of its type, and fills in its defaults: its
// name, its timeout and those of its kind.
func normalizeStep(s *StepSpec, i int) error {
	if err := checkKind(s.Kind); err != nil {
		return err
	}
	if s.Name == "" {
		s.Name = fmt.Sprintf("%s_%d", s.Kind, i+1)
	}
	if err := checkName(s.Name); err != nil {
		return fmt.Errorf("step name: %w", err)
	}
	// A field of another kind is almost always a mistake (a misplaced line in the file).
	if stray := strayFields(s); len(stray) > 0 {
		return fmt.Errorf("%s step cannot have %s", s.Kind, strings.Join(stray, ", "))
	}
	if err := normalizeTimeout(s); err != nil {
		return err
	}
	if err := normalizeRetry(&s.Retry); err != nil {
		return err
	}
	return normalizeKindFields(s)
}

// checkKind fails unless kind is one of Kinds.
func checkKind(kind string) error {
	if kind == "" {
		return fmt.Errorf("kind is required (known: %s)", strings.Join(Kinds(), ", "))
	}
	if !slices.Contains(Kinds(), kind) {
		return fmt.Errorf("unknown kind %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	return nil
}

// strayFields returns the YAML names of the fields s sets that belong to another kind than
// its own, in the order StepSpec lists them.
func strayFields(s *StepSpec) []string {
	var stray []string
	if s.Kind != KindHTTP {
		stray = appendIf(stray, s.URL != "", "url")
		stray = appendIf(stray, s.Method != "", "method")
		stray = appendIf(stray, len(s.Headers) > 0, "headers")
		stray = appendIf(stray, s.Secret != "", "secret")
	}
	if s.Kind != KindEmail {
		stray = appendIf(stray, len(s.To) > 0, "to")
		stray = appendIf(stray, s.Subject != "", "subject")
		stray = appendIf(stray, s.Body != "", "body")
	}
	if s.Kind != KindDelay {
		stray = appendIf(stray, s.Duration != 0, "duration")
	}
	return stray
}

// appendIf returns names with name appended when set is true, else names unchanged.
func appendIf(names []string, set bool, name string) []string {
	if set {
		return append(names, name)
	}
	return names
}

// normalizeTimeout checks the timeout of s and defaults it to DefaultStepTimeout, except for
// a delay, which has no timeout unless given one.
func normalizeTimeout(s *StepSpec) error {
	switch {
	case s.Timeout < 0:
		return fmt.Errorf("timeout %s is negative", s.Timeout)
	case s.Timeout == 0 && s.Kind != KindDelay:
		s.Timeout = DefaultStepTimeout
	case s.Timeout > MaxStepTimeout:
		return fmt.Errorf("timeout %s is over the %s limit", s.Timeout, MaxStepTimeout)
	}
	return nil
}

// normalizeKindFields checks the fields of the kind of s and fills in their defaults.
func normalizeKindFields(s *StepSpec) error {
	switch s.Kind {
	case KindHTTP:
		return normalizeHTTP(s)
	case KindEmail:
		return normalizeEmail(s)
	case KindDelay:
		return checkDelay(s.Duration)
	}
	return nil
}

// checkDelay fails unless d, a delay step's duration, is positive and at most MaxDelay.
func checkDelay(d time.Duration) error {
	if d <= 0 {
		return errors.New("duration is required and must be positive (e.g. 2s)")
	}
	if d > MaxDelay {
		return fmt.Errorf("duration %s is over the %s limit", d, MaxDelay)
	}
	return nil
}

func normalizeRetry(r *StepRetry) error {
	switch {
	case r.Attempts == 0 && r.Backoff != 0:
		return errors.New("retry: backoff needs attempts")
	case r.Attempts == 0:
		return nil
	case r.Attempts < 0 || r.Attempts > MaxRetryAttempts:
		return fmt.Errorf("retry: attempts %d is not between 1 and %d", r.Attempts, MaxRetryAttempts)
	case r.Backoff < 0 || r.Backoff > MaxRetryBackoff:
		return fmt.Errorf("retry: backoff %s is not between 0 and %s", r.Backoff, MaxRetryBackoff)
	case r.Backoff == 0:
		r.Backoff = DefaultRetryBackoff
	}
	return nil
}

func normalizeHTTP(s *StepSpec) error {
	if s.URL == "" {
		return errors.New("url is required")
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q is not an absolute http or https URL", redact.URL(s.URL))
	}
	if s.Method == "" {
		s.Method = DefaultHTTPMethod
	}
	s.Method = strings.ToUpper(s.Method)
	if !isToken(s.Method) {
		return fmt.Errorf("method %q is not an HTTP method", s.Method)
	}
	for k, v := range s.Headers {
		if !isToken(k) {
			return fmt.Errorf("header name %q is not valid", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("header %s: value has a line break", k)
		}
	}
	return nil
}

func normalizeEmail(s *StepSpec) error {
	if len(s.To) == 0 {
		return errors.New("to is required: a list of addresses")
	}
	for _, a := range s.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("to: %q is not an email address", a)
		}
	}
	if s.Subject == "" {
		s.Subject = DefaultSubject
	}
	if s.Body == "" {
		s.Body = DefaultBody
	}
	if strings.ContainsAny(s.Subject, "\r\n") {
		return errors.New("subject has a line break")
	}
	if _, err := parseTemplate("subject", s.Subject); err != nil {
		return err
	}
	if _, err := parseTemplate("body", s.Body); err != nil {
		return err
	}
	return nil
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s template: %w", name, err)
	}
	return t, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

// The YAML file format (see docs/workflows.md).
type fileYAML struct {
	Workflows    []typeYAML `yaml:"workflows"`
	WeeklyReport *struct {
		Notify []notify.ChannelYAML `yaml:"notify"`
	} `yaml:"weekly_report"`
}

type typeYAML struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Steps       []stepYAML `yaml:"steps"`
	Notify      []ruleYAML `yaml:"notify"`
}

// ruleYAML is a notify rule; on is one event or a list of them.
type ruleYAML struct {
	On       yaml.Node            `yaml:"on"`
	Channels []notify.ChannelYAML `yaml:"channels"`
}

func (ry ruleYAML) rule(getenv func(string) string) (NotifyRule, error) {
	var r NotifyRule
	switch ry.On.Kind {
	case 0:
	case yaml.ScalarNode:
		r.On = []string{ry.On.Value}
	default:
		if err := ry.On.Decode(&r.On); err != nil {
			return r, errors.New("on must be an event or a list of events (completed, failed)")
		}
	}
	chs, err := channels(ry.Channels, getenv)
	r.Channels = chs
	return r, err
}

// channels reads the channels of a notify list.
func channels(ys []notify.ChannelYAML, getenv func(string) string) ([]notify.Channel, error) {
	var out []notify.Channel
	for j, cy := range ys {
		ch, err := cy.Channel(getenv)
		if err != nil {
			return nil, &channelError{index: j, kind: cy.Kind, err: err}
		}
		out = append(out, ch)
	}
	return out, nil
}

type stepYAML struct {
	Name     string            `yaml:"name"`
	Kind     string            `yaml:"kind"`
	Needs    *[]string         `yaml:"needs"`
	Retry    *retryYAML        `yaml:"retry"`
	URL      string            `yaml:"url"`
	Method   string            `yaml:"method"`
	Headers  map[string]string `yaml:"headers"`
	Secret   string            `yaml:"secret"`
	Timeout  string            `yaml:"timeout"`
	To       []string          `yaml:"to"`
	Subject  string            `yaml:"subject"`
	Body     string            `yaml:"body"`
	Duration string            `yaml:"duration"`
}

// ParseTypes reads workflow types from YAML data; name (a file name) starts every error.
// ${VAR} in url, headers, secret and to is replaced by getenv(VAR) (the environment, read at
// the edge of the program: config.Config.Getenv), which must not be empty; nil getenv has no
// variables.
func ParseTypes(name string, data []byte, getenv func(string) string) (*Registry, error) {
	p := typesParser{name: name, getenv: getenv}
	f, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	p.lines = nodeLines(data)
	reg := NewRegistry()
	for i, ty := range f.Workflows {
		if err := p.addType(reg, i, ty); err != nil {
			return nil, err
		}
	}
	if f.WeeklyReport != nil {
		if err := p.setReport(reg, f.WeeklyReport.Notify); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// typesParser reads the workflow types of one YAML file (ParseTypes). Each of its methods
// returns errors ready for the caller: starting with the file's name, and the line where
// there is one.
type typesParser struct {
	name   string              // the file's name
	getenv func(string) string // looks ${VAR} up; nil has no variables
	lines  yamlLines           // where each item is in the file (set once it is decoded)
}

// fail returns err prefixed with the file's name, and with line when it is known (over 0).
func (p *typesParser) fail(line int, err error) error {
	if line > 0 {
		return fmt.Errorf("workflow types %s: line %d: %w", p.name, line, err)
	}
	return fmt.Errorf("workflow types %s: %w", p.name, err)
}

// decode reads data, which must be one YAML document with no unknown fields and a
// non-empty workflows: list.
func (p *typesParser) decode(data []byte) (fileYAML, error) {
	var f fileYAML
	if err := yamlfile.Decode(data, &f, "a workflows: list"); err != nil {
		return f, p.fail(0, err)
	}
	if len(f.Workflows) == 0 {
		return f, p.fail(0, errors.New("no workflow types defined (a workflows: list is needed)"))
	}
	return f, nil
}

// addType reads ty, the workflow type at index i of the file (its steps, then its notify
// rules), and adds it to reg.
func (p *typesParser) addType(reg *Registry, i int, ty typeYAML) error {
	t := Type{Name: ty.Name, Description: strings.TrimSpace(ty.Description)}
	var err error
	if t.Steps, err = p.steps(i, ty); err != nil {
		return err
	}
	if t.Notify, err = p.rules(i, ty); err != nil {
		return err
	}
	if err := reg.Add(t); err != nil {
		return p.fail(p.addErrorLine(i, err), err)
	}
	return nil
}

// steps reads the steps of ty, the workflow type at index i of the file.
func (p *typesParser) steps(i int, ty typeYAML) ([]StepSpec, error) {
	var out []StepSpec
	for j, sy := range ty.Steps {
		st, err := sy.spec(p.getenv)
		if err != nil {
			return nil, p.fail(p.lines.step(i, j), &stepError{typ: ty.Name, index: j, name: sy.Name, err: err})
		}
		out = append(out, st)
	}
	return out, nil
}

// rules reads and checks the notify rules of ty, the workflow type at index i of the file.
func (p *typesParser) rules(i int, ty typeYAML) ([]NotifyRule, error) {
	var out []NotifyRule
	for j, ry := range ty.Notify {
		r, err := ry.rule(p.getenv)
		if err == nil {
			err = checkRule(&r)
		}
		if err != nil {
			return nil, p.fail(p.lines.rule(i, j), fmt.Errorf("workflow type %q, %w", ty.Name, &ruleError{index: j, err: err}))
		}
		out = append(out, r)
	}
	return out, nil
}

// addErrorLine returns the line of the problem Registry.Add found in the workflow type at
// index i: that of the step or notify rule it is in, else that of the type.
func (p *typesParser) addErrorLine(i int, err error) int {
	var se *stepError
	var re *ruleError
	switch {
	case errors.As(err, &se):
		return p.lines.step(i, se.index)
	case errors.As(err, &re):
		return p.lines.rule(i, re.index)
	}
	return p.lines.workflow(i)
}

// setReport reads the weekly_report notify channels ys and sets them on reg.
func (p *typesParser) setReport(reg *Registry, ys []notify.ChannelYAML) error {
	chs, err := channels(ys, p.getenv)
	if err == nil {
		err = reg.SetReportChannels(chs)
	} else {
		err = fmt.Errorf("weekly_report notify: %w", err)
	}
	if err != nil {
		return p.fail(p.lines.report, err)
	}
	return nil
}

type retryYAML struct {
	Attempts int    `yaml:"attempts"`
	Backoff  string `yaml:"backoff"`
}

func (sy stepYAML) spec(getenv func(string) string) (StepSpec, error) {
	st := StepSpec{Name: sy.Name, Kind: sy.Kind, Method: sy.Method, Subject: sy.Subject, Body: sy.Body}
	if sy.Needs != nil {
		st.Needs = append([]string{}, *sy.Needs...)
	}
	var err error
	if sy.Retry != nil {
		if sy.Retry.Attempts == 0 {
			return st, errors.New("retry: attempts is required (1 to " + fmt.Sprint(MaxRetryAttempts) + ")")
		}
		st.Retry.Attempts = sy.Retry.Attempts
		if st.Retry.Backoff, err = parseDuration("retry: backoff", sy.Retry.Backoff); err != nil {
			return st, err
		}
	}
	if st.URL, err = expandEnv(getenv, "url", sy.URL); err != nil {
		return st, err
	}
	if st.Secret, err = expandEnv(getenv, "secret", sy.Secret); err != nil {
		return st, err
	}
	if len(sy.Headers) > 0 {
		st.Headers = make(map[string]string, len(sy.Headers))
		for k, v := range sy.Headers {
			if st.Headers[k], err = expandEnv(getenv, "header "+k, v); err != nil {
				return st, err
			}
		}
	}
	for _, a := range sy.To {
		a, err := expandEnv(getenv, "to", a)
		if err != nil {
			return st, err
		}
		st.To = append(st.To, a)
	}
	if st.Timeout, err = parseDuration("timeout", sy.Timeout); err != nil {
		return st, err
	}
	if st.Duration, err = parseDuration("duration", sy.Duration); err != nil {
		return st, err
	}
	return st, nil
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration like 2s, 500ms or 1m30s", field, s)
	}
	return d, nil
}

// expandEnv replaces ${VAR} in the field by getenv(VAR); an unset or empty variable is an
// error (a secret silently left empty would turn signing off).
func expandEnv(getenv func(string) string, field, s string) (string, error) {
	v, err := envexpand.Expand(s, getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return v, nil
}

// yamlLines finds the line of each workflow and step in the file, for error messages.
type yamlLines struct {
	workflows []int
	steps     [][]int
	rules     [][]int
	report    int
}

func nodeLines(data []byte) yamlLines {
	var doc yaml.Node
	var l yamlLines
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return l
	}
	if r := mapValue(doc.Content[0], "weekly_report"); r != nil {
		l.report = r.Line
	}
	wf := mapValue(doc.Content[0], "workflows")
	if wf == nil || wf.Kind != yaml.SequenceNode {
		return l
	}
	for _, t := range wf.Content {
		l.workflows = append(l.workflows, t.Line)
		l.steps = append(l.steps, itemLines(mapValue(t, "steps")))
		l.rules = append(l.rules, itemLines(mapValue(t, "notify")))
	}
	return l
}

// itemLines returns the line of each item of a sequence node.
func itemLines(n *yaml.Node) []int {
	var out []int
	if n != nil && n.Kind == yaml.SequenceNode {
		for _, it := range n.Content {
			out = append(out, it.Line)
		}
	}
	return out
}

func (l yamlLines) rule(i, j int) int {
	if i < len(l.rules) && j < len(l.rules[i]) {
		return l.rules[i][j]
	}
	return l.workflow(i)
}

func (l yamlLines) workflow(i int) int {
	if i < len(l.workflows) {
		return l.workflows[i]
	}
	return 0
}

func (l yamlLines) step(i, j int) int {
	if i < len(l.steps) && j < len(l.steps[i]) {
		return l.steps[i][j]
	}
	return l.workflow(i)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
