package api

import (
	"errors"
	"net/http"

	"github.com/codex-dominion/dominion/queue"
)

// GET /api/batches/{id}: the batch's counts (queue.BatchStatus).
func (a *API) getBatch(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	s, err := a.queue.Batch(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, queue.ErrBatchNotFound):
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such batch"})
	case err != nil:
		a.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, s)
	}
}
