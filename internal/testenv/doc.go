// Package testenv starts real servers for tests: Dominion's tests run against the real thing,
// never against mocks of it. Each server runs on a free port with its files in the test's
// temporary directory and is stopped when the test ends; a package's tests can share one
// server started from TestMain (NewRedis and the like), each test keeping to its own keys.
//
// Process is the one helper that runs a server process — redis-server, postgres, prometheus,
// or a dominion binary a test starts: its output goes to a log file whose end is shown when
// it fails to start (and whose whole is logged when the test failed), Start waits until it
// answers, Stop signals it and kills it after a grace time. FreePort and FreeAddr give the
// port; Eventually, Until and Poll are the one way a test waits for something. SQLitePlan
// gives SQLite's plan of a query, for the tests that check a query reads through an index.
//
// A missing server binary fails the test with the command that installs it: a test that
// silently skipped would hide what was never checked.
package testenv
