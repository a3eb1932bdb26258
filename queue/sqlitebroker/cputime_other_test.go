//go:build !unix

package sqlitebroker

import "time"

// cpuTime is not measured on this system: the benchmarks report 0 CPU time per job.
func cpuTime() time.Duration { return 0 }
