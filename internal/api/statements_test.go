package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestListingStatementBudgets pins how many SQL statements the listings
// the benchmarks measure cost per request (bench/api.sh, bench/ui.sh). On
// PostgreSQL each is a round trip to a backend that shares the machine's
// cores, and their number set the listings' throughput at 300 clients
// (docs/performance.md). A change that adds a statement to one of these
// paths fails here and must raise the budget on purpose.
func TestListingStatementBudgets(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			admin, err := srv.App.DB.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			opts := seed.Options{Projects: 3, Repositories: 3, Artifacts: 4, Tags: 3, Labels: 2, LabelEvery: 2,
				Users: 1, Memberships: 1, Prefix: "stm", OwnerID: admin.ID}
			if err := seed.Small(ctx, srv.App.DB, opts); err != nil {
				t.Fatal(err)
			}
			// Budgets: {SQLite statements, PostgreSQL round trips}. On
			// PostgreSQL the reads of one step go in one batch; on SQLite
			// they run one by one, and a last page needs no COUNT.
			for _, c := range []struct {
				name, path string
				budgets    [2]int64
			}{
				// page with repository counts and metadata in its rows
				// (+ COUNT), roles: one batch on PostgreSQL
				{"projects", "/api/v2.0/projects?page_size=15", [2]int64{2, 1}},
				// project, page (+ COUNT)
				{"repositories", "/api/v2.0/projects/stm-001/repositories?page_size=15", [2]int64{2, 2}},
				// project and roles, the page with its tags and labels in
				// its rows (+ COUNT): one batch on PostgreSQL. Accessories
				// and index references would take one more; a plain
				// repository has none.
				{"artifacts", "/api/v2.0/projects/stm-001/repositories/repo-001/artifacts?with_tag=true&with_label=true&page_size=15", [2]int64{2, 1}},
				{"artifacts, all options", "/api/v2.0/projects/stm-001/repositories/repo-001/artifacts?with_tag=true&with_label=true&with_accessory=true&page_size=15", [2]int64{2, 1}},
				{"artifacts, second page", "/api/v2.0/projects/stm-001/repositories/repo-001/artifacts?page=2&page_size=3", [2]int64{2, 1}},
				// the project with its repository count and metadata, the
				// caller's roles: one batch on PostgreSQL
				{"project", "/api/v2.0/projects/stm-001", [2]int64{4, 1}},
				// project and roles, the artifact with its tags and labels
				// in its row: one batch on PostgreSQL
				{"artifact", "/api/v2.0/projects/stm-001/repositories/repo-001/artifacts/v1.0?with_tag=true&with_label=true", [2]int64{2, 1}},
				{"artifact, all options", "/api/v2.0/projects/stm-001/repositories/repo-001/artifacts/v1.0?with_tag=true&with_label=true&with_accessory=true&with_scan_overview=true", [2]int64{2, 1}},
				// projects with their repository counts, the newest
				// repository ID (the store's name copy), repositories with
				// their counts: one batch on PostgreSQL; on SQLite the
				// caller's roles follow when projects match
				{"search", "/api/v2.0/search?q=repo-001", [2]int64{3, 1}},
				{"search, a project", "/api/v2.0/search?q=stm-001", [2]int64{4, 1}},
			} {
				budget := c.budgets[0]
				if backend == "postgres" {
					budget = c.budgets[1]
				}
				get := func() (int, *store.Statements) {
					req := httptest.NewRequest("GET", c.path, nil)
					req.SetBasicAuth("admin", testserver.AdminPassword)
					cctx, n := store.CountStatements(req.Context())
					w := httptest.NewRecorder()
					srv.App.Handler.ServeHTTP(w, req.WithContext(cctx))
					return w.Code, n
				}
				get() // the first request verifies the password and fills caches
				// The budget is the steady state, with the account caches
				// warm: a write elsewhere in the process (an audit batch, a
				// job's lease) between two requests empties them (auth's
				// write generation), so the fewest of three tries counts.
				var st *store.Statements
				n := int64(-1)
				for try := 0; try < 3 && (n < 0 || n > budget); try++ {
					code, s := get()
					if code != http.StatusOK {
						t.Fatalf("%s: %d", c.name, code)
					}
					if n < 0 || s.Count() < n {
						st, n = s, s.Count()
					}
				}
				t.Logf("%s: %d statements", c.name, n)
				if n > budget || testing.Verbose() {
					for _, q := range st.List() {
						t.Logf("  %.160s", q)
					}
				}
				if n > budget {
					t.Errorf("%s: %d statements, budget %d", c.name, n, budget)
				}
			}
		})
	}
}
