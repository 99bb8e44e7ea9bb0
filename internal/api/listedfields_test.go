package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestListingWithoutManifests: an artifact listing reads no manifest for
// an image whose size and extra attributes were stored at push, and still
// shows each artifact exactly as the artifact's own view does (size,
// extra attributes, an index's references and size), also for rows
// stored before those columns existed (total_size -1, extra_attrs empty).
// The store's TestFillTotalSizes covers migration 0017's fill.
func TestListingWithoutManifests(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			ctx := context.Background()
			db := e.srv.App.DB
			e.project("proj", false)
			amd := e.image("proj/app", "amd", "amd64")
			arm := e.image("proj/app", "arm", "arm64")
			idx := e.index("proj/app", "multi", amd, arm)
			e.image("proj/app", "plain", "riscv64")

			type view struct {
				Digest     string          `json:"digest"`
				Size       int64           `json:"size"`
				ExtraAttrs json.RawMessage `json:"extra_attrs"`
				References json.RawMessage `json:"references"`
			}
			compare := func(stage string, wantSizes map[string]int64) {
				t.Helper()
				var list []view
				e.get("/api/v2.0/projects/proj/repositories/app/artifacts?page_size=20", artAdmin, &list)
				if len(list) != 4 { // the children are tagged, so listed too
					t.Fatalf("%s: %d artifacts listed", stage, len(list))
				}
				for _, l := range list {
					var one view
					e.get("/api/v2.0/projects/proj/repositories/app/artifacts/"+l.Digest, artAdmin, &one)
					lb, _ := json.Marshal(l)
					ob, _ := json.Marshal(one)
					if string(lb) != string(ob) {
						t.Errorf("%s: listed %s\nalone  %s", stage, lb, ob)
					}
					if w, ok := wantSizes[l.Digest]; ok && l.Size != w {
						t.Errorf("%s: %s size %d, want %d", stage, l.Digest, l.Size, w)
					}
					if l.Digest == idx.digest && len(l.References) < 10 {
						t.Errorf("%s: index without references: %s", stage, l.References)
					}
					if l.Digest != idx.digest && len(l.ExtraAttrs) < 10 {
						t.Errorf("%s: image without extra attributes: %s", stage, l.ExtraAttrs)
					}
				}
			}
			// Expected sizes from the manifests themselves.
			sizes := map[string]int64{}
			var idxOwn int64
			for _, p := range []artPushed{amd, arm, idx} {
				a, err := db.ArtifactByRef(ctx, "proj/app", p.digest, true)
				if err != nil {
					t.Fatal(err)
				}
				m, err := oci.ParseManifest(a.MediaType, a.Manifest)
				if err != nil {
					t.Fatal(err)
				}
				sizes[p.digest] = oci.TotalSize(a.Manifest, m)
				if a.TotalSize != sizes[p.digest] {
					t.Errorf("stored total size %d, computed %d", a.TotalSize, sizes[p.digest])
				}
				if p.digest == idx.digest {
					idxOwn = a.Size
				}
			}
			sizes[idx.digest] = idxOwn + sizes[amd.digest] + sizes[arm.digest]
			compare("stored at push", sizes)

			// The listing did not read the plain image's manifest, and read the index's.
			page, err := db.ListArtifacts(ctx, store.ArtifactFilter{RepositoryName: "proj/app"}, nil, 0, 20, store.DetailsWanted{})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Artifacts {
				if (a.Manifest != nil) != (a.Digest == idx.digest) {
					t.Errorf("%s (%s): manifest read: %v", a.Digest, a.MediaType, a.Manifest != nil)
				}
			}

			// Rows from before the columns: computed from the manifests.
			if err := db.Load(ctx, func(l *store.Loader) error {
				return l.Exec(`UPDATE artifacts SET total_size = -1, extra_attrs = ''`)
			}); err != nil {
				t.Fatal(err)
			}
			compare("not stored", sizes)
		})
	}
}
