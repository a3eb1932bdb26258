// Package httpx holds the small HTTP pieces that Dominion's servers share, so that each
// exists once: Recorder, the ResponseWriter that remembers a response's status and size (for
// the request log, the metrics and the traces), and Clip, which bounds the client's text that
// an error message quotes.
package httpx
