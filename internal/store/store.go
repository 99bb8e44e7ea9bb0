// Package store is Berth's metadata database: one implementation over
// database/sql that speaks two dialects, SQLite (embedded, pure Go, the
// default) and PostgreSQL (pgx), with the same migrations and the same shared
// test suite (package storetest) run against both.
//
// Main tables (migrations/0001_core.sql):
//
//	projects ─< repositories ─< artifacts ─< tags
//	                               │  └─< artifact_references (index → child digest, platform)
//	                               └─< artifact_blobs (manifest → config and layer digests)
//	blobs ─< project_blobs (blob visible in a project; the sum is the project's usage)
//	uploads (resumable upload sessions: acknowledged size and hash state)
//	users, properties (key/value settings, the token signing key)
//
// Every listing reads through an index: artifacts by (repository_id,
// push_time) and (project_id, push_time), tags by (repository_id, name),
// referrers by (repository_id, subject_digest, push_time), repositories by name.
//
// SQLite runs in WAL mode with one writer connection and a pool of readers,
// so reads never wait for a write; PostgreSQL uses one pool.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open metadata store.
type DB struct {
	w, r  *sql.DB // writer and reader pools (the same pool on PostgreSQL)
	pg    bool
	stmts stmtCache // prepared reads (SQLite)
	names nameIndex // repository names for search (search.go)
	// writes counts the writes this handle has made (committed
	// transactions and statements outside one); see WriteGeneration.
	writes atomic.Uint64
	sig    *signal // the change signal shared with other processes (signal.go)
}

// WriteGeneration changes after every write made through this handle,
// except the frequent ones that touch no account, project or membership
// (audit entries, pull times, upload sessions, job leases: see
// routineWrite). A cache of what the store holds may keep an answer read at
// one generation until the generation moves: this process's own writes are
// then seen at once, and another process's as soon as its change signal
// arrives, once OnChange watches for it (signal.go).
func (db *DB) WriteGeneration() uint64 { return db.writes.Load() }

type routineKey struct{}

// routineWrite marks ctx for a write that cannot change what a cache keyed
// by WriteGeneration holds (accounts, projects, memberships), so that it
// leaves the generation alone: a pull's audit entry must not empty the
// caches every pull reads. Leaving a write unmarked is always safe.
func routineWrite(ctx context.Context) context.Context {
	return context.WithValue(ctx, routineKey{}, true)
}

// wrote counts a write; version is the change signal's version the
// write's transaction moved it to (SQLite), 0 when it is left to the
// announcer (signal.go).
func (db *DB) wrote(ctx context.Context, version int64) {
	if ctx.Value(routineKey{}) == nil {
		db.writes.Add(1)
		if version > 0 {
			db.ownVersion(version)
		} else {
			db.changed()
		}
	}
}

// stmtCache keeps prepared read statements by SQL text, for SQLite: the
// driver parses every statement again otherwise (pgx caches prepared
// statements per connection itself), and parsing the listings' SQL was
// about a sixth of a listing's CPU. Statements are never evicted: past
// maxCachedStmts distinct texts, further ones are run unprepared.
type stmtCache struct {
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

const maxCachedStmts = 2048

// readStmt returns the cached prepared statement for q on the reader pool,
// or nil when q should run unprepared.
func (db *DB) readStmt(ctx context.Context, q string) *sql.Stmt {
	if db.pg {
		return nil
	}
	c := &db.stmts
	c.mu.RLock()
	s, n := c.m[q], len(c.m)
	c.mu.RUnlock()
	if s != nil || n >= maxCachedStmts {
		return s
	}
	s, err := db.r.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared query reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil {
		s.Close()
		return old
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = s
	return s
}

// Open connects to dsn: a "postgres://" or "postgresql://" URL selects
// PostgreSQL; anything else is a SQLite file path. It applies migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err = openPostgres(dsn)
	} else {
		db, err = openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.startSignal()
	return db, nil
}

func openPostgres(dsn string) (*DB, error) {
	p, err := sql.Open("pgx", withGenericPlans(dsn))
	if err != nil {
		return nil, errs.Wrap("open postgres", err)
	}
	p.SetMaxOpenConns(32)
	p.SetMaxIdleConns(32)
	p.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{w: p, r: p, pg: true}, nil
}

// withGenericPlans sets plan_cache_mode=force_generic_plan on the
// connections of dsn unless the URL chooses a mode. Listings bind their
// LIMIT and OFFSET, and PostgreSQL then never prefers the generic plan of
// a prepared statement: it planned a repository listing, with its
// correlated artifact counts, anew on every execution (0.5 ms of planning
// for 0.15 ms of work; three times the throughput without).
func withGenericPlans(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // sql.Open reports it
	}
	q := u.Query()
	if q.Has("plan_cache_mode") {
		return dsn
	}
	q.Set("plan_cache_mode", "force_generic_plan")
	u.RawQuery = q.Encode()
	return u.String()
}

func openSQLite(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errs.Wrap("open sqlite", err)
	}
	base := "file:" + abs + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, errs.Wrap("open sqlite", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// Switching a fresh file to WAL takes a lock that SQLite's busy handler
	// does not wait for; processes opening one file together retry.
	for attempt := 0; ; attempt++ {
		err := w.Ping()
		if err == nil {
			break
		}
		if attempt < 50 && strings.Contains(err.Error(), "SQLITE_BUSY") {
			time.Sleep(time.Duration(10+attempt*10) * time.Millisecond)
			continue
		}
		w.Close()
		return nil, errs.Wrap("open sqlite", err)
	}
	// Readers map up to 256 MiB of the file: a listing's random page reads
	// then cost no pread call each (a tenth of a search's CPU at 100,000
	// artifacts).
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)&_pragma=mmap_size(268435456)")
	if err != nil {
		w.Close()
		return nil, errs.Wrap("open sqlite", err)
	}
	n := max(4, 2*runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{w: w, r: r}, nil
}

// Close closes the pools.
func (db *DB) Close() error {
	db.stopSignal()
	db.stmts.mu.Lock()
	for _, s := range db.stmts.m {
		s.Close()
	}
	db.stmts.m = nil
	db.stmts.mu.Unlock()
	err := db.w.Close()
	if db.r != db.w {
		db.r.Close()
	}
	return err
}

// Dialect returns "postgres" or "sqlite".
func (db *DB) Dialect() string {
	if db.pg {
		return "postgres"
	}
	return "sqlite"
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (db *DB) rebind(q string) string {
	if !db.pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// tx runs fn in a write transaction, committing if it returns nil.
func (db *DB) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		t, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return errs.Wrap(op, err)
		}
		err = fn(t)
		var version int64
		if err == nil && db.announcedInTx(ctx) {
			// SQLite: the change signal moves in the transaction itself (the
			// writer is exclusive anyway), so it costs no write of its own.
			err = t.QueryRowContext(ctx, `UPDATE change_signal SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&version)
		}
		if err == nil {
			err = t.Commit()
			db.wrote(ctx, version) // even a failed commit may have written
			if err == nil {
				return nil
			}
		} else {
			t.Rollback()
		}
		// PostgreSQL serialization failures and deadlocks are retried.
		if db.pg && attempt < 5 && isRetryable(err) {
			continue
		}
		var e *errs.Error
		if errors.As(err, &e) {
			return err
		}
		return errs.Wrap(op, err)
	}
}

func isRetryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01")
}

// isUniqueViolation reports whether err is a unique-constraint failure.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

func (db *DB) exec(ctx context.Context, t *sql.Tx, q string, args ...any) (sql.Result, error) {
	counted(ctx, q)
	if t != nil {
		return t.ExecContext(ctx, db.rebind(q), args...)
	}
	defer db.wrote(ctx, 0)
	return db.w.ExecContext(ctx, db.rebind(q), args...)
}

func (db *DB) queryRow(ctx context.Context, t *sql.Tx, q string, args ...any) *sql.Row {
	counted(ctx, q)
	if t != nil {
		return t.QueryRowContext(ctx, db.rebind(q), args...)
	}
	if s := db.readStmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, db.rebind(q), args...)
}

func (db *DB) query(ctx context.Context, t *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	counted(ctx, q)
	if t != nil {
		return t.QueryContext(ctx, db.rebind(q), args...)
	}
	if s := db.readStmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.r.QueryContext(ctx, db.rebind(q), args...)
}

// notFound turns sql.ErrNoRows into an errs.NotFound error with msg.
func notFound(op string, err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return &errs.Error{Kind: errs.NotFound, Op: op, Msg: fmt.Sprintf(format, args...)}
	}
	return errs.Wrap(op, err)
}

func now() int64 { return time.Now().UnixMilli() }

// Time converts a stored millisecond time to time.Time (zero stays zero).
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (db *DB) migrate(ctx context.Context) error {
	const op = "migrate"
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return errs.Wrap(op, err)
	}
	defer conn.Close()
	if db.pg {
		// Replicas starting together take turns.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7426711)"); err != nil {
			return errs.Wrap(op, err)
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(7426711)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return errs.Wrap(op, err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return errs.Wrap(op, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return errs.Wrap(op, err)
		}
		applied[v] = true
	}
	rows.Close()
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return errs.Wrap(op, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || applied[v] {
			continue
		}
		body, _ := migrationFS.ReadFile("migrations/" + e.Name())
		text := db.dialectSQL(string(body))
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return errs.Wrap(op, err)
		}
		// Check again inside the transaction: on SQLite it holds the write
		// lock (BEGIN IMMEDIATE), so another process that migrated while we
		// waited is seen here instead of failing on "table already exists".
		var done int
		if err := tx.QueryRowContext(ctx, db.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), v).Scan(&done); err != nil {
			tx.Rollback()
			return errs.Wrap(op, err)
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		for _, stmt := range splitStatements(text) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return errs.Wrap(fmt.Sprintf("%s %s", op, e.Name()), err)
			}
		}
		if hook := migrationHooks[v]; hook != nil {
			if err := hook(ctx, db, tx); err != nil {
				tx.Rollback()
				return errs.Wrap(fmt.Sprintf("%s %s", op, e.Name()), err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.rebind("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"), v, now()); err != nil {
			tx.Rollback()
			return errs.Wrap(op, err)
		}
		if err := tx.Commit(); err != nil {
			return errs.Wrap(op, err)
		}
	}
	return nil
}

// migrationHooks run in a migration's transaction after its statements,
// for what SQL text alone cannot say (a query built in Go).
var migrationHooks = map[int]func(context.Context, *DB, *sql.Tx) error{
	17: func(ctx context.Context, db *DB, tx *sql.Tx) error { return db.fillTotalSizes(ctx, tx) },
	18: func(ctx context.Context, db *DB, tx *sql.Tx) error { return db.recountAll(ctx, tx) }, // counts of 0016 and flags of 0018
	19: func(ctx context.Context, db *DB, tx *sql.Tx) error { return db.clearForeignConfigAttrs(ctx, tx) },
}

func (db *DB) dialectSQL(s string) string {
	if db.pg {
		s = strings.ReplaceAll(s, "{{ID}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
		s = strings.ReplaceAll(s, "{{BYTES}}", "BYTEA")
		s = strings.ReplaceAll(s, "{{C}}", `COLLATE "C"`)
	} else {
		s = strings.ReplaceAll(s, "{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
		s = strings.ReplaceAll(s, "{{BYTES}}", "BLOB")
		s = strings.ReplaceAll(s, "{{C}}", "")
	}
	return s
}

// splitStatements splits a migration on semicolons at line ends, dropping comments.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}
