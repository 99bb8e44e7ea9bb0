// Package app is Berth's composition root: it opens the metadata store and
// the blob store named by the configuration, builds the services on them,
// bootstraps a fresh installation (the admin user, the library project) and
// serves HTTP until its context ends. Nothing else picks concrete backends.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/blob/fs"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/httplimit"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers" // the SQL drivers store.Open uses
	"github.com/berth-dev/berth/internal/ui"
	"github.com/berth-dev/berth/internal/webhook"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "0.1.0-dev"

// App is a built Berth server.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	DB       *store.DB
	Blobs    *blob.Store
	Auth     *auth.Service
	Reg      *registry.Registry
	API      *api.Server
	Jobs     *jobs.Service
	Events   *event.Bus
	Settings *settings.Source
	Handler  http.Handler
}

// New builds the server described by cfg. adminPassword is used only when
// the admin user does not exist yet; if empty, one is generated and logged once.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, adminPassword string) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	db, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		return nil, err
	}
	drv, err := fs.New(cfg.StorageDir())
	if err != nil {
		db.Close()
		return nil, err
	}
	blobs := blob.New(drv)
	realm := ""
	if cfg.ExternalURL != "" {
		realm = strings.TrimSuffix(cfg.ExternalURL, "/") + "/service/token"
	}
	// The stored settings win; --token-ttl is the initial default of
	// token_expiration, in whole minutes rounded down (docs/settings.md).
	defaults := settings.Defaults()
	if cfg.TokenTTL >= time.Minute {
		defaults.TokenExpiration = int(cfg.TokenTTL / time.Minute)
	}
	live := settings.New(db, defaults)
	if err := live.Load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	authn, err := auth.New(ctx, db, auth.Options{Service: "berth", Realm: realm, TokenExpiry: live.TokenTTL})
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := bootstrap(ctx, db, log, adminPassword); err != nil {
		db.Close()
		return nil, err
	}
	bus := event.NewBus(log)
	audit.Subscribe(bus, db, log, audit.Options{Disabled: live.AuditDisabled, Forward: live.AuditForward})
	// Every writer of artifacts and tags (/v2, the API, retention) goes
	// through one artifact service; its writes drop the pull path's caches.
	var reg *registry.Registry
	arts := artifact.New(db, blobs, artifact.Options{Events: bus, Changed: func() { reg.Invalidate() }})
	reg = registry.New(db, blobs, authn, registry.Options{
		Logger: log, ExternalURL: cfg.ExternalURL, PullFlushInterval: cfg.PullFlush, Events: bus, ReadOnly: live.ReadOnly,
		UploadSessions: cfg.UploadSessions, Artifacts: arts,
	})
	keep, _ := cfg.ExecutionKeep() // validated with the configuration
	jobSvc := jobs.New(db, jobs.Options{Workers: cfg.JobWorkers, Logger: log, Keep: keep})
	retention.Register(jobSvc, db, retention.Options{Events: bus, Artifacts: arts, Logger: log})
	hooks := webhook.New(db, jobSvc, webhook.Options{Logger: log, ExternalURL: cfg.ExternalURL, UserAgent: "Berth-Webhook/" + Version,
		BlockInternal: live.WebhookBlockInternalTargets, Enabled: live.NotificationEnable})
	hooks.Register()
	hooks.Subscribe(bus)
	audit.RegisterPurge(jobSvc, db)
	gc.Register(jobSvc, db, gc.New(db, blobs, gc.Options{Events: bus, Changed: reg.Invalidate}), log)
	apiSrv := api.New(db, authn, blobs, api.Options{
		Logger: log, ExternalURL: cfg.ExternalURL, Version: Version, Settings: live, Events: bus,
		Changed: func() { reg.Invalidate(); hooks.Invalidate() }, Jobs: jobSvc, Artifacts: arts,
	})
	// Another process sharing the database wrote something: the store has
	// moved its write generation already (the account caches follow it);
	// the settings, the login locks and the registry's and webhooks'
	// caches are read again (docs/settings.md).
	db.OnChange(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := live.Load(ctx); err != nil {
			log.Warn("reading the settings after another process's change", "err", err)
		}
		if err := authn.Refresh(ctx); err != nil {
			log.Warn("reading the login locks after another process's change", "err", err)
		}
		reg.Invalidate()
		hooks.Invalidate()
	})
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	mux.Handle("/v2", reg)
	mux.HandleFunc("/service/token", authn.TokenHandler)
	// The API and the console queue behind one gate. /v2 has none: blob
	// transfers are long and bounded by the network, not by the CPU.
	// A request's body is read before it takes a slot, so a client
	// trickling one holds no slot (httplimit.Gate).
	gate := httplimit.New(apiConcurrency(cfg.APIConcurrency))
	console := ui.New(ui.Options{Services: ui.Services{Services: apiSrv.Services()}, ExternalURL: cfg.ExternalURL, Logger: log, Version: Version})
	mux.Handle("/api/", gate.Wrap(apiSrv, apiSrv.WriteError))
	mux.Handle("/c/", gate.Wrap(apiSrv, apiSrv.WriteError))
	mux.Handle("/", gate.Wrap(console, console.WriteError))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"healthy"}`))
	})
	// /v2 bypasses the mux: ServeMux redirects paths with "..", "." or "//"
	// to a cleaned path, which would send a client to another repository
	// than the one it named; the registry answers NAME_INVALID instead.
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isV2(r) {
			reg.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	// Every request body has a deadline: a short one for the API, the
	// console and tokens, one that moves with the bytes for /v2 (uploads).
	handler = httplimit.BodyDeadlines{Body: orDefault(cfg.BodyTimeout, config.Default().BodyTimeout),
		Idle: orDefault(cfg.UploadIdleTimeout, config.Default().UploadIdleTimeout), Streamed: isV2}.Wrap(handler)
	return &App{cfg: cfg, log: log, DB: db, Blobs: blobs, Auth: authn, Reg: reg, API: apiSrv, Jobs: jobSvc, Events: bus, Settings: live, Handler: handler}, nil
}

func isV2(r *http.Request) bool { return r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// connLimits turns the configured connection limits into the listener's:
// by default half the open-file limit less 256 (every connection may have
// a blob or upload file open too, and the database and logs need some),
// and an eighth of that for one client address; -1 is no limit.
func connLimits(cfg config.Config) (max, perClient int) {
	switch max = cfg.MaxConnections; {
	case max < 0:
		max = 0
	case max == 0:
		files := httplimit.FileLimit()
		if files <= 0 {
			files = 8192 // unknown: a common limit
		}
		max = (files - 256) / 2
		if max < 64 {
			max = 64
		}
	}
	switch perClient = cfg.MaxConnectionsPerClient; {
	case perClient < 0:
		perClient = 0
	case perClient == 0 && max > 0:
		perClient = max / 8
		if perClient < 16 {
			perClient = 16
		}
	}
	return max, perClient
}

// apiConcurrency turns the configured API concurrency into a gate size:
// 0 is 8 per CPU, -1 (or less) no gate.
func apiConcurrency(n int) int {
	switch {
	case n == 0:
		return 8 * runtime.GOMAXPROCS(0)
	case n < 0:
		return 0
	}
	return n
}

// bootstrap creates the admin user and the public library project on first start.
func bootstrap(ctx context.Context, db *store.DB, log *slog.Logger, password string) error {
	admin, err := db.UserByName(ctx, "admin")
	switch {
	case errs.Is(err, errs.NotFound):
		generated := password == ""
		if generated {
			password = auth.RandomSecret(18)
		}
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		id, err := db.CreateUser(ctx, store.User{Username: "admin", Realname: "System Administrator", PasswordHash: hash, SysAdmin: true})
		if err != nil && !errs.Is(err, errs.Exists) {
			return err
		}
		if err == nil && generated {
			// Shown once: it is not stored anywhere but as a hash.
			log.Warn("created user admin with a generated password; set BERTH_ADMIN_PASSWORD to choose it", "password", password)
		}
		admin = &store.User{ID: id}
	case err != nil:
		return err
	}
	if _, err := db.CreateProject(ctx, store.Project{Name: "library", Public: true, OwnerID: admin.ID}); err != nil && !errs.Is(err, errs.Exists) {
		return err
	}
	return nil
}

// Close drains the event bus and releases the stores.
func (a *App) Close() error {
	a.Events.Close()
	return a.DB.Close()
}

// Serve listens on the configured address until ctx ends, then shuts down
// gracefully and flushes pending pull times.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	maxConns, perClient := connLimits(a.cfg)
	ln = httplimit.Listen(ln, httplimit.ConnLimits{Max: maxConns, PerClient: perClient, Logger: a.log})
	srv := &http.Server{
		Handler: a.Handler,
		// Large blob answers are corked: the cork needs the TCP connection.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return registry.ConnContext(ctx, httplimit.Unwrap(c))
		},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.cfg.DebugAddr != "" {
		dbg, err := a.serveDebug()
		if err != nil {
			ln.Close()
			return err
		}
		defer dbg.Close()
	}
	if a.cfg.ExternalURL == "" {
		a.log.Warn("external-url is not set: the token realm and Location headers follow each request's Host header; set it behind a proxy or under several names (docs/security.md)")
	}
	// Logged before the first request can be answered: the listener is
	// bound already, and whoever waits for the server reads it first.
	a.log.Info("berth serving", "addr", ln.Addr().String(), "version", Version, "database", a.DB.Dialect(), "tls", a.cfg.TLSCert != "",
		"max_connections", maxConns, "max_connections_per_client", perClient)
	bg, stopBG := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.RunBackground(bg); close(done) }()
	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			errc <- srv.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	stopBG()
	<-done
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// RunBackground runs the background work (pull-time flushing, job workers,
// schedules) until ctx ends.
func (a *App) RunBackground(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.Jobs.Run(ctx); close(done) }()
	a.Reg.Run(ctx)
	<-done
}

// Config returns the configuration the app was built with.
func (a *App) Config() config.Config { return a.cfg }

// serveDebug serves Go's profiler on cfg.DebugAddr, a listener of its own:
// the registry's handler never routes /debug/.
func (a *App) serveDebug() (*http.Server, error) {
	ln, err := net.Listen("tcp", a.cfg.DebugAddr)
	if err != nil {
		return nil, fmt.Errorf("debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	a.log.Info("profiler serving", "addr", ln.Addr().String())
	return srv, nil
}
