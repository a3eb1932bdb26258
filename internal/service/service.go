// Package service wires `dominion serve`: one process with the HTTP API, a worker, the
// scheduler and the workflow engine's outbox relay, on the configured store (SQLite or
// PostgreSQL) and broker (embedded SQLite or Redis).
//
// The configuration is parsed at the edge (cmd/dominion) and passed in; nothing here reads
// the environment.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/api"
	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/httpguard"
	"github.com/codex-dominion/dominion/internal/httpjobs"
	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/internal/redact"
	"github.com/codex-dominion/dominion/internal/schedules"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// Defaults of Config (the rest come from package config).
const (
	DefaultConcurrency     = 10
	DefaultShutdownTimeout = 30 * time.Second
)

// Config configures a Service: the process's configuration (config.Config, parsed once at
// the edge) and what `dominion serve`'s flags add. The zero value runs embedded: SQLite store
// and queue in config.DefaultDataDir, API on config.DefaultAddr.
type Config struct {
	config.Config
	// Listener, when set, is used instead of listening on Addr (tests pass 127.0.0.1:0).
	Listener net.Listener
	// Concurrency is the worker's number of jobs run at once (default 10).
	Concurrency int
	// ShutdownTimeout bounds each shutdown phase: draining HTTP requests, then running jobs
	// (default 30 s).
	ShutdownTimeout time.Duration
	// MaxRetries is how many times a failed execute_workflow job is retried, with backoff,
	// before its workflow is marked failed: 0 means the engine's default (3), negative none.
	MaxRetries int
	// Logger receives everything the service logs; nil means a text logger on stderr at
	// LogLevel.
	Logger *slog.Logger
	// NoWorker runs the API and the relay without a worker (for API-only processes and the
	// API benchmark, which measures acceptance alone).
	NoWorker bool
	// Schedules are the periodic jobs the scheduler enqueues (nil: schedules.Defaults(), the
	// seed's daily clean-up and Monday report); NoScheduler runs no scheduler.
	Schedules   []queue.Schedule
	NoScheduler bool
	// NoDashboard leaves out the web dashboard, otherwise served at /dashboard/ (login with
	// DashboardToken, or APIToken when that is empty; no login when both are).
	NoDashboard bool
	// Telemetry is the process's metrics and tracing (nil: NewTelemetry's, from Config);
	// its metrics are served at GET /metrics.
	Telemetry *Telemetry
}

// WorkflowsConfig configures OpenWorkflows.
type WorkflowsConfig struct {
	// Config selects the store (DataDir, DatabaseURL: Config.StoreDSN), the workflow types
	// file (read when Types is nil; empty: the built-in types) and the SMTP server.
	Config config.Config
	Types  *workflow.Registry
	// MaxRetries and Logger are passed to the engine (workflow.Config).
	MaxRetries int
	Logger     *slog.Logger
	// Client is the queue the engine enqueues workflows on (nil: nothing is enqueued).
	Client *queue.Client
	// Telemetry, when set, counts finished workflows and traces the http steps' requests.
	Telemetry *Telemetry
	// Serving is set by the processes that run until stopped (serve, worker, dashboard): they
	// start while PostgreSQL is down, and the store answers unavailable until it is back
	// (store.Lazy), logging the outage and the return to Logger.
	Serving bool
}

// Workflows is the workflow side of a process: the store and the engine on it.
type Workflows struct {
	Store  store.Store
	Engine *workflow.Engine
	// Where describes the store, password redacted: "sqlite data/dominion.db",
	// "postgres postgres://dominion:xxxxx@db:5432/dominion".
	Where string
}

// LoadTypes returns the workflow types of cfg's file (WorkflowsFile; empty: the built-in
// types), its ${VAR}s looked up through cfg.Getenv.
func LoadTypes(cfg config.Config) (*workflow.Registry, error) {
	if cfg.WorkflowsFile == "" {
		return workflow.DefaultTypes(), nil
	}
	return workflow.LoadTypes(cfg.WorkflowsFile, cfg.Getenv)
}

// OpenWorkflows opens the workflow store (creating the data directory for the embedded one)
// and builds the engine on it, as `dominion serve` and `dominion worker` do. Close the store
// when done. Register the engine's job handlers on a worker with Engine.Register.
func OpenWorkflows(ctx context.Context, cfg WorkflowsConfig) (*Workflows, error) {
	types := cfg.Types
	if types == nil {
		var err error
		if types, err = LoadTypes(cfg.Config); err != nil {
			return nil, err
		}
	}
	dsn := cfg.Config.StoreDSN()
	if cfg.Config.DatabaseURL == "" {
		if err := PrepareDataDir(filepath.Dir(dsn)); err != nil {
			return nil, err
		}
	}
	opts := []store.Option{store.WithLogger(cfg.Logger)}
	if cfg.Serving {
		opts = append(opts, store.Lazy())
	}
	var enqueueIn func(store.DBTX) queue.EnqueueFunc
	if cfg.Config.StoreInQueueFile() {
		// One file, one writer: the store writes through the queue's writer, and a new
		// workflow and its job commit in one transaction.
		if w, in, ok := queueWriter(cfg.Client); ok {
			opts, enqueueIn = append(opts, store.WithWriter(w)), in
		}
	}
	st, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, err // the store names itself, password redacted
	}
	wcfg := workflow.Config{
		Store: st, Client: cfg.Client, Types: types, SMTP: cfg.Config.SMTP, Logger: cfg.Logger,
		MaxRetries: cfg.MaxRetries, EnqueueIn: enqueueIn,
	}
	if t := cfg.Telemetry; t != nil {
		wcfg.StepTransport = t.StepTransport()
		if t.Metrics != nil {
			wcfg.Observer = t.Metrics
		}
	}
	engine := workflow.NewEngine(wcfg)
	return &Workflows{Store: st, Engine: engine, Where: st.Dialect() + " " + redact.URL(dsn)}, nil
}

// PrepareDataDir creates the data directory of the embedded SQLite files (owner and group
// only). In a build without SQLite (the nosqlite tag, as the container image is) it refuses
// instead, saying that this build needs REDIS_URL and DATABASE_URL.
func PrepareDataDir(dir string) error {
	if !store.SQLite {
		return fmt.Errorf("%w: it runs against Redis and PostgreSQL only: set %s and %s",
			store.ErrNoSQLite, config.EnvRedisURL, config.EnvDatabaseURL)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// OpenBroker opens the configured broker: Redis when cfg.RedisURL is set, else the embedded
// SQLite broker in cfg.DataDir (created when missing). Every command that needs the queue
// opens it here. Its errors never hold the Redis password.
func OpenBroker(ctx context.Context, cfg config.Config, log *slog.Logger) (queue.Broker, error) {
	return openBroker(ctx, cfg, log, false)
}

// OpenServingBroker is OpenBroker for the processes that run until stopped (serve, worker,
// scheduler, dashboard): they start even when Redis cannot be reached, saying so in one log
// line, and carry on once it answers (their calls retry with capped backoff meanwhile, and
// /readyz names the queue as down).
func OpenServingBroker(ctx context.Context, cfg config.Config, log *slog.Logger) (queue.Broker, error) {
	b, err := openBroker(ctx, cfg, log, true)
	if err != nil || !cfg.UsesRedis() {
		return b, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Ping(pctx); err != nil {
		log.Warn("queue unreachable at start; running degraded until it answers", "err", err)
	}
	return b, nil
}

func openBroker(ctx context.Context, cfg config.Config, log *slog.Logger, lazy bool) (queue.Broker, error) {
	if cfg.UsesRedis() {
		b, err := redisbroker.Open(ctx, cfg.RedisURL, redisbroker.Options{Prefix: cfg.RedisPrefix, Logger: log, Lazy: lazy,
			WaitReplicas: cfg.RedisWaitReplicas, WaitTimeout: cfg.RedisWaitTimeout})
		if err != nil {
			return nil, err // it names the server, password redacted
		}
		return b, nil
	}
	if err := PrepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	return openEmbeddedBroker(ctx, cfg.QueueDBPath(), log)
}

// NewHTTPServer returns the HTTP server of handler, with the timeouts and limits of every
// Dominion listener. Requests' contexts outlive ctx's cancellation (shutdown drains them).
func NewHTTPServer(ctx context.Context, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // the dashboard's live stream lifts it for itself
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// MountDashboard returns a handler that serves the dashboard d under prefix (e.g.
// "/dashboard"), redirects / there, and passes everything else to rest (nil: not found).
func MountDashboard(prefix string, d http.Handler, rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", d)
	mux.Handle(prefix, d)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, prefix+"/", http.StatusFound)
	})
	if rest != nil {
		mux.Handle("/", rest)
	}
	return mux
}

// Queues is what the serve process's worker serves, with their weights, besides the queues
// of the schedules (WorkerQueues).
var Queues = []queue.QueueWeight{{Name: workflow.DefaultQueue, Weight: 3}, {Name: queue.DefaultQueue, Weight: 1}}

// WorkerQueues is every queue the service puts jobs on: Queues (workflows=3,default=1) and
// the queue of each schedule (weight 1). `dominion serve` and a `dominion worker` without
// --queues serve these.
func WorkerQueues(list []queue.Schedule) []queue.QueueWeight {
	out := slices.Clone(Queues)
	for _, s := range list {
		name := s.Queue
		if name == "" {
			name = queue.DefaultQueue
		}
		if !slices.ContainsFunc(out, func(q queue.QueueWeight) bool { return q.Name == name }) {
			out = append(out, queue.QueueWeight{Name: name, Weight: 1})
		}
	}
	return out
}

// Service is one running `dominion serve`: built by New, run by Run.
type Service struct {
	cfg    Config
	log    *slog.Logger
	store  store.Store
	broker queue.Broker
	engine *workflow.Engine
	worker *queue.Worker
	sched  *queue.Scheduler
	api    *api.API
	dash   *dashboard.Dashboard
	srv    *http.Server
	ln     net.Listener
	// loopback says the server listens on loopback addresses only.
	loopback bool
	tel      *Telemetry
}

// listenAddr is the address the service listens on: its listener's, else Addr.
func listenAddr(cfg Config) string {
	if cfg.Listener != nil {
		return cfg.Listener.Addr().String()
	}
	return cfg.Addr
}

// Run builds the service and runs it until ctx is done, then shuts it down.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// New opens the broker and the store, builds the engine, the worker and the API, and listens
// on the API's address. Call Run next (or Close to give everything back).
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg, log := withDefaults(cfg)
	s := &Service{cfg: cfg, log: log, tel: cfg.Telemetry}
	if err := s.open(ctx); err != nil {
		s.Close() // what was opened before the error
		return nil, err
	}
	return s, nil
}

// withDefaults returns cfg with its unset values given their defaults, and its logger.
func withDefaults(cfg Config) (Config, *slog.Logger) {
	cfg.SetDefaults()
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	return cfg, log
}

// open checks the listen rule and the workflow types, so that a mistake is reported before
// anything is opened, then opens the telemetry, broker, store, worker, scheduler, handler
// and listener of s.
func (s *Service) open(ctx context.Context) error {
	cfg := s.cfg
	if s.tel == nil {
		tel, err := NewTelemetry(ctx, cfg.Config, "serve")
		if err != nil {
			return err
		}
		s.tel = tel
	}
	var err error
	if s.loopback, err = httpguard.CheckListen(listenAddr(cfg), cfg.APIToken != "", cfg.AllowInsecure); err != nil {
		return err
	}
	types, err := LoadTypes(cfg.Config)
	if err != nil {
		return err
	}
	if s.broker, err = OpenServingBroker(ctx, cfg.Config, s.log); err != nil {
		return err
	}
	client := s.tel.NewClient(s.broker)
	wf, err := OpenWorkflows(ctx, WorkflowsConfig{
		Config: cfg.Config, Types: types, MaxRetries: cfg.MaxRetries, Client: client, Logger: s.log,
		Telemetry: s.tel, Serving: true,
	})
	if err != nil {
		return err
	}
	s.store, s.engine = wf.Store, wf.Engine
	if !cfg.NoWorker {
		s.worker = s.newWorker()
	}
	if !cfg.NoScheduler {
		if s.sched, err = s.newScheduler(); err != nil {
			return err
		}
	}
	handler, err := s.handler(client)
	if err != nil {
		return err
	}
	s.tel.WatchStats(s.broker, s.store)
	s.srv = NewHTTPServer(ctx, handler, s.log)
	if s.ln = cfg.Listener; s.ln == nil {
		if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	return nil
}

// newWorker returns the service's worker, with the handlers of workflows, of the built-in
// jobs and of the configured HTTP jobs.
func (s *Service) newWorker() *queue.Worker {
	cfg := s.cfg
	w := queue.NewWorker(s.broker, s.tel.Worker(queue.WorkerConfig{
		Queues:          WorkerQueues(cfg.Schedules),
		Concurrency:     cfg.Concurrency,
		Lease:           cfg.Lease,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Middleware:      []queue.Middleware{queue.LoggingMiddleware(s.log)},
		Logger:          s.log,
	}))
	s.engine.Register(w)
	jobs.Register(w)
	httpjobs.Register(w, cfg.Handlers, s.log)
	return w
}

// newScheduler returns the service's scheduler of the configured schedules (the built-in
// ones when none are).
func (s *Service) newScheduler() (*queue.Scheduler, error) {
	list := s.cfg.Schedules
	if list == nil {
		list = schedules.Defaults()
	}
	return queue.NewScheduler(s.broker, s.tel.Scheduler(queue.SchedulerConfig{
		Schedules: list, KnownTypes: append(schedules.KnownTypes(), s.cfg.Handlers.Types()...), Logger: s.log,
	}, s.broker))
}

// handler returns what the service serves: the API and, unless turned off, the dashboard,
// behind the telemetry and the host check.
func (s *Service) handler(client *queue.Client) (http.Handler, error) {
	apiCfg := api.Config{
		Engine: s.engine,
		Token:  s.cfg.APIToken,
		Checks: []api.Check{
			{Name: "store", Ping: s.store.Ping},
			{Name: "queue", Ping: s.broker.Ping},
		},
		Logger: s.log,
		Queue:  client,
	}
	if s.sched != nil {
		apiCfg.Schedules = s.sched
	}
	s.api = api.New(apiCfg)
	var handler http.Handler = s.api
	if !s.cfg.NoDashboard {
		var err error
		if handler, err = s.withDashboard(client); err != nil {
			return nil, err
		}
	}
	return httpguard.New(httpguard.Config{
		AllowedHosts: httpguard.Hosts(listenAddr(s.cfg), s.cfg.AllowedHosts), Logger: s.log,
	}, s.tel.Handler(handler)), nil
}

// dashboardPrefix is where serve mounts the web dashboard.
const dashboardPrefix = "/dashboard"

// withDashboard builds the dashboard and returns the handler of the whole server: the
// dashboard under /dashboard/ (and / redirecting there), the API for everything else.
func (s *Service) withDashboard(client *queue.Client) (http.Handler, error) {
	token := s.cfg.DashboardToken
	if token == "" {
		token = s.cfg.APIToken
	}
	_, queueDesc := s.Describe()
	cfg := dashboard.Config{
		Queues: client, Workflows: s.engine, WorkflowStats: s.store, Prefix: dashboardPrefix,
		Token: token, Broker: queueDesc, Redact: s.cfg.Redact, Logger: s.log,
	}
	if s.sched != nil {
		cfg.Schedules = s.sched
	}
	d, err := dashboard.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s.dash = d
	return MountDashboard(dashboardPrefix, d, s.api), nil
}

// Describe returns where the service keeps its data, passwords redacted.
func (s *Service) Describe() (storeDesc, queueDesc string) {
	storeDesc = s.store.Dialect() + " " + redact.URL(s.cfg.StoreDSN())
	return storeDesc, s.cfg.BrokerDescription()
}

// logStart logs what the service serves and with what: one line at start.
func (s *Service) logStart() {
	storeDesc, queueDesc := s.Describe()
	workerDesc := "off"
	if s.worker != nil {
		workerDesc = fmt.Sprintf("%s (concurrency %d)", queue.FormatQueues(WorkerQueues(s.cfg.Schedules)), s.cfg.Concurrency)
	}
	schedDesc := "off"
	if s.sched != nil {
		names := make([]string, 0, len(s.sched.Schedules()))
		for _, sc := range s.sched.Schedules() {
			names = append(names, sc.Name)
		}
		schedDesc = strings.Join(names, ",")
	}
	dashDesc := "off"
	if s.dash != nil {
		dashDesc = "http://" + s.ln.Addr().String() + dashboardPrefix + "/"
	}
	s.logExposure()
	s.log.Info("dominion serve", "addr", s.ln.Addr().String(), "data_dir", s.cfg.DataDir, "store", storeDesc, "queue", queueDesc,
		"worker", workerDesc, "schedules", schedDesc, "dashboard", dashDesc, "auth", s.cfg.APIToken != "", "workflow_types", strings.Join(s.engine.Registry().Names(), ","))
}

// shutdownHTTP stops the HTTP server: the requests running get up to the shutdown timeout,
// then their connections are closed.
func (s *Service) shutdownHTTP(ctx context.Context) {
	if s.dash != nil {
		_ = s.dash.Close() // ends the live streams, so that Shutdown does not wait for them
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("HTTP requests still running at the shutdown timeout; closing their connections", "err", err)
		_ = s.srv.Close()
	}
}

// Run serves the API and runs the worker, the scheduler and the relay until ctx is done, then
// shuts down in order: stop accepting and drain HTTP requests, stop the relay and the
// scheduler, let the worker finish (or requeue) its running jobs, close the broker and the
// store. It returns the first error that stopped the service early, or nil after a shutdown
// asked for by ctx.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	s.logStart()
	ApplyLimits(ctx, queue.NewClient(s.broker), s.cfg.QueueLimits, s.log)
	bg := context.WithoutCancel(ctx)
	r := s.startAll(bg)
	defer r.stopRelay()
	defer r.stopWorker()
	runErr := s.waitForStop(ctx, r)
	return s.shutdownInOrder(bg, r, runErr)
}

// running is what Run started: the goroutines of the relay, the scheduler, the worker and
// the HTTP server, how to stop them and how each tells that it has stopped.
type running struct {
	wg            sync.WaitGroup
	stopRelay     context.CancelFunc // stops the relay and the scheduler
	stopWorker    context.CancelFunc // stops the worker
	relayDone     chan struct{}      // closed when the relay has stopped
	schedDone     chan struct{}      // closed when the scheduler has stopped (at once without one)
	workerDone    chan error         // the worker's Run error (nil at once without a worker)
	workerStopped <-chan error       // workerDone with a worker; nil (never ready) without one
	serveErr      chan error         // the error that stopped the HTTP server
}

// startAll starts the relay, the scheduler, the worker and the HTTP server, each in its own
// goroutine; ctx must not be canceled (running's stop functions stop them).
func (s *Service) startAll(ctx context.Context) *running {
	relayCtx, stopRelay := context.WithCancel(ctx)
	workerCtx, stopWorker := context.WithCancel(ctx)
	r := &running{
		stopRelay:  stopRelay,
		stopWorker: stopWorker,
		relayDone:  make(chan struct{}),
		schedDone:  make(chan struct{}),
		workerDone: make(chan error, 1),
		serveErr:   make(chan error, 1),
	}
	r.wg.Go(func() { defer close(r.relayDone); s.engine.RunRelay(relayCtx) })
	r.wg.Go(func() {
		defer close(r.schedDone)
		if s.sched != nil {
			if err := s.sched.Run(relayCtx); err != nil {
				s.log.Error("scheduler stopped", "err", err)
			}
		}
	})
	if s.worker != nil {
		r.wg.Go(func() { r.workerDone <- s.worker.Run(workerCtx) })
		r.workerStopped = r.workerDone
	} else {
		r.workerDone <- nil
	}
	r.wg.Go(func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.serveErr <- err
		}
	})
	return r
}

// waitForStop waits until ctx is done or the HTTP server or the worker stops early, and
// returns the error that stopped the service early (nil when ctx did).
func (s *Service) waitForStop(ctx context.Context, r *running) error {
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: draining HTTP requests", "timeout", s.cfg.ShutdownTimeout)
		return nil
	case err := <-r.serveErr:
		return fmt.Errorf("serve HTTP: %w", err)
	case err := <-r.workerStopped:
		// Worker.Run returns only once its context is done; this is a safety net.
		runErr := fmt.Errorf("worker stopped unexpectedly: %v", err)
		r.workerDone <- nil
		return runErr
	}
}

// shutdownInOrder stops what startAll started, in order: drain the HTTP requests, stop the
// relay and the scheduler, then the worker; it waits for every goroutine and flushes the
// traces. It returns runErr, or else the worker's error.
func (s *Service) shutdownInOrder(ctx context.Context, r *running, runErr error) error {
	s.shutdownHTTP(ctx)
	r.stopRelay() // and the scheduler
	<-r.relayDone
	<-r.schedDone
	if s.worker != nil {
		s.log.Info("shutting down: stopping the worker")
	}
	r.stopWorker()
	if err := <-r.workerDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("worker: %w", err)
	}
	r.wg.Wait()
	if err := s.tel.Shutdown(ctx); err != nil {
		s.log.Warn("flush traces", "err", err)
	}
	s.log.Info("dominion serve stopped")
	return runErr
}

// logExposure says who can reach the server: loopback only, or every client that can reach
// its address, with or without a token (a warning when without: the operator opted out).
func (s *Service) logExposure() {
	addr := s.ln.Addr().String()
	switch {
	case s.loopback:
		s.log.Info("listening on loopback only: reachable from this machine", "addr", addr, "auth", s.cfg.APIToken != "")
	case s.cfg.APIToken != "":
		s.log.Info("listening beyond loopback; every /api/ route and the dashboard need the token", "addr", addr, "auth", true)
	default:
		s.log.Warn("listening beyond loopback WITHOUT authentication (DOMINION_ALLOW_INSECURE / --insecure-listen): "+
			"anyone who can reach this address can empty queues and cancel or retry workflows", "addr", addr, "auth", false)
	}
}

// Close releases the listener, the broker and the store. Run calls it; call it yourself only
// for a Service that was never run.
func (s *Service) Close() {
	if s.dash != nil {
		_ = s.dash.Close()
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.store != nil { // first: in embedded mode it writes through the broker
		if err := s.store.Close(); err != nil {
			s.log.Warn("close store", "err", err)
		}
		s.store = nil
	}
	if s.broker != nil {
		if err := s.broker.Close(); err != nil {
			s.log.Warn("close queue", "err", err)
		}
		s.broker = nil
	}
}
