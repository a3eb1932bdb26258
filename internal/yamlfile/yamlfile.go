package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode decodes the one YAML document of data into v, strictly (yaml's KnownFields). An
// empty file is an error that says it must have top, the file's top-level key ("a queues:
// map"). A second document is an error naming its line: everything belongs in one.
func Decode(data []byte, v any, top string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the file is empty: it must have %s", top)
		}
		return &Error{err: err}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return &Error{Line: more.Line, err: errors.New("more than one YAML document: keep everything in one")}
	}
	return nil
}

// Error is a YAML file's problem as Decode reports it.
type Error struct {
	// Line is the line the problem is on, when Decode knows it apart from the message (0:
	// the message says it, or it has none).
	Line int
	err  error
}

func (e *Error) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "yaml: ")
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, msg)
	}
	return msg
}

// Unwrap returns the YAML library's error.
func (e *Error) Unwrap() error { return e.err }
