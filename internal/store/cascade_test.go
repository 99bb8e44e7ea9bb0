package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestArtifactCascade checks the one artifact delete walk (cascade.go) on
// both databases, through each delete that takes it: what goes with an
// artifact (accessories by subject and by signature tag, index children
// with no tag and no other parent), what stays (tagged children, children
// another index references, anything pushed within GC's window), the
// refusal of a child an index references, and that no tag, label, index
// reference or blob link of a deleted artifact is left behind: the rows
// go by ON DELETE CASCADE.
func TestArtifactCascade(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			pid, err := db.CreateProject(ctx, store.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			layer := string(oci.FromBytes([]byte("layer")))
			must(db.FinishUpload(ctx, "", pid, layer, 5))
			label, err := db.CreateLabel(ctx, store.Label{Name: "l", Scope: store.LabelProject, ProjectID: pid})
			must(err)
			n := 0
			push := func(subject string, children []string, tags ...string) (string, int64) {
				t.Helper()
				n++
				b := []byte(fmt.Sprintf(`{"n":%d}`, n))
				m := store.ManifestPut{ProjectID: pid, Repository: "p/r", Digest: string(oci.FromBytes(b)), Kind: "IMAGE",
					MediaType: oci.MediaTypeOCIManifest, Size: int64(len(b)), Body: b, Subject: subject, Tags: tags,
					Blobs: []string{layer}}
				if children != nil {
					m.MediaType, m.Blobs = oci.MediaTypeOCIIndex, nil
					for _, c := range children {
						m.Children = append(m.Children, store.Child{Digest: c, MediaType: oci.MediaTypeOCIManifest})
					}
				}
				id, err := db.PutManifest(ctx, m)
				must(err)
				must(db.AttachLabel(ctx, id, label))
				return m.Digest, id
			}
			ids := func(list []store.Artifact) []int64 {
				var out []int64
				for _, a := range list {
					out = append(out, a.ID)
				}
				slices.Sort(out)
				return out
			}
			gone := func(step string, list ...int64) {
				t.Helper()
				left, err := db.ArtifactRowsLeft(ctx, list)
				must(err)
				if len(left) > 0 {
					t.Fatalf("%s: rows left behind: %v", step, left)
				}
			}
			there := func(step string, id int64) {
				t.Helper()
				left, err := db.ArtifactRowsLeft(ctx, []int64{id})
				must(err)
				if left["artifacts"] != 1 {
					t.Fatalf("%s: artifact %d is gone", step, id)
				}
			}

			// An image with a referrer (by subject), a signature (by tag)
			// and a referrer of the referrer.
			img, imgID := push("", nil, "v1")
			ref, refID := push(img, nil)
			_, refRefID := push(ref, nil)
			_, sigID := push("", nil, "sha256-"+img[len("sha256:"):]+".sig")
			removed, err := db.DeleteArtifact(ctx, imgID)
			must(err)
			if got, want := ids(removed), []int64{imgID, refID, refRefID, sigID}; !slices.Equal(got, want) {
				t.Fatalf("deleting the image removed %v, want %v", got, want)
			}
			if removed[0].ID != imgID || removed[0].Digest != img || removed[0].Repository != "p/r" {
				t.Fatalf("first removed = %+v, want the image", removed[0])
			}
			gone("the image", imgID, refID, refRefID, sigID)

			// An index: its untagged child goes, a tagged child and a child
			// another index references stay; a child alone is refused.
			loose, looseID := push("", nil)
			tagged, taggedID := push("", nil, "keep")
			shared, sharedID := push("", nil)
			_, idxID := push("", []string{loose, tagged, shared}, "multi")
			_, otherID := push("", []string{shared}, "other")
			_, err = db.DeleteArtifact(ctx, looseID)
			if !errs.Is(err, errs.Precondition) {
				t.Fatalf("deleting a child of an index: %v, want Precondition", err)
			}
			removed, err = db.DeleteArtifact(ctx, idxID)
			must(err)
			if got, want := ids(removed), []int64{looseID, idxID}; !slices.Equal(got, want) {
				t.Fatalf("deleting the index removed %v, want %v", got, want)
			}
			gone("the index", idxID, looseID)
			there("the tagged child", taggedID)
			there("the shared child", sharedID)
			there("the other index", otherID)
			_, err = db.DeleteArtifact(ctx, idxID)
			if !errs.Is(err, errs.NotFound) {
				t.Fatalf("deleting twice: %v, want NotFound", err)
			}

			// GC: an untagged root with a referrer, only outside the window.
			root, rootID := push("", nil)
			_, rootRefID := push(root, nil)
			got, err := db.DeleteUntaggedArtifact(ctx, rootID, 1)
			must(err)
			if len(got) != 0 {
				t.Fatalf("GC deleted %v within its window", got)
			}
			there("GC within the window", rootID)
			got, err = db.DeleteUntaggedArtifact(ctx, rootID, time.Now().Add(time.Minute).UnixMilli())
			must(err)
			if len(got) != 2 || got[0].ID != rootID || got[1].ID != rootRefID {
				t.Fatalf("GC deleted %+v, want the root and its referrer", got)
			}
			gone("GC", rootID, rootRefID)
			// A tagged artifact is no garbage.
			got, err = db.DeleteUntaggedArtifact(ctx, taggedID, time.Now().Add(time.Minute).UnixMilli())
			must(err)
			if len(got) != 0 {
				t.Fatalf("GC deleted a tagged artifact: %+v", got)
			}

			// /v2's DeleteManifest takes the manifest alone: its referrer
			// stays, its own rows go.
			subj, subjID := push("", nil, "s")
			_, subjRefID := push(subj, nil)
			must(db.DeleteManifest(ctx, "p/r", subj))
			gone("the manifest", subjID)
			there("the manifest's referrer", subjRefID)

			drift, err := db.CountsDrift(ctx)
			must(err)
			if len(drift) > 0 {
				t.Fatalf("counts drift: %v", drift)
			}
		})
	}
}
