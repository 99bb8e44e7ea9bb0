package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestShownArtifactCount checks that a repository's artifact count
// (counted from the candidates that can be hidden) equals the number of
// artifacts its default listing shows, with every kind of hidden and
// look-alike artifact in the repository.
func TestShownArtifactCount(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			push := func(repo, subject string, children []string, tags ...string) string {
				t.Helper()
				n++
				body := []byte(fmt.Sprintf(`{"n":%d}`, n))
				d := string(oci.FromBytes(body))
				m := store.ManifestPut{ProjectID: pid, Repository: repo, Digest: d, Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest,
					Size: int64(len(body)), Body: body, Subject: subject, Tags: tags}
				if children != nil {
					m.MediaType = oci.MediaTypeOCIIndex
					for _, c := range children {
						m.Children = append(m.Children, store.Child{Digest: c, MediaType: oci.MediaTypeOCIManifest})
					}
				}
				if _, err := db.PutManifest(ctx, m); err != nil {
					t.Fatal(err)
				}
				return d
			}
			img := push("p/r", "", nil, "v1")
			child1 := push("p/r", "", nil)
			child2 := push("p/r", "", nil, "c2")
			push("p/r", "", []string{child1, child2}, "multi")             // shown; child1 hidden, child2 tagged
			push("p/r", img, nil)                                          // referrer of img: hidden
			push("p/r", "sha256:"+strings.Repeat("0", 64), nil)            // subject elsewhere: shown
			push("p/r", "", nil, "sha256-"+img[7:]+".sig")                 // cosign signature of img: hidden
			push("p/r", "", nil, "sha256-"+strings.Repeat("1", 64)+".sig") // signature of nothing here: shown
			push("p/r", "", nil, "sha256-short")                           // shown
			push("p/other", "", nil, "v1")
			const want = 6 // v1, c2, multi, the referrer of a digest not here, the signature of nothing here, sha256-short

			repo, err := db.RepositoryByName(ctx, "p/r")
			if err != nil {
				t.Fatal(err)
			}
			page, err := db.ListArtifacts(ctx, store.ArtifactFilter{RepositoryID: repo.ID}, nil, 0, 100, store.DetailsWanted{})
			if err != nil {
				t.Fatal(err)
			}
			if repo.ArtifactCount != want || page.Total != want {
				t.Errorf("repository count %d, listing total %d, want %d", repo.ArtifactCount, page.Total, want)
			}
			list, _, err := db.ListRepositories(ctx, nil, pid, nil, 0, 10)
			if err != nil || len(list) != 2 {
				t.Fatalf("repositories: %+v, %v", list, err)
			}
			for _, r := range list {
				if w := map[string]int64{"p/r": want, "p/other": 1}[r.Name]; r.ArtifactCount != w {
					t.Errorf("listed %s with %d artifacts, want %d", r.Name, r.ArtifactCount, w)
				}
			}
			hits, err := db.SearchRepositories(ctx, nil, "P/R", 10)
			if err != nil || len(hits) != 1 || hits[0].ArtifactCount != want {
				t.Errorf("search P/R: %+v, %v", hits, err)
			}
			// Both repositories in one search: counted together.
			hits, err = db.SearchRepositories(ctx, nil, "p/", 10)
			if err != nil || len(hits) != 2 || hits[0].Name != "p/other" || hits[0].ArtifactCount != 1 ||
				hits[1].Name != "p/r" || hits[1].ArtifactCount != want {
				t.Errorf("search p/: %+v, %v", hits, err)
			}
		})
	}
}
