//go:build !unix

package main

import "time"

// processCPU is not measured on this OS: the meter reports no CPU per job.
func processCPU() time.Duration { return -1 }
