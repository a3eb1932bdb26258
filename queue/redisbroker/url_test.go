package redisbroker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseSentinelURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw                    string
		addrs                  []string
		master, user, password string
		db                     int
		sentinelUser, sentPass string
	}{
		{raw: "redis-sentinel://10.0.0.1:26379,10.0.0.2:26380,10.0.0.3/mymaster",
			addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380", "10.0.0.3:26379"}, master: "mymaster"},
		{raw: "redis-sentinel://:pw@s1/m?db=3", addrs: []string{"s1:26379"}, master: "m", password: "pw", db: 3},
		{raw: "redis-sentinel://app:p%40ss%2Fw@[::1]:5000,[::2]/queue%20master?sentinel_username=sen&sentinel_password=spw",
			addrs: []string{"[::1]:5000", "[::2]:26379"}, master: "queue master", user: "app", password: "p@ss/w",
			sentinelUser: "sen", sentPass: "spw"},
		{raw: "REDIS-SENTINEL://h:1/m", addrs: []string{"h:1"}, master: "m"},
	} {
		target, err := parseURL(tc.raw)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.raw, err)
			continue
		}
		f := target.failover
		if f == nil || !slices.Equal(f.SentinelAddrs, tc.addrs) || f.MasterName != tc.master || f.Username != tc.user ||
			f.Password != tc.password || f.DB != tc.db || f.SentinelUsername != tc.sentinelUser || f.SentinelPassword != tc.sentPass {
			t.Errorf("parseURL(%q) = %+v", tc.raw, f)
		}
	}
}

// TestURLErrors: every malformed URL is refused with a reason that never quotes the
// password.
func TestURLErrors(t *testing.T) {
	t.Parallel()
	const pw = "Secret-pw1"
	for raw, want := range map[string]string{
		pw + "@host:6379":                                      "not a URL",
		"http://:" + pw + "@host":                              `unsupported scheme "http"`,
		"redis://:" + pw + "@host:port/0":                      "malformed URL",
		"redis-sentinel://:" + pw + "@h1:26379,h2:26379":       "needs the master's name",
		"redis-sentinel://:" + pw + "@h1/m/2":                  "the master's name alone",
		"redis-sentinel://:" + pw + "@h1:x/m":                  "host 1 of 1: the port is not a number",
		"redis-sentinel://:" + pw + "@h1,,h3/m":                "host 2 of 3: want host:port",
		"redis-sentinel://user:" + pw + ",h2/m":                "host 1 of 2: the port is not a number",
		"redis-sentinel://:" + pw + "@h1:1:2/m":                "host 1 of 1: want host:port",
		"redis-sentinel://:" + pw + "@h1:99999/m":              "not a number from 1 to 65535",
		"redis-sentinel://:" + pw + "@h1/m?db=x":               `db="x" is not a database number`,
		"redis-sentinel://:" + pw + "@h1/m?password=" + pw:     `unknown parameter "password"`,
		"redis-sentinel://:" + pw + "@h1/m#frag":               "fragment",
		"redis-sentinel://:" + pw + "%zz@h1/m":                 "malformed user or password",
		"redis-cluster://:" + pw + "@h1:7000,h2:7001/0":        "has no path",
		"redis-cluster://:" + pw + "@h1:7000,h2:7001?db=1":     `unknown parameter "db": this URL takes none`,
		"redis-cluster://:" + pw + "@h1:7000,h2:notaport/":     "host 2 of 2: the port is not a number",
		"redis-sentinel://:" + pw + "@h1/m?sentinel_password=": "", // valid: an empty sentinel password
	} {
		err := CheckURL(raw)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", raw, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckURL(%q) = %v, want an error containing %q", raw, err, want)
		case err != nil && strings.Contains(err.Error(), pw):
			t.Errorf("CheckURL(%q): the error shows the password: %v", raw, err)
		}
		if _, err := Open(context.Background(), raw, Options{Lazy: true}); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%q): the error shows the password: %v", raw, err)
		}
	}
	// Open refuses to wait for replicas on a cluster before dialing anything.
	_, err := Open(context.Background(), "redis-cluster://:"+pw+"@127.0.0.1:1,127.0.0.1:2", Options{WaitReplicas: 1})
	if !errors.Is(err, ErrClusterWait) || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "127.0.0.1:1,127.0.0.1:2") {
		t.Errorf("Open(a cluster URL, WaitReplicas 1) = %v", err)
	}
}

func TestParseClusterURL(t *testing.T) {
	t.Parallel()
	target, err := parseURL("redis-cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002")
	if err != nil {
		t.Fatal(err)
	}
	c := target.cluster
	if c == nil || !slices.Equal(c.Addrs, []string{"10.0.0.1:7000", "10.0.0.2:6379", "[::1]:7002"}) || c.Username != "app" || c.Password != "p@ss" {
		t.Errorf("parseURL(a cluster URL) = %+v", c)
	}
}
