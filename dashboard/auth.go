package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookie names. Every cookie is HttpOnly, SameSite=Strict and limited to the dashboard's path.
const (
	sessionCookie = "dominion_session"
	csrfCookie    = "dominion_csrf"
	flashCookie   = "dominion_flash"
	csrfField     = "csrf"
)

// keys holds the HMAC key that signs sessions, CSRF tokens and flash messages.
type keys struct {
	mac []byte
}

// newKeys derives the signing key from the configured secret: from the login token when
// there is one (so every dashboard process with the same token accepts the same sessions, and
// changing the token logs everybody out), otherwise a random key for this process.
func newKeys(secret string) keys {
	if secret == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return keys{mac: k}
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("dominion dashboard signing key v1"))
	return keys{mac: h.Sum(nil)}
}

func (k keys) sign(purpose, value string) string {
	h := hmac.New(sha256.New, k.mac)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// verify reports, in constant time, whether mac is sign(purpose, value).
func (k keys) verify(purpose, value, mac string) bool {
	want := k.sign(purpose, value)
	return hmac.Equal([]byte(want), []byte(mac))
}

// sealed is value.mac, value base64url-encoded.
func (k keys) seal(purpose, value string) string {
	enc := base64.RawURLEncoding.EncodeToString([]byte(value))
	return enc + "." + k.sign(purpose, enc)
}

func (k keys) open(purpose, sealed string) (string, bool) {
	enc, mac, ok := strings.Cut(sealed, ".")
	if !ok || !k.verify(purpose, enc, mac) {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookie makes a dashboard cookie: HttpOnly, SameSite=Strict, Secure when the request came
// over TLS (directly or through a proxy that says so).
func (d *Dashboard) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: d.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
}

// loggedIn reports whether r carries the cookie of a live session (see sessions).
func (d *Dashboard) loggedIn(r *http.Request) bool {
	if d.cfg.Token == "" {
		return true
	}
	id, ok := d.sessionID(r)
	return ok && d.sessions.valid(id, time.Now())
}

// sessionID returns the session id r's cookie names, when its seal is intact.
func (d *Dashboard) sessionID(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	return d.keys.open("session", c.Value)
}

// csrfAnchor returns the browser's CSRF cookie value, setting a new one when there is none.
func (d *Dashboard) csrfAnchor(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(w, d.cookie(r, csrfCookie, v, 0))
	// Later reads in this request see the new value.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return v
}

// csrfToken is the token every form of this browser carries: the HMAC of its CSRF cookie,
// which a page of another site can neither read nor forge.
func (d *Dashboard) csrfToken(w http.ResponseWriter, r *http.Request) string {
	return d.keys.sign("csrf", d.csrfAnchor(w, r))
}

// checkCSRF verifies a state-changing request: the form's token must match this browser's
// CSRF cookie (compared in constant time), and a request that says where it comes from must
// come from this host (as the request names it, or as a reverse proxy in front says it was
// named: X-Forwarded-Host).
func (d *Dashboard) checkCSRF(r *http.Request) bool {
	if !sameOrigin(r, false) {
		return false
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return d.keys.verify("csrf", c.Value, r.PostFormValue(csrfField))
}

// sameOrigin reports whether a request that says where it comes from comes from this host (as
// the request names it, or as a reverse proxy in front says it was named: X-Forwarded-Host)
// and not from another site; strict refuses another origin of the same site too
// (Sec-Fetch-Site same-site: a sibling subdomain) and an opaque origin ("null").
func sameOrigin(r *http.Request, strict bool) bool {
	o := r.Header.Get("Origin")
	if o == "null" && strict {
		return false
	}
	if o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || (u.Host != r.Host && u.Host != r.Header.Get("X-Forwarded-Host")) {
			return false
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site":
		return false
	case "same-site":
		return !strict
	}
	return true
}

// tokenMatches compares a login attempt with the configured token in constant time (both
// hashed first, so that not even the length leaks).
func (d *Dashboard) tokenMatches(given string) bool {
	a := sha256.Sum256([]byte(given))
	b := sha256.Sum256([]byte(d.cfg.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// handleLogin shows the login form (GET) or checks the token and sets the session (POST).
func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Token == "" {
		http.Redirect(w, r, d.prefix+"/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	next := safeNext(d.prefix, r.FormValue("next"))
	data := &loginPage{Next: next}
	if r.Method == http.MethodPost {
		now := time.Now()
		switch {
		case !d.checkCSRF(r):
			d.forbidden(w, r, "The form expired or did not come from this dashboard. Reload the page and try again.")
			return
		case !d.login.allowed(clientKey(r), now):
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			data.Error = "Too many failed attempts. Wait a minute and try again."
		case !d.tokenMatches(r.PostFormValue("token")):
			d.login.failed(clientKey(r), now)
			d.log.Warn("dashboard login failed", "remote", r.RemoteAddr)
			w.WriteHeader(http.StatusUnauthorized)
			data.Error = "That token is not right."
		default:
			id := randomToken()
			d.sessions.add(id, now.Add(d.cfg.SessionTTL), now)
			http.SetCookie(w, d.cookie(r, sessionCookie, d.keys.seal("session", id), int(d.cfg.SessionTTL.Seconds())))
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	d.render(w, r, "login", "Log in", data)
}

func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !d.checkCSRF(r) {
		d.forbidden(w, r, "The form expired or did not come from this dashboard. Reload the page and try again.")
		return
	}
	if id, ok := d.sessionID(r); ok {
		d.sessions.remove(id)
	}
	http.SetCookie(w, d.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, d.prefix+"/login", http.StatusSeeOther)
}

type loginPage struct {
	Next  string
	Error string
}

// safeNext keeps a redirect target inside the dashboard.
func safeNext(prefix, next string) string {
	if next == "" || !strings.HasPrefix(next, prefix+"/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") {
		return prefix + "/"
	}
	return next
}
