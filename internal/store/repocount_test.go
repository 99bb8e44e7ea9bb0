package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRepositoryCountsKept checks the stored artifact count of each
// repository (repositories.artifact_count) against a fresh count after
// every kind of change that can show or hide an artifact, then after many
// concurrent changes to one repository, then after a bulk load.
func TestRepositoryCountsKept(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			n := 0
			body := func() []byte {
				mu.Lock()
				defer mu.Unlock()
				n++
				return []byte(fmt.Sprintf(`{"n":%d}`, n))
			}
			put := func(repo string, b []byte, subject string, children []string, tags ...string) (string, int64, error) {
				d := string(oci.FromBytes(b))
				m := store.ManifestPut{ProjectID: pid, Repository: repo, Digest: d, Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest,
					Size: int64(len(b)), Body: b, Subject: subject, Tags: tags}
				if children != nil {
					m.MediaType = oci.MediaTypeOCIIndex
					for _, c := range children {
						m.Children = append(m.Children, store.Child{Digest: c, MediaType: oci.MediaTypeOCIManifest})
					}
				}
				id, err := db.PutManifest(ctx, m)
				return d, id, err
			}
			push := func(repo, subject string, children []string, tags ...string) (string, int64) {
				t.Helper()
				d, id, err := put(repo, body(), subject, children, tags...)
				if err != nil {
					t.Fatal(err)
				}
				return d, id
			}
			check := func(step string, repo string, want int64) {
				t.Helper()
				drift, err := db.CountsDrift(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(drift) > 0 {
					t.Fatalf("after %s: stored and fresh counts differ: %v", step, drift)
				}
				r, err := db.RepositoryByName(ctx, repo)
				if err != nil {
					t.Fatal(err)
				}
				if want >= 0 && r.ArtifactCount != want {
					t.Fatalf("after %s: %s counts %d artifacts, want %d", step, repo, r.ArtifactCount, want)
				}
			}
			ok := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}

			img, imgID := push("p/r", "", nil, "v1")
			check("an image", "p/r", 1)
			push("p/r", img, nil)
			check("a referrer of it", "p/r", 1)
			later := body()
			laterDigest := string(oci.FromBytes(later))
			push("p/r", laterDigest, nil)
			check("a referrer of a subject not pushed yet", "p/r", 2)
			_, _, err = put("p/r", later, "", nil)
			ok(err)
			check("its subject", "p/r", 2)
			c1, _ := push("p/r", "", nil)
			c2, c2ID := push("p/r", "", nil)
			check("two untagged manifests", "p/r", 4)
			_, idxID := push("p/r", "", []string{c1, c2}, "multi")
			check("an index of them", "p/r", 3)
			r, err := db.RepositoryByName(ctx, "p/r")
			ok(err)
			sig := "sha256-" + img[7:] + ".sig"
			_, err = db.CreateArtifactTag(ctx, r.ID, c2ID, sig)
			ok(err)
			check("a signature tag", "p/r", 3)
			ok(db.DeleteArtifactTag(ctx, c2ID, sig))
			check("the signature tag removed", "p/r", 3)
			_, sigID := push("p/r", "", nil, sig)
			check("a signature pushed", "p/r", 3)
			ok(db.DeleteTag(ctx, "p/r", sig))
			check("its tag deleted", "p/r", 4)
			push("p/r", "", nil, "multi")
			check("a tag moved off the index", "p/r", 5)
			ok(db.DeleteManifest(ctx, "p/r", img))
			check("the referrers' subject deleted", "p/r", 5)
			_, err = db.DeleteArtifact(ctx, idxID)
			ok(err)
			check("the index deleted with its children", "p/r", 4)
			removed, err := db.DeleteUntaggedArtifact(ctx, sigID, time.Now().UnixMilli()+1000)
			ok(err)
			if len(removed) != 1 {
				t.Fatalf("garbage collection removed %d artifacts, want 1", len(removed))
			}
			check("garbage collection", "p/r", 3)
			_ = imgID
			page, err := db.ListArtifacts(ctx, store.ArtifactFilter{RepositoryID: r.ID}, nil, 0, 100, store.DetailsWanted{})
			ok(err)
			if page.Total != 3 {
				t.Fatalf("listing shows %d artifacts, the count says 3", page.Total)
			}
			// A repository's default listing takes its total from the
			// stored count: on a first page, past the end (counted), and
			// for a repository that is not there.
			for _, c := range []struct {
				f                   store.ArtifactFilter
				offset, limit       int
				wantRows, wantTotal int
			}{
				{store.ArtifactFilter{RepositoryID: r.ID}, 0, 1, 1, 3},
				{store.ArtifactFilter{RepositoryName: "p/r"}, 2, 5, 1, 3},
				{store.ArtifactFilter{RepositoryName: "p/r"}, 10, 5, 0, 3},
				{store.ArtifactFilter{RepositoryName: "p/none"}, 0, 5, 0, 0},
				{store.ArtifactFilter{ProjectID: pid}, 0, 100, 3, 3}, // counted with COUNT: the same
			} {
				page, err := db.ListArtifacts(ctx, c.f, nil, c.offset, c.limit, store.DetailsWanted{Tags: true})
				ok(err)
				if len(page.Artifacts) != c.wantRows || page.Total != int64(c.wantTotal) {
					t.Errorf("%+v at %d: %d rows of %d, want %d of %d", c.f, c.offset, len(page.Artifacts), page.Total, c.wantRows, c.wantTotal)
				}
			}

			// A plain repository counts pushes by increment (no recount):
			// new images, a re-push, a moved tag; a referrer makes it not
			// plain, and its deletion plain again.
			first, _, err := put("p/plain", body(), "", nil, "a")
			ok(err)
			check("a first image", "p/plain", 1)
			_, _, err = put("p/plain", body(), "", nil, "a") // moves tag a
			ok(err)
			check("a second image taking the tag", "p/plain", 2)
			again, err := db.ArtifactByRef(ctx, "p/plain", first, true)
			ok(err)
			_, _, err = put("p/plain", again.Manifest, "", nil, "b") // the same manifest again
			ok(err)
			check("a re-push", "p/plain", 2)
			ref, _, err := put("p/plain", body(), first, nil)
			ok(err)
			check("a referrer", "p/plain", 2)
			_, _, err = put("p/plain", body(), "", nil)
			ok(err)
			check("an image into a repository with a referrer", "p/plain", 3)
			ok(db.DeleteManifest(ctx, "p/plain", ref))
			check("the referrer deleted", "p/plain", 3)
			_, _, err = put("p/plain", body(), "", nil, "c")
			ok(err)
			check("an image after", "p/plain", 4)

			// Many writers on one repository: pushes moving tags, referrers,
			// tag creates and deletes, manifest deletes.
			digests := []string{}
			var dmu sync.Mutex
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rnd := rand.New(rand.NewPCG(uint64(w), 7))
					for range 25 {
						dmu.Lock()
						var some string
						if len(digests) > 0 {
							some = digests[rnd.IntN(len(digests))]
						}
						dmu.Unlock()
						var err error
						switch op := rnd.IntN(5); {
						case op == 0 || some == "":
							var d string
							d, _, err = put("p/c", body(), "", nil, fmt.Sprintf("t%d", rnd.IntN(6)))
							dmu.Lock()
							digests = append(digests, d)
							dmu.Unlock()
						case op == 1:
							_, _, err = put("p/c", body(), some, nil)
						case op == 2:
							_, _, err = put("p/c", body(), "", nil, "sha256-"+some[7:]+".sig")
						case op == 3:
							err = db.DeleteTag(ctx, "p/c", fmt.Sprintf("t%d", rnd.IntN(6)))
						default:
							err = db.DeleteManifest(ctx, "p/c", some)
						}
						if err != nil && !errs.Is(err, errs.NotFound) {
							errc <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			check("concurrent writers", "p/c", -1)

			// A bulk load recounts whatever it touched.
			ok(db.Load(ctx, func(l *store.Loader) error {
				return l.Exec(`UPDATE repositories SET artifact_count = 99`)
			}))
			check("a bulk load", "p/r", 3)
		})
	}
}
