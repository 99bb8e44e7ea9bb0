// Package gc is Berth's online garbage collection (Harbor's GC job): it
// deletes what no artifact needs any more while the registry keeps serving
// pushes and pulls, with no read-only window.
//
// # What is live
//
// The metadata store is the mark: nothing is marked in memory, every
// decision is a query, and each deletion asks again inside the transaction
// that deletes. Manifests live in the database (artifacts.manifest), so the
// blob store holds configs and layers only.
//
//   - An artifact is live while it has a tag, was pushed within the time
//     window, is a child of an index in its repository, or is an accessory
//     of an artifact that is there. Only delete_untagged removes artifacts:
//     the ones failing all four ("roots"), with their accessories and their
//     untagged, otherwise unreferenced index children pushed before the
//     window, as Harbor deletes an artifact with its accessories.
//   - A link (project P sees blob D, table project_blobs; what /v2 blob
//     reads and manifest pushes check, and what P's quota usage sums) is
//     live while an artifact of P references D, or while it is younger than
//     the window: a push links its layers before the manifest that uses
//     them arrives, and every upload or mount of D into P refreshes it.
//   - A blob row is live while a link or an artifact names it, or while it
//     is younger than the window (created, or reserved again by an upload).
//   - A file under blobs/ is live while its digest has a row.
//   - An upload session is live while it was updated within the stale
//     upload age (24 h); a file under uploads/ while its session exists or
//     it was written within that age.
//
// # The sweep
//
// One run goes through five steps in this order, so what one step frees
// the next collects in the same run: (1) with delete_untagged, delete the
// untagged roots; (2) drop garbage links, subtracting their sizes from
// their projects' usage in the same transaction; (3) delete garbage blob
// rows and their files, up to `workers` at a time; (4) delete orphan files
// (under blobs/ with no row, older than the window: a crash between moving
// an upload into place and recording it, before reservations existed);
// (5) purge stale upload sessions and their files. A dry run takes the same
// queries and deletes nothing.
//
// # Safety
//
// Claim: once the registry has acknowledged a manifest push (201), then as
// long as that artifact is not deleted, every blob it references keeps its
// row, its link in the artifact's project and its file, so it pulls back
// intact. The argument, per table (on SQLite every write transaction holds
// the one write lock, so each interleaving below collapses to "one
// transaction entirely before the other"; the PostgreSQL mechanics are
// given, under READ COMMITTED, where every statement reads a fresh
// snapshot):
//
//  1. PutManifest inserts artifact_blobs(A, D) in the transaction that
//     checked link (P, D) exists, and holds the link FOR KEY SHARE until it
//     commits.
//  2. GC drops a link only in DropLinks, which locks it FOR UPDATE and then
//     checks, in a later statement, that no artifact of P references D. If
//     A committed first, the check sees it and keeps the link; if GC locked
//     first, A's push waits, finds the link gone and fails with
//     MANIFEST_BLOB_UNKNOWN: it is never acknowledged. A link younger than
//     the window is not touched at all.
//  3. GC deletes a blob row only in DeleteBlob, which locks the row FOR
//     UPDATE and checks, in a later statement, that no link and no
//     artifact_blobs row names D. By 1–2, an acknowledged A keeps (P, D), so
//     D's row stays. A concurrent link insert takes the row FOR KEY SHARE
//     through the foreign key project_blobs → blobs: it either committed
//     before the check (seen) or waits and then fails on the missing key
//     (never linking a deleted blob). The foreign key also makes the
//     database itself refuse to delete a row a link names.
//  4. GC deletes a file only (a) in DeleteBlob, inside the transaction that
//     deletes D's row, before it commits, and (b) in DeleteOrphan, while D
//     has no row, holding a placeholder row for D meanwhile. So a file is
//     never removed while a committed row for D exists; what remains is to
//     make uploads that record D after a deletion supply its content: the
//     registry's side of the contract.
//
// The registry's side (internal/registry/blobs.go, commit), for each way a
// blob gets recorded:
//
//   - New content: ReserveBlob(D) upserts the row with a fresh created_at
//     before the upload is moved to blobs/D, then FinishUpload links it. (b)
//     cannot take the file (its placeholder conflicts with the row; on
//     PostgreSQL a reservation in progress makes it wait), and (a) cannot
//     take the fresh row until the window has passed. Assumption W: the
//     window is longer than one blob commit, reservation to link, which
//     takes milliseconds (Harbor's default window, and Berth's, is 2 h).
//   - Content already stored (deduplicated): FinishUpload first, keeping
//     the uploaded bytes; then look at blobs/D again: if DeleteBlob removed
//     it before FinishUpload re-created the row, the kept bytes are moved
//     into place. After FinishUpload the link protects D by 3. On
//     PostgreSQL FinishUpload's link can find the row deleted under it (its
//     foreign key check waited for DeleteBlob); FinishUpload then records
//     the blob again in a new transaction.
//   - A PUT retried after an earlier one moved the bytes but stopped before
//     recording them reserves D, checks the file is still there, and only
//     then records it.
//   - A mount (LinkBlob) reads D's row FOR KEY SHARE in the transaction that
//     links it: DeleteBlob has either committed (the mount finds no row and
//     becomes an ordinary upload) or waits and then sees the link.
//
// Hence an acknowledged manifest's blobs keep row, link and file. The tests
// of this package race each of these paths against the deletions
// (TestUploadRacesCollection) and fail without the locks and the order
// described here; test/gc runs collections back to back while 16 clients
// push, re-tag and delete.
//
// Completeness: a run with window w and no concurrent pushes leaves no
// untagged root (with delete_untagged), no unused link, no unreferenced
// blob row or orphan file older than w, and no stale upload.
//
// Interruption: every deletion is one transaction that takes the row and
// the file together, except that a crash between removing a file and
// committing leaves an old blob row with no link, no reference and no
// file. That is harmless: no /v2 read or mount can reach a blob without a
// link, an upload of D stores the content again (the file is missing, so
// its bytes are moved into place), and the next run deletes the row.
// Nothing carries over in memory, so running again after a stop, a
// shutdown (the job system puts the task back to pending and it runs
// again) or a kill (its lease runs out and the job system ends it; the
// task has one attempt, as in Harbor) continues where the last run
// stopped.
//
// Limits, not breaches of the claim: a push that found its layers by HEAD
// (so uploaded nothing) while their links were older than the window and
// unused can fail with MANIFEST_BLOB_UNKNOWN if a run drops a link before
// the manifest arrives; the client pushes again. With delete_untagged, an
// index pushed at the moment a run deletes an old untagged child it names
// (clients skip children they find by HEAD) records a reference to a
// child that is gone, as if the child had been deleted by hand just before;
// indexes reference children by digest and may be sparse. A window of 0
// is only safe while nothing is being pushed (as in Harbor).
//
// Only one collection runs at a time: Start refuses a second while one is
// pending or running, and of two started together the later stops itself.
package gc

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// Defaults and limits of the parameters (Harbor's where Harbor has them).
const (
	DefaultTimeWindowHours  = 2
	DefaultStaleUploadHours = 24
	MaxWorkers              = 5
	batch                   = 500 // rows read per query, links dropped per transaction
	maxWindowHours          = 24 * 365 * 100
	defaultWorkers          = 1
	orphanBatch             = 200
	uploadBatch             = 200
	systemOperator          = "system"
)

// Params are a collection's parameters, with Harbor's names; the Berth
// additions are optional and omitted when not set.
type Params struct {
	DeleteUntagged bool `json:"delete_untagged"`
	DryRun         bool `json:"dry_run"`
	Workers        int  `json:"workers"` // concurrent blob deletions, 1–5
	// TimeWindow is Harbor's grace period in hours: blobs and links younger
	// than it are kept (default 2).
	TimeWindow float64 `json:"time_window"`
	// TimeWindowSeconds, Berth's, replaces TimeWindow with a finer unit.
	TimeWindowSeconds *float64 `json:"time_window_seconds,omitempty"`
	// StaleUploadHours, Berth's: upload sessions not updated for this long
	// are purged (default 24).
	StaleUploadHours *float64 `json:"stale_upload_hours,omitempty"`
}

// DefaultParams are Harbor's defaults.
func DefaultParams() Params {
	return Params{Workers: defaultWorkers, TimeWindow: DefaultTimeWindowHours}
}

// Window returns the time window.
func (p Params) Window() time.Duration {
	if p.TimeWindowSeconds != nil {
		return time.Duration(*p.TimeWindowSeconds * float64(time.Second))
	}
	return time.Duration(p.TimeWindow * float64(time.Hour))
}

// StaleUploadAge returns the age after which an upload session is purged.
func (p Params) StaleUploadAge() time.Duration {
	if p.StaleUploadHours != nil {
		return time.Duration(*p.StaleUploadHours * float64(time.Hour))
	}
	return DefaultStaleUploadHours * time.Hour
}

// Validate checks p.
func (p Params) Validate() error {
	const op = "gc parameters"
	if p.Workers < 1 || p.Workers > MaxWorkers {
		return errs.E(errs.Invalid, op, "workers must be between 1 and %d, not %d", MaxWorkers, p.Workers)
	}
	hours := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxWindowHours {
			return errs.E(errs.Invalid, op, "%s must be a number of hours from 0 to %d, not %v", name, maxWindowHours, v)
		}
		return nil
	}
	if err := hours("time_window", p.TimeWindow); err != nil {
		return err
	}
	if p.TimeWindowSeconds != nil {
		if err := hours("time_window_seconds", *p.TimeWindowSeconds/3600); err != nil {
			return errs.E(errs.Invalid, op, "time_window_seconds must be a number of seconds from 0, not %v", *p.TimeWindowSeconds)
		}
	}
	if p.StaleUploadHours != nil {
		if err := hours("stale_upload_hours", *p.StaleUploadHours); err != nil {
			return err
		}
	}
	return nil
}

// Result counts what a collection deleted (or, in a dry run, would delete).
type Result struct {
	DeletedArtifacts int   `json:"deleted_artifacts"`
	DroppedLinks     int   `json:"dropped_links"`
	DeletedBlobs     int   `json:"deleted_blobs"`
	DeletedOrphans   int   `json:"deleted_orphans"`
	FreedSpace       int64 `json:"freed_space"` // bytes of blob and orphan files
	PurgedUploads    int   `json:"purged_uploads"`
}

// Store is what a collection needs from the metadata store.
type Store interface {
	UntaggedArtifacts(ctx context.Context, before, after int64, limit int) ([]store.GCArtifact, error)
	DeleteUntaggedArtifact(ctx context.Context, id, before int64) ([]store.GCArtifact, error)
	GarbageLinks(ctx context.Context, before int64, after store.BlobLink, limit int) ([]store.BlobLink, error)
	DropLinks(ctx context.Context, links []store.BlobLink, before int64) ([]store.BlobLink, error)
	GarbageBlobs(ctx context.Context, before int64, pending bool, after string, limit int) ([]store.BlobRef, error)
	DeleteBlob(ctx context.Context, digest string, before int64, remove func() error) (int64, bool, error)
	ExistingBlobs(ctx context.Context, digests []string) (map[string]bool, error)
	DeleteOrphan(ctx context.Context, digest string, remove func() error) (bool, error)
	StaleUploads(ctx context.Context, before int64) ([]string, error)
	DeleteStaleUpload(ctx context.Context, id string, before int64) (bool, error)
	ExistingUploads(ctx context.Context, ids []string) (map[string]bool, error)
}

// Storage is the blob store as a collection uses it (*blob.Store).
type Storage interface {
	Delete(ctx context.Context, d oci.Digest) error
	Abort(ctx context.Context, uploadID string) error
	Driver() blob.Driver
}

// Options configure a Collector.
type Options struct {
	// Events receives a DELETE_ARTIFACT event for every artifact deleted.
	Events interface{ Publish(event.Event) }
	// Changed, if set, is called after artifacts were deleted (the
	// registry drops its cached manifest references).
	Changed func()
}

// Collector runs collections.
type Collector struct {
	st    Store
	blobs Storage
	opts  Options
}

// New returns a collector over st and blobs.
func New(st Store, blobs Storage, opts Options) *Collector {
	return &Collector{st: st, blobs: blobs, opts: opts}
}

// Logf receives a collection's progress, one line per call.
type Logf func(format string, args ...any)

// run is one collection in progress.
type run struct {
	*Collector
	p      Params
	logf   Logf
	start  time.Time
	cutoff time.Time // things older than this may go
	res    Result
	mu     sync.Mutex // guards res and logf from the workers
}

// Run collects garbage with p, logging every step to logf, and returns
// what it deleted. It stops at ctx's end, returning an error wrapping
// ctx.Err(); running it again continues the work.
func (c *Collector) Run(ctx context.Context, p Params, logf Logf) (Result, error) {
	if p.Workers == 0 {
		p.Workers = defaultWorkers
	}
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	r := &run{Collector: c, p: p, logf: logf, start: time.Now()}
	r.cutoff = r.start.Add(-p.Window())
	r.log("garbage collection started: delete_untagged=%t dry_run=%t workers=%d time_window=%s stale_upload_age=%s",
		p.DeleteUntagged, p.DryRun, p.Workers, p.Window(), p.StaleUploadAge())
	r.log("keeping everything created or used after %s", r.cutoff.UTC().Format(time.RFC3339Nano))
	steps := []struct {
		name string
		fn   func(context.Context) error
		on   bool
	}{
		{"delete untagged artifacts", r.untagged, p.DeleteUntagged},
		{"drop unused blob links", r.links, true},
		{"delete unreferenced blobs", r.blobRows, true},
		{"delete orphan blob files", r.orphans, true},
		{"purge stale uploads", r.uploads, true},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := ctx.Err(); err != nil {
			r.log("stopped before step %q", s.name)
			return r.res, errs.Wrap("garbage collection", err)
		}
		if err := s.fn(ctx); err != nil {
			r.log("step %q failed: %v", s.name, err)
			return r.res, errs.Wrap("garbage collection: "+s.name, err)
		}
	}
	r.summary()
	return r.res, nil
}

func (r *run) log(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logf != nil {
		r.logf(format, args...)
	}
}

func (r *run) verb(done, would string) string {
	if r.p.DryRun {
		return would
	}
	return done
}

func (r *run) summary() {
	res := r.res
	prefix := "garbage collection finished"
	if r.p.DryRun {
		prefix = "dry run finished (nothing was deleted)"
	}
	r.log("%s in %s: %s %d artifacts, %s %d blob links, %s %d blobs and %d orphan files, %s %s; %s %d stale uploads",
		prefix, time.Since(r.start).Round(time.Millisecond),
		r.verb("deleted", "would delete"), res.DeletedArtifacts,
		r.verb("dropped", "would drop"), res.DroppedLinks,
		r.verb("deleted", "would delete"), res.DeletedBlobs, res.DeletedOrphans,
		r.verb("freeing", "which would free"), byteSize(res.FreedSpace),
		r.verb("purged", "would purge"), res.PurgedUploads)
}

// untagged deletes (or lists) the untagged roots, step 1.
func (r *run) untagged(ctx context.Context) error {
	before := r.cutoff.UnixMilli()
	var after int64
	for {
		list, err := r.st.UntaggedArtifacts(ctx, before, after, batch)
		if err != nil {
			return err
		}
		for _, a := range list {
			if err := ctx.Err(); err != nil {
				return err
			}
			after = a.ID
			if r.p.DryRun {
				r.log("would delete untagged artifact %s@%s (with its accessories and children)", a.Repository, a.Digest)
				r.res.DeletedArtifacts++
				continue
			}
			gone, err := r.st.DeleteUntaggedArtifact(ctx, a.ID, before)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				r.log("could not delete artifact %s@%s: %v (left for the next run)", a.Repository, a.Digest, err)
				continue
			}
			if len(gone) == 0 {
				r.log("artifact %s@%s is in use again; kept", a.Repository, a.Digest)
			} else if r.opts.Changed != nil {
				r.opts.Changed() // no cached reference may name it any more
			}
			for _, g := range gone {
				r.res.DeletedArtifacts++
				r.log("deleted untagged artifact %s@%s", g.Repository, g.Digest)
				r.publishDelete(g)
			}
		}
		if len(list) < batch {
			break
		}
	}
	r.log("%s %d untagged artifacts", r.verb("deleted", "would delete"), r.res.DeletedArtifacts)
	return nil
}

func (r *run) publishDelete(a store.GCArtifact) {
	if r.opts.Events == nil {
		return
	}
	project, _, _ := strings.Cut(a.Repository, "/")
	r.opts.Events.Publish(event.Event{
		Type: event.DeleteArtifact, Operator: systemOperator, ProjectID: a.ProjectID, Project: project,
		Repository: a.Repository, Digest: a.Digest, MediaType: a.MediaType, Size: a.Size,
	})
}

// links drops (or counts) the links no artifact of their project uses,
// step 2.
func (r *run) links(ctx context.Context) error {
	before := r.cutoff.UnixMilli()
	var after store.BlobLink
	var bytes int64
	for {
		list, err := r.st.GarbageLinks(ctx, before, after, batch)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			break
		}
		after = list[len(list)-1]
		if err := ctx.Err(); err != nil {
			return err
		}
		done := list
		if !r.p.DryRun {
			if done, err = r.st.DropLinks(ctx, list, before); err != nil {
				return err
			}
		}
		for _, l := range done {
			bytes += l.Size
			r.res.DroppedLinks++
		}
		if len(list) < batch {
			break
		}
	}
	r.log("%s %d blob links no artifact uses (%s taken off project quota usage)",
		r.verb("dropped", "would drop"), r.res.DroppedLinks, byteSize(bytes))
	return nil
}

// blobRows deletes (or lists) unreferenced blobs and their files with
// p.Workers workers, step 3.
func (r *run) blobRows(ctx context.Context) error {
	before := r.cutoff.UnixMilli()
	var failed atomic.Int64
	err := parallel(ctx, r.p.Workers, func(feed func(store.BlobRef) bool) error {
		after := ""
		for {
			list, err := r.st.GarbageBlobs(ctx, before, r.p.DryRun, after, batch)
			if err != nil {
				return err
			}
			for _, b := range list {
				after = b.Digest
				if r.p.DryRun {
					r.log("would delete blob %s (%s)", b.Digest, byteSize(b.Size))
					r.count(func(res *Result) { res.DeletedBlobs++; res.FreedSpace += b.Size })
					continue
				}
				if !feed(b) {
					return ctx.Err()
				}
			}
			if len(list) < batch {
				return nil
			}
		}
	}, func(b store.BlobRef) {
		digest := b.Digest
		d, err := oci.ParseDigest(digest)
		if err != nil {
			r.log("skipping blob row with an invalid digest %q", digest)
			return
		}
		size, ok, err := r.st.DeleteBlob(ctx, digest, before, func() error { return r.blobs.Delete(ctx, d) })
		switch {
		case err != nil:
			if ctx.Err() == nil {
				failed.Add(1)
				r.log("could not delete blob %s: %v (left for the next run)", digest, err)
			}
		case ok:
			r.count(func(res *Result) { res.DeletedBlobs++; res.FreedSpace += size })
			r.log("deleted blob %s (%s)", digest, byteSize(size))
		default:
			r.log("blob %s is in use again; kept", digest)
		}
	})
	if err != nil {
		return err
	}
	r.log("%s %d unreferenced blobs", r.verb("deleted", "would delete"), r.res.DeletedBlobs)
	if n := failed.Load(); n > 0 {
		return errs.E(errs.Internal, "delete blobs", "%d blobs could not be deleted", n)
	}
	return nil
}

// orphans deletes (or lists) files under blobs/ with no row that are older
// than the window, step 4.
func (r *run) orphans(ctx context.Context) error {
	var pending []store.BlobRef
	var failed atomic.Int64
	flush := func(feed func(store.BlobRef) bool) error {
		if len(pending) == 0 {
			return nil
		}
		keys := make([]string, len(pending))
		for i, b := range pending {
			keys[i] = b.Digest
		}
		have, err := r.st.ExistingBlobs(ctx, keys)
		if err != nil {
			return err
		}
		for _, b := range pending {
			if have[b.Digest] {
				continue
			}
			if r.p.DryRun {
				r.log("would delete orphan blob file %s (%s)", b.Digest, byteSize(b.Size))
				r.count(func(res *Result) { res.DeletedOrphans++; res.FreedSpace += b.Size })
				continue
			}
			if !feed(b) {
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	err := parallel(ctx, r.p.Workers, func(feed func(store.BlobRef) bool) error {
		err := r.blobs.Driver().Walk(ctx, "blobs", func(path string, size int64, mod time.Time) error {
			d, ok := digestOfPath(path)
			if !ok || !mod.Before(r.cutoff) {
				return nil // not a blob file (left alone), or too young
			}
			pending = append(pending, store.BlobRef{Digest: string(d), Size: size})
			if len(pending) >= orphanBatch {
				return flush(feed)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return flush(feed)
	}, func(b store.BlobRef) {
		ok, err := r.st.DeleteOrphan(ctx, b.Digest, func() error { return r.blobs.Delete(ctx, oci.Digest(b.Digest)) })
		switch {
		case err != nil:
			if ctx.Err() == nil {
				failed.Add(1)
				r.log("could not delete orphan blob file %s: %v", b.Digest, err)
			}
		case ok:
			r.count(func(res *Result) { res.DeletedOrphans++; res.FreedSpace += b.Size })
			r.log("deleted orphan blob file %s (%s)", b.Digest, byteSize(b.Size))
		}
	})
	if err != nil {
		return err
	}
	r.log("%s %d orphan blob files", r.verb("deleted", "would delete"), r.res.DeletedOrphans)
	if n := failed.Load(); n > 0 {
		return errs.E(errs.Internal, "delete orphans", "%d orphan files could not be deleted", n)
	}
	return nil
}

// digestOfPath returns the digest a path blobs/<alg>/<xx>/<hex> holds.
func digestOfPath(path string) (oci.Digest, bool) {
	parts := strings.Split(path, "/")
	if len(parts) != 4 || parts[0] != "blobs" || len(parts[3]) < 2 || parts[2] != parts[3][:2] {
		return "", false
	}
	d, err := oci.ParseDigest(parts[1] + ":" + parts[3])
	if err != nil || blob.Path(d) != path {
		return "", false
	}
	return d, true
}

// uploads purges upload sessions not updated within the stale age and
// upload files with no session, step 5.
func (r *run) uploads(ctx context.Context) error {
	stale := r.start.Add(-r.p.StaleUploadAge())
	ids, err := r.st.StaleUploads(ctx, stale.UnixMilli())
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.p.DryRun {
			r.log("would purge stale upload %s", id)
			r.res.PurgedUploads++
			continue
		}
		ok, err := r.st.DeleteStaleUpload(ctx, id, stale.UnixMilli())
		if err != nil {
			return err
		}
		if !ok {
			continue // resumed meanwhile
		}
		if err := r.blobs.Abort(ctx, id); err != nil {
			return err
		}
		r.res.PurgedUploads++
		r.log("purged stale upload %s", id)
	}
	var pending []string
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		have, err := r.st.ExistingUploads(ctx, pending)
		if err != nil {
			return err
		}
		for _, id := range pending {
			if have[id] {
				continue
			}
			if r.p.DryRun {
				r.log("would delete upload file %s with no session", id)
			} else {
				if err := r.blobs.Abort(ctx, id); err != nil {
					return err
				}
				r.log("deleted upload file %s with no session", id)
			}
			r.res.PurgedUploads++
		}
		pending = pending[:0]
		return nil
	}
	err = r.blobs.Driver().Walk(ctx, "uploads", func(path string, _ int64, mod time.Time) error {
		id, ok := strings.CutPrefix(path, "uploads/")
		if !ok || id == "" || strings.Contains(id, "/") || !mod.Before(stale) {
			return nil
		}
		pending = append(pending, id)
		if len(pending) >= uploadBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	r.log("%s %d stale uploads", r.verb("purged", "would purge"), r.res.PurgedUploads)
	return nil
}

// parallel runs produce, which hands items to feed, and workers
// goroutines calling work on them. feed reports false once ctx ended.
func parallel[T any](ctx context.Context, workers int, produce func(feed func(T) bool) error, work func(T)) error {
	ch := make(chan T)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range ch {
				work(x)
			}
		}()
	}
	feed := func(x T) bool {
		select {
		case ch <- x:
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := produce(feed)
	close(ch)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (r *run) count(fn func(*Result)) {
	r.mu.Lock()
	fn(&r.res)
	r.mu.Unlock()
}

// byteSize formats n for the log.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
