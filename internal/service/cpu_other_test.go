//go:build !unix

package service_test

// cpuSeconds is not measured off Unix: the CPU columns of BenchmarkTelemetryCost read 0.
func cpuSeconds() float64 { return 0 }
