package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestSearchRepositoriesByTrigram checks the repository search that the
// trigram index of migration 0014 serves: exact substring hits whatever
// the keyword (LIKE wildcards, case, under three characters), the index
// kept in step with creation and deletion, and the plan reading the index.
func TestSearchRepositoriesByTrigram(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			for i, repo := range []string{"p/app", "p/my-app", "p/app_x", "p/appax", "p/tools/web", "p/db"} {
				body := []byte(fmt.Sprintf(`{"n":%d}`, i))
				if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: pid, Repository: repo, Digest: string(oci.FromBytes(body)),
					Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest, Size: int64(len(body)), Body: body, Tags: []string{"v1"}}); err != nil {
					t.Fatal(err)
				}
			}
			search := func(kw string) []string {
				t.Helper()
				hits, err := db.SearchRepositories(ctx, nil, kw, 100)
				if err != nil {
					t.Fatalf("search %q: %v", kw, err)
				}
				var names []string
				for _, h := range hits {
					if h.ArtifactCount != 1 || h.ProjectName != "p" {
						t.Errorf("search %q: hit %+v", kw, h)
					}
					names = append(names, h.Name)
				}
				return names
			}
			for kw, want := range map[string][]string{
				"app":       {"p/app", "p/app_x", "p/appax", "p/my-app"},
				"APP":       {"p/app", "p/app_x", "p/appax", "p/my-app"},
				"p_x":       {"p/app_x"}, // not appax: _ is no wildcard here
				"%":         nil,
				"ap":        {"p/app", "p/app_x", "p/appax", "p/my-app"},
				"b":         {"p/db", "p/tools/web"},
				"ols/we":    {"p/tools/web"},
				"p/":        {"p/app", "p/app_x", "p/appax", "p/db", "p/my-app", "p/tools/web"},
				"":          {"p/app", "p/app_x", "p/appax", "p/db", "p/my-app", "p/tools/web"},
				"nothing":   nil,
				"app\\x":    nil,
				"my-app ":   nil,
				"ToolS/WEB": {"p/tools/web"},
			} {
				if got := search(kw); !slices.Equal(got, want) {
					t.Errorf("search %q = %v, want %v", kw, got, want)
				}
			}
			if err := db.DeleteRepository(ctx, "p/my-app"); err != nil {
				t.Fatal(err)
			}
			if got := search("app"); !slices.Equal(got, []string{"p/app", "p/app_x", "p/appax"}) {
				t.Errorf("after delete: %v", got)
			}
			body := []byte(`{"n":"new"}`)
			if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: pid, Repository: "p/new-app", Digest: string(oci.FromBytes(body)),
				Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest, Size: int64(len(body)), Body: body}); err != nil {
				t.Fatal(err)
			}
			if got := search("new-a"); !slices.Equal(got, []string{"p/new-app"}) {
				t.Errorf("after create: %v", got)
			}

			plan, err := db.ExplainSearch(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			index := "repository_names VIRTUAL TABLE INDEX"
			if backend == "postgres" {
				index = "repositories_name_trgm"
			}
			if !strings.Contains(plan, index) {
				t.Errorf("search does not read %s:\n%s", index, plan)
			}
		})
	}
}
