package store

import (
	"fmt"

	"github.com/google/uuid"
)

// newID returns a time-ordered UUIDv7 string for workflows created without an id.
func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return u.String(), nil
}
