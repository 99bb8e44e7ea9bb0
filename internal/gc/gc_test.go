package gc_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestCollect builds one store holding every kind of live and garbage
// thing, everything two hours old unless said otherwise, runs a dry run
// (which must change nothing), a collection with a one-hour window, and a
// second collection (which must find nothing), and checks each thing's fate.
func TestCollect(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			p1, p2 := e.project("p1"), e.project("p2")
			const size = 1000

			// Old things.
			live := e.blob(p1, size)
			a1 := e.manifest(p1, "p1/app", "v1", "", nil, live)
			dropped := e.blob(p1, size) // its manifest is deleted below
			gone := e.manifest(p1, "p1/app", "", "", nil, dropped)
			if err := e.db.DeleteManifest(e.ctx, "p1/app", gone); err != nil {
				t.Fatal(err)
			}
			shared := e.blob(p1, size) // linked in p1 (unused there) and used in p2
			if _, err := e.db.LinkBlob(e.ctx, p2, shared); err != nil {
				t.Fatal(err)
			}
			e.manifest(p2, "p2/app", "v1", "", nil, shared)
			oldReserved := e.reserved(size)
			oldOrphan := e.file(random(size))
			untaggedBlob := e.blob(p1, size)
			untagged := e.manifest(p1, "p1/app", "", "", nil, untaggedBlob)
			onUntagged := e.manifest(p1, "p1/app", "", untagged, nil)
			onKept := e.manifest(p1, "p1/app", "", a1, nil)
			onNothing := e.manifest(p1, "p1/app", "", "sha256:"+strings.Repeat("ab", 32), nil)
			keptChild := e.manifest(p1, "p1/multi", "", "", nil)
			keptIndex := e.manifest(p1, "p1/multi", "latest", "", []string{keptChild})
			goneChild := e.manifest(p1, "p1/multi", "", "", nil)
			goneIndex := e.manifest(p1, "p1/multi", "", "", []string{goneChild})
			if err := e.db.CreateUpload(e.ctx, store.Upload{ID: "stale", ProjectID: p1, Repository: "p1/app"}); err != nil {
				t.Fatal(err)
			}
			e.blobs.Append(e.ctx, "stale", 0, strings.NewReader("partial"))
			e.blobs.Append(e.ctx, "nosession", 0, strings.NewReader("partial"))
			e.ageAll()

			// Young things (within the one-hour window).
			youngLink := e.blob(p1, size)
			e.exec(fmt.Sprintf(`UPDATE blobs SET created_at = 0 WHERE digest = '%s'`, youngLink)) // only the link is young
			youngReserved := e.reserved(size)
			youngOrphan := e.file(random(size))
			youngUntagged := e.manifest(p1, "p1/app", "", "", nil)
			if err := e.db.CreateUpload(e.ctx, store.Upload{ID: "fresh", ProjectID: p1, Repository: "p1/app"}); err != nil {
				t.Fatal(err)
			}
			e.blobs.Append(e.ctx, "fresh", 0, strings.NewReader("partial"))

			stale := 2.0 // hours, so the two-hour-old session is stale
			params := gc.Params{DeleteUntagged: true, Workers: 3, TimeWindow: 1, StaleUploadHours: &stale}
			c := gc.New(e.db, e.blobs, gc.Options{})
			usage1 := e.usage(p1)

			before := e.state()
			params.DryRun = true
			var dry strings.Builder
			dres, err := c.Run(e.ctx, params, func(f string, a ...any) { fmt.Fprintf(&dry, f+"\n", a...) })
			if err != nil {
				t.Fatal(err)
			}
			if after := e.state(); after != before {
				t.Fatalf("a dry run changed the stores:\nbefore %s\nafter  %s", before, after)
			}
			// The dry run sees the untagged artifacts as they are: their
			// blobs are still referenced, so only untagged roots, the
			// dropped manifest's link and blob, the shared link, the old
			// reservation and orphan, and the stale uploads show.
			wantDry := gc.Result{DeletedArtifacts: 3, DroppedLinks: 2, DeletedBlobs: 2, DeletedOrphans: 1, FreedSpace: 3 * size, PurgedUploads: 2}
			if dres != wantDry {
				t.Errorf("dry run result %+v, want %+v\n%s", dres, wantDry, dry.String())
			}
			for _, want := range []string{"would delete untagged artifact p1/app@" + untagged, "would delete blob " + dropped,
				"would delete orphan blob file " + oldOrphan, "dry run finished (nothing was deleted)"} {
				if !strings.Contains(dry.String(), want) {
					t.Errorf("dry run log lacks %q:\n%s", want, dry.String())
				}
			}

			params.DryRun = false
			var log strings.Builder
			res, err := c.Run(e.ctx, params, func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) })
			if err != nil {
				t.Fatal(err)
			}
			want := gc.Result{DeletedArtifacts: 5, DroppedLinks: 3, DeletedBlobs: 3, DeletedOrphans: 1, FreedSpace: 4 * size, PurgedUploads: 2}
			if res != want {
				t.Errorf("result %+v, want %+v\n%s", res, want, log.String())
			}

			blobs := []struct {
				name              string
				digest            string
				linkP1, linkP2    bool // whether to check its link in p1, p2
				wantP1, wantP2    bool
				wantRow, wantFile bool
			}{
				{name: "used by a tagged artifact", digest: live, linkP1: true, wantP1: true, wantRow: true, wantFile: true},
				{name: "its manifest deleted", digest: dropped, linkP1: true, wantP1: false, wantRow: false, wantFile: false},
				{name: "unused in p1, used in p2", digest: shared, linkP1: true, wantP1: false, linkP2: true, wantP2: true, wantRow: true, wantFile: true},
				{name: "old reservation", digest: oldReserved, wantRow: false, wantFile: false},
				{name: "old orphan file", digest: oldOrphan, wantRow: false, wantFile: false},
				{name: "used only by an untagged artifact", digest: untaggedBlob, linkP1: true, wantP1: false, wantRow: false, wantFile: false},
				{name: "young link", digest: youngLink, linkP1: true, wantP1: true, wantRow: true, wantFile: true},
				{name: "young reservation", digest: youngReserved, wantRow: true, wantFile: true},
				{name: "young orphan file", digest: youngOrphan, wantRow: false, wantFile: true},
			}
			for _, b := range blobs {
				if got := e.hasRow(b.digest); got != b.wantRow {
					t.Errorf("%s: row %t, want %t", b.name, got, b.wantRow)
				}
				if got := e.hasFile(b.digest); got != b.wantFile {
					t.Errorf("%s: file %t, want %t", b.name, got, b.wantFile)
				}
				if b.linkP1 {
					if got := e.hasLink(p1, b.digest); got != b.wantP1 {
						t.Errorf("%s: link in p1 %t, want %t", b.name, got, b.wantP1)
					}
				}
				if b.linkP2 {
					if got := e.hasLink(p2, b.digest); got != b.wantP2 {
						t.Errorf("%s: link in p2 %t, want %t", b.name, got, b.wantP2)
					}
				}
			}
			if got := e.usage(p1); got != usage1-3*size {
				t.Errorf("p1 usage %d, want %d (three links of %d dropped)", got, usage1-3*size, size)
			}
			if got := e.usage(p2); got != size {
				t.Errorf("p2 usage %d, want %d", got, size)
			}

			artifacts := []struct {
				name   string
				digest string
				kept   bool
			}{
				{"tagged", a1, true},
				{"untagged root", untagged, false},
				{"accessory of the untagged root", onUntagged, false},
				{"accessory of a tagged artifact", onKept, true},
				{"accessory of nothing", onNothing, false},
				{"child of a tagged index", keptChild, true},
				{"tagged index", keptIndex, true},
				{"untagged index", goneIndex, false},
				{"child of the untagged index", goneChild, false},
				{"young untagged", youngUntagged, true},
			}
			for _, a := range artifacts {
				if got := e.hasArtifact(a.digest); got != a.kept {
					t.Errorf("artifact %s: present %t, want %t", a.name, got, a.kept)
				}
			}

			uploads := map[string]bool{"stale": false, "fresh": true}
			for id, kept := range uploads {
				if _, err := e.db.GetUpload(e.ctx, id); (err == nil) != kept {
					t.Errorf("upload session %s: present %t, want %t", id, err == nil, kept)
				}
				if _, err := e.blobs.UploadSize(e.ctx, id); (err == nil) != kept {
					t.Errorf("upload file %s: present %t, want %t", id, err == nil, kept)
				}
			}
			if _, err := e.blobs.UploadSize(e.ctx, "nosession"); err == nil {
				t.Error("an old upload file without a session was kept")
			}

			// Nothing is left for a second run.
			res, err = c.Run(e.ctx, params, nil)
			if err != nil || res != (gc.Result{}) {
				t.Errorf("second run: %+v, %v; want nothing deleted", res, err)
			}
		})
	}
}

// TestRecheck checks that each deletion asks again, inside its own
// transaction, whether its target is still garbage: something that became
// live between the listing and the deletion is kept.
func TestRecheck(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			p := e.project("p")
			cutoff := time.Now().Add(-time.Hour).UnixMilli()
			mustNot := func() error { t.Error("content removed for a live blob"); return nil }
			cases := []struct {
				name      string
				prepare   func() string         // something garbage, listed
				interfere func(d string)        // a push makes it live
				remove    func(d string) bool   // the deletion; true if it deleted
				listed    func(d string) bool   // it was listed as garbage before interfering
				check     func(d string) string // what must still be there
			}{
				{
					name:    "a manifest now uses the link",
					prepare: func() string { d := e.blob(p, 10); e.ageAll(); return d },
					listed: func(d string) bool {
						l, _ := e.db.GarbageLinks(e.ctx, cutoff, store.BlobLink{}, 100)
						return containsLink(l, d)
					},
					interfere: func(d string) { e.manifest(p, "p/app", "", "", nil, d) },
					remove: func(d string) bool {
						l, err := e.db.DropLinks(e.ctx, []store.BlobLink{{ProjectID: p, Digest: d}}, cutoff)
						if err != nil {
							t.Fatal(err)
						}
						return len(l) > 0
					},
					check: func(d string) string { return linkState(e, p, d) },
				},
				{
					name:    "a push links the blob again",
					prepare: func() string { d := e.blob(p, 10); e.ageAll(); return d },
					listed: func(d string) bool {
						l, _ := e.db.GarbageLinks(e.ctx, cutoff, store.BlobLink{}, 100)
						return containsLink(l, d)
					},
					interfere: func(d string) {
						if err := e.db.FinishUpload(e.ctx, "", p, d, 10); err != nil {
							t.Fatal(err)
						}
					},
					remove: func(d string) bool {
						l, _ := e.db.DropLinks(e.ctx, []store.BlobLink{{ProjectID: p, Digest: d}}, cutoff)
						return len(l) > 0
					},
					check: func(d string) string { return linkState(e, p, d) },
				},
				{
					name:    "a mount links an unlinked blob",
					prepare: func() string { d := e.reserved(10); e.ageAll(); return d },
					listed:  func(d string) bool { return blobListed(e, cutoff, d) },
					interfere: func(d string) {
						if _, err := e.db.LinkBlob(e.ctx, p, d); err != nil {
							t.Fatal(err)
						}
					},
					remove: func(d string) bool {
						_, ok, err := e.db.DeleteBlob(e.ctx, d, cutoff, mustNot)
						if err != nil {
							t.Fatal(err)
						}
						return ok
					},
					check: func(d string) string { return blobState(e, d) },
				},
				{
					name:      "an upload reserves the blob again",
					prepare:   func() string { d := e.reserved(10); e.ageAll(); return d },
					listed:    func(d string) bool { return blobListed(e, cutoff, d) },
					interfere: func(d string) { e.db.ReserveBlob(e.ctx, d, 10) },
					remove: func(d string) bool {
						_, ok, _ := e.db.DeleteBlob(e.ctx, d, cutoff, mustNot)
						return ok
					},
					check: func(d string) string { return blobState(e, d) },
				},
				{
					name:    "an upload reserves an orphan's digest",
					prepare: func() string { d := e.file(random(10)); e.ageAll(); return d },
					listed: func(d string) bool {
						have, _ := e.db.ExistingBlobs(e.ctx, []string{d})
						return !have[d]
					},
					interfere: func(d string) { e.db.ReserveBlob(e.ctx, d, 10) },
					remove: func(d string) bool {
						ok, _ := e.db.DeleteOrphan(e.ctx, d, mustNot)
						return ok
					},
					check: func(d string) string { return blobState(e, d) },
				},
				{
					name: "an untagged artifact gets a tag",
					prepare: func() string {
						d := e.manifest(p, "p/app", "", "", nil)
						e.ageAll()
						return d
					},
					listed: func(d string) bool {
						l, _ := e.db.UntaggedArtifacts(e.ctx, cutoff, 0, 100)
						for _, a := range l {
							if a.Digest == d {
								return true
							}
						}
						return false
					},
					interfere: func(d string) {
						a, err := e.db.ArtifactByRef(e.ctx, "p/app", d, true)
						if err != nil {
							t.Fatal(err)
						}
						if _, err := e.db.CreateArtifactTag(e.ctx, a.RepositoryID, a.ID, "now-tagged"); err != nil {
							t.Fatal(err)
						}
					},
					remove: func(d string) bool {
						a, _ := e.db.ArtifactByRef(e.ctx, "p/app", d, true)
						gone, err := e.db.DeleteUntaggedArtifact(e.ctx, a.ID, cutoff)
						if err != nil {
							t.Fatal(err)
						}
						return len(gone) > 0
					},
					check: func(d string) string {
						if !e.hasArtifact(d) {
							return "artifact gone"
						}
						return ""
					},
				},
				{
					name: "an untagged artifact is pushed again",
					prepare: func() string {
						d := e.manifest(p, "p/app2", "", "", nil)
						e.ageAll()
						return d
					},
					listed: func(d string) bool {
						l, _ := e.db.UntaggedArtifacts(e.ctx, cutoff, 0, 100)
						return len(l) > 0
					},
					interfere: func(d string) {
						e.exec(fmt.Sprintf(`UPDATE artifacts SET push_time = %d WHERE digest = '%s'`, time.Now().UnixMilli(), d))
					},
					remove: func(d string) bool {
						a, _ := e.db.ArtifactByRef(e.ctx, "p/app2", d, true)
						gone, _ := e.db.DeleteUntaggedArtifact(e.ctx, a.ID, cutoff)
						return len(gone) > 0
					},
					check: func(d string) string {
						if !e.hasArtifact(d) {
							return "artifact gone"
						}
						return ""
					},
				},
			}
			for _, c := range cases {
				d := c.prepare()
				if !c.listed(d) {
					t.Errorf("%s: not listed as garbage beforehand", c.name)
					continue
				}
				c.interfere(d)
				if c.remove(d) {
					t.Errorf("%s: deleted although live", c.name)
				}
				if problem := c.check(d); problem != "" {
					t.Errorf("%s: %s", c.name, problem)
				}
			}
		})
	}
}

func containsLink(l []store.BlobLink, d string) bool {
	for _, x := range l {
		if x.Digest == d {
			return true
		}
	}
	return false
}

func blobListed(e *env, cutoff int64, d string) bool {
	l, _ := e.db.GarbageBlobs(e.ctx, cutoff, false, "", 1000)
	for _, b := range l {
		if b.Digest == d {
			return true
		}
	}
	return false
}

func linkState(e *env, p int64, d string) string {
	if !e.hasLink(p, d) {
		return "link gone"
	}
	return blobState(e, d)
}

func blobState(e *env, d string) string {
	switch {
	case !e.hasRow(d):
		return "row gone"
	case !e.hasFile(d):
		return "file gone"
	}
	return ""
}

// TestStartOneAtATime checks that a second collection is refused while one
// is pending, and that a stopped one no longer blocks.
func TestStartOneAtATime(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			js := jobs.New(e.db, jobs.Options{}) // no workers: executions stay pending
			gc.Register(js, e.db, gc.New(e.db, e.blobs, gc.Options{}), nil)
			p := gc.DefaultParams()
			id, err := gc.Start(e.ctx, e.db, js, jobs.Manual, p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := gc.Start(e.ctx, e.db, js, jobs.Manual, p); !errs.Is(err, errs.Conflict) {
				t.Fatalf("second start: %v, want a conflict", err)
			}
			bad := p
			bad.Workers = 6
			if _, err := gc.Start(e.ctx, e.db, js, jobs.Manual, bad); !errs.Is(err, errs.Invalid) {
				t.Fatalf("workers 6: %v, want invalid", err)
			}
			if err := js.Stop(e.ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := gc.Start(e.ctx, e.db, js, jobs.Manual, p); err != nil {
				t.Fatalf("start after stop: %v", err)
			}
		})
	}
}

// TestInterruptedRun stops a collection part way (its context ends after
// some deletions) and checks the stores stay consistent and a second run
// finishes the work.
func TestInterruptedRun(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			p := e.project("p")
			keep := e.blob(p, 100)
			e.manifest(p, "p/app", "v1", "", nil, keep)
			var garbage []string
			for i := 0; i < 60; i++ {
				garbage = append(garbage, e.reserved(100))
			}
			e.ageAll()
			ctx, cancel := context.WithCancel(e.ctx)
			n := 0
			c := gc.New(e.db, e.blobs, gc.Options{})
			_, err := c.Run(ctx, gc.Params{Workers: 1, TimeWindow: 1}, func(f string, a ...any) {
				if strings.HasPrefix(f, "deleted blob") {
					if n++; n == 20 {
						cancel()
					}
				}
			})
			if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
				t.Fatalf("stopped run: %v, want a cancellation", err)
			}
			rows, files := 0, 0
			for _, d := range garbage {
				if e.hasRow(d) {
					rows++
				}
				if e.hasFile(d) {
					files++
				}
				if e.hasFile(d) && !e.hasRow(d) {
					t.Errorf("%s: file without row after the interruption", d)
				}
			}
			if rows == 0 || rows == len(garbage) {
				t.Fatalf("interruption left %d of %d garbage blobs; want some deleted and some left", rows, len(garbage))
			}
			res, err := c.Run(e.ctx, gc.Params{Workers: 2, TimeWindow: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.DeletedBlobs != rows {
				t.Errorf("second run deleted %d blobs, want the %d left", res.DeletedBlobs, rows)
			}
			for _, d := range garbage {
				if e.hasRow(d) || e.hasFile(d) {
					t.Errorf("%s left after the second run", d)
				}
			}
			if !e.hasRow(keep) || !e.hasFile(keep) || !e.hasLink(p, keep) {
				t.Error("the live blob was touched")
			}
		})
	}
}

// TestCrashLeftover: a crash between deleting a blob's file and committing
// leaves an unreferenced row without a file. Pushing the same content
// again must store it again, and the next run removes nothing live.
func TestCrashLeftover(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			content := random(4096)
			d := oci.FromBytes(content)
			ctx := context.Background()
			if err := srv.App.DB.ReserveBlob(ctx, string(d), int64(len(content))); err != nil {
				t.Fatal(err)
			}
			// The row is there, the file is not.
			if _, err := srv.App.Blobs.Stat(ctx, d); !errs.Is(err, errs.NotFound) {
				t.Fatalf("stat: %v", err)
			}
			status := monolithicUpload(t, srv.URL, "library/app", content)
			if status != 201 {
				t.Fatalf("upload: %d", status)
			}
			if _, err := srv.App.Blobs.Stat(ctx, d); err != nil {
				t.Fatalf("content not stored again: %v", err)
			}
			// Deduplicated path: the file exists, the blob is pushed into
			// another project; the content stays one file.
			if _, err := srv.App.DB.CreateProject(ctx, store.Project{Name: "other"}); err != nil {
				t.Fatal(err)
			}
			if status := monolithicUpload(t, srv.URL, "other/app", content); status != 201 {
				t.Fatalf("second upload: %d", status)
			}
			if _, err := srv.App.Blobs.Stat(ctx, d); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// monolithicUpload pushes content to repo in one POST, as admin, and
// returns the status.
func monolithicUpload(t *testing.T, base, repo string, content []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+string(oci.FromBytes(content)), strings.NewReader(string(content)))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestUploadRacesCollection uploads content whose unreferenced copy a
// collection deletes at the same moment, many times over: whenever the
// registry acknowledges the upload, the blob must be linked and its
// content stored (the registry records an already stored blob first and
// looks again before dropping the uploaded bytes).
func TestUploadRacesCollection(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			lib, err := srv.App.DB.ProjectByName(ctx, "library")
			if err != nil {
				t.Fatal(err)
			}
			acked, deleted := 0, 0
			for i := 0; i < 150; i++ {
				content := random(2048)
				d := oci.FromBytes(content)
				// An unreferenced, unlinked blob: row and file.
				if err := srv.App.DB.ReserveBlob(ctx, string(d), int64(len(content))); err != nil {
					t.Fatal(err)
				}
				if _, err := srv.App.Blobs.Append(ctx, "seed", 0, strings.NewReader(string(content))); err != nil {
					t.Fatal(err)
				}
				if err := srv.App.Blobs.Commit(ctx, "seed", d); err != nil {
					t.Fatal(err)
				}
				before := time.Now().UnixMilli() + 1
				time.Sleep(3 * time.Millisecond)
				done := make(chan bool)
				go func() {
					time.Sleep(time.Duration(i%7) * 300 * time.Microsecond)
					_, ok, err := srv.App.DB.DeleteBlob(ctx, string(d), before, func() error { return srv.App.Blobs.Delete(ctx, d) })
					if err != nil {
						t.Error(err)
					}
					done <- ok
				}()
				status := monolithicUpload(t, srv.URL, "library/race", content)
				if <-done {
					deleted++
				}
				if status != 201 {
					t.Logf("iteration %d: upload answered %d", i, status)
					continue
				}
				acked++
				if _, err := srv.App.DB.ProjectBlob(ctx, lib.ID, string(d)); err != nil {
					t.Errorf("iteration %d: acknowledged upload not linked: %v", i, err)
				}
				if _, err := srv.App.Blobs.Stat(ctx, d); err != nil {
					t.Errorf("iteration %d: acknowledged upload's content is gone: %v", i, err)
				}
			}
			t.Logf("%d uploads acknowledged, %d copies deleted by the collection meanwhile", acked, deleted)
			if deleted == 0 || acked == 0 {
				t.Errorf("no race: %d acknowledged, %d deleted", acked, deleted)
			}

			// Mounts from a project whose link the collection drops (and
			// whose blob it deletes) at the same moment: a mount either
			// links a blob that stays whole or becomes an upload session.
			other, err := srv.App.DB.CreateProject(ctx, store.Project{Name: "other"})
			if err != nil {
				t.Fatal(err)
			}
			mounted, fallbacks, deleted := 0, 0, 0
			for i := 0; i < 100; i++ {
				content := random(2048)
				d := oci.FromBytes(content)
				if status := monolithicUpload(t, srv.URL, "other/app", content); status != 201 {
					t.Fatalf("seed upload: %d", status)
				}
				before := time.Now().UnixMilli() + 1
				time.Sleep(3 * time.Millisecond)
				done := make(chan bool)
				go func() {
					time.Sleep(time.Duration(i%5) * 200 * time.Microsecond)
					if _, err := srv.App.DB.DropLinks(ctx, []store.BlobLink{{ProjectID: other, Digest: string(d)}}, before); err != nil {
						t.Error(err)
					}
					_, ok, err := srv.App.DB.DeleteBlob(ctx, string(d), before, func() error { return srv.App.Blobs.Delete(ctx, d) })
					if err != nil {
						t.Error(err)
					}
					done <- ok
				}()
				status := request(t, "POST", srv.URL+"/v2/library/race/blobs/uploads/?mount="+string(d)+"&from=other/app")
				if <-done {
					deleted++
				}
				switch status {
				case 201:
					mounted++
					if _, err := srv.App.DB.ProjectBlob(ctx, lib.ID, string(d)); err != nil {
						t.Errorf("mount %d: acknowledged mount not linked: %v", i, err)
					}
					if _, err := srv.App.Blobs.Stat(ctx, d); err != nil {
						t.Errorf("mount %d: acknowledged mount's content is gone: %v", i, err)
					}
				case 202:
					fallbacks++
				default:
					t.Errorf("mount %d: status %d", i, status)
				}
			}
			t.Logf("%d mounts acknowledged, %d became uploads, %d blobs deleted by the collection meanwhile", mounted, fallbacks, deleted)

			// Manifests pushed while the collection drops the link of one of
			// their layers (which a client found by HEAD, so did not upload
			// again): a manifest is either refused or keeps its layer.
			cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
			if status := monolithicUpload(t, srv.URL, "library/race", cfg); status != 201 {
				t.Fatalf("config upload: %d", status)
			}
			pushed, refused, dropped := 0, 0, 0
			for i := 0; i < 100; i++ {
				layer := random(2048)
				d := oci.FromBytes(layer)
				if status := monolithicUpload(t, srv.URL, "library/race", layer); status != 201 {
					t.Fatalf("layer upload: %d", status)
				}
				before := time.Now().UnixMilli() + 1
				time.Sleep(3 * time.Millisecond)
				m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
					`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
					`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
					oci.FromBytes(cfg), len(cfg), d, len(layer))
				done := make(chan int)
				go func() {
					time.Sleep(time.Duration(i%5) * 200 * time.Microsecond)
					l, err := srv.App.DB.DropLinks(ctx, []store.BlobLink{{ProjectID: lib.ID, Digest: string(d)}}, before)
					if err != nil {
						t.Error(err)
					}
					done <- len(l)
				}()
				status := putManifest(t, srv.URL+"/v2/library/race/manifests/m"+fmt.Sprint(i), m)
				dropped += <-done
				switch status {
				case 201:
					pushed++
					if _, err := srv.App.DB.ProjectBlob(ctx, lib.ID, string(d)); err != nil {
						t.Errorf("manifest %d: acknowledged, but its layer is no longer in the project: %v", i, err)
					}
				case 400:
					refused++ // MANIFEST_BLOB_UNKNOWN: the link went first
				default:
					t.Errorf("manifest %d: status %d", i, status)
				}
			}
			t.Logf("%d manifests acknowledged, %d refused, %d links dropped meanwhile", pushed, refused, dropped)
		})
	}
}

// request sends a bodiless request as admin and returns the status.
func request(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// putManifest sends an OCI image manifest as admin and returns the status.
func putManifest(t *testing.T, url, body string) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
