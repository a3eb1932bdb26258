// Package notify owns the notification channels: what each one is (Channel: webhook, email,
// sms, slack), how it is written in a YAML file (ChannelYAML, its secrets given as ${VAR} or
// read from a *_file) and checked, and how one message is sent on it (Sender.Send), once per
// call: retries, backoff and dead letters are the queue's (package workflow enqueues each
// notification as a dominion.notify job).
//
// Every request carries the caller's idempotency key (the Idempotency-Key header; the
// Message-ID of an email), the same on every attempt of one notification, so a receiver can
// drop a repeat: a worker killed after the send and before its job is acknowledged sends
// again. Secrets (the webhook signing secret, the SMS provider's auth token, the Slack
// webhook URL) are never printed: a Channel prints and logs as Describe, and errors show a
// webhook's URL without user info and query, a Slack URL as its host only.
package notify
