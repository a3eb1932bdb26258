package yamlfile

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type file struct {
	Queues map[string]int `yaml:"queues"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data, want string
	}{
		{"valid", "queues:\n  a: 1\n", ""},
		{"empty", "", "the file is empty: it must have a queues: map"},
		{"only a comment", "# nothing\n", "the file is empty: it must have a queues: map"},
		{"unknown field", "queues:\n  a: 1\nqueus: {}\n", "line 3: field queus not found in type yamlfile.file"},
		{"wrong type", "queues:\n  a: many\n", "line 2: cannot unmarshal !!str `many` into int"},
		{"two documents", "queues: {}\n---\nqueues: {}\n", "line 2: more than one YAML document: keep everything in one"},
		{"not YAML", "queues: [\n", "line 1: did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f file
			err := Decode([]byte(tc.data), &f, "a queues: map")
			if tc.want == "" {
				if err != nil || f.Queues["a"] != 1 {
					t.Fatalf("Decode = %+v, %v", f, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "yaml:") {
				t.Fatalf("Decode(%q) = %v, want %q without the library's prefix", tc.data, err, tc.want)
			}
		})
	}
}

// TestDecodeKeepsTheLibrarysError: a caller can still tell what kind of YAML error it was.
func TestDecodeKeepsTheLibrarysError(t *testing.T) {
	t.Parallel()
	var f file
	err := Decode([]byte("queues:\n  a: many\n"), &f, "a queues: map")
	if _, ok := errors.AsType[*yaml.TypeError](err); !ok {
		t.Fatalf("Decode = %v (%T), want it to wrap a *yaml.TypeError", err, err)
	}
}
