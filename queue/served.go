package queue

import "slices"

// Unserved returns the queues of qs that have pending jobs, are not paused and are served by
// none of the live workers ws: their jobs wait until a worker that serves them starts.
func Unserved(qs []QueueStats, ws []WorkerInfo) []QueueStats {
	var out []QueueStats
	for _, q := range qs {
		if q.Pending == 0 || q.Paused || Serves(ws, q.Name, "") {
			continue
		}
		out = append(out, q)
	}
	return out
}

// Serves reports whether one of the live workers ws serves queue q and, when typ is not
// empty, has a handler for jobs of type typ.
func Serves(ws []WorkerInfo, q, typ string) bool {
	for _, w := range ws {
		if slices.Contains(w.Queues, q) && (typ == "" || slices.Contains(w.Types, typ)) {
			return true
		}
	}
	return false
}
