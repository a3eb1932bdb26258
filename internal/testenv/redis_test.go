package testenv

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// do sends one command to r and returns its reply line.
func do(t *testing.T, r *Redis, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	if r.Password() != "" {
		if err := roundTrip(conn, rd, "+OK", "AUTH", r.Password()); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		line, err = rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimRight(line, "\r\n")
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
