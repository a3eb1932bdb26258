package envexpand_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/envexpand"
)

// secretMark ends the text FuzzExpand puts before the fuzzed one: a secret written in place
// (url: https://user:pw@host/${PATH}), which no error may quote.
const secretMark = "Qz9"

// reference is the doc's rule as a regular expression: ${ up to the first }.
var reference = regexp.MustCompile(`\$\{([^}]*)\}`)

// referenceExpand expands s as the package doc says, by regular expression: each ${VAR} is
// replaced by env[VAR] (once: a value is not expanded again), a lone $ stays, and an unset or
// empty VAR or a ${ with no } after it makes s invalid.
func referenceExpand(s string, env map[string]string) (string, bool) {
	ok := true
	out := reference.ReplaceAllStringFunc(s, func(m string) string {
		v := env[m[2:len(m)-1]]
		ok = ok && v != ""
		return v
	})
	// A ${ outside every ${…} is unterminated ("\x00" keeps $ and { of two sides apart).
	return out, ok && !strings.Contains(reference.ReplaceAllString(s, "\x00"), "${")
}

// FuzzExpand checks Expand against referenceExpand, the rules of the package doc, on any
// text and any value of a variable: same result, or an error for both; and an error never
// quotes the text around the ${…} (a secret may be written there), only the variable's name.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"${APP_URL}/jobs/notify", "a $5 $APP_URL", "a${EMPTY}b", "${V}${V}", "${NOPE}/x",
		"${}", "x${APP_URL", "$${V}}", "${A${V}}", "${V}${", "{${V}}$"} {
		f.Add("https://user:pw@", s, "http://127.0.0.1:5000")
	}
	f.Add("", "${V}", "${V}")
	f.Fuzz(func(t *testing.T, secret, s, value string) {
		if strings.Contains(secret, "$") || strings.Contains(s, secretMark) {
			t.Skip("the text before s holds no ${, the mark is the secret's alone")
		}
		env := map[string]string{"APP_URL": "http://127.0.0.1:5000", "EMPTY": "", "V": value}
		in := secret + secretMark + s
		got, err := envexpand.Expand(in, func(k string) string { return env[k] })
		want, ok := referenceExpand(in, env)
		switch {
		case ok && (err != nil || got != want):
			t.Fatalf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		case !ok && err == nil:
			t.Fatalf("Expand(%q) = %q; want an error", in, got)
		case err != nil && strings.Contains(err.Error(), secretMark):
			t.Fatalf("Expand(%q): the error quotes the text around the variables: %v", in, err)
		}
	})
}
