package service_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// /api/openapi.json serves docs/openapi.json byte for byte (the binary embeds that one file),
// with the same token as every /api/ route.
func TestOpenAPIServedIsTheDocsCopy(t *testing.T) {
	t.Parallel()
	s := start(t, backend{name: "embedded"}, withoutWorker(), withToken("tok3n-openapi"))
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, got := s.do("GET", "/api/openapi.json", "", nil)
	if code != http.StatusOK || !bytes.Equal(got, want) {
		t.Errorf("GET /api/openapi.json: %d, %d bytes; docs/openapi.json has %d", code, len(got), len(want))
	}
	if code, _ := s.do("GET", "/api/openapi.json", "", []string{"Authorization", ""}); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
}
