package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestSearchNameIndex checks repository search through the in-memory name
// copy (search.go): exact substring hits whatever the keyword holds (LIKE
// wildcards, case), repositories created and deleted after the copy was
// loaded, reach, and the SQL path for keywords matching many names.
func TestSearchNameIndex(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			qid, err := db.CreateProject(ctx, store.Project{Name: "q"})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			push := func(project int64, repo string) {
				t.Helper()
				n++
				body := []byte(fmt.Sprintf(`{"n":%d}`, n))
				if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: project, Repository: repo, Digest: string(oci.FromBytes(body)),
					Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest, Size: int64(len(body)), Body: body, Tags: []string{"v1"}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []string{"p/app", "p/my-app", "p/app_x", "p/appax", "p/tools/web"} {
				push(pid, r)
			}
			push(qid, "q/app")
			search := func(reach *store.Reach, kw string) []string {
				t.Helper()
				// Search (the API's: projects, roles and repositories in
				// one batch, with the copy as it was), run first so that
				// it meets the copy stale, finds the same.
				res, err := db.Search(ctx, store.ProjectFilter{Name: kw, All: true}, reach, 0, 100)
				if err != nil {
					t.Fatalf("Search %q: %v", kw, err)
				}
				var also []string
				for _, h := range res.Repositories {
					also = append(also, h.Name)
				}
				hits, err := db.SearchRepositories(ctx, reach, kw, 100)
				if err != nil {
					t.Fatalf("search %q: %v", kw, err)
				}
				names := []string{}
				for _, h := range hits {
					if h.ArtifactCount != 1 {
						t.Errorf("search %q: %s has %d artifacts", kw, h.Name, h.ArtifactCount)
					}
					names = append(names, h.Name)
				}
				if !slices.Equal(also, names) && len(also)+len(names) > 0 {
					t.Errorf("Search %q found repositories %v, SearchRepositories %v", kw, also, names)
				}
				return names
			}
			for kw, want := range map[string][]string{
				"app":     {"p/app", "p/app_x", "p/appax", "p/my-app", "q/app"},
				"APP":     {"p/app", "p/app_x", "p/appax", "p/my-app", "q/app"},
				"p_x":     {"p/app_x"}, // _ is no wildcard
				"%":       {},
				"ols/we":  {"p/tools/web"},
				"nothing": {},
				"":        {"p/app", "p/app_x", "p/appax", "p/my-app", "p/tools/web", "q/app"},
			} {
				if got := search(nil, kw); !slices.Equal(got, want) {
					t.Errorf("search %q = %v, want %v", kw, got, want)
				}
			}
			// A selective keyword is looked up in the copy: the statement
			// names the IDs instead of scanning names.
			cctx, st := store.CountStatements(ctx)
			if _, err := db.SearchRepositories(cctx, nil, "tools", 100); err != nil {
				t.Fatal(err)
			}
			list := st.List()
			if len(list) == 0 || !strings.Contains(strings.Join(list, "\n"), "SELECT COALESCE(MAX(id), 0) FROM repositories") {
				t.Errorf("search statements: %q", list)
			}
			if ids, scans := idLookups(db, list); !ids || scans {
				t.Errorf("search did not look the IDs up (ids %v, name scan %v): %q", ids, scans, list)
			}
			// Reach: only project q (by name), as a non-member sees it.
			if got := search(&store.Reach{Projects: []string{"q"}}, "app"); !slices.Equal(got, []string{"q/app"}) {
				t.Errorf("reach q: %v", got)
			}
			// Created and deleted after the copy was loaded.
			push(qid, "q/new-app")
			if err := db.DeleteRepository(ctx, "p/my-app"); err != nil {
				t.Fatal(err)
			}
			if got := search(nil, "app"); !slices.Equal(got, []string{"p/app", "p/app_x", "p/appax", "q/app", "q/new-app"}) {
				t.Errorf("after create and delete: %v", got)
			}
			// Concurrent searches while repositories are created: each
			// repository is found by a search started after its push.
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := db.SearchRepositories(ctx, nil, "conc-", 100); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			for i := range 20 {
				name := fmt.Sprintf("q/conc-%02d", i)
				push(qid, name)
				if got := search(nil, name); !slices.Equal(got, []string{name}) {
					t.Errorf("search %s right after its push: %v", name, got)
				}
			}
			close(stop)
			wg.Wait()
			// More matches than the copy hands to SQL: the SQL scan, the
			// same answer, bounded by the limit.
			for i := range 1005 {
				push(qid, fmt.Sprintf("q/many-%04d", i))
			}
			hits, err := db.SearchRepositories(ctx, nil, "many-", 100)
			if err != nil || len(hits) != 100 || hits[0].Name != "q/many-0000" || hits[99].Name != "q/many-0099" {
				t.Fatalf("broad keyword: %d hits, %v", len(hits), err)
			}
			if got := search(nil, "many-1004"); !slices.Equal(got, []string{"q/many-1004"}) {
				t.Errorf("narrow keyword among many: %v", got)
			}
			// Projects by name with their repository counts, and the
			// roles of a member in them; a non-member sees public
			// projects and those of its own only.
			uid, err := db.CreateUser(ctx, store.User{Username: "searcher", Email: "s@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.AddMember(ctx, store.Member{ProjectID: qid, EntityType: store.EntityUser, EntityID: uid, Role: 3}); err != nil {
				t.Fatal(err)
			}
			res, err := db.Search(ctx, store.ProjectFilter{Name: "Q", All: true}, nil, uid, 100)
			if err != nil || len(res.Projects) != 1 || res.Projects[0].ID != qid || res.Projects[0].RepoCount != 1+1+20+1005 ||
				!slices.Equal(res.Roles[qid], []int{3}) || len(res.Roles) != 1 || res.Projects[0].Metadata["public"] != "false" {
				t.Errorf("projects matching q: %+v %v", res, err)
			}
			res, err = db.Search(ctx, store.ProjectFilter{Name: "", MemberID: uid, WithPublic: true}, &store.Reach{UserID: uid, Projects: []string{"q"}}, uid, 100)
			if err != nil || len(res.Projects) != 1 || res.Projects[0].Name != "q" || len(res.Repositories) != 100 || res.Repositories[0].ProjectName != "q" {
				t.Errorf("a member's search: %d projects, %d repositories, %v", len(res.Projects), len(res.Repositories), err)
			}
		})
	}
}

// idLookups reports whether statements read repositories by an ID list and
// whether they scanned names.
func idLookups(db *store.DB, statements []string) (ids, scans bool) {
	for _, q := range statements {
		ids = ids || strings.Contains(q, "json_each(") || strings.Contains(q, "= ANY(")
		scans = scans || strings.Contains(q, "instr(") || strings.Contains(q, "strpos(")
	}
	return ids, scans
}
