package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisNotFound is the message of a test that cannot run because redis-server is missing.
const redisNotFound = "redis-server not found: install it (apt-get install redis-server)"

// How long a server may take to start answering PING, and to exit after SIGTERM.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 15 * time.Second
)

// RedisOption configures a server started by StartRedis or NewRedis.
type RedisOption func(*redisConfig)

type redisConfig struct {
	aof       bool
	password  string
	replicaOf string // host:port of the master, for a replica
	noPromote bool   // replica-priority 0: the sentinels never promote it
	cluster   bool   // cluster-enabled yes
}

// WithAOF turns on append-only-file persistence with an fsync after every write
// (appendonly yes, appendfsync always), so that data survives Kill and Start.
func WithAOF() RedisOption { return func(c *redisConfig) { c.aof = true } }

// WithPassword makes the server require password (requirepass).
func WithPassword(password string) RedisOption {
	return func(c *redisConfig) { c.password = password }
}

// Redis is a redis-server process run for tests. Its methods are safe for concurrent use.
type Redis struct {
	bin      string
	dir      string
	port     int
	password string
	ownsDir  bool // the directory was made by NewRedis and is removed by Close
	cfg      redisConfig

	proc *Process
}

// StartRedis starts a redis-server on a free port with its files in t.TempDir(), waits until it
// answers PING, and stops it when the test and its subtests have finished. It fails the test
// if redis-server is not installed.
func StartRedis(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	r, err := newRedis(t.TempDir(), false, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// NewRedis is StartRedis for code that has no testing.TB, such as TestMain: the server lives
// in a new temporary directory until Close, which stops it and removes the directory.
func NewRedis(opts ...RedisOption) (*Redis, error) {
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	r, err := newRedis(dir, true, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

func newRedis(dir string, ownsDir bool, opts []RedisOption) (*Redis, error) {
	var cfg redisConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New(redisNotFound)
	}
	r := &Redis{bin: bin, dir: dir, password: cfg.password, ownsDir: ownsDir, cfg: cfg}
	r.proc = &Process{
		Command: func() *exec.Cmd {
			cmd := exec.Command(r.bin, r.confPath())
			cmd.Dir = r.dir
			return cmd
		},
		Log: filepath.Join(dir, "redis.log"), Ready: r.ping, StartTimeout: startTimeout,
	}
	// A free port can be taken by another process between our probe and the server's bind;
	// try a few ports before giving up.
	var lastErr error
	for range 5 {
		if r.port, err = FreePort(); err != nil {
			return nil, err
		}
		r.proc.Name = fmt.Sprintf("redis-server on port %d", r.port)
		if err := r.writeConfig(); err != nil {
			return nil, err
		}
		if lastErr = r.Start(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func (r *Redis) writeConfig() error {
	cfg := r.cfg
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(r.port),
		"dir " + r.dir,
		`logfile ""`, // standard output: the Process's log
		"daemonize no",
		"protected-mode no",
		`save ""`,
		"appendonly no",
	}
	if cfg.aof {
		lines = append(lines, "appendonly yes", "appendfsync always")
	}
	if cfg.password != "" {
		lines = append(lines, "requirepass "+strconv.Quote(cfg.password), "masterauth "+strconv.Quote(cfg.password))
	}
	if cfg.cluster {
		// A node that misses a second of pings is failed over; its nodes.conf is its own.
		lines = append(lines, "cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 1000")
	}
	if host, port, ok := strings.Cut(cfg.replicaOf, ":"); ok {
		lines = append(lines, "replicaof "+host+" "+port)
	}
	if cfg.noPromote {
		lines = append(lines, "replica-priority 0")
	}
	conf := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(r.confPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("testenv: write redis config: %w", err)
	}
	return nil
}

func (r *Redis) confPath() string { return filepath.Join(r.dir, "redis.conf") }

// Addr returns the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL returns redis://127.0.0.1:PORT/0, with the password in it when the server requires one.
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr(), Path: "/0"}
	if r.password != "" {
		u.User = url.UserPassword("", r.password)
	}
	return u.String()
}

// Password returns the password the server requires ("" for none).
func (r *Redis) Password() string { return r.password }

// Start starts the server again, on the same port and directory, after Stop or Kill, and
// waits until it answers PING. Starting a running server is an error.
func (r *Redis) Start() error { return r.proc.Start() }

// ping sends AUTH (when a password is set) and PING on a new connection and expects +PONG.
func (r *Redis) ping() error { return pingAddr(r.Addr(), r.password) }

// pingAddr sends AUTH (when password is set) and PING to the server at addr on a new
// connection and expects +PONG.
func pingAddr(addr, password string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	rd := bufio.NewReader(conn)
	if password != "" {
		if err := roundTrip(conn, rd, "+OK", "AUTH", password); err != nil {
			return err
		}
	}
	return roundTrip(conn, rd, "+PONG", "PING")
}

// roundTrip sends one command in RESP and checks that the reply line is want.
func roundTrip(conn net.Conn, rd *bufio.Reader, want string, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		return fmt.Errorf("%s: got %q", args[0], got)
	}
	return nil
}

// Stop shuts the server down gracefully (SIGTERM: it flushes its append-only file) and waits
// for it to exit; after stopTimeout it is killed. Stopping a stopped server does nothing.
func (r *Redis) Stop() { r.proc.Stop(stopTimeout, syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would, and waits for it to exit.
func (r *Redis) Kill() { r.proc.Stop(stopTimeout) }

// Close kills the server if it is running and, for a server made by NewRedis, removes its
// directory. StartRedis registers it as the test's cleanup.
func (r *Redis) Close() {
	r.Kill()
	if r.ownsDir {
		_ = os.RemoveAll(r.dir)
	}
}
