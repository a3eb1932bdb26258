// Command dominion is Dominion's one binary: worker, enqueue, info, jobs, queues, bench, …
// Run `dominion help` for the list of commands.
//
// Configuration comes from the environment (read once, here, by package config) and from each
// command's flags. Exit codes: 0 success, 1 failure at run time, 2 wrong usage.
package main

//go:generate go test . -run ^TestConfigurationDoc$ -update

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/gctune"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx: commands stop gracefully (a worker finishes or
	// requeues its jobs, bench removes its queues). A second one kills the process at once,
	// as the signal's default action. os.Interrupt and syscall.SIGTERM exist on every OS
	// Dominion builds for, Windows included.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dominion: configuration: %v\n", err)
		os.Exit(exitUsage)
	}
	tuneGC(cfg)
	routeRedisClientLog(cfg.Logger(cfg.Redactor().Writer(os.Stderr), cfg.LogLevel))
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, cfg))
}

// The collector's tuning (internal/gctune) unless the environment sets GOGC: a heap goal of
// at least heapFloor while the live heap is small, with a target of at most maxGCPercent. A
// busy `dominion serve` keeps about 3 MB live; at Go's default target the collector ran some
// 40 times a second (docs/BENCHMARKS.md, issue 14, session 13).
const (
	heapFloor    = 64 << 20
	maxGCPercent = 400
)

// tuneGC starts the collector's tuning unless GOGC is set; it returns the tuner, or nil.
func tuneGC(cfg config.Config) *gctune.Tuner {
	if cfg.GOGC != "" {
		return nil
	}
	return gctune.Start(heapFloor, maxGCPercent)
}

// app is what every command gets: the configuration, where to write, and the logger.
type app struct {
	cfg    config.Config
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	logOut io.Writer // where log records go (stderr, secrets removed)
	// collectFlags, when set, gets each command's flag set instead of the command running
	// (the test that renders docs/configuration.md sets it).
	collectFlags func(f *flags)
}

// run runs the command line args (without the program name) and returns the exit code. Tests
// call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, cfg config.Config) int {
	cfg.SetDefaults()
	// The data directory is absolute from here on, so that every message names it whatever
	// the working directory.
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	// Logs go to stderr through a writer that removes the configuration's secrets, in case a
	// lower layer puts the Redis URL or password in a message.
	logOut := cfg.Redactor().Writer(stderr)
	a := &app{cfg: cfg, stdout: stdout, stderr: stderr, log: cfg.Logger(logOut, cfg.LogLevel), logOut: logOut}
	return dispatch(ctx, a, "dominion", commands(), args)
}
