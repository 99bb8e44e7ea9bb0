package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestFillTotalSizes: migration 0017's fill stores oci.TotalSize for the
// artifacts without one (an image, an index, a manifest that does not
// parse) and leaves stored sizes alone.
func TestFillTotalSizes(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			image := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
				"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":100},
				"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("1", 64) + `","size":5000}]}`)
			index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			broken := []byte(`{"not json`)
			want := map[string]int64{}
			for i, c := range []struct {
				body      []byte
				mediaType string
				stored    int64
				want      int64
			}{
				{image, oci.MediaTypeOCIManifest, 0, int64(len(image)) + 5100},
				{index, oci.MediaTypeOCIIndex, 0, int64(len(index))},
				{broken, oci.MediaTypeOCIManifest, 0, int64(len(broken))},
				{append([]byte(nil), image[:len(image)-1]...), oci.MediaTypeOCIManifest, 777, 777}, // stored at push: kept
			} {
				d := string(oci.FromBytes(c.body))
				if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: pid, Repository: "p/r", Digest: d, Kind: "IMAGE",
					MediaType: c.mediaType, Size: int64(len(c.body)), Body: c.body, TotalSize: c.stored}); err != nil {
					t.Fatalf("%d: %v", i, err)
				}
				want[d] = c.want
			}
			if err := db.FillTotalSizes(ctx); err != nil {
				t.Fatal(err)
			}
			for d, w := range want {
				a, err := db.ArtifactByRef(ctx, "p/r", d, true)
				if err != nil {
					t.Fatal(err)
				}
				if a.TotalSize != w {
					t.Errorf("%s: total size %d, want %d", d, a.TotalSize, w)
				}
			}
		})
	}
}
