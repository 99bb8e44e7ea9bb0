package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testserver"
)

// dsn returns a fresh database for backend: a SQLite file in a temporary
// directory, or a fresh PostgreSQL schema (skipped on a laptop without
// BERTH_TEST_POSTGRES, failed under CI).
func dsn(t *testing.T, backend string) string {
	t.Helper()
	if d := testserver.DatabaseDSN(t, backend); d != "" {
		return d
	}
	return filepath.Join(t.TempDir(), "berth.db")
}

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestStore runs the shared suite on every metadata backend.
func TestStore(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) *store.DB {
				db := open(t, dsn(t, backend))
				if db.Dialect() != backend {
					t.Fatalf("dialect %q, want %q", db.Dialect(), backend)
				}
				return db
			})
		})
	}
}

// TestMigrationsIdempotent opens one database three times, the last while
// the second is still open: migrations already applied are skipped and the
// data stays.
func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			d := dsn(t, backend)
			first, err := store.Open(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.CreateProject(ctx, store.Project{Name: "kept"}); err != nil {
				t.Fatal(err)
			}
			first.Close()
			second := open(t, d)
			third := open(t, d)
			for i, db := range []*store.DB{second, third} {
				if _, err := db.ProjectByName(ctx, "kept"); err != nil {
					t.Fatalf("open %d: %v", i+2, err)
				}
			}
		})
	}
}

// TestConcurrentOpen starts several replicas on one empty database at once
// (on PostgreSQL the advisory lock makes them take turns migrating): all
// succeed and share the data.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			d := dsn(t, backend)
			const n = 4
			dbs := make([]*store.DB, n)
			errc := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { dbs[i], errc[i] = store.Open(ctx, d) })
			}
			wg.Wait()
			for i := range n {
				if errc[i] != nil {
					t.Errorf("open %d: %v", i, errc[i])
					continue
				}
				t.Cleanup(func() { dbs[i].Close() })
			}
			if t.Failed() {
				t.FailNow()
			}
			for i, db := range dbs {
				if _, err := db.CreateProject(ctx, store.Project{Name: fmt.Sprintf("p%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if _, err := dbs[0].ProjectByName(ctx, fmt.Sprintf("p%d", i)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestTime(t *testing.T) {
	if !store.Time(0).IsZero() {
		t.Fatal("Time(0) is not zero")
	}
	if got := store.Time(1_700_000_000_123); !got.Equal(time.UnixMilli(1_700_000_000_123)) || got.Location() != time.UTC {
		t.Fatalf("Time = %v", got)
	}
}

// TestListingsUseIndexes asks SQLite how it runs every listing query: each
// must search the index named, never scan a table, and read rows in index
// order (no temporary sort). The queries mirror those in artifacts.go (the
// artifact listings, those an artifact API needs); keep them in step.
func TestListingsUseIndexes(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "berth.db"))
	pid, err := db.CreateProject(ctx, store.Project{Name: "lib"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		body := fmt.Sprintf("m%d", i)
		m := store.ManifestPut{ProjectID: pid, Repository: fmt.Sprintf("lib/r%d", i%5), Digest: string(oci.FromBytes([]byte(body))),
			Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest, Size: 2, Body: []byte(body), Tags: []string{fmt.Sprintf("t%d", i)}}
		if i%2 == 1 {
			m.Subject = string(oci.FromBytes([]byte("m0")))
		}
		if _, err := db.PutManifest(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		index string // the index the listing must search
	}{
		{"tags by repository", `SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?`, []any{1, "", 10}, "sqlite_autoindex_tags_1"},
		{"repository by name", `SELECT id FROM repositories WHERE name = ?`, []any{"lib/r1"}, "sqlite_autoindex_repositories_1"},
		{"artifacts by repository", `SELECT id, digest FROM artifacts WHERE repository_id = ? ORDER BY push_time DESC LIMIT ? OFFSET ?`, []any{1, 10, 0}, "artifacts_repo_push"},
		{"artifacts by project", `SELECT id, digest FROM artifacts WHERE project_id = ? ORDER BY push_time DESC LIMIT ?`, []any{pid, 10}, "artifacts_project_push"},
		{"referrers by subject", `SELECT a.digest, a.manifest_media_type, a.artifact_type, a.size, a.annotations FROM artifacts a
			JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.subject_digest = ? AND a.artifact_type = ?
			ORDER BY a.push_time, a.id`, []any{"lib/r1", "sha256:x", "t"}, "artifacts_subject"},
		{"catalog", `SELECT name, project_id FROM repositories WHERE name > ? ORDER BY name LIMIT ?`, []any{"", 500}, "sqlite_autoindex_repositories_1"},
		{"manifest by tag", `SELECT a.id, t.id, a.digest, a.manifest_media_type, a.size, a.manifest
			FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN artifacts a ON a.id = t.artifact_id
			WHERE r.name = ? AND t.name = ?`, []any{"lib/r1", "t1"}, "sqlite_autoindex_tags_1"},
		{"manifest by digest", `SELECT a.id, 0, a.digest, a.manifest_media_type, a.size, a.manifest
			FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.digest = ?`, []any{"lib/r1", "sha256:x"}, "sqlite_autoindex_artifacts_1"},
		{"indexes of a repository (shown counts)", `SELECT cp.id FROM artifacts cp CROSS JOIN artifact_references cr
			WHERE cp.repository_id = ? AND cp.manifest_media_type IN (` + store.IndexTypes + `) AND cr.parent_id = cp.id`, []any{1}, "artifacts_indexes"},
		{"children", `SELECT c.child_digest, c.media_type, c.platform FROM artifact_references c
			JOIN artifacts a ON a.id = c.parent_id JOIN repositories r ON r.id = a.repository_id
			WHERE r.name = ? AND a.digest = ? ORDER BY c.child_digest`, []any{"lib/r1", "sha256:x"}, "sqlite_autoindex_artifact_references_1"},
	} {
		plan, err := db.ExplainSQLite(ctx, tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s:\n%s", tc.name, plan)
		for _, step := range strings.Split(strings.TrimSpace(plan), "\n") {
			if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan step %q\nfull plan:\n%s", tc.name, step, plan)
			}
		}
		if !strings.Contains(plan, "INDEX "+tc.index+" ") {
			t.Errorf("%s: index %s not searched:\n%s", tc.name, tc.index, plan)
		}
	}
}
