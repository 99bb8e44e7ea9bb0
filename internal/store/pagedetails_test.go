package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestListingDetailsInPageRows: the tags and labels a listing reads in its
// page's rows (aggregated columns) are exactly what the reads by ID
// (ArtifactDetailsOf) find, in the same order, on every backend: for
// artifacts with several tags and labels, none, and a tag whose name holds
// the aggregate's separators (written straight to the store; the registry
// refuses such names).
func TestListingDetailsInPageRows(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := open(t, dsn(t, backend))
			ctx := context.Background()
			if err := seed.Small(ctx, db, seed.Options{Projects: 2, Repositories: 2, Artifacts: 5, Tags: 3, Labels: 3, LabelEvery: 2,
				Users: 1, Memberships: 1, Prefix: "pd"}); err != nil {
				t.Fatal(err)
			}
			repo, err := db.RepositoryByName(ctx, "pd-000/repo-000")
			if err != nil {
				t.Fatal(err)
			}
			page, err := db.ListArtifacts(ctx, store.ArtifactFilter{RepositoryID: repo.ID}, nil, 0, 10, store.DetailsWanted{})
			if err != nil || len(page.Artifacts) != 5 {
				t.Fatalf("listing: %v, %d artifacts", err, len(page.Artifacts))
			}
			first := page.Artifacts[0]
			if _, err := db.CreateArtifactTag(ctx, repo.ID, first.ID, "odd,1:2x"); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"second", "third"} {
				id, err := db.CreateLabel(ctx, store.Label{Name: name, Description: `"quoted", ünïcode`, Color: "#fff", Scope: "g"})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.AttachLabel(ctx, first.ID, id); err != nil {
					t.Fatal(err)
				}
			}
			all := store.DetailsWanted{Tags: true, Labels: true, Accessories: true, References: true}
			for _, f := range []store.ArtifactFilter{{RepositoryID: repo.ID}, {RepositoryName: "pd-000/repo-001"}, {ProjectID: repo.ProjectID}} {
				for _, q := range []*query.Query{nil, {Sort: []query.SortKey{{Key: "push_time"}}}} {
					page, err := db.ListArtifacts(ctx, f, q, 0, 20, all)
					if err != nil {
						t.Fatal(err)
					}
					ids := make([]int64, len(page.Artifacts))
					for i, a := range page.Artifacts {
						ids[i] = a.ID
					}
					want, err := db.ArtifactDetailsOf(ctx, ids, all)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(page.Details.Tags, want.Tags) {
						t.Errorf("%+v: tags in the page's rows\n%v\nby ID\n%v", f, page.Details.Tags, want.Tags)
					}
					if !reflect.DeepEqual(page.Details.Labels, want.Labels) {
						t.Errorf("%+v: labels in the page's rows\n%v\nby ID\n%v", f, page.Details.Labels, want.Labels)
					}
				}
			}
			page, err = db.ListArtifacts(ctx, store.ArtifactFilter{RepositoryID: repo.ID}, nil, 0, 1, all)
			if err != nil {
				t.Fatal(err)
			}
			tags, labels := page.Details.Tags[first.ID], page.Details.Labels[first.ID]
			if len(tags) != 4 || tags[0].Name != "odd,1:2x" || len(labels) != 3 || labels[2].Name != "third" || labels[2].Description != `"quoted", ünïcode` {
				t.Errorf("first artifact: tags %+v labels %+v", tags, labels)
			}
		})
	}
}
