package httpjobs

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/webhook"
	"github.com/codex-dominion/dominion/internal/yamlfile"

	"github.com/codex-dominion/dominion/internal/envexpand"
)

// EnvFile names the environment variable that holds the path of the handler file.
const EnvFile = "DOMINION_HANDLERS"

// Endpoint is one job type served by an HTTP endpoint.
type Endpoint struct {
	// Type is the job type.
	Type string
	// URL receives the POST (http or https); ${VAR} in the file's url is the environment
	// variable VAR.
	URL string
	// Timeout bounds one request (DefaultTimeout when the file gives none); the job's own
	// timeout, when shorter, wins.
	Timeout time.Duration
	// Headers are added to every request (they cannot replace Dominion's own).
	Headers map[string]string
	// Secret, when set, signs every request. It is never logged or shown.
	Secret string
}

// The handler file:
//
//	handlers:
//	  - type: send_invoice                        # the job type
//	    url: https://billing.internal/jobs/invoice  # ${VAR}: the environment variable VAR
//	    timeout: 30s                              # default 30s
//	    headers: {X-Team: billing}
//	    secret_env: BILLING_HMAC_SECRET           # or secret_file: /run/secrets/billing
type fileYAML struct {
	Handlers []endpointYAML `yaml:"handlers"`
}

type endpointYAML struct {
	Type       string            `yaml:"type"`
	URL        string            `yaml:"url"`
	Timeout    string            `yaml:"timeout"`
	Headers    map[string]string `yaml:"headers"`
	SecretEnv  string            `yaml:"secret_env"`
	SecretFile string            `yaml:"secret_file"`
}

// Handlers are the endpoints of a handler file.
type Handlers struct {
	Endpoints []Endpoint
}

// Load reads the handler file at path (nil and no error when path is empty). getenv looks up
// the secret_env variables (os.Getenv at the edge of the program).
func Load(path string, getenv func(string) string) (*Handlers, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("handler file: %w", err)
	}
	eps, err := Parse(data, getenv, os.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("handler file %s: %w", path, err)
	}
	return &Handlers{Endpoints: eps}, nil
}

// Parse reads a handler file's YAML. Every problem is an error naming the handler; a secret
// never appears in one.
func Parse(data []byte, getenv func(string) string, readFile func(string) ([]byte, error)) ([]Endpoint, error) {
	var f fileYAML
	if err := yamlfile.Decode(data, &f, "a handlers: list"); err != nil {
		return nil, err
	}
	if len(f.Handlers) == 0 {
		return nil, errors.New("no handlers defined (a handlers: list is needed)")
	}
	var errs []error
	var out []Endpoint
	for i, h := range f.Handlers {
		ep, err := h.endpoint(getenv, readFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("handler %d (%s): %w", i+1, h.Type, err))
			continue
		}
		if slices.ContainsFunc(out, func(o Endpoint) bool { return o.Type == ep.Type }) {
			errs = append(errs, fmt.Errorf("handler %d (%s): the type is defined twice", i+1, h.Type))
			continue
		}
		out = append(out, ep)
	}
	return out, errors.Join(errs...)
}

func (h endpointYAML) endpoint(getenv func(string) string, readFile func(string) ([]byte, error)) (Endpoint, error) {
	ep := Endpoint{Type: strings.TrimSpace(h.Type), Timeout: DefaultTimeout, Headers: h.Headers}
	if ep.Type == "" {
		return ep, errors.New("type is required")
	}
	// ${VAR} in the URL, as in the workflow types file: where the endpoint listens is known
	// when the process starts (APP_URL=http://app:5000).
	var err error
	ep.URL, err = envexpand.Expand(strings.TrimSpace(h.URL), getenv)
	if err != nil {
		return ep, fmt.Errorf("url: %w", err)
	}
	u, err := url.Parse(ep.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ep, fmt.Errorf("url %q is not an http:// or https:// URL", webhook.SafeURL(ep.URL))
	}
	if h.Timeout != "" {
		if ep.Timeout, err = time.ParseDuration(h.Timeout); err != nil || ep.Timeout <= 0 {
			return ep, fmt.Errorf("timeout %q is not a positive duration like 30s", h.Timeout)
		}
	}
	for k, v := range h.Headers {
		if k == "" || strings.ContainsAny(k+v, "\r\n") || http.CanonicalHeaderKey(k) == "" {
			return ep, fmt.Errorf("header %q is not a valid header", k)
		}
	}
	ep.Secret, err = secret(h, getenv, readFile)
	return ep, err
}

// secret reads the handler's secret from its environment variable or file (at most one).
func secret(h endpointYAML, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case h.SecretEnv != "" && h.SecretFile != "":
		return "", errors.New("give secret_env or secret_file, not both")
	case h.SecretEnv != "":
		s := strings.TrimSpace(getenv(h.SecretEnv))
		if s == "" {
			return "", fmt.Errorf("secret_env %s is not set (an empty secret would turn signing off)", h.SecretEnv)
		}
		return s, nil
	case h.SecretFile != "":
		b, err := readFile(h.SecretFile)
		if err != nil {
			return "", fmt.Errorf("secret_file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("secret_file %s is empty", h.SecretFile)
		}
		return s, nil
	}
	return "", nil
}

// Types returns the job types of the endpoints (none when h is nil).
func (h *Handlers) Types() []string {
	if h == nil {
		return nil
	}
	out := make([]string, len(h.Endpoints))
	for i, ep := range h.Endpoints {
		out[i] = ep.Type
	}
	return out
}
