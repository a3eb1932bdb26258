package dashboard

import (
	"encoding/json"
	"maps"
	"strings"
)

// broadcast sends sample s to every live page. A full sample (the periodic refresh) carries
// every value; otherwise each page gets the values that changed since the last sample, and a
// page of one queue (subscriber.queue) that queue's only, or nothing when none of them changed.
// A page that missed a frame gets every value in its next. It returns the pages that list
// jobs (subscriber.rows) of a queue whose counts changed.
func (h *hub) broadcast(s sample, full bool) []*subscriber {
	for _, k := range []string{"rate.processed", "rate.failed"} { // computed once per chart point
		if v, ok := h.values[k]; ok && s.Point == nil && s.Error == "" {
			if _, ok := s.Values[k]; !ok {
				s.Values[k] = v
			}
		}
	}
	all := s.Values
	changed := all
	if !full && s.Error == "" {
		changed = map[string]any{}
		for k, v := range all {
			if old, ok := h.values[k]; !ok || old != v {
				changed[k] = v
			}
		}
	}
	if s.Error == "" {
		h.values = all
	}
	frames := &framer{s: s, all: all, changed: changed, full: full}

	h.mu.Lock()
	defer h.mu.Unlock()
	if s.Point != nil {
		h.history = append(h.history, *s.Point)
		if over := len(h.history) - h.d.cfg.History; over > 0 {
			h.history = append(h.history[:0:0], h.history[over:]...)
		}
	}
	h.last = frames
	var rows []*subscriber
	for sub := range h.subs {
		if msg := frames.get(sub.resync, sub.queue); msg != nil {
			sub.resync = !send(sub, msg)
			if sub.rows != nil && s.Error == "" && countsChanged(changed, sub.queue) {
				rows = append(rows, sub)
			}
		}
	}
	return rows
}

// framer builds the frames of one sample, each once however many pages get it. The poller
// uses it, then the pages that open later (hub.last) under hub.mu.
type framer struct {
	s            sample
	all, changed map[string]any
	full         bool
	cache        map[framerKey][]byte
}

type framerKey struct {
	every bool
	queue string
}

// get returns the frame for a page of queue q ("" for every queue), with every value or
// only those that changed; nil when there is nothing to send.
func (f *framer) get(every bool, q string) []byte {
	every = every || f.full
	key := framerKey{every, q}
	if b, ok := f.cache[key]; ok {
		return b
	}
	if f.cache == nil {
		f.cache = map[framerKey][]byte{}
	}
	vals := f.changed
	if every {
		vals = f.all
	}
	s := f.s
	if q != "" {
		prefix := "queue." + q + "."
		s.Point = nil
		s.Values = maps.Collect(func(yield func(string, any) bool) {
			for k, v := range vals {
				if strings.HasPrefix(k, prefix) && !yield(k, v) {
					return
				}
			}
		})
	} else {
		s.Values = vals
	}
	var frame []byte
	if every || s.Error != "" || len(s.Values) > 0 || s.Point != nil {
		b, _ := json.Marshal(s)
		frame = sseFrame("sample", b)
	}
	f.cache[key] = frame
	return frame
}

// countsChanged reports whether changed holds a count of queue q (not only the latency of
// its oldest job, which changes with time).
func countsChanged(changed map[string]any, q string) bool {
	prefix := "queue." + q + "."
	for k := range changed {
		if strings.HasPrefix(k, prefix) && k != prefix+"latency" {
			return true
		}
	}
	return false
}
