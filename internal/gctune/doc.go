// Package gctune keeps the Go garbage collector from running many times a second in a
// process whose live heap is small.
//
// The collector starts a cycle when the heap has grown by GOGC percent (100 by default) over
// what the previous cycle left live, and never below a 4 MB goal. A busy `dominion serve`
// keeps about 3 MB live and allocates about 10 KB per request: at 9,000 requests a second the
// collector runs some 40 times a second, for about a tenth of the process's CPU, whatever
// GOGC's 100 would cost in memory. A fixed higher GOGC fixes that, but multiplies the heap of
// a worker whose jobs keep hundreds of MB live.
//
// Start sets the collector's target after every cycle from the heap just left live, so that
// the heap goal is a floor (64 MB for dominion) while the live heap is small, and Go's own
// target (100) once the live heap is half the floor or more. It promises:
//   - the target never goes below 100 (never more collection than Go's default) nor above
//     the maximum given;
//   - the heap goal is at most the floor while the target is above 100, so the memory it
//     adds over Go's default is bounded by the floor;
//   - nothing runs between cycles: it is a finalizer that each cycle triggers.
//
// cmd/dominion starts it unless GOGC is set, which then means what Go says it does.
package gctune
