package store

import (
	"fmt"

	"github.com/google/uuid"
)

// NewID returns a time-ordered UUIDv7 string, as the store gives a workflow created without
// an id.
func NewID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return u.String(), nil
}
