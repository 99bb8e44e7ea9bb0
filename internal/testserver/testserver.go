// Package testserver starts real Berth servers for tests: in-process over
// httptest (fast, for handler tables) or as the built binary in its own
// process (for clients, crash and conformance tests). Both run the full
// stack on SQLite in a temporary directory or on a fresh PostgreSQL schema.
package testserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/app"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/registry"
)

// AdminPassword is the admin password of every test server.
const AdminPassword = "Berth-Test-Admin-1"

// Required reports whether tests must not skip for a missing dependency
// (a database, a CLI): true under CI.
func Required() bool { return os.Getenv("CI") != "" }

// SkipOrFail skips the test on a laptop and fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("required in CI: %s", msg)
	}
	t.Skip(msg)
}

// Backends lists the metadata databases to test: "sqlite" always, and
// "postgres" when BERTH_TEST_POSTGRES is set (required under CI).
func Backends(t testing.TB) []string {
	b := []string{"sqlite"}
	if os.Getenv("BERTH_TEST_POSTGRES") != "" {
		b = append(b, "postgres")
	} else if Required() {
		t.Fatal("BERTH_TEST_POSTGRES must be set in CI")
	}
	return b
}

// DatabaseDSN returns the --database value for backend: "" for SQLite, or
// a PostgreSQL URL whose search_path is a fresh schema dropped at cleanup.
func DatabaseDSN(t testing.TB, backend string) string {
	t.Helper()
	if backend == "sqlite" {
		return ""
	}
	base := os.Getenv("BERTH_TEST_POSTGRES")
	if base == "" {
		SkipOrFail(t, "BERTH_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "berth_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// InProcess is a Berth stack served by httptest.
type InProcess struct {
	*httptest.Server
	App  *app.App
	Host string // host:port, for image references
}

// NewInProcess starts the full stack in this process on backend. Each of
// configure, if any, may change the configuration before the stack is built.
func NewInProcess(t testing.TB, backend string, configure ...func(*config.Config)) *InProcess {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Database = DatabaseDSN(t, backend)
	// Tests flush pull times themselves (App.Reg.Flush); the background
	// writer must not race them.
	cfg.PullFlush = time.Hour
	for _, f := range configure {
		f(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(context.Background(), cfg, log, AdminPassword)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	srv := httptest.NewUnstartedServer(a.Handler)
	srv.Config.ConnContext = registry.ConnContext // as App.ServeListener
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.RunBackground(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		a.Close()
	})
	return &InProcess{Server: srv, App: a, Host: strings.TrimPrefix(srv.URL, "http://")}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/berth once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/berth")
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a Berth binary running in its own process.
type Process struct {
	t       testing.TB
	Addr    string // host:port
	URL     string // http://host:port
	DataDir string
	DSN     string
	Log     string // path of the combined output
	cmd     *exec.Cmd
	args    []string
}

// Start runs the binary on a free loopback port with a fresh data directory
// and database for backend, and waits until it answers.
func Start(t testing.TB, backend string, extraArgs ...string) *Process {
	t.Helper()
	p := &Process{t: t, DataDir: t.TempDir(), DSN: DatabaseDSN(t, backend)}
	p.Addr = FreeAddr(t)
	p.URL = "http://" + p.Addr
	p.args = append([]string{"serve", "--addr", p.Addr, "--data-dir", p.DataDir, "--database", p.DSN}, extraArgs...)
	p.Log = filepath.Join(t.TempDir(), "berth.log")
	p.start()
	t.Cleanup(func() { p.Stop() })
	return p
}

// StartBeside runs another binary on p's data directory (its blobs, and on
// SQLite its database file) and p's database, with its own address: a
// second replica of one installation.
func StartBeside(t testing.TB, p *Process, extraArgs ...string) *Process {
	t.Helper()
	q := &Process{t: t, DataDir: p.DataDir, DSN: p.DSN}
	q.Addr = FreeAddr(t)
	q.URL = "http://" + q.Addr
	q.args = append([]string{"serve", "--addr", q.Addr, "--data-dir", q.DataDir, "--database", q.DSN}, extraArgs...)
	q.Log = filepath.Join(t.TempDir(), "berth.log")
	q.start()
	t.Cleanup(func() { q.Stop() })
	return q
}

func (p *Process) start() {
	p.t.Helper()
	bin := Binary(p.t)
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = append(os.Environ(), "BERTH_ADMIN_PASSWORD="+AdminPassword)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	logf.Close()
	p.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := os.ReadFile(p.Log)
	p.t.Fatalf("berth did not start:\n%s", out)
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// Stop interrupts the process and waits for a clean exit.
func (p *Process) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		p.cmd = nil
	}
}

// Pid returns the process ID of the running server (0 when stopped), for
// tests that read its /proc entries (memory, open files).
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Restart starts the process again on the same address, data and database.
func (p *Process) Restart() { p.t.Helper(); p.start() }

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
