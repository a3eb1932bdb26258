package testenv

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// chromiumNotFound is the message of a browser test that cannot run because Chromium is
// missing.
const chromiumNotFound = "chromium not found: install it (apt-get install -y chromium)"

// chromiumCandidates are looked for in order: Debian's package first, then the names other
// distributions and macOS Homebrew use.
var chromiumCandidates = []string{
	"/usr/bin/chromium",
	"chromium",
	"chromium-browser",
	"google-chrome",
	"google-chrome-stable",
	"/Applications/Chromium.app/Contents/MacOS/Chromium",
}

// ChromiumPath returns the path of a Chromium (or Chrome) executable, Debian's
// /usr/bin/chromium first; an error naming the apt-get command when there is none.
func ChromiumPath() (string, error) {
	for _, c := range chromiumCandidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", errors.New(chromiumNotFound)
}

// Chromium returns the path of Chromium for a browser test, or fails the test with the
// command that installs it (a browser test that silently skipped would hide what was never
// checked).
func Chromium(t testing.TB) string {
	t.Helper()
	p, err := ChromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ChromiumFlags are the command-line switches a headless test browser runs with: no sandbox
// (tests often run as root in containers), no GPU, and nothing that talks to the network by
// itself (component updates, sync, background fetches), so a test only sees its own server.
// Give each browser a fresh --user-data-dir in the test's temporary directory as well.
var ChromiumFlags = []string{
	"--headless=new",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-dev-shm-usage",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-default-apps",
	"--disable-extensions",
	"--no-first-run",
	"--no-default-browser-check",
	"--metrics-recording-only",
	"--mute-audio",
	"--hide-scrollbars",
}
