package queue

import "errors"

// noRetryError marks an error as permanent: the job goes to dead without further attempts.
type noRetryError struct{ err error }

func (e *noRetryError) Error() string { return e.err.Error() }
func (e *noRetryError) Unwrap() error { return e.err }

// NoRetry marks err as permanent: a handler that returns it sends its job straight to the dead
// state, whatever retries are left. NoRetry(nil) is nil.
func NoRetry(err error) error {
	if err == nil {
		return nil
	}
	return &noRetryError{err: err}
}

// IsNoRetry reports whether err, or an error it wraps, was marked with NoRetry.
func IsNoRetry(err error) bool {
	var nr *noRetryError
	return errors.As(err, &nr)
}
