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

// unavailableError marks an error as the unavailability of a dependency.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as caused by a dependency that cannot be reached for now (a database
// or service the handler needs: connection refused or reset, server shutting down or starting
// up), not by the job itself. The attempt then does not count: the job waits in the retry
// state with its attempt given back, no error recorded and the queue's counters unchanged,
// and runs again after a delay that grows while the dependency stays unavailable (see
// WorkerConfig.MaxUnavailableDelay). An outage, however long, never sends a job to dead.
// NoRetry takes precedence over Unavailable; a canceled job is canceled regardless.
// Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err, or an error it wraps, was marked with Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}
