package seed_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestSmallTinyShape seeds a 2×3×2×2 set on each backend and checks every
// table's count, the manifests, the tags and that the IDs generated after
// the load do not collide with the seeded ones.
func TestSmallTinyShape(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := testserver.OpenStore(t, backend)
			owner, err := db.CreateUser(ctx, store.User{Username: "admin", SysAdmin: true})
			if err != nil {
				t.Fatal(err)
			}
			configs := map[string][]byte{}
			opts := seed.Options{Projects: 2, Repositories: 3, Artifacts: 2, Tags: 2, Labels: 2, LabelEvery: 3,
				Users: 3, Memberships: 1, OwnerID: owner, PublicEvery: 2, Prefix: "tiny",
				WriteBlob: func(d string, b []byte) error { configs[d] = b; return nil }}
			before, err := seed.Count(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if err := seed.Small(ctx, db, opts); err != nil {
				t.Fatal(err)
			}
			if err := db.Maintain(ctx); err != nil { // VACUUM (ANALYZE) outside a transaction on PostgreSQL
				t.Fatal(err)
			}
			after, err := seed.Count(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			want := seed.Expected(opts)
			got := seed.Counts{
				Projects: after.Projects - before.Projects, Repositories: after.Repositories - before.Repositories,
				Artifacts: after.Artifacts - before.Artifacts, Tags: after.Tags - before.Tags, Labels: after.Labels - before.Labels,
				ArtifactLabels: after.ArtifactLabels - before.ArtifactLabels, Users: after.Users - before.Users,
				Members: after.Members - before.Members, Blobs: after.Blobs - before.Blobs,
				ArtifactBlobs: after.ArtifactBlobs - before.ArtifactBlobs, ProjectBlobs: after.ProjectBlobs - before.ProjectBlobs,
			}
			if got != want {
				t.Fatalf("seeded counts %+v, want %+v", got, want)
			}
			if want.Artifacts != 12 || want.Tags != 24 || want.ArtifactLabels != 4 || want.Members != 5 {
				t.Fatalf("Expected(%+v) = %+v", opts, want)
			}
			if len(configs) != 12 {
				t.Errorf("%d config blobs written, want 12", len(configs))
			}

			// Every tag resolves to a manifest whose digest is its body's and
			// whose config was written.
			tags, err := db.ListTags(ctx, "tiny-001/repo-002", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) != 4 || tags[0] != "v0.0" || tags[3] != "v1.1" {
				t.Fatalf("tags of tiny-001/repo-002: %v", tags)
			}
			m, err := db.ResolveManifest(ctx, "tiny-001/repo-002", "v1.0", false, true)
			if err != nil {
				t.Fatal(err)
			}
			d, err := oci.ParseDigest(m.Digest)
			if err != nil || m.MediaType != oci.MediaTypeOCIManifest {
				t.Fatalf("manifest %+v: %v", m, err)
			}
			if oci.FromBytes(m.Body) != d {
				t.Fatalf("digest %s does not match the body", d)
			}
			man, err := oci.ParseManifest(m.MediaType, m.Body)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := configs[man.Config.Digest]; !ok || len(man.Layers) != 2 {
				t.Fatalf("manifest config %s not written or layers %d", man.Config.Digest, len(man.Layers))
			}
			p, err := db.ProjectByName(ctx, "tiny-000")
			if err != nil || !p.Public || p.OwnerID != owner {
				t.Fatalf("project tiny-000: %+v, %v", p, err)
			}
			if roles, err := db.MemberRoles(ctx, p.ID, owner); err != nil || len(roles) != 1 || roles[0] != 1 {
				t.Fatalf("owner roles in tiny-000: %v, %v", roles, err)
			}

			// The ID sequences continue past the seeded rows.
			if _, err := db.CreateProject(ctx, store.Project{Name: "after-seed"}); err != nil {
				t.Fatalf("create a project after seeding: %v", err)
			}
			if _, err := db.CreateUser(ctx, store.User{Username: "after-seed"}); err != nil {
				t.Fatalf("create a user after seeding: %v", err)
			}
			if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: p.ID, Repository: "tiny-000/new", Digest: "sha256:" + "0000000000000000000000000000000000000000000000000000000000000000",
				Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest, Size: 2, Body: []byte("{}"), Tags: []string{"latest"}}); err != nil {
				t.Fatalf("push after seeding: %v", err)
			}
			// A second load of the same names fails whole.
			if err := seed.Small(ctx, db, opts); err == nil {
				t.Fatal("seeding the same names twice succeeded")
			}
			again, err := seed.Count(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if again.Artifacts != after.Artifacts+1 || again.Projects != after.Projects+1 {
				t.Fatalf("a failed load left rows: %+v then %+v", after, again)
			}
		})
	}
}
