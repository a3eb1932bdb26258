package queue

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestDownLogOneLineEachWay: many loops reporting many failed calls give one warning, the
// first success after them one line saying the broker is back; a late failure of a call
// begun before the return, or one right after it (a client's pool still answering with the
// outage's dial error), starts no new outage.
func TestDownLogOneLineEachWay(t *testing.T) {
	t.Parallel()
	var logs testenv.LogBuffer
	d := &downLog{log: logs.Logger(), down: "broker down", back: "broker back"}
	refused := errors.New("connection refused")

	d.report(time.Now(), nil) // answering from the start: nothing to say
	var wg sync.WaitGroup
	for range 4 { // fetch, heartbeat, completer…
		wg.Go(func() {
			for range 25 {
				d.report(time.Now(), refused, "call", "fetch")
			}
		})
	}
	wg.Wait()
	straddling := time.Now() // begun during the outage, answers after the return
	d.report(time.Now(), nil, "call", "heartbeat")
	d.report(straddling, refused, "call", "record job outcomes")
	d.report(time.Now(), refused, "call", "fetch") // within downSettle of the return
	d.report(time.Now(), nil, "call", "fetch")

	if down, back := logs.Count("broker down"), logs.Count("broker back"); down != 1 || back != 1 {
		t.Errorf("logged the outage %d times and the return %d times, want once each:\n%s", down, back, logs.String())
	}
	if logs.Count("connection refused") != 1 || logs.Count("after=") != 1 {
		t.Errorf("the down line should carry the error and the back line how long it lasted:\n%s", logs.String())
	}
}
