// Package redact keeps secrets out of everything Dominion prints: logs, errors, the
// dashboard, `info`. It is the one place that knows what a secret looks like in a
// connection string (a URL's password, also in the several-host URLs of Sentinel and
// Cluster, and one whose '/', '?' or '#' was left unescaped; the password=, sslpassword= and
// sentinel_password= parameters; libpq's keyword/value form) and how to remove secrets from
// text and from errors without losing the error chain (errors.Is and errors.As still see the
// wrapped error).
//
// Every secret is replaced by the same placeholder, "xxxxx".
package redact
