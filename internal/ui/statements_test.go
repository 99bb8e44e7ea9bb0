package ui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestPageStatementBudgets pins how many SQL statements (on PostgreSQL:
// round trips) the console's listing pages cost, the pages bench/ui.sh
// measures. A page is several in-process API calls; their statements add
// up, and on two shared cores their number sets the page's cost.
func TestPageStatementBudgets(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			admin, err := srv.App.DB.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			hash, err := auth.HashPassword("Member-pw-1")
			if err != nil {
				t.Fatal(err)
			}
			opts := seed.Options{Projects: 3, Repositories: 3, Artifacts: 4, Tags: 3, Labels: 2, LabelEvery: 2,
				Users: 1, Memberships: 2, Prefix: "stm", OwnerID: admin.ID, PasswordHash: hash}
			if err := seed.Small(ctx, srv.App.DB, opts); err != nil {
				t.Fatal(err)
			}
			adminB := newBrowser(t, srv)
			adminB.login("admin", testserver.AdminPassword)
			memberB := newBrowser(t, srv)
			memberB.login("stm-user-000", "Member-pw-1")
			for _, c := range []struct {
				name    string
				b       *browser
				path    string
				budgets [2]int64 // SQLite statements, PostgreSQL round trips
			}{
				// Every page: the session with its user (systeminfo reads
				// nothing more). Projects: the listing (project.Service.List:
				// 1 round trip on PostgreSQL, 2 statements on SQLite), the
				// quota bars of the page (project.Service.Quotas: 1 round
				// trip, 2 statements), for an administrator and a member alike.
				{"projects", adminB, "/projects", [2]int64{5, 3}},
				{"projects, member", memberB, "/projects", [2]int64{5, 3}},
				// Project (once per page, by name or ID), its info with the
				// caller's roles, permissions, the listing.
				{"repositories", adminB, "/projects/stm-001/repositories", [2]int64{6, 3}},
				// ... the repository, then the artifact listing: 1 round
				// trip on PostgreSQL, 2 statements on SQLite.
				{"repository", adminB, "/projects/stm-001/repositories/repo-001", [2]int64{7, 4}},
			} {
				get := func() (int, *store.Statements) {
					req := httptest.NewRequest("GET", c.path, nil)
					for _, name := range []string{"sid", "__csrf", "berth_csrf"} {
						if v := c.b.cookie(name); v != "" {
							req.AddCookie(&http.Cookie{Name: name, Value: v})
						}
					}
					cctx, st := store.CountStatements(req.Context())
					w := httptest.NewRecorder()
					srv.App.Handler.ServeHTTP(w, req.WithContext(cctx))
					return w.Code, st
				}
				get()
				code, st := get()
				if code != http.StatusOK {
					t.Fatalf("%s: %d", c.name, code)
				}
				budget := c.budgets[0]
				if backend == "postgres" {
					budget = c.budgets[1]
				}
				n := st.Count()
				t.Logf("%s: %d statements", c.name, n)
				if n > budget || testing.Verbose() {
					for _, q := range st.List() {
						t.Logf("  %.150s", q)
					}
				}
				if n > budget {
					t.Errorf("%s: %d statements, budget %d", c.name, n, budget)
				}
			}
		})
	}
}
