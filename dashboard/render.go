package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/queue"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the templates rendered inside the layout.
var pages = []string{
	"batch", "login", "error", "confirm", "overview", "queues", "jobs", "job", "workers",
	"schedules", "workflows", "workflow", "reports",
}

type templates struct {
	byName map[string]*template.Template
}

func loadTemplates(d *Dashboard) (*templates, error) {
	t := &templates{byName: map[string]*template.Template{}}
	base, err := template.New("layout.html").Funcs(d.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: templates: %w", err)
	}
	for _, name := range pages {
		c, err := base.Clone()
		if err == nil {
			_, err = c.ParseFS(templateFS, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		t.byName[name] = c
	}
	return t, nil
}

// view is what every page template gets: the page's own data in Page, and what the layout
// needs around it.
type view struct {
	Title        string
	Nav          string
	Prefix       string
	CSRF         string
	ReadOnly     bool
	Auth         bool // a token is configured: show "Log out"
	HasWorkflows bool
	HasSchedules bool
	Broker       string
	Flash        *flash
	// Live is the query string of the page's event stream ("" for no live updates).
	Live string
	Now  time.Time
	Page any
}

// CanAct reports whether actions are shown.
func (v *view) CanAct() bool { return !v.ReadOnly }

type flash struct {
	Kind    string // "ok" or "error"
	Message string
}

// render writes the page name with data, status 200 unless the handler wrote a status
// before.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	d.renderView(w, r, name, &view{Title: title, Page: data})
}

func (d *Dashboard) renderView(w http.ResponseWriter, r *http.Request, name string, v *view) {
	v.Prefix = d.prefix
	v.CSRF = d.csrfToken(w, r)
	v.ReadOnly = d.cfg.ReadOnly
	v.Auth = d.cfg.Token != "" && d.loggedIn(r)
	v.HasWorkflows = d.cfg.Workflows != nil
	v.HasSchedules = d.cfg.Schedules != nil
	v.Broker = d.redact(d.cfg.Broker)
	v.Now = time.Now()
	if v.Nav == "" {
		v.Nav = name
	}
	if c, err := r.Cookie(flashCookie); err == nil {
		if s, ok := d.keys.open("flash", c.Value); ok {
			kind, msg, _ := strings.Cut(s, "|")
			v.Flash = &flash{Kind: kind, Message: msg}
		}
		http.SetCookie(w, d.cookie(r, flashCookie, "", -1))
	}
	t := d.tmpl.byName[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		d.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// done redirects after a successful action, with a flash message saying what was done.
func (d *Dashboard) done(w http.ResponseWriter, r *http.Request, to, kind, msg string) {
	http.SetCookie(w, d.cookie(r, flashCookie, d.keys.seal("flash", kind+"|"+msg), 60))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// back is where an action returns to: the form's "back" field when it is a dashboard page,
// else fallback.
func (d *Dashboard) back(r *http.Request, fallback string) string {
	if b := r.PostFormValue("back"); b != "" {
		return safeNext(d.prefix, b)
	}
	return fallback
}

type errorPage struct {
	Status  int
	Heading string
	Message string
}

func (d *Dashboard) errorView(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	w.WriteHeader(status)
	d.renderView(w, r, "error", &view{Title: heading, Nav: "-", Page: &errorPage{Status: status, Heading: heading, Message: d.redact(msg)}})
}

func (d *Dashboard) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	d.errorView(w, r, http.StatusForbidden, "Not allowed", msg)
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	d.errorView(w, r, http.StatusNotFound, "Not found", msg)
}

func (d *Dashboard) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	d.errorView(w, r, http.StatusBadRequest, "Bad request", msg)
}

// failed shows that a source (the broker, the store) failed, with a generic message: the
// error's text may name database internals (SQL states, byte sequences) and belongs in the
// log, which gets it, secrets removed.
func (d *Dashboard) failed(w http.ResponseWriter, r *http.Request, what string, err error) {
	d.log.Error("dashboard: "+what, "err", d.redact(err.Error()), "path", r.URL.Path)
	d.errorView(w, r, http.StatusBadGateway, "Could not "+what, serverLogNotice)
}

// serverLogNotice is what a page says instead of a source's error.
const serverLogNotice = "The server could not do this just now. The details are in the server log."

// problem logs a source's error and returns the generic notice a page shows in its place.
func (d *Dashboard) problem(what string, err error) string {
	d.log.Error("dashboard: "+what, "err", d.redact(err.Error()))
	return "Could not " + what + ". The details are in the server log."
}

// confirmPage asks before a bulk or destructive action when the form did not say "confirm"
// (the script asks in a dialog and adds it; without the script this page asks instead).
type confirmPage struct {
	Question string
	Action   string
	Label    string
	Danger   bool
	Back     string
}

// confirmed reports whether the form carries confirm=yes; when it does not, it renders the
// confirmation page and returns false.
func (d *Dashboard) confirmed(w http.ResponseWriter, r *http.Request, question, label string, danger bool) bool {
	if r.PostFormValue("confirm") == "yes" {
		return true
	}
	d.renderView(w, r, "confirm", &view{Title: "Confirm", Nav: "-", Page: &confirmPage{
		Question: question, Action: r.URL.Path, Label: label, Danger: danger,
		Back: d.back(r, d.prefix+"/"),
	}})
	return false
}

// staticFiles serves the embedded static files with a content hash in their URL, so that
// browsers may cache them for good.
type staticFiles struct {
	files map[string]staticFile
}

type staticFile struct {
	body  []byte
	ctype string
	hash  string
}

func loadStatic() (staticFiles, error) {
	s := staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := map[string]string{
			".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
			".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
		}[path.Ext(p)]
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		s.files[path.Base(p)] = staticFile{body: b, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("dashboard: static files: %w", err)
	}
	return s, nil
}

func (d *Dashboard) staticURL(name string) string {
	f, ok := d.static.files[name]
	if !ok {
		panic("dashboard: no static file " + name)
	}
	return d.prefix + "/static/" + name + "?v=" + f.hash
}

func (d *Dashboard) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := d.static.files[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+f.hash+`"`)
	if r.Header.Get("If-None-Match") == `"`+f.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}

// buttonForm is an action button: a small POST form with the CSRF token, and a question
// asked first when Confirm is set.
type buttonForm struct {
	Action  string
	Label   string
	Class   string
	Confirm string
	CSRF    string
	Back    string
	Test    string // data-test attribute, for the browser tests and for users' scripts
}

func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"static": d.staticURL,
		"num":    formatInt,
		"ago":    ago,
		"dur":    formatDuration,
		"since":  func(t time.Time) string { return formatDuration(time.Since(t)) },
		"ts":     formatTime,
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"json":    prettyJSON,
		"preview": preview,
		"durOr": func(d time.Duration) string {
			if d <= 0 {
				return "—"
			}
			return formatDuration(d)
		},
		"pathesc":  url.PathEscape,
		"queryesc": url.QueryEscape,
		"states":   func() []queue.State { return queue.States },
		"count":    func(s queue.QueueStats, st queue.State) int64 { return s.Count(st) },
		"money":    formatMoney,
		"pct":      func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
		"fixed1":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"redact":   d.redact,
		// button makes an action form: view, path (after the prefix), label, CSS class,
		// confirmation question ("" for none), data-test name, and optionally the page to
		// return to.
		"button": func(v *view, action, label, class, confirm, test string, back ...string) buttonForm {
			b := buttonForm{Action: v.Prefix + action, Label: label, Class: class, Confirm: confirm, CSRF: v.CSRF, Test: test}
			if len(back) > 0 {
				b.Back = back[0]
			}
			return b
		},
		"add":    func(a, b int) int { return a + b },
		"plural": plural,
		"lower":  strings.ToLower,
		"join":   strings.Join,
		"retriable": func(st queue.State) bool {
			return st == queue.StateDead || st == queue.StateCanceled || st == queue.StateRetry || st == queue.StateScheduled
		},
		"cancelable": func(st queue.State) bool {
			return st == queue.StatePending || st == queue.StateScheduled || st == queue.StateRetry || st == queue.StateActive
		},
		"deletable": func(st queue.State) bool { return st != queue.StateActive },
	}
}

// formatInt writes n with thousands separators: 1,000,000.
func formatInt(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	case int32:
		v = int64(x)
	default:
		return fmt.Sprint(n)
	}
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func formatMoney(f float64) string {
	neg := f < 0
	f = math.Abs(f)
	whole := int64(f)
	cents := int64(math.Round((f - float64(whole)) * 100))
	if cents == 100 {
		whole, cents = whole+1, 0
	}
	s := "$" + formatInt(whole) + "." + fmt.Sprintf("%02d", cents)
	if neg {
		return "-" + s
	}
	return s
}

func plural(n any, one, many string) string {
	if fmt.Sprint(n) == "1" {
		return one
	}
	return many
}

// formatDuration rounds d for people: 850ms, 12.3s, 4m 05s, 3h 02m, 2d 4h.
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + formatDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return formatDuration(d) + " ago"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// prettyJSON indents a JSON document for display; text that is not JSON is shown as it is.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// preview is a one-line, shortened form of a JSON document, for lists.
func preview(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	s := buf.String()
	if len(s) > 90 {
		cut := 90
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
