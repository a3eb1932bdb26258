package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = ""

func runVersion(_ context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "", "Print Dominion's version, the Go version it was built with, and the platform.", 0, 0)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	fmt.Fprintf(a.stdout, "dominion %s %s %s/%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
