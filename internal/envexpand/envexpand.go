package envexpand

import (
	"fmt"
	"strings"
)

// Expand replaces each ${VAR} in s by getenv(VAR) (os.Getenv at the edge of the program). It
// fails on an unterminated ${ and on a variable that is unset or empty (getenv nil: every
// variable is).
func Expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
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
		s = s[i+j+1:]
	}
}
