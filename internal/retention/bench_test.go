package retention_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRetentionSeeded runs retention over a seeded data set through the
// real job service (4 workers) and store: a policy on every project
// keeping the newest half of each repository, a dry run and then a real
// run. It checks that exactly half the artifacts and tags remain, and
// reports for each run how long it took, the most connections of each
// pool in use, the durations of the write calls (each one transaction; a
// call's duration includes the wait for SQLite's single writer, so it is
// an upper bound of the transaction's) and, on PostgreSQL, the longest
// transaction pg_stat_activity shows.
//
// By default the set is tiny (2 projects × 3 repositories × 4 artifacts ×
// 2 tags), so the test runs in CI; BERTH_BENCH_RETENTION=1 runs it over
// goharbor/perf's small set (100 × 100 × 10 × 5: 100,000 artifacts).
func TestRetentionSeeded(t *testing.T) {
	full := os.Getenv("BERTH_BENCH_RETENTION") != ""
	opts := seed.Options{Projects: 2, Repositories: 3, Artifacts: 4, Tags: 2, Users: 1, Labels: 1}
	if full {
		opts = seed.Options{}
	}
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { runSeeded(t, backend, opts, full) })
	}
}

// monitor samples the pools and times the write calls, per phase.
type monitor struct {
	db      *store.DB
	pg      *sql.DB // PostgreSQL, for pg_stat_activity (nil on SQLite)
	appName string  // the application_name of the store's connections
	stop    chan struct{}
	done    chan struct{}

	mu            sync.Mutex
	samples       int
	wInUse, wOpen int
	rInUse, rOpen int
	pgConns       int
	pgLongest     time.Duration
	pgErr         error
	longest       map[string]time.Duration
	calls         map[string]int
	longestOp     string
	longestCall   time.Duration
	durations     []time.Duration // of DeleteArtifact
}

// reset starts a new phase.
func (m *monitor) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wInUse, m.wOpen, m.rInUse, m.rOpen, m.pgConns, m.pgLongest, m.samples = 0, 0, 0, 0, 0, 0, 0
	m.longest, m.calls, m.durations = map[string]time.Duration{}, map[string]int{}, nil
	m.longestOp, m.longestCall = "", 0
}

func (m *monitor) record(op string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[op]++
	if d > m.longest[op] {
		m.longest[op] = d
	}
	if d > m.longestCall {
		m.longestCall, m.longestOp = d, op
	}
	if op == "DeleteArtifact" {
		m.durations = append(m.durations, d)
	}
}

// run samples every 10ms until stop is closed.
func (m *monitor) run() {
	defer close(m.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		w, r := m.db.PoolStats()
		var conns int
		var age float64
		var err error
		if m.pg != nil {
			err = m.pg.QueryRow(`SELECT COUNT(*), COALESCE(MAX(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0)
				FROM pg_stat_activity WHERE application_name = $1`, m.appName).Scan(&conns, &age)
		}
		m.mu.Lock()
		m.samples++
		m.wInUse, m.wOpen = max(m.wInUse, w.InUse), max(m.wOpen, w.OpenConnections)
		m.rInUse, m.rOpen = max(m.rInUse, r.InUse), max(m.rOpen, r.OpenConnections)
		m.pgConns = max(m.pgConns, conns)
		m.pgLongest = max(m.pgLongest, time.Duration(age*float64(time.Second)))
		if err != nil && m.pgErr == nil {
			m.pgErr = err
		}
		m.mu.Unlock()
	}
}

// report logs the figures of the phase that ends.
func (m *monitor) report(t *testing.T, phase string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sort.Slice(m.durations, func(i, j int) bool { return m.durations[i] < m.durations[j] })
	pct := func(p float64) time.Duration {
		return m.durations[min(len(m.durations)-1, int(p*float64(len(m.durations))))]
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	t.Logf("%s: pools (max over %d samples, every 10ms): writer in use %d of %d open, reader in use %d of %d open", phase, m.samples,
		m.wInUse, m.wOpen, m.rInUse, m.rOpen)
	if m.pg != nil {
		t.Logf("%s: pg_stat_activity: at most %d connections, longest transaction seen %v (sampling error: %v)", phase, m.pgConns,
			m.pgLongest.Round(time.Millisecond), m.pgErr)
	}
	if len(m.durations) > 0 {
		t.Logf("%s: DeleteArtifact: %d calls, p50 %v, p99 %v, p99.9 %v, max %v", phase, len(m.durations),
			r(pct(0.5)), r(pct(0.99)), r(pct(0.999)), r(m.longest["DeleteArtifact"]))
	}
	ops := make([]string, 0, len(m.longest))
	for op := range m.longest {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		t.Logf("%s:   longest %-20s %8v over %d calls", phase, op, r(m.longest[op]), m.calls[op])
	}
}

// timed is the store as the job service and the runs see it, timing the
// calls that write.
type timed struct {
	*store.DB
	m *monitor
}

func (s timed) time(op string, start time.Time) { s.m.record(op, time.Since(start)) }

func (s timed) DeleteArtifact(ctx context.Context, id int64) ([]store.Artifact, error) {
	defer s.time("DeleteArtifact", time.Now())
	return s.DB.DeleteArtifact(ctx, id)
}

func (s timed) SettleRetentionTask(ctx context.Context, r store.RetentionResult) (bool, error) {
	defer s.time("SettleRetentionTask", time.Now())
	return s.DB.SettleRetentionTask(ctx, r)
}

func (s timed) CreateExecution(ctx context.Context, e store.Execution, tasks []store.TaskSpec) (int64, error) {
	defer s.time("CreateExecution", time.Now())
	return s.DB.CreateExecution(ctx, e, tasks)
}

func (s timed) ClaimTask(ctx context.Context, owner string, lease int64, paused []string) (*store.Task, error) {
	defer s.time("ClaimTask", time.Now())
	return s.DB.ClaimTask(ctx, owner, lease, paused)
}

func (s timed) FinishTask(ctx context.Context, id int64, owner, status, msg string, retry int64) error {
	defer s.time("FinishTask", time.Now())
	return s.DB.FinishTask(ctx, id, owner, status, msg, retry)
}

func (s timed) RenewLease(ctx context.Context, id int64, owner string, lease int64) (bool, error) {
	defer s.time("RenewLease", time.Now())
	return s.DB.RenewLease(ctx, id, owner, lease)
}

func (s timed) AppendTaskLog(ctx context.Context, id int64, text string) error {
	defer s.time("AppendTaskLog", time.Now())
	return s.DB.AppendTaskLog(ctx, id, text)
}

func runSeeded(t *testing.T, backend string, opts seed.Options, full bool) {
	ctx := context.Background()
	dsn := testserver.DatabaseDSN(t, backend)
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{})}
	m.reset()
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "berth.db")
	} else {
		// Name the store's connections, to find them in pg_stat_activity.
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		m.appName = fmt.Sprintf("berth-retention-bench-%d", time.Now().UnixNano())
		q := u.Query()
		q.Set("application_name", m.appName)
		u.RawQuery = q.Encode()
		dsn = u.String()
		if m.pg, err = sql.Open("pgx", os.Getenv("BERTH_TEST_POSTGRES")); err != nil {
			t.Fatal(err)
		}
		defer m.pg.Close()
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m.db = db

	start := time.Now()
	if err := seed.Small(ctx, db, opts); err != nil {
		t.Fatal(err)
	}
	seeded, err := seed.Count(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: seeded %d projects, %d repositories, %d artifacts, %d tags in %v", backend, seeded.Projects, seeded.Repositories,
		seeded.Artifacts, seeded.Tags, time.Since(start).Round(time.Millisecond))

	// A policy on every project: keep the newest half of every repository.
	o := opts
	if o.Projects == 0 {
		o.Projects, o.Artifacts = 100, 10
	}
	if o.Prefix == "" {
		o.Prefix = "perf"
	}
	var policies []*retention.Policy
	for i := range o.Projects {
		project, err := db.ProjectByName(ctx, fmt.Sprintf("%s-%03d", o.Prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		var p retention.Policy
		if err := json.Unmarshal([]byte(fmt.Sprintf(`{"rules": [{"template": "latestPushedK", "params": {"latestPushedK": %d},
			"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
			"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
			"scope": {"level": "project", "ref": %d}}`, o.Artifacts/2, project.ID)), &p); err != nil {
			t.Fatal(err)
		}
		if err := p.Normalize(); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		if p.ID, err = db.CreateRetentionPolicy(ctx, project.ID, string(b)); err != nil {
			t.Fatal(err)
		}
		policies = append(policies, &p)
	}

	st := timed{DB: db, m: m}
	svc := jobs.New(st, jobs.Options{Workers: 4, Poll: 50 * time.Millisecond})
	retention.Register(svc, st, retention.Options{})
	runCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() { svc.Run(runCtx); close(jobsDone) }()
	defer func() { stopJobs(); <-jobsDone }()
	go m.run()
	defer func() { close(m.stop); <-m.done }()

	run := func(dry bool) time.Duration {
		m.reset()
		start := time.Now()
		tasks := 0
		for _, p := range policies {
			_, n, err := retention.Launch(ctx, st, svc, nil, p, jobs.Manual, dry, "bench")
			if err != nil {
				t.Fatal(err)
			}
			tasks += n
		}
		launched := time.Since(start)
		for _, p := range policies {
			for {
				active, err := db.ActiveExecutions(ctx, retention.VendorType, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(active) == 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		d := time.Since(start)
		phase := backend + " " + map[bool]string{true: "dry run", false: "real run"}[dry]
		t.Logf("%s of %d policies, %d tasks: launched in %v, done in %v", phase, len(policies), tasks,
			launched.Round(time.Millisecond), d.Round(time.Millisecond))
		m.report(t, phase)
		if full && m.longestCall > 5*time.Second {
			t.Errorf("%s: a write call took %v (%s)", phase, m.longestCall, m.longestOp)
		}
		return d
	}

	run(true)
	after, err := seed.Count(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if after.Artifacts != seeded.Artifacts || after.Tags != seeded.Tags {
		t.Fatalf("the dry run deleted: %+v", after)
	}
	real := run(false)
	if after, err = seed.Count(ctx, db); err != nil {
		t.Fatal(err)
	}
	if after.Artifacts != seeded.Artifacts/2 || after.Tags != seeded.Tags/2 || after.Repositories != seeded.Repositories {
		t.Fatalf("after retention: %d artifacts, %d tags, %d repositories; want %d, %d, %d", after.Artifacts, after.Tags, after.Repositories,
			seeded.Artifacts/2, seeded.Tags/2, seeded.Repositories)
	}
	t.Logf("%s: the real run deleted %d artifacts and %d tags, %.0f artifacts/s", backend, seeded.Artifacts-after.Artifacts,
		seeded.Tags-after.Tags, float64(seeded.Artifacts-after.Artifacts)/real.Seconds())
	// Every execution succeeded.
	for _, p := range policies {
		list, total, err := db.ListExecutions(ctx, retention.VendorType, p.ID, 0, 10)
		if err != nil || total != 2 {
			t.Fatalf("executions of policy %d: %d, %v", p.ID, total, err)
		}
		for _, ex := range list {
			if ex.Status != store.JobSuccess {
				t.Fatalf("execution %+v", ex)
			}
		}
	}
}
