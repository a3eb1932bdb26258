package httpx

import (
	"net/http"
	"unicode/utf8"
)

// Recorder wraps a ResponseWriter and remembers the status and size of the response.
type Recorder struct {
	http.ResponseWriter
	// Status is the response's status: 0 until the handler writes, then the first
	// WriteHeader's code, or 200 when it wrote a body without one.
	Status int
	// Bytes is the number of body bytes written.
	Bytes int
}

// NewRecorder returns a Recorder writing to w.
func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader records code (the first one) and passes it on.
func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 and the size, and passes b on.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes of the
// dashboard's live stream, deadlines).
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Clip returns s cut to at most 64 bytes, on a rune boundary, with "…" when it was cut: how
// client input is quoted in an error message.
func Clip(s string) string { return ClipTo(s, 64) }

// ClipTo is Clip with a bound of n bytes.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
