// Package httpguard is the HTTP middleware that every Dominion server puts in front of its
// API and dashboard: it answers only to the host names it is configured for (so that DNS
// rebinding cannot turn a browser against a server on 127.0.0.1), refuses state-changing
// requests that a browser made for another site (Sec-Fetch-Site, Origin), and refuses query
// strings and paths that are not clean UTF-8 text (a NUL byte, a control character, invalid
// UTF-8, a ';' separator or a malformed %-escape) with a 400 that names the parameter.
//
// The read-only probes /healthz, /readyz and /metrics are exempt from the host check, so
// that orchestrators and Prometheus can reach them by any name.
//
// It also owns the rule for listen addresses: without authentication a server listens on
// loopback only, unless the operator opts out explicitly (CheckListen).
//
// Refusals under /api/, /healthz and /readyz are the API's JSON error
// {"error":{"code","message","field"}}; others are plain text.
package httpguard
