//go:build linux

package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresNotFound is the message of a test that cannot run because the
// PostgreSQL server binaries are missing.
const postgresNotFound = "PostgreSQL server binaries (initdb, postgres) not found in " +
	"/usr/lib/postgresql/*/bin or PATH: install them (sudo apt-get install -y postgresql); " +
	"the tests start their own private server and do not use the system one"

// How long initdb plus start-up may take, and how long a fast shutdown may take.
const (
	pgStartTimeout = 60 * time.Second
	pgStopTimeout  = 30 * time.Second
)

// pgSuperuser is the superuser initdb creates; it authenticates with a
// random password over TCP (scram-sha-256), so DSNs carry a real secret.
const pgSuperuser = "postgres"

// Postgres is a private PostgreSQL server run for tests: its own data
// directory, a free port on 127.0.0.1, fsync off. Its methods are safe for
// concurrent use.
type Postgres struct {
	bin      string // directory of the server binaries
	dir      string // base directory: data/, sock/, postgres.log
	port     int
	password string
	cred     *syscall.Credential // non-nil when running as root

	admin *sql.DB // connection to the "postgres" database, for CREATE/DROP DATABASE

	durable bool // synchronous_commit on: see Durable

	proc *Process
}

// PostgresOption configures StartPostgres and NewPostgres.
type PostgresOption func(*Postgres)

// Durable makes every commit wait for its WAL record to reach the operating system
// (synchronous_commit on), so that a commit the server acknowledged survives StopImmediate.
// Without it commits are acknowledged first (faster), and StopImmediate loses the last
// fraction of a second of them, as a real server configured so would.
func Durable() PostgresOption { return func(p *Postgres) { p.durable = true } }

// StartPostgres starts a private PostgreSQL server (initdb into a new
// temporary directory, then postgres on a free port), waits until it accepts
// connections, and stops it and removes its files when the test ends. It
// fails the test if the server binaries are not installed.
//
// Starting a server takes a second or two: share one per test package, from
// TestMain with NewPostgres, and give each test its own NewDatabase.
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	p, err := NewPostgres(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewPostgres is StartPostgres for code that has no testing.TB, such as
// TestMain: the server runs until Close.
func NewPostgres(opts ...PostgresOption) (*Postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user.
		if cred, err = pgUserCredential(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "testenv-postgres-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	p := &Postgres{bin: bin, dir: dir, cred: cred, password: pgRandomHex(16)}
	for _, o := range opts {
		o(p)
	}
	if err := p.init(bin); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// A free port can be taken by another process between our probe and the
	// server's bind; try a few ports before giving up.
	var lastErr error
	for range 5 {
		if p.port, err = FreePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		p.proc = p.process()
		if lastErr = p.proc.Start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		_ = os.RemoveAll(dir)
		return nil, lastErr
	}
	cfg, err := pgx.ParseConfig(p.DSN())
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("testenv: %w", err)
	}
	p.admin = stdlib.OpenDB(*cfg)
	p.admin.SetMaxOpenConns(4)
	return p, nil
}

// pgBinDir finds the directory holding initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian, Ubuntu), else PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // numeric version order, newest first
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[i])), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[j])), 64)
		return vi > vj
	})
	for _, d := range dirs {
		if pgIsExecutable(filepath.Join(d, "initdb")) && pgIsExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	_, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return filepath.Dir(initdb), nil
	}
	return "", errors.New(postgresNotFound)
}

func pgIsExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func pgUserCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("testenv: running as root, and PostgreSQL refuses to run as root: "+
			"need a 'postgres' system user to run it as (%w); install PostgreSQL (sudo apt-get install -y postgresql) "+
			"or run the tests as a normal user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("testenv: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func pgRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *Postgres) sockDir() string { return filepath.Join(p.dir, "sock") }
func (p *Postgres) logPath() string { return filepath.Join(p.dir, "postgres.log") }

// command prepares a server binary to run as the postgres user when we are root.
func (p *Postgres) command(bin, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// chown gives path to the postgres user when running as root.
func (p *Postgres) chown(path string) error {
	if p.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return nil
}

// init runs initdb with a password-protected superuser.
func (p *Postgres) init(bin string) error {
	// The postgres user must be able to reach data/ and sock/ inside dir.
	if err := os.Chmod(p.dir, 0o711); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	for _, d := range []string{p.dataDir(), p.sockDir()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
		if err := p.chown(d); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(p.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	defer os.Remove(pwfile)
	if err := p.chown(pwfile); err != nil {
		return err
	}
	log, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	defer log.Close()
	cmd := p.command(bin, "initdb",
		"-D", p.dataDir(), "-U", pgSuperuser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testenv: initdb: %w: %s", err, logTail(p.logPath()))
	}
	return nil
}

func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// process is the postgres server on p.port: fsync off, commits acknowledged before they
// reach the disk unless Durable, and SIGQUIT (immediate shutdown) when the test process dies.
func (p *Postgres) process() *Process {
	syncCommit := "synchronous_commit=off"
	if p.durable {
		syncCommit = "synchronous_commit=on"
	}
	return &Process{
		Name: fmt.Sprintf("postgres on port %d", p.port),
		Command: func() *exec.Cmd {
			return p.command(p.bin, "postgres",
				"-D", p.dataDir(), "-p", strconv.Itoa(p.port), "-k", p.sockDir(),
				"-c", "listen_addresses=127.0.0.1",
				"-c", "fsync=off", "-c", syncCommit, "-c", "full_page_writes=off",
				"-c", "max_connections=400", "-c", "shared_buffers=32MB",
				"-c", "log_min_messages=warning")
		},
		Log: p.logPath(), Ready: p.ping, StartTimeout: pgStartTimeout, DeathSignal: syscall.SIGQUIT,
	}
}

// Password is the superuser's password.
func (p *Postgres) Password() string { return p.password }

// DSN is the URL of the server's "postgres" database, as the superuser.
func (p *Postgres) DSN() string { return p.dsn("postgres") }

func (p *Postgres) dsn(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgSuperuser, p.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database for one test, so tests can run in
// parallel, and returns its DSN. The database is dropped when the test ends.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "test_" + pgRandomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := p.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return p.dsn(name)
}

// Stop shuts the server down as `pg_ctl stop -m fast` does (SIGINT: open
// connections are terminated with an admin_shutdown error, then a checkpoint)
// and waits for it to exit; after pgStopTimeout it gets SIGQUIT, then SIGKILL.
// Stopping a stopped server does nothing.
func (p *Postgres) Stop() { p.proc.Stop(pgStopTimeout, syscall.SIGINT, syscall.SIGQUIT) }

// StopImmediate shuts the server down as `pg_ctl stop -m immediate` does
// (SIGQUIT: connections dropped, no checkpoint; the next Start runs crash
// recovery) and waits for it to exit.
func (p *Postgres) StopImmediate() { p.proc.Stop(pgStopTimeout, syscall.SIGQUIT) }

// Start starts a stopped server again, on the same port and data, and waits
// until it accepts connections. Starting a running server does nothing.
func (p *Postgres) Start() error {
	if p.proc.Running() {
		return nil
	}
	return p.proc.Start()
}

// Close closes the admin connection, stops the server and removes its
// files. StartPostgres registers it as the test's cleanup.
func (p *Postgres) Close() {
	if p.admin != nil {
		_ = p.admin.Close()
	}
	p.Stop()
	_ = os.RemoveAll(p.dir)
}
