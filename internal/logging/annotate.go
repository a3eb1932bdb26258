package logging

import (
	"context"
	"log/slog"
	"sync"
)

// A requestNote holds what the handlers of one request add to its log line (Annotate) until
// Requests writes the line.
type requestNote struct {
	mu      sync.Mutex
	attrs   []slog.Attr
	written bool
}

type requestNoteKey struct{}

// Annotate adds attrs to the log line of the request ctx belongs to, and reports whether it
// did: true while a handler under Requests serves that request. A component that logs an
// event of a request (the workflow it accepted) calls Annotate first and logs a line of its
// own only when it returns false, so that a request makes one line, not one per component:
// on a busy embedded API, each line costs a write to stderr.
func Annotate(ctx context.Context, attrs ...slog.Attr) bool {
	n, ok := ctx.Value(requestNoteKey{}).(*requestNote)
	if !ok {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.written { // a goroutine that outlived its request: the line is gone
		return false
	}
	n.attrs = append(n.attrs, attrs...)
	return true
}

// withNote returns ctx with a new note for Annotate.
func withNote(ctx context.Context) (context.Context, *requestNote) {
	n := &requestNote{}
	return context.WithValue(ctx, requestNoteKey{}, n), n
}

// take returns the attributes annotated and stops further annotations.
func (n *requestNote) take() []slog.Attr {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.written = true
	return n.attrs
}
