package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorderKeepsFirstStatusAndCountsBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		h      func(w http.ResponseWriter)
		status int
		bytes  int
	}{
		{"implicit 200", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, http.StatusOK, 5},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); _, _ = w.Write([]byte("ab")) }, http.StatusTeapot, 2},
		{"nothing written", func(http.ResponseWriter) {}, 0, 0},
	} {
		rec := NewRecorder(httptest.NewRecorder())
		tc.h(rec)
		if rec.Status != tc.status || rec.Bytes != tc.bytes {
			t.Errorf("%s: status %d bytes %d, want %d %d", tc.name, rec.Status, rec.Bytes, tc.status, tc.bytes)
		}
	}
}

func TestClipCutsOnARuneBoundary(t *testing.T) {
	t.Parallel()
	if got := Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := ""
	for range 40 {
		long += "é" // two bytes each: byte 64 is the start of a rune, 63 is not
	}
	got := ClipTo("x"+long, 64)
	if got != "x"+long[:62]+"…" {
		t.Errorf("ClipTo = %q", got)
	}
}
