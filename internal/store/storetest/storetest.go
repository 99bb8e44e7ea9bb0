// Package storetest is the shared test suite that every metadata backend
// (SQLite, PostgreSQL) passes: Run exercises every method of *store.DB
// against a fresh database from open, including the error kinds callers
// rely on and the concurrent pushes a registry sees in production.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// Run runs the suite. open must return a fresh, empty, migrated database and
// close it when t ends.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Projects", testProjects},
		{"Users", testUsers},
		{"Properties", testProperties},
		{"PropertyRace", testPropertyRace},
		{"Uploads", testUploads},
		{"Blobs", testBlobs},
		{"ProjectUsage", testProjectUsage},
		{"PutManifestMissingBlob", testPutManifestMissingBlob},
		{"TagMovesOnRePush", testTagMoves},
		{"RePushSameDigest", testRePushSameDigest},
		{"Children", testChildren},
		{"ResolveManifest", testResolveManifest},
		{"DeleteManifest", testDeleteManifest},
		{"DeleteTag", testDeleteTag},
		{"ListTags", testListTags},
		{"Catalog", testCatalog},
		{"CatalogPagesPastHidden", testCatalogPagesPastHidden},
		{"Referrers", testReferrers},
		{"RecordPulls", testRecordPulls},
		{"ConcurrentFinishUpload", testConcurrentFinishUpload},
		{"ConcurrentPutManifest", testConcurrentPutManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// --- helpers ---

var ctx = context.Background()

// digest returns the sha256 digest of s.
func digest(s string) string { return string(oci.FromBytes([]byte(s))) }

// wantKind fails t unless err has kind k.
func wantKind(t *testing.T, err error, k errs.Kind, what string) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Fatalf("%s: got error %v (kind %v), want kind %v", what, err, errs.KindOf(err), k)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func project(t *testing.T, db *store.DB, name string) int64 {
	t.Helper()
	id, err := db.CreateProject(ctx, store.Project{Name: name})
	must(t, err, "create project "+name)
	return id
}

// blob records content as a stored blob visible in project and returns its digest.
func blob(t *testing.T, db *store.DB, projectID int64, content string) string {
	t.Helper()
	d := digest(content)
	must(t, db.FinishUpload(ctx, "", projectID, d, int64(len(content))), "finish upload")
	return d
}

// manifest builds a pushable image manifest record whose body is body.
func manifest(projectID int64, repo, body string, blobs []string, tags ...string) store.ManifestPut {
	return store.ManifestPut{
		ProjectID: projectID, Repository: repo, Digest: digest(body), Kind: "IMAGE",
		MediaType: oci.MediaTypeOCIManifest, ConfigMediaType: oci.MediaTypeOCIConfig,
		Size: int64(len(body)), Body: []byte(body), Blobs: blobs, Tags: tags,
	}
}

func push(t *testing.T, db *store.DB, m store.ManifestPut) int64 {
	t.Helper()
	id, err := db.PutManifest(ctx, m)
	must(t, err, "put manifest "+m.Repository)
	if id <= 0 {
		t.Fatalf("put manifest %s: artifact id %d", m.Repository, id)
	}
	return id
}

// resolve returns the digest tag points at in repo.
func resolve(t *testing.T, db *store.DB, repo, tag string) string {
	t.Helper()
	m, err := db.ResolveManifest(ctx, repo, tag, false, false)
	must(t, err, "resolve "+repo+":"+tag)
	return m.Digest
}

func tags(t *testing.T, db *store.DB, repo, last string, n int) []string {
	t.Helper()
	got, err := db.ListTags(ctx, repo, last, n)
	must(t, err, "list tags "+repo)
	return got
}

func equal[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// parallel runs fn(i) for i in [0, n) in n goroutines and fails t with the
// first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if err := fn(i); err != nil {
				errc <- fmt.Errorf("goroutine %d: %w", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// --- projects, users, properties ---

func testProjects(t *testing.T, db *store.DB) {
	before := time.Now().UnixMilli()
	id, err := db.CreateProject(ctx, store.Project{Name: "team", OwnerID: 7, Public: true})
	must(t, err, "create project")
	other := project(t, db, "private")
	if id <= 0 || other <= 0 || id == other {
		t.Fatalf("project ids %d, %d", id, other)
	}
	for _, get := range []func() (*store.Project, error){
		func() (*store.Project, error) { return db.ProjectByName(ctx, "team") },
		func() (*store.Project, error) { return db.ProjectByID(ctx, id) },
	} {
		p, err := get()
		must(t, err, "get project")
		if p.ID != id || p.Name != "team" || p.OwnerID != 7 || !p.Public || p.CreatedAt < before || p.UpdatedAt < p.CreatedAt {
			t.Fatalf("project = %+v", p)
		}
	}
	if p, err := db.ProjectByName(ctx, "private"); err != nil || p.Public || p.ID != other {
		t.Fatalf("private project = %+v, %v", p, err)
	}
	_, err = db.CreateProject(ctx, store.Project{Name: "team"})
	wantKind(t, err, errs.Exists, "duplicate project")
	_, err = db.ProjectByName(ctx, "nope")
	wantKind(t, err, errs.NotFound, "project by unknown name")
	_, err = db.ProjectByID(ctx, other+100)
	wantKind(t, err, errs.NotFound, "project by unknown id")
}

func testUsers(t *testing.T, db *store.DB) {
	u := store.User{Username: "alice", Email: "alice@example.com", Realname: "Alice A.", PasswordHash: "hash", SysAdmin: true}
	id, err := db.CreateUser(ctx, u)
	must(t, err, "create user")
	got, err := db.UserByName(ctx, "alice")
	must(t, err, "get user")
	if got.ID != id || got.Username != u.Username || got.Email != u.Email || got.Realname != u.Realname ||
		got.PasswordHash != u.PasswordHash || !got.SysAdmin || got.CreatedAt == 0 || got.UpdatedAt == 0 {
		t.Fatalf("user = %+v, want %+v with id %d", got, u, id)
	}
	id2, err := db.CreateUser(ctx, store.User{Username: "bob"})
	must(t, err, "create second user")
	if bob, err := db.UserByName(ctx, "bob"); err != nil || bob.ID != id2 || bob.SysAdmin {
		t.Fatalf("bob = %+v, %v", bob, err)
	}
	_, err = db.CreateUser(ctx, store.User{Username: "alice", Email: "other@example.com"})
	wantKind(t, err, errs.Exists, "duplicate user")
	_, err = db.UserByName(ctx, "carol")
	wantKind(t, err, errs.NotFound, "unknown user")
}

func testProperties(t *testing.T, db *store.DB) {
	_, err := db.Property(ctx, "signing-key")
	wantKind(t, err, errs.NotFound, "unset property")
	v, err := db.SetPropertyIfAbsent(ctx, "signing-key", "first")
	must(t, err, "set property")
	if v != "first" {
		t.Fatalf("set returned %q, want first", v)
	}
	v, err = db.SetPropertyIfAbsent(ctx, "signing-key", "second")
	must(t, err, "set property again")
	if v != "first" {
		t.Fatalf("second set returned %q, want the stored first", v)
	}
	if v, err := db.Property(ctx, "signing-key"); err != nil || v != "first" {
		t.Fatalf("property = %q, %v", v, err)
	}
}

func testPropertyRace(t *testing.T, db *store.DB) {
	const n = 8
	got := make([]string, n)
	parallel(t, n, func(i int) error {
		var err error
		got[i], err = db.SetPropertyIfAbsent(ctx, "race", fmt.Sprintf("value-%d", i))
		return err
	})
	for i, v := range got {
		if v != got[0] || !strings.HasPrefix(v, "value-") {
			t.Fatalf("goroutine %d got %q, goroutine 0 got %q: racers must agree", i, v, got[0])
		}
	}
	if v, err := db.Property(ctx, "race"); err != nil || v != got[0] {
		t.Fatalf("stored %q, %v; racers saw %q", v, err, got[0])
	}
}

// --- uploads and blobs ---

func testUploads(t *testing.T, db *store.DB) {
	pid := project(t, db, "p")
	before := time.Now().UnixMilli()
	must(t, db.CreateUpload(ctx, store.Upload{ID: "u1", ProjectID: pid, Repository: "p/r"}), "create upload")
	must(t, db.CreateUpload(ctx, store.Upload{ID: "u2", ProjectID: pid, Repository: "p/other"}), "create second upload")
	if err := db.CreateUpload(ctx, store.Upload{ID: "u1", ProjectID: pid, Repository: "p/r"}); err == nil {
		t.Fatal("duplicate upload id accepted")
	}
	if err := db.CreateUpload(ctx, store.Upload{ID: "u3", ProjectID: pid + 100, Repository: "x/r"}); err == nil {
		t.Fatal("upload into an unknown project accepted")
	}
	u, err := db.GetUpload(ctx, "u1")
	must(t, err, "get upload")
	if u.ID != "u1" || u.ProjectID != pid || u.Repository != "p/r" || u.Size != 0 || len(u.HashState) != 0 ||
		u.CreatedAt < before || u.UpdatedAt < u.CreatedAt {
		t.Fatalf("upload = %+v", u)
	}
	_, err = db.GetUpload(ctx, "nope")
	wantKind(t, err, errs.NotFound, "unknown upload")

	state := []byte{0, 1, 2, 0xff}
	must(t, db.AdvanceUpload(ctx, "u1", 0, 10, state), "advance 0→10")
	must(t, db.AdvanceUpload(ctx, "u1", 10, 25, append(state, 9)), "advance 10→25")
	wantKind(t, db.AdvanceUpload(ctx, "u1", 10, 40, state), errs.Conflict, "advance from a stale size")
	wantKind(t, db.AdvanceUpload(ctx, "u1", 0, 40, state), errs.Conflict, "advance from zero again")
	u, err = db.GetUpload(ctx, "u1")
	must(t, err, "get advanced upload")
	if u.Size != 25 || string(u.HashState) != string(append(state, 9)) {
		t.Fatalf("after advance: size %d state %v", u.Size, u.HashState)
	}

	stale, err := db.StaleUploads(ctx, time.Now().Add(time.Minute).UnixMilli())
	must(t, err, "stale uploads")
	slices.Sort(stale)
	equal(t, "uploads older than a minute from now", stale, []string{"u1", "u2"})
	stale, err = db.StaleUploads(ctx, before-60_000)
	must(t, err, "stale uploads")
	equal(t, "uploads older than a minute ago", stale, nil)

	must(t, db.DeleteUpload(ctx, "u2"), "delete upload")
	_, err = db.GetUpload(ctx, "u2")
	wantKind(t, err, errs.NotFound, "deleted upload")
	must(t, db.DeleteUpload(ctx, "u2"), "delete a deleted upload")

	d := digest("content")
	must(t, db.FinishUpload(ctx, "u1", pid, d, 7), "finish upload")
	_, err = db.GetUpload(ctx, "u1")
	wantKind(t, err, errs.NotFound, "finished upload")
	if size, err := db.ProjectBlob(ctx, pid, d); err != nil || size != 7 {
		t.Fatalf("finished blob: size %d, %v", size, err)
	}
}

func testBlobs(t *testing.T, db *store.DB) {
	p1, p2 := project(t, db, "one"), project(t, db, "two")
	d := blob(t, db, p1, "hello")
	missing := digest("missing")

	if size, err := db.ProjectBlob(ctx, p1, d); err != nil || size != 5 {
		t.Fatalf("project blob = %d, %v", size, err)
	}
	_, err := db.ProjectBlob(ctx, p2, d)
	wantKind(t, err, errs.NotFound, "blob in a project it was not pushed to")
	if size, err := db.BlobSize(ctx, d); err != nil || size != 5 {
		t.Fatalf("blob size = %d, %v", size, err)
	}
	_, err = db.BlobSize(ctx, missing)
	wantKind(t, err, errs.NotFound, "size of an unknown blob")

	if size, err := db.LinkBlob(ctx, p2, d); err != nil || size != 5 {
		t.Fatalf("link blob = %d, %v", size, err)
	}
	if size, err := db.LinkBlob(ctx, p2, d); err != nil || size != 5 {
		t.Fatalf("link blob twice = %d, %v", size, err)
	}
	_, err = db.LinkBlob(ctx, p2, missing)
	wantKind(t, err, errs.NotFound, "link an unknown blob")
	if _, err := db.ProjectBlob(ctx, p2, missing); !errs.Is(err, errs.NotFound) {
		t.Fatalf("failed link left a row: %v", err)
	}
	if size, err := db.ProjectBlob(ctx, p2, d); err != nil || size != 5 {
		t.Fatalf("mounted blob = %d, %v", size, err)
	}
	projects, err := db.BlobProjects(ctx, d)
	must(t, err, "blob projects")
	equal(t, "blob projects", projects, []int64{min(p1, p2), max(p1, p2)})
	projects, err = db.BlobProjects(ctx, missing)
	must(t, err, "projects of an unknown blob")
	equal(t, "projects of an unknown blob", projects, nil)

	must(t, db.UnlinkBlob(ctx, p1, d), "unlink blob")
	_, err = db.ProjectBlob(ctx, p1, d)
	wantKind(t, err, errs.NotFound, "unlinked blob")
	wantKind(t, db.UnlinkBlob(ctx, p1, d), errs.NotFound, "unlink twice")
	if size, err := db.BlobSize(ctx, d); err != nil || size != 5 {
		t.Fatalf("unlinking must keep the stored blob: %d, %v", size, err)
	}
	projects, err = db.BlobProjects(ctx, d)
	must(t, err, "blob projects after unlink")
	equal(t, "blob projects after unlink", projects, []int64{p2})
}

func testProjectUsage(t *testing.T, db *store.DB) {
	p1, p2, empty := project(t, db, "one"), project(t, db, "two"), project(t, db, "empty")
	usage := func(pid, want int64) {
		t.Helper()
		got, err := db.ProjectUsage(ctx, pid)
		must(t, err, "project usage")
		if got != want {
			t.Fatalf("usage of project %d = %d, want %d", pid, got, want)
		}
	}
	usage(empty, 0)
	a := blob(t, db, p1, "aaaaa") // 5 bytes
	blob(t, db, p1, "aaaaa")      // pushed again: counted once
	must(t, db.FinishUpload(ctx, "", p1, a, 5), "re-finish")
	blob(t, db, p1, "bbbbbbb") // 7 bytes
	usage(p1, 12)
	if _, err := db.LinkBlob(ctx, p2, a); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LinkBlob(ctx, p2, a); err != nil {
		t.Fatal(err)
	}
	usage(p2, 5)
	usage(p1, 12)
	// A manifest referring to a blob does not count it again.
	push(t, db, manifest(p1, "one/app", "m1", []string{a, a}))
	usage(p1, 12)
	must(t, db.UnlinkBlob(ctx, p1, a), "unlink")
	usage(p1, 7)
	usage(p2, 5)
}

// --- manifests ---

func testPutManifestMissingBlob(t *testing.T, db *store.DB) {
	p1, p2 := project(t, db, "lib"), project(t, db, "other")
	have := blob(t, db, p1, "layer")
	elsewhere := blob(t, db, p2, "elsewhere")
	missing := digest("missing layer")

	// Into a new repository: nothing at all may be written.
	m := manifest(p1, "lib/new", "bad", []string{have, missing}, "latest")
	_, err := db.PutManifest(ctx, m)
	wantKind(t, err, errs.NotFound, "manifest with a missing blob")
	if !strings.Contains(errs.Message(err), missing) {
		t.Fatalf("error %q does not name the missing blob %s", errs.Message(err), missing)
	}
	if ok, err := db.RepositoryExists(ctx, "lib/new"); err != nil || ok {
		t.Fatalf("failed push created the repository: %v, %v", ok, err)
	}
	_, err = db.ResolveManifest(ctx, "lib/new", m.Digest, true, false)
	wantKind(t, err, errs.NotFound, "artifact of a failed push")
	cat, err := db.Catalog(ctx, "", 0, nil)
	must(t, err, "catalog")
	equal(t, "catalog after failed push", cat, []string{})

	// A blob visible only in another project is missing too.
	_, err = db.PutManifest(ctx, manifest(p1, "lib/new", "cross", []string{elsewhere}))
	wantKind(t, err, errs.NotFound, "manifest with another project's blob")

	// Into an existing repository: tags and artifacts stay as they were.
	good := push(t, db, manifest(p1, "lib/app", "good", []string{have}, "latest"))
	bad := manifest(p1, "lib/app", "bad", []string{missing, have}, "latest", "v2")
	_, err = db.PutManifest(ctx, bad)
	wantKind(t, err, errs.NotFound, "second manifest with a missing blob")
	if r, err := db.ResolveManifest(ctx, "lib/app", "latest", false, false); err != nil || r.ArtifactID != good {
		t.Fatalf("latest after failed push = %+v, %v; want artifact %d", r, err, good)
	}
	_, err = db.ResolveManifest(ctx, "lib/app", bad.Digest, true, false)
	wantKind(t, err, errs.NotFound, "artifact of a failed push")
	equal(t, "tags after failed push", tags(t, db, "lib/app", "", 0), []string{"latest"})
}

func testTagMoves(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	l := blob(t, db, pid, "layer")
	m1 := manifest(pid, "lib/app", "one", []string{l}, "latest", "v1")
	m2 := manifest(pid, "lib/app", "two", []string{l}, "latest")
	push(t, db, m1)
	push(t, db, m2)
	if got := resolve(t, db, "lib/app", "latest"); got != m2.Digest {
		t.Fatalf("latest → %s, want the re-pushed %s", got, m2.Digest)
	}
	if got := resolve(t, db, "lib/app", "v1"); got != m1.Digest {
		t.Fatalf("v1 → %s, want %s", got, m1.Digest)
	}
	// Pushing by digest alone adds no tag and moves none.
	push(t, db, manifest(pid, "lib/app", "three", []string{l}))
	equal(t, "tags", tags(t, db, "lib/app", "", 0), []string{"latest", "v1"})
	if got := resolve(t, db, "lib/app", "latest"); got != m2.Digest {
		t.Fatalf("latest moved by an untagged push: %s", got)
	}
}

func testRePushSameDigest(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	m := manifest(pid, "lib/app", "same", nil, "a")
	first := push(t, db, m)
	m.Tags = []string{"b"}
	if again := push(t, db, m); again != first {
		t.Fatalf("re-push of the same digest made artifact %d, first was %d", again, first)
	}
	for _, tag := range []string{"a", "b", m.Digest} {
		r, err := db.ResolveManifest(ctx, "lib/app", tag, tag == m.Digest, false)
		must(t, err, "resolve "+tag)
		if r.ArtifactID != first {
			t.Fatalf("%s → artifact %d, want %d", tag, r.ArtifactID, first)
		}
	}
	// The same digest in another repository is another artifact.
	m.Repository = "lib/copy"
	if other := push(t, db, m); other == first {
		t.Fatal("the same digest in two repositories shares one artifact row")
	}
}

func testChildren(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	amd := manifest(pid, "lib/multi", "amd64 manifest", nil)
	push(t, db, amd)
	arm := digest("arm64 manifest, never pushed") // sparse index
	idx := manifest(pid, "lib/multi", "index", nil, "latest")
	idx.MediaType = oci.MediaTypeOCIIndex
	idx.Children = []store.Child{
		{Digest: amd.Digest, MediaType: oci.MediaTypeOCIManifest, Platform: `{"architecture":"amd64","os":"linux"}`},
		{Digest: arm, MediaType: oci.MediaTypeOCIManifest, Platform: `{"architecture":"arm64","os":"linux"}`},
	}
	push(t, db, idx)
	push(t, db, idx) // re-push records them once

	got, err := db.ManifestChildren(ctx, "lib/multi", idx.Digest)
	must(t, err, "children")
	want := slices.Clone(idx.Children)
	slices.SortFunc(want, func(a, b store.Child) int { return strings.Compare(a.Digest, b.Digest) })
	equal(t, "children", got, want)
	if got, err := db.ManifestChildren(ctx, "lib/multi", amd.Digest); err != nil || len(got) != 0 {
		t.Fatalf("children of a manifest = %v, %v", got, err)
	}
	if r, err := db.ResolveManifest(ctx, "lib/multi", "latest", false, false); err != nil || r.MediaType != oci.MediaTypeOCIIndex {
		t.Fatalf("latest = %+v, %v", r, err)
	}
	// Deleting the index deletes its references.
	must(t, db.DeleteManifest(ctx, "lib/multi", idx.Digest), "delete index")
	if got, err := db.ManifestChildren(ctx, "lib/multi", idx.Digest); err != nil || len(got) != 0 {
		t.Fatalf("children of a deleted index = %v, %v", got, err)
	}
}

func testResolveManifest(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	m := manifest(pid, "lib/app", `{"schemaVersion":2}`, nil, "v1")
	id := push(t, db, m)
	push(t, db, manifest(pid, "lib/other", "other", nil, "v1"))
	for _, tc := range []struct {
		ref                string
		byDigest, withBody bool
	}{
		{"v1", false, true}, {"v1", false, false}, {m.Digest, true, true}, {m.Digest, true, false},
	} {
		r, err := db.ResolveManifest(ctx, "lib/app", tc.ref, tc.byDigest, tc.withBody)
		must(t, err, "resolve "+tc.ref)
		if r.ArtifactID != id || r.Digest != m.Digest || r.MediaType != m.MediaType || r.Size != m.Size {
			t.Fatalf("resolve %+v = %+v", tc, r)
		}
		if tc.byDigest != (r.TagID == 0) {
			t.Fatalf("resolve %+v: tag id %d", tc, r.TagID)
		}
		if want := string(m.Body); tc.withBody && string(r.Body) != want || !tc.withBody && r.Body != nil {
			t.Fatalf("resolve %+v: body %q", tc, r.Body)
		}
	}
	for _, tc := range []struct{ repo, ref string }{
		{"lib/app", "v2"}, {"lib/nope", "v1"}, {"lib/app", digest("nope")}, {"lib/other", m.Digest},
	} {
		_, err := db.ResolveManifest(ctx, tc.repo, tc.ref, strings.Contains(tc.ref, ":"), true)
		wantKind(t, err, errs.NotFound, "resolve "+tc.repo+" "+tc.ref)
	}
	if ok, err := db.RepositoryExists(ctx, "lib/app"); err != nil || !ok {
		t.Fatalf("repository exists = %v, %v", ok, err)
	}
	if ok, err := db.RepositoryExists(ctx, "lib/nope"); err != nil || ok {
		t.Fatalf("unknown repository exists = %v, %v", ok, err)
	}
}

func testDeleteManifest(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	m := manifest(pid, "lib/app", "doomed", nil, "a", "b")
	push(t, db, m)
	keep := manifest(pid, "lib/app", "kept", nil, "c")
	push(t, db, keep)
	copyM := m
	copyM.Repository = "lib/copy"
	push(t, db, copyM)

	must(t, db.DeleteManifest(ctx, "lib/app", m.Digest), "delete manifest")
	for _, ref := range []string{"a", "b", m.Digest} {
		_, err := db.ResolveManifest(ctx, "lib/app", ref, ref == m.Digest, false)
		wantKind(t, err, errs.NotFound, "resolve deleted "+ref)
	}
	equal(t, "tags after delete", tags(t, db, "lib/app", "", 0), []string{"c"})
	if got := resolve(t, db, "lib/copy", "a"); got != m.Digest {
		t.Fatalf("delete reached into another repository: %s", got)
	}
	wantKind(t, db.DeleteManifest(ctx, "lib/app", m.Digest), errs.NotFound, "delete twice")
	wantKind(t, db.DeleteManifest(ctx, "lib/nope", m.Digest), errs.NotFound, "delete in unknown repository")

	// A repository whose last artifact went still lists, with no tags.
	must(t, db.DeleteManifest(ctx, "lib/app", keep.Digest), "delete last")
	equal(t, "tags of an emptied repository", tags(t, db, "lib/app", "", 0), []string{})
}

func testDeleteTag(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	m := manifest(pid, "lib/app", "tagged", nil, "a", "b")
	id := push(t, db, m)
	must(t, db.DeleteTag(ctx, "lib/app", "a"), "delete tag")
	_, err := db.ResolveManifest(ctx, "lib/app", "a", false, false)
	wantKind(t, err, errs.NotFound, "deleted tag")
	if r, err := db.ResolveManifest(ctx, "lib/app", m.Digest, true, true); err != nil || r.ArtifactID != id {
		t.Fatalf("artifact after tag delete = %+v, %v", r, err)
	}
	if got := resolve(t, db, "lib/app", "b"); got != m.Digest {
		t.Fatalf("other tag → %s", got)
	}
	wantKind(t, db.DeleteTag(ctx, "lib/app", "a"), errs.NotFound, "delete tag twice")
	wantKind(t, db.DeleteTag(ctx, "lib/nope", "b"), errs.NotFound, "delete tag in unknown repository")
	equal(t, "tags", tags(t, db, "lib/app", "", 0), []string{"b"})
}

func testListTags(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	names := []string{"v1.2", "latest", "b", "V2", "a", "v1.10", "_x", "A", "v1.0", "B", "a-b", "a.b", "a_b"}
	for i, n := range names {
		push(t, db, manifest(pid, "lib/app", fmt.Sprintf("m%d", i%3), nil, n))
	}
	// Byte order: uppercase before '_' before lowercase; '-' < '.' < '_'.
	all := []string{"A", "B", "V2", "_x", "a", "a-b", "a.b", "a_b", "b", "latest", "v1.0", "v1.10", "v1.2"}
	for _, tc := range []struct {
		last string
		n    int
		want []string
	}{
		{"", 0, all},
		{"", -1, all},
		{"", 3, all[:3]},
		{"V2", 2, []string{"_x", "a"}},
		{"Z", 0, all[3:]},
		{"a", 3, []string{"a-b", "a.b", "a_b"}},
		{"v1.10", 5, []string{"v1.2"}},
		{"v1.2", 5, []string{}},
		{"zzz", 0, []string{}},
	} {
		equal(t, fmt.Sprintf("tags after %q n=%d", tc.last, tc.n), tags(t, db, "lib/app", tc.last, tc.n), tc.want)
	}
	_, err := db.ListTags(ctx, "lib/nope", "", 0)
	wantKind(t, err, errs.NotFound, "tags of unknown repository")
}

func testCatalog(t *testing.T, db *store.DB) {
	pub, priv := project(t, db, "p"), project(t, db, "q")
	names := []string{"p/ab", "q/secret", "p/a_b", "p/a0", "p/a/b", "p/a-b", "p/a", "q/a"}
	for _, n := range names {
		pid := pub
		if strings.HasPrefix(n, "q/") {
			pid = priv
		}
		push(t, db, manifest(pid, n, "m", nil, "latest"))
	}
	all := []string{"p/a", "p/a-b", "p/a/b", "p/a0", "p/a_b", "p/ab", "q/a", "q/secret"}
	public := func(pid int64) bool { return pid == pub }
	for _, tc := range []struct {
		last    string
		n       int
		visible func(int64) bool
		want    []string
	}{
		{"", 0, nil, all},
		{"", 3, nil, all[:3]},
		{"p/a-b", 2, nil, []string{"p/a/b", "p/a0"}},
		{"p/ab", 0, nil, []string{"q/a", "q/secret"}},
		{"q/secret", 0, nil, []string{}},
		{"", 0, public, all[:6]},
		{"p/a_b", 5, public, []string{"p/ab"}},
		{"", 0, func(int64) bool { return false }, []string{}},
		{"p/ab", 1, func(pid int64) bool { return pid == priv }, []string{"q/a"}},
	} {
		got, err := db.Catalog(ctx, tc.last, tc.n, tc.visible)
		must(t, err, "catalog")
		equal(t, fmt.Sprintf("catalog after %q n=%d", tc.last, tc.n), got, tc.want)
	}
}

// testCatalogPagesPastHidden fills more than one internal page with hidden
// repositories, so a filtered catalog must read on to find visible ones.
func testCatalogPagesPastHidden(t *testing.T, db *store.DB) {
	hidden, shown := project(t, db, "a"), project(t, db, "z")
	const n = 520
	for i := range n {
		push(t, db, manifest(hidden, fmt.Sprintf("a/r%04d", i), "m", nil))
	}
	push(t, db, manifest(shown, "z/one", "m", nil))
	push(t, db, manifest(shown, "z/two", "m", nil))
	visible := func(pid int64) bool { return pid == shown }
	got, err := db.Catalog(ctx, "", 1, visible)
	must(t, err, "catalog")
	equal(t, "first visible", got, []string{"z/one"})
	got, err = db.Catalog(ctx, "", 0, visible)
	must(t, err, "catalog")
	equal(t, "all visible", got, []string{"z/one", "z/two"})
	got, err = db.Catalog(ctx, "", 0, nil)
	must(t, err, "catalog")
	if len(got) != n+2 || got[n-1] != fmt.Sprintf("a/r%04d", n-1) || got[n] != "z/one" {
		t.Fatalf("unfiltered catalog has %d names (want %d), ending %q", len(got), n+2, got[max(0, len(got)-3):])
	}
}

func testReferrers(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	subject := manifest(pid, "lib/app", "subject", nil, "latest")
	push(t, db, subject)
	ref := func(repo, body, artifactType string) store.ManifestPut {
		m := manifest(pid, repo, body, nil)
		m.Subject, m.ArtifactType, m.Annotations = subject.Digest, artifactType, `{"k":"`+body+`"}`
		push(t, db, m)
		return m
	}
	sbom := ref("lib/app", "sbom", "application/spdx+json")
	sig := ref("lib/app", "sig", "application/vnd.dev.cosign.artifact.sig.v1+json")
	sbom2 := ref("lib/app", "sbom2", "application/spdx+json")
	ref("lib/elsewhere", "sbom3", "application/spdx+json") // same subject, other repository

	digests := func(rs []store.Referrer) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Digest)
		}
		return out
	}
	all, err := db.Referrers(ctx, "lib/app", subject.Digest, "")
	must(t, err, "referrers")
	equal(t, "referrers in push order", digests(all), []string{sbom.Digest, sig.Digest, sbom2.Digest})
	if r := all[1]; r.MediaType != sig.MediaType || r.ArtifactType != sig.ArtifactType || r.Size != sig.Size || r.Annotations != sig.Annotations {
		t.Fatalf("referrer = %+v, want fields of %+v", r, sig)
	}
	some, err := db.Referrers(ctx, "lib/app", subject.Digest, "application/spdx+json")
	must(t, err, "filtered referrers")
	equal(t, "referrers of one type", digests(some), []string{sbom.Digest, sbom2.Digest})
	for _, tc := range []struct{ repo, subject, artifactType string }{
		{"lib/app", subject.Digest, "text/plain"}, {"lib/app", sbom.Digest, ""}, {"lib/nope", subject.Digest, ""},
	} {
		got, err := db.Referrers(ctx, tc.repo, tc.subject, tc.artifactType)
		if err != nil || len(got) != 0 {
			t.Fatalf("referrers %+v = %v, %v; want none", tc, got, err)
		}
	}
	// A referrer goes when it is deleted.
	must(t, db.DeleteManifest(ctx, "lib/app", sig.Digest), "delete referrer")
	all, err = db.Referrers(ctx, "lib/app", subject.Digest, "")
	must(t, err, "referrers after delete")
	equal(t, "referrers after delete", digests(all), []string{sbom.Digest, sbom2.Digest})
}

func testRecordPulls(t *testing.T, db *store.DB) {
	pid := project(t, db, "lib")
	m := manifest(pid, "lib/app", "pulled", nil, "latest")
	id := push(t, db, m)
	r, err := db.ResolveManifest(ctx, "lib/app", "latest", false, false)
	must(t, err, "resolve")
	pullTime := func(want int64) {
		t.Helper()
		got, err := db.ArtifactPullTime(ctx, id)
		must(t, err, "pull time")
		if got != want {
			t.Fatalf("pull time = %d, want %d", got, want)
		}
	}
	pullTime(0)
	must(t, db.RecordPulls(ctx, nil, nil), "record nothing")
	must(t, db.RecordPulls(ctx, map[int64]int64{id: 5000}, map[int64]int64{r.TagID: 5000}), "record pulls")
	pullTime(5000)
	must(t, db.RecordPulls(ctx, map[int64]int64{id: 4000}, nil), "record an older pull")
	pullTime(5000)
	must(t, db.RecordPulls(ctx, map[int64]int64{id: 6000}, nil), "record a newer pull")
	pullTime(6000)

	must(t, db.DeleteManifest(ctx, "lib/app", m.Digest), "delete")
	must(t, db.RecordPulls(ctx, map[int64]int64{id: 7000, id + 1000: 7000}, map[int64]int64{r.TagID: 7000}), "record pulls of deleted rows")
	_, err = db.ArtifactPullTime(ctx, id)
	wantKind(t, err, errs.NotFound, "pull time of a deleted artifact")
}

// --- concurrency ---

func testConcurrentFinishUpload(t *testing.T, db *store.DB) {
	const n = 16
	pid := project(t, db, "lib")
	d := digest("popular layer")
	for i := range n {
		must(t, db.CreateUpload(ctx, store.Upload{ID: fmt.Sprintf("u%d", i), ProjectID: pid, Repository: "lib/app"}), "create upload")
	}
	parallel(t, n, func(i int) error {
		return db.FinishUpload(ctx, fmt.Sprintf("u%d", i), pid, d, 13)
	})
	projects, err := db.BlobProjects(ctx, d)
	must(t, err, "blob projects")
	equal(t, "blob projects", projects, []int64{pid})
	if size, err := db.BlobSize(ctx, d); err != nil || size != 13 {
		t.Fatalf("blob size = %d, %v", size, err)
	}
	if u, err := db.ProjectUsage(ctx, pid); err != nil || u != 13 {
		t.Fatalf("usage = %d, %v; want the blob counted once", u, err)
	}
	stale, err := db.StaleUploads(ctx, time.Now().Add(time.Hour).UnixMilli())
	must(t, err, "stale uploads")
	equal(t, "uploads left", stale, nil)
}

func testConcurrentPutManifest(t *testing.T, db *store.DB) {
	const n = 16
	pid := project(t, db, "lib")
	layers := []string{blob(t, db, pid, "base"), blob(t, db, pid, "app")}
	ms := make([]store.ManifestPut, n)
	for i := range ms {
		// Four distinct manifests, each pushed by four goroutines at once.
		ms[i] = manifest(pid, "lib/app", fmt.Sprintf("manifest %d", i%4), layers, "latest", fmt.Sprintf("t%02d", i))
	}
	ids := make([]int64, n)
	parallel(t, n, func(i int) error {
		var err error
		ids[i], err = db.PutManifest(ctx, ms[i])
		return err
	})
	for i := range ms {
		if ids[i] != ids[i%4] {
			t.Fatalf("goroutines %d and %d pushed the same digest and got artifacts %d and %d", i, i%4, ids[i], ids[i%4])
		}
		if got := resolve(t, db, "lib/app", fmt.Sprintf("t%02d", i)); got != ms[i].Digest {
			t.Fatalf("t%02d → %s, want %s", i, got, ms[i].Digest)
		}
	}
	if got := tags(t, db, "lib/app", "", 0); len(got) != n+1 || got[0] != "latest" {
		t.Fatalf("tags = %v", got)
	}
	latest := resolve(t, db, "lib/app", "latest")
	if !slices.ContainsFunc(ms, func(m store.ManifestPut) bool { return m.Digest == latest }) {
		t.Fatalf("latest → %s, which nobody pushed", latest)
	}
	cat, err := db.Catalog(ctx, "", 0, nil)
	must(t, err, "catalog")
	equal(t, "catalog", cat, []string{"lib/app"})
}
