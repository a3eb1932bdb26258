// Package testenv starts real servers for tests: Dominion's tests run against the real thing,
// never against mocks of it. Each server runs on a free port with its files in the test's
// temporary directory and is stopped when the test ends; a package's tests can share one
// server started from TestMain (NewRedis and the like), each test keeping to its own keys.
//
// A missing server binary fails the test with the command that installs it: a test that
// silently skipped would hide what was never checked.
package testenv
