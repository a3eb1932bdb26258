// Package webhook owns the rules that every request Dominion sends to a user's endpoint
// follows, for the workflows' http steps, the HTTP job handlers and the webhook, Slack and SMS
// notifications alike: the signature of its
// body (Sign), how the answer's status becomes the attempt's outcome (Outcome), and how its URL
// and errors are shown without the credentials they may hold (SafeURL, UnwrapURLError).
package webhook
