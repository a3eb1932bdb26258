// Package smtpmail owns sending a plain-text message through the configured SMTP server, for
// the workflows' email steps and the email notifications alike: the server's configuration
// (Config, whose password is never printed), the message's format (RFC 5322, UTF-8, CRLF),
// STARTTLS when offered, PLAIN authentication only when a username is set, and which
// failures are permanent (a 5xx answer: queue.NoRetry) and which are worth retrying.
package smtpmail
