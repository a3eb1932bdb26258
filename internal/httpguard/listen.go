package httpguard

import (
	"fmt"
	"net"
	"strings"
)

// CheckListen applies the rule for listen addresses: a server without authentication
// listens on loopback only (127.0.0.1, ::1, localhost); a wider address needs
// authenticated (a token) or allowInsecure (the operator's explicit, logged opt-out). It
// reports whether addr is loopback only.
func CheckListen(addr string, authenticated, allowInsecure bool) (loopback bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", addr, err)
	}
	loopback = strings.EqualFold(host, "localhost")
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	if loopback || authenticated || allowInsecure {
		return loopback, nil
	}
	return false, fmt.Errorf("refusing to listen on %s without authentication: anyone who can reach it could "+
		"change queues and workflows; set DOMINION_API_TOKEN (or DOMINION_DASHBOARD_TOKEN for 'dominion dashboard'), "+
		"listen on 127.0.0.1, or opt out with DOMINION_ALLOW_INSECURE=1 / --insecure-listen", addr)
}
