package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestClearForeignConfigAttrs: migration 0019 clears the extra_attrs an
// older version stored from a config that carried urls (possibly another
// project's blob), on both databases, and leaves every other artifact's as
// it is, a manifest that only mentions "urls" in an annotation included.
func TestClearForeignConfigAttrs(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			owner, err := db.CreateUser(ctx, store.User{Username: "owner", PasswordHash: "x"})
			if err != nil {
				t.Fatal(err)
			}
			pid, err := db.CreateProject(ctx, store.Project{Name: "mal", OwnerID: owner})
			if err != nil {
				t.Fatal(err)
			}
			const cfg = "sha256:" + "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
			put := func(tag, configExtra, annotations string) string {
				body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
					`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":10%s},"layers":[]%s}`, cfg, configExtra, annotations)
				d := "sha256:" + fmt.Sprintf("%064x", len(tag)*7919+len(body))
				if _, err := db.PutManifest(ctx, store.ManifestPut{ProjectID: pid, Repository: "mal/app", Digest: d, Kind: "IMAGE",
					MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigMediaType: "application/vnd.oci.image.config.v1+json",
					Size: int64(len(body)), Body: []byte(body), Tags: []string{tag},
					ExtraAttrs: `{"config":{"Env":["DB_PASSWORD=hunter2"]}}`}); err != nil {
					t.Fatal(err)
				}
				return d
			}
			foreign := put("foreign", `,"urls":["https://example.invalid/c"]`, "")
			plain := put("plain", "", "")
			mention := put("mention", "", `,"annotations":{"note":"\"urls\" are not used here"}`)
			if err := db.ClearForeignConfigAttrs(ctx); err != nil {
				t.Fatal(err)
			}
			for d, want := range map[string]bool{foreign: false, plain: true, mention: true} {
				a, err := db.ArtifactByRef(ctx, "mal/app", d, true)
				if err != nil {
					t.Fatal(err)
				}
				if kept := a.ExtraAttrs != ""; kept != want {
					t.Errorf("%s: extra_attrs %q; want kept=%v", d[:15], a.ExtraAttrs, want)
				}
			}
		})
	}
}

// TestWriteGeneration: a write to an account moves the write generation;
// the routine writes every pull or job makes (audit entries, pull times,
// upload sessions) do not, so caches keyed by it survive them.
func TestWriteGeneration(t *testing.T) {
	ctx := context.Background()
	db := open(t, dsn(t, "sqlite"))
	g := db.WriteGeneration()
	id, err := db.CreateUser(ctx, store.User{Username: "gen", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if db.WriteGeneration() == g {
		t.Fatal("creating a user left the write generation alone")
	}
	g = db.WriteGeneration()
	if err := db.InsertAuditEntries(ctx, []store.AuditEntry{{Operation: "pull", ResourceType: "artifact", Resource: "a/b:c", Username: "gen"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordPulls(ctx, map[int64]int64{}, map[int64]int64{}); err != nil {
		t.Fatal(err)
	}
	if db.WriteGeneration() != g {
		t.Error("an audit entry or a pull time moved the write generation")
	}
	if err := db.SetUserSysAdmin(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if db.WriteGeneration() == g {
		t.Error("promoting a user left the write generation alone")
	}
}
