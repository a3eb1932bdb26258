package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/dashboard"
)

// client is one browser talking to d directly, from the address remote.
type client struct {
	t       *testing.T
	d       *dashboard.Dashboard
	remote  string
	cookies map[string]*http.Cookie
}

func newClient(t *testing.T, d *dashboard.Dashboard, remote string) *client {
	return &client{t: t, d: d, remote: remote, cookies: map[string]*http.Cookie{}}
}

func (c *client) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, "http://localhost/dashboard"+path, strings.NewReader(form.Encode()))
	req.RemoteAddr = c.remote
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.d.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		c.cookies[ck.Name] = ck
	}
	return rec
}

// login posts token to the login form and returns the status.
func (c *client) login(token string) int {
	c.t.Helper()
	m := csrfInput.FindStringSubmatch(c.do(http.MethodGet, "/login", nil).Body.String())
	if m == nil {
		c.t.Fatal("no CSRF token on the login page")
	}
	return c.do(http.MethodPost, "/login", url.Values{"csrf": {m[1]}, "token": {token}}).Code
}

func (c *client) canSee() bool { return c.do(http.MethodGet, "/queues", nil).Code == http.StatusOK }

// TestSessionsRevocable: a session cookie stops working after logout (even replayed from
// elsewhere), after the token changes, and after a restart.
func TestSessionsRevocable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const token = "s3cret-token"
	newDash := func(tok string) *dashboard.Dashboard {
		d, err := dashboard.New(dashboard.Config{Queues: e.src, Logger: quiet, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	d := newDash(token)
	a := newClient(t, d, "10.0.0.1:5000")
	if code := a.login(token); code != http.StatusSeeOther || !a.canSee() {
		t.Fatalf("login: %d", code)
	}
	thief := newClient(t, d, "10.0.0.9:5000")
	thief.cookies["dominion_session"] = a.cookies["dominion_session"]
	if !thief.canSee() {
		t.Fatal("a copied session cookie does not work before logout")
	}
	m := csrfInput.FindStringSubmatch(a.do(http.MethodGet, "/queues", nil).Body.String())
	a.do(http.MethodPost, "/logout", url.Values{"csrf": {m[1]}})
	if thief.canSee() {
		t.Error("the session cookie still works after logout")
	}

	// A live session ends when the token changes, and when the process restarts.
	if a.login(token); !a.canSee() {
		t.Fatal("second login failed")
	}
	for name, other := range map[string]*dashboard.Dashboard{"new token": newDash("another-token"), "restart": newDash(token)} {
		c := newClient(t, other, "10.0.0.1:5000")
		c.cookies["dominion_session"] = a.cookies["dominion_session"]
		if c.canSee() {
			t.Errorf("%s: the old session cookie still works", name)
		}
	}
}

// TestLoginRateLimitPerClient: after ten failed logins one client gets 429, even with the
// right token, while the real user on another address logs in.
func TestLoginRateLimitPerClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const token = "s3cret-token"
	d, err := dashboard.New(dashboard.Config{Queues: e.src, Logger: quiet, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	attacker := newClient(t, d, "203.0.113.7:40000")
	for i := range 10 {
		if code := attacker.login("guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i+1, code)
		}
	}
	if code := attacker.login(token); code != http.StatusTooManyRequests {
		t.Errorf("11th attempt from the guessing client: status %d, want 429", code)
	}
	// The same address on another port is the same client.
	if code := newClient(t, d, "203.0.113.7:40001").login(token); code != http.StatusTooManyRequests {
		t.Errorf("same address, other port: status %d, want 429", code)
	}
	user := newClient(t, d, "198.51.100.20:51000")
	if code := user.login(token); code != http.StatusSeeOther || !user.canSee() {
		t.Errorf("the real user on another address: status %d, want 303 and a session", code)
	}
}
