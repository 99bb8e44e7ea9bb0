package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// fakeDigest returns a distinct digest for prefix and n, spread over the
// key space as real digests are.
func fakeDigest(prefix string, n int64) string {
	return string(oci.FromBytes(fmt.Appendf(nil, "%s/%d", prefix, n)))
}

// TestQuotaConcurrentPushes finishes 32 uploads of distinct blobs into one
// project with room for 20 at once. Usage always equals what was accepted;
// on SQLite (serial writes) exactly 20 are accepted, on PostgreSQL
// transactions that commit together may pass the limit by what is in flight.
func TestQuotaConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := open(t, dsn(t, backend))
			pid, err := db.AddProject(ctx, store.ProjectSpec{Name: "limited", StorageLimit: 200})
			if err != nil {
				t.Fatal(err)
			}
			const n, size = 32, 10
			var accepted, denied atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := db.FinishUpload(ctx, "", pid, fakeDigest("c", int64(i)), size)
					switch {
					case err == nil:
						accepted.Add(1)
					case errs.Is(err, errs.Denied):
						denied.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			used, err := db.ProjectUsage(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if used != accepted.Load()*size {
				t.Fatalf("usage %d, but %d blobs of %d bytes were accepted", used, accepted.Load(), size)
			}
			if backend == "sqlite" && (accepted.Load() != 20 || denied.Load() != 12) {
				t.Fatalf("accepted %d, denied %d; want 20 and 12", accepted.Load(), denied.Load())
			}
			if accepted.Load() < 20 || used > 200+n*size {
				t.Fatalf("accepted %d, usage %d", accepted.Load(), used)
			}
			// Unlinking gives the bytes back; the usage stays the sum of the blobs.
			for i := range n {
				err := db.UnlinkBlob(ctx, pid, fakeDigest("c", int64(i)))
				if err != nil && !errs.Is(err, errs.NotFound) {
					t.Fatal(err)
				}
			}
			if used, _ := db.ProjectUsage(ctx, pid); used != 0 {
				t.Fatalf("usage after unlinking everything: %d", used)
			}
		})
	}
}

// BenchmarkQuotaContention measures the metadata side of blob pushes by 32
// concurrent pushers, all into one project or each into its own, with no
// limit and with a (never reached) limit that makes every push read the
// usage. Each push is an upload session (CreateUpload) finished with a
// distinct blob (FinishUpload). One project must cost no more per push than
// 32: usage is spread over shards taken with SKIP LOCKED, and no foreign key
// locks the project's row, so pushers into one project do not queue.
//
//	BERTH_TEST_POSTGRES=... go test ./internal/store -run '^$' -bench QuotaContention -benchtime 2000x
func BenchmarkQuotaContention(b *testing.B) {
	ctx := context.Background()
	const pushers = 32
	for _, backend := range testserver.Backends(b) {
		for _, limit := range []int64{-1, 1 << 50} {
			for _, projects := range []int{1, pushers} {
				name := fmt.Sprintf("%s/one-project", backend)
				if projects > 1 {
					name = fmt.Sprintf("%s/%d-projects", backend, projects)
				}
				if limit >= 0 {
					name += "-limited"
				}
				b.Run(name, func(b *testing.B) {
					d := testserver.DatabaseDSN(b, backend)
					if d == "" {
						d = b.TempDir() + "/berth.db"
					}
					db, err := store.Open(ctx, d)
					if err != nil {
						b.Fatal(err)
					}
					defer db.Close()
					ids := make([]int64, projects)
					for i := range ids {
						if ids[i], err = db.AddProject(ctx, store.ProjectSpec{Name: fmt.Sprintf("p%d", i), StorageLimit: limit}); err != nil {
							b.Fatal(err)
						}
					}
					var worker, seq, latency atomic.Int64
					b.SetParallelism((pushers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						pid := ids[int(worker.Add(1)-1)%projects]
						for pb.Next() {
							start := time.Now()
							n := seq.Add(1)
							id := fmt.Sprintf("upload-%d", n)
							if err := db.CreateUpload(ctx, store.Upload{ID: id, ProjectID: pid, Repository: "p/r"}); err != nil {
								b.Error(err)
								return
							}
							if err := db.FinishUpload(ctx, id, pid, fakeDigest(name, n), 1024); err != nil {
								b.Error(err)
								return
							}
							latency.Add(int64(time.Since(start)))
						}
					})
					b.StopTimer()
					b.ReportMetric(float64(latency.Load())/float64(b.N)/1e3, "µs/push")
					var total int64
					for _, id := range ids {
						u, err := db.ProjectUsage(ctx, id)
						if err != nil {
							b.Fatal(err)
						}
						total += u
					}
					if total != int64(b.N)*1024 {
						b.Fatalf("usage %d after %d pushes of 1024 bytes", total, b.N)
					}
				})
			}
		}
	}
}

// TestProjectListingsUseIndexes checks on SQLite that the project and quota
// listings and the per-page detail queries read through indexes.
func TestProjectListingsUseIndexes(t *testing.T) {
	ctx := context.Background()
	db := open(t, dsn(t, "sqlite"))
	uid, err := db.CreateUser(ctx, store.User{Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := db.AddProject(ctx, store.ProjectSpec{Name: fmt.Sprintf("p%d", i), OwnerID: uid, StorageLimit: -1,
			Metadata: map[string]string{"auto_scan": "true"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, query string
		args        []any
		index       string
	}{
		{"projects, newest first", `SELECT p.id FROM projects p LEFT JOIN users u ON u.id = p.owner_id
			ORDER BY p.created_at DESC, p.id DESC LIMIT ? OFFSET ?`, []any{10, 0}, "projects_created"},
		{"projects by owner", `SELECT p.id FROM projects p LEFT JOIN users u ON u.id = p.owner_id
			WHERE u.username = ? ORDER BY p.created_at DESC, p.id DESC LIMIT ?`, []any{"u", 10}, "projects_owner"},
		{"repository counts", `SELECT project_id, COUNT(*) FROM repositories WHERE project_id IN (?, ?) GROUP BY project_id`, []any{1, 2}, "repositories_project"},
		{"metadata", `SELECT project_id, name, value FROM project_metadata WHERE project_id IN (?, ?)`, []any{1, 2}, "sqlite_autoindex_project_metadata_1"},
		{"roles", `SELECT project_id, role FROM project_members WHERE entity_type = 'u' AND entity_id = ? AND project_id IN (?, ?)
			ORDER BY project_id, role`, []any{uid, 1, 2}, "sqlite_autoindex_project_members_1"},
		{"usage", `SELECT COALESCE(SUM(bytes), 0) FROM project_usage WHERE project_id = ?`, []any{1}, "sqlite_autoindex_project_usage_1"},
		{"quotas by limit", `SELECT p.id FROM projects p ORDER BY p.storage_limit DESC, p.id DESC LIMIT ?`, []any{10}, "projects_storage_limit"},
	} {
		plan, err := db.ExplainSQLite(ctx, tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, step := range strings.Split(strings.TrimSpace(plan), "\n") {
			if (strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, " INDEX ")) || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan step %q\nfull plan:\n%s", tc.name, step, plan)
			}
		}
		if !strings.Contains(plan, "INDEX "+tc.index) {
			t.Errorf("%s: index %s not used:\n%s", tc.name, tc.index, plan)
		}
	}
}
