package envexpand

import (
	"fmt"
	"strings"
)

// Expand replaces each ${VAR} in s by getenv(VAR) (os.Getenv at the edge of the program). It
// fails on an unterminated ${ and on a variable that is unset or empty (getenv nil: every
// variable is). Its errors name the variable or the position, never quote s: the text
// around the variables may be a secret (a URL's password, a token).
func Expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	at := 0 // where s starts in the caller's string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			// Not quoted: the text may be a secret written in place (secret: "pa${ss").
			return "", fmt.Errorf("unterminated ${ at byte %d (no } after it)", at+i+1) // counting from 1
		}
		name := s[i+2 : i+j]
		var v string
		if getenv != nil && name != "" {
			v = getenv(name)
		}
		if v == "" {
			return "", fmt.Errorf("environment variable %q is not set (or is empty)", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s, at = s[i+j+1:], at+i+j+1
	}
}
