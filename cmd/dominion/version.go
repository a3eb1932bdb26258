package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/codex-dominion/dominion/store"
)

// version is stamped at build time by the Makefile: go build -ldflags "-X main.version=v1.2.3".
var version = ""

func runVersion(_ context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "", `Print Dominion's version, the Go version it was built with, and the platform, and
for a build without SQLite (-tags nosqlite, as the container image) that it needs REDIS_URL
and DATABASE_URL. The version is the one stamped by 'make build' (git describe), else the
module version, else the commit the binary was built from ('go build' in a git checkout
records it).`, 0, 0)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	fmt.Fprintf(a.stdout, "dominion %s %s %s/%s%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH, buildNote())
	return exitOK
}

// buildNote says, after the platform, when this build leaves out SQLite (the nosqlite tag, as
// the container image): it has no embedded mode.
func buildNote() string {
	if store.SQLite {
		return ""
	}
	return " (without SQLite: needs REDIS_URL and DATABASE_URL)"
}

// versionString is the stamped version, or the module's, or "devel+<commit>[-dirty]" from the
// build's version control information, or "devel" when there is none (go run).
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return vcsVersion(bi.Settings)
}

// vcsVersion is "devel+<12 hex digits of the commit>[-dirty]" from a build's settings, or
// "devel" when they name no commit.
func vcsVersion(settings []debug.BuildSetting) string {
	rev, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}
