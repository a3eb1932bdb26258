package sqlitebroker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// The crash tests run a child process (this test binary, running TestCrashChild) that works on
// the queue file, and kill it with SIGKILL while it holds jobs or writes.

const (
	crashDBEnv   = "SQLITEBROKER_CRASH_DB"
	crashModeEnv = "SQLITEBROKER_CRASH_MODE"
)

// TestCrashChild is the child's side; it does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("helper process of the crash tests")
	}
	ctx := context.Background()
	b, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	switch os.Getenv(crashModeEnv) {
	case "hold":
		// Lease two jobs, say which, and hang as a stuck handler would.
		jobs, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "crash-child", Queues: []string{"default"},
			Max: 2, Lease: 300 * time.Millisecond})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("fetched", strings.Join(ids(jobs), " "))
	case "churn":
		// Write as fast as possible: enqueue, fetch, finish, in a loop, until killed.
		fmt.Println("churning")
		for i := 0; ; i++ {
			var batch []*queue.Job
			for range 50 {
				batch = append(batch, newJob("default"))
			}
			if _, err := b.Enqueue(ctx, batch); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			got, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "crash-child", Queues: []string{"default"},
				Max: 40, Lease: time.Minute})
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			var outs []queue.Outcome
			for k, j := range got {
				st := queue.StateCompleted
				if k%5 == 0 {
					st = queue.StateRetry
				}
				outs = append(outs, queue.Outcome{JobID: j.ID, WorkerID: j.WorkerID, Attempt: j.Attempt,
					State: st, RetryAt: time.Now().Add(time.Hour), FinishedAt: time.Now(),
					Error: &queue.AttemptError{Error: "x"}})
			}
			if err := b.Finish(ctx, outs); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
	}
	select {}
}

// startChild runs TestCrashChild on path in mode and returns it with the first line it printed.
func startChild(t *testing.T, path, mode string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashModeEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if strings.HasPrefix(line, "error:") {
		t.Fatalf("child: %s", line)
	}
	return cmd, strings.TrimSpace(line)
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestCrashMidJobLosesNothing kills a process that holds two leased jobs: another process
// gets them back once their lease runs out, with the lost attempt recorded.
func TestCrashMidJobLosesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.db")
	b := openBroker(t, path, Options{})
	jobs := []*queue.Job{newJob("default"), newJob("default"), newJob("default")}
	enqueue(t, b, jobs...)

	child, line := startChild(t, path, "hold")
	held := strings.Fields(strings.TrimPrefix(line, "fetched"))
	if !slices.Equal(held, ids(jobs[:2])) {
		t.Fatalf("child fetched %v, want %v", held, ids(jobs[:2]))
	}
	kill(t, child)

	// A fresh broker on the file (as after a restart) takes the third job, and the two
	// recovered ones when their lease has run out (at the front of the queue: first when the
	// lease has run out already at the first fetch).
	b2 := openBroker(t, path, Options{})
	var got []*queue.Job
	testenv.Until(t, 30*time.Second, "held jobs not recovered", func() bool {
		more := fetchReq(t, b2, queue.FetchRequest{WorkerID: "survivor", Queues: []string{"default"}, Max: 3,
			Lease: time.Minute, Wait: 5 * time.Second})
		got = append(got, more...)
		return len(got) == 3
	})
	for _, j := range got {
		if j.ID == jobs[2].ID {
			if j.Attempt != 1 || len(j.Errors) != 0 {
				t.Fatalf("the job the child did not hold: %+v", j)
			}
			continue
		}
		if j.Attempt != 2 || len(j.Errors) != 1 ||
			j.Errors[0].Error != "lease expired: worker crash-child stopped heartbeating" {
			t.Fatalf("recovered job %+v", j)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(ids(got))), slices.Sorted(slices.Values(ids(jobs)))) {
		t.Fatalf("fetched %v, want %v", ids(got), ids(jobs))
	}
}

// TestCrashMidWriteKeepsFileConsistent kills a process in the middle of a stream of write
// transactions: the file passes SQLite's integrity check and the per-state counts still match
// the jobs. While that process writes without pause, this one still gets its writes in.
func TestCrashMidWriteKeepsFileConsistent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "churn.db")
	child, _ := startChild(t, path, "churn")
	b := openBroker(t, path, Options{BusyTimeout: 3 * time.Second})
	for range 20 {
		enqueue(t, b, newJob("parent"))
	}
	// Let it commit a good number of transactions.
	testenv.Until(t, 30*time.Second, "child wrote too little", func() bool { return stats(t, b, "default").Processed >= 500 })
	kill(t, child)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBroker(t, path, Options{})
	var check string
	if err := b.r.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	wantCountsExact(t, b)
	s := stats(t, b, "default")
	if s.Processed != s.Completed+s.Retry || s.Failed != s.Retry {
		t.Fatalf("counters drifted: %+v", s)
	}
	if p := stats(t, b, "parent"); p.Pending != 20 {
		t.Fatalf("parent's jobs: %+v", p)
	}
}
