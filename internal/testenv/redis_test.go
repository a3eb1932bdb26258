package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// do sends one command to r and returns the first line of the answer (a bulk string's
// value); it fails the test when the server cannot be reached or hangs up.
func do(t *testing.T, r *Redis, args ...string) string {
	t.Helper()
	line, err := try(r, args...)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// try is do for a poll: a server that is restarting or changing its role may refuse the
// connection or close it, which the caller treats as "not yet".
func try(r *Redis, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	if r.Password() != "" {
		if err := roundTrip(conn, rd, "+OK", "AUTH", r.Password()); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", args[0], r.Addr(), err)
	}
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		if line, err = rd.ReadString('\n'); err != nil {
			return "", fmt.Errorf("%s on %s: %w", args[0], r.Addr(), err)
		}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func TestRedisStopStartKeepsAOFData(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, WithAOF())
	if got := do(t, r, "SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	r.Kill()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if got := do(t, r, "GET", "k"); got != "v" {
		t.Fatalf("after kill and start, GET k = %q", got)
	}
	r.Stop()
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Fatal("stopped server still accepts connections")
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if got := do(t, r, "GET", "k"); got != "v" {
		t.Fatalf("after stop and start, GET k = %q", got)
	}
	if err := r.Start(); err == nil {
		t.Fatal("starting a running server succeeded")
	}
}

func TestRedisPassword(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, WithPassword("s3cret"))
	if !strings.Contains(r.URL(), ":s3cret@"+r.Addr()) {
		t.Fatalf("URL %s", r.URL())
	}
	if got := do(t, r, "PING"); got != "+PONG" {
		t.Fatalf("PING with AUTH: %s", got)
	}
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := roundTrip(conn, bufio.NewReader(conn), "+PONG", "PING"); err == nil {
		t.Fatal("PING without AUTH succeeded")
	}
}

func TestNewRedisClose(t *testing.T) {
	t.Parallel()
	r, err := NewRedis()
	if err != nil {
		t.Fatal(err)
	}
	if got := do(t, r, "PING"); got != "+PONG" {
		t.Fatalf("PING: %s", got)
	}
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Fatalf("URL %s", r.URL())
	}
	r.Close()
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Fatal("closed server still accepts connections")
	}
}

// TestSentinelFailover: the sentinels promote the replica when the master is killed, with the
// data it had replicated, and make the old master a replica of the new one when it is back.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, WithPassword("sentinel-pw"))
	if !strings.HasPrefix(s.URL(), "redis-sentinel://:sentinel-pw@127.0.0.1:") || !strings.HasSuffix(s.URL(), "/"+SentinelMaster) ||
		strings.Count(s.URL(), ",") != 2 {
		t.Fatalf("URL = %s", s.URL())
	}
	old := s.Servers[0]
	if got := do(t, old, "SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	Until(t, 30*time.Second, "the replica did not get the key", func() bool {
		got, err := try(s.Servers[1], "GET", "k")
		return err == nil && got == "v"
	})
	if killed := s.KillMaster(t); killed != old {
		t.Fatalf("KillMaster killed %s, want the master %s", killed.Addr(), old.Addr())
	}
	promoted := s.WaitFailover(t, old, time.Minute)
	if promoted != s.Servers[1] || do(t, promoted, "GET", "k") != "v" {
		t.Fatalf("promoted %s, want the replica %s with the key", promoted.Addr(), s.Servers[1].Addr())
	}
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	// It restarts empty (no persistence): the key comes from the new master.
	Until(t, time.Minute, "the old master did not become a replica with the key", func() bool {
		got, err := try(old, "GET", "k") // it hangs up on its clients when it turns replica
		return err == nil && got == "v"
	})
}
