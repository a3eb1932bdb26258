package envexpand_test

import (
	"testing"

	"github.com/codex-dominion/dominion/internal/envexpand"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"APP_URL": "http://127.0.0.1:5000", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct{ in, want, err string }{
		{in: "${APP_URL}/jobs/notify", want: "http://127.0.0.1:5000/jobs/notify"},
		{in: "a $5 $APP_URL", want: "a $5 $APP_URL"},
		{in: "a${EMPTY}b", err: `environment variable "EMPTY" is not set (or is empty)`},
		{in: "${APP_URL}${APP_URL}", want: "http://127.0.0.1:5000http://127.0.0.1:5000"},
		{in: "${NOPE}/x", err: `environment variable "NOPE" is not set (or is empty)`},
		{in: "${}", err: `environment variable "" is not set (or is empty)`},
		{in: "x${APP_URL", err: `unterminated ${ at byte 2 (no } after it)`},
		{in: "${APP_URL}/${APP_URL", err: `unterminated ${ at byte 12 (no } after it)`},
	} {
		got, err := envexpand.Expand(c.in, getenv)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Expand(%q): %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
