package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
)

// Garbage collection's reads and deletions (package gc holds the algorithm
// and its safety argument).
//
// Every deletion here checks again, inside the transaction that deletes,
// that the thing is still garbage. On PostgreSQL it first locks the row
// (FOR UPDATE): a writer that would make it live either committed before
// the check, which then sees it (under READ COMMITTED each statement reads
// a fresh snapshot), or holds a conflicting lock the check waits for, or
// waits for the deletion and then finds the row gone. The writers' side of
// that contract: PutManifest locks the blob links it relies on and LinkBlob
// the blob row (FOR KEY SHARE), inserting a link locks the blob row through
// its foreign key, and ReserveBlob writes the blob row. On SQLite every
// write transaction holds the one write lock, so check and delete are
// atomic anyway.

// lockRows returns mode (" FOR UPDATE", " FOR KEY SHARE") on PostgreSQL
// and "" on SQLite, which has no row locks.
func (db *DB) lockRows(mode string) string {
	if db.pg {
		return mode
	}
	return ""
}

// ReserveBlob records that content of digest (size bytes) is about to be
// stored: it inserts the blob row, or refreshes its created_at, before the
// registry moves the content into place. A file under blobs/ therefore
// always has a row (garbage collection never takes it for an orphan), and
// the row is fresh, so the collector's time window protects it until
// FinishUpload links it to a project.
func (db *DB) ReserveBlob(ctx context.Context, digest string, size int64) error {
	return db.tx(ctx, "reserve blob", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at`, digest, size, now())
		return err
	})
}

// GCArtifact is an artifact garbage collection deletes.
type GCArtifact struct {
	ID         int64
	ProjectID  int64
	Repository string
	Digest     string
	MediaType  string
	Size       int64
}

// UntaggedArtifacts lists up to limit artifacts with ID above after that
// delete_untagged removes, in ID order: pushed before before (ms), with no
// tag, not a child of an index in their repository, and not an accessory
// of an artifact still there (those go with their subject, or stay with it).
func (db *DB) UntaggedArtifacts(ctx context.Context, before, after int64, limit int) ([]GCArtifact, error) {
	const op = "list untagged artifacts"
	rows, err := db.query(ctx, nil, `SELECT a.id, a.project_id, r.name, a.digest, a.manifest_media_type, a.size
		FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE a.id > ? AND a.push_time < ?
		AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)
		AND NOT EXISTS (SELECT 1 FROM artifact_references ar JOIN artifacts p ON p.id = ar.parent_id
			WHERE ar.child_digest = a.digest AND p.repository_id = a.repository_id)
		AND (a.subject_digest = '' OR NOT EXISTS (SELECT 1 FROM artifacts s
			WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))
		ORDER BY a.id LIMIT ?`, after, before, limit)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []GCArtifact
	for rows.Next() {
		var a GCArtifact
		if err := rows.Scan(&a.ID, &a.ProjectID, &a.Repository, &a.Digest, &a.MediaType, &a.Size); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteUntaggedArtifact deletes artifact id if it is still what
// UntaggedArtifacts lists, with what goes with it (the cascade,
// cascade.go), each only if pushed before before (ms): something pushed
// within the window stays. It returns what it deleted (none if id is no
// longer garbage).
func (db *DB) DeleteUntaggedArtifact(ctx context.Context, id, before int64) ([]GCArtifact, error) {
	const op = "delete untagged artifact"
	var removed []GCArtifact
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		removed = nil
		// The repository first, as every change to it does (recount).
		if _, err := db.lockRepositoryOf(ctx, tx, id); err != nil {
			return err
		}
		root, repoID, subject, err := db.cascadeRow(ctx, tx, id, before)
		if err != nil || root == nil {
			return err
		}
		var tagged, subjects int
		if err := db.queryRow(ctx, tx, `SELECT
			(SELECT COUNT(*) FROM tags WHERE artifact_id = ?),
			(SELECT COUNT(*) FROM artifacts WHERE repository_id = ? AND digest = ? AND ? <> '')`,
			root.ID, repoID, subject, subject).Scan(&tagged, &subjects); err != nil {
			return err
		}
		parents, err := db.indexParents(ctx, tx, repoID, root.Digest, 0)
		if err != nil {
			return err
		}
		if tagged+parents+subjects > 0 {
			return nil // tagged, referenced or attached meanwhile
		}
		removed, err = db.cascade(ctx, tx, repoID, root, before, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// BlobLink is a blob visible in a project.
type BlobLink struct {
	ProjectID int64
	Digest    string
	Size      int64
}

// GarbageLinks lists up to limit links after after, in (project, digest)
// order, that no artifact of their project references and that were made
// (or last refreshed) before before (ms).
func (db *DB) GarbageLinks(ctx context.Context, before int64, after BlobLink, limit int) ([]BlobLink, error) {
	const op = "list garbage links"
	rows, err := db.query(ctx, nil, `SELECT pb.project_id, pb.blob_digest, pb.size FROM project_blobs pb
		WHERE (pb.project_id > ? OR (pb.project_id = ? AND pb.blob_digest > ?)) AND pb.created_at < ?
		AND NOT EXISTS (SELECT 1 FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id
			WHERE ab.blob_digest = pb.blob_digest AND a.project_id = pb.project_id)
		ORDER BY pb.project_id, pb.blob_digest LIMIT ?`, after.ProjectID, after.ProjectID, after.Digest, before, limit)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []BlobLink
	for rows.Next() {
		var l BlobLink
		if err := rows.Scan(&l.ProjectID, &l.Digest, &l.Size); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// DropLinks removes those of links that are still garbage (see
// GarbageLinks) in one transaction, taking their sizes off their projects'
// usage, and returns the ones it removed.
func (db *DB) DropLinks(ctx context.Context, links []BlobLink, before int64) ([]BlobLink, error) {
	const op = "drop blob links"
	var dropped []BlobLink
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		dropped = dropped[:0]
		freed := map[int64]int64{}
		for _, l := range links {
			var size int64
			err := db.queryRow(ctx, tx, `SELECT size FROM project_blobs WHERE project_id = ? AND blob_digest = ? AND created_at < ?`+
				db.lockRows(" FOR UPDATE"), l.ProjectID, l.Digest, before).Scan(&size)
			if err == sql.ErrNoRows {
				continue // gone, or refreshed by a push
			}
			if err != nil {
				return err
			}
			var used int
			if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id
				WHERE ab.blob_digest = ? AND a.project_id = ?`, l.Digest, l.ProjectID).Scan(&used); err != nil {
				return err
			}
			if used > 0 {
				continue
			}
			if _, err := db.exec(ctx, tx, `DELETE FROM project_blobs WHERE project_id = ? AND blob_digest = ?`, l.ProjectID, l.Digest); err != nil {
				return err
			}
			freed[l.ProjectID] += size
			l.Size = size
			dropped = append(dropped, l)
		}
		for pid, n := range freed {
			if err := db.addUsage(ctx, tx, pid, -n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dropped, nil
}

// BlobRef is a stored blob.
type BlobRef struct {
	Digest string
	Size   int64
}

// GarbageBlobs lists up to limit blobs after after, in digest order,
// created (or reserved) before before (ms) that no artifact references and
// no project links. With pending, links made before before do not count
// either: those are the blobs a collection that dropped garbage links
// would delete (what a dry run reports).
func (db *DB) GarbageBlobs(ctx context.Context, before int64, pending bool, after string, limit int) ([]BlobRef, error) {
	const op = "list garbage blobs"
	links := `SELECT 1 FROM project_blobs pb WHERE pb.blob_digest = b.digest`
	args := []any{after, before}
	if pending {
		links += ` AND pb.created_at >= ?`
		args = append(args, before)
	}
	rows, err := db.query(ctx, nil, `SELECT b.digest, b.size FROM blobs b WHERE b.digest > ? AND b.created_at < ?
		AND NOT EXISTS (`+links+`)
		AND NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.blob_digest = b.digest)
		ORDER BY b.digest LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []BlobRef
	for rows.Next() {
		var b BlobRef
		if err := rows.Scan(&b.Digest, &b.Size); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBlob deletes the row of blob digest if it is still garbage (see
// GarbageBlobs) and calls remove, which deletes the content, before the
// deletion commits; an error from remove keeps the row. Holding the row
// (PostgreSQL) or the write lock (SQLite) while the content goes means no
// upload can record the digest in between: it waits, then inserts a new
// row and finds the content gone. It reports the size and whether it
// deleted.
func (db *DB) DeleteBlob(ctx context.Context, digest string, before int64, remove func() error) (int64, bool, error) {
	const op = "delete blob"
	var size int64
	var deleted bool
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		deleted = false
		err := db.queryRow(ctx, tx, `SELECT size FROM blobs WHERE digest = ? AND created_at < ?`+db.lockRows(" FOR UPDATE"),
			digest, before).Scan(&size)
		if err == sql.ErrNoRows {
			return nil // gone, or reserved again by an upload
		}
		if err != nil {
			return err
		}
		var used int
		if err := db.queryRow(ctx, tx, `SELECT
			(SELECT COUNT(*) FROM project_blobs WHERE blob_digest = ?) + (SELECT COUNT(*) FROM artifact_blobs WHERE blob_digest = ?)`,
			digest, digest).Scan(&used); err != nil {
			return err
		}
		if used > 0 {
			return nil
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM blobs WHERE digest = ?`, digest); err != nil {
			return err
		}
		if err := remove(); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	return size, deleted, err
}

// ExistingBlobs reports which of digests have a blob row.
func (db *DB) ExistingBlobs(ctx context.Context, digests []string) (map[string]bool, error) {
	return db.existing(ctx, "existing blobs", `SELECT digest FROM blobs WHERE digest IN `, digests)
}

// ExistingUploads reports which of ids have an upload session.
func (db *DB) ExistingUploads(ctx context.Context, ids []string) (map[string]bool, error) {
	return db.existing(ctx, "existing uploads", `SELECT id FROM uploads WHERE id IN `, ids)
}

func (db *DB) existing(ctx context.Context, op, q string, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := db.query(ctx, nil, q+"("+placeholders(len(keys))+")", args...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

// DeleteOrphan calls remove, which deletes the content of digest, if
// digest has no blob row, holding the digest meanwhile with a placeholder
// row that it deletes again before committing: an upload reserving the
// digest (ReserveBlob) waits, so its content is never moved into place
// just before remove runs. It reports whether digest was an orphan.
func (db *DB) DeleteOrphan(ctx context.Context, digest string, remove func() error) (bool, error) {
	const op = "delete orphan blob"
	var orphan bool
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, -1, 0) ON CONFLICT (digest) DO NOTHING`, digest)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			orphan = false
			return nil // it has a row
		}
		if err := remove(); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM blobs WHERE digest = ?`, digest); err != nil {
			return err
		}
		orphan = true
		return nil
	})
	return orphan, err
}

// DeleteStaleUpload deletes upload session id if it was not updated since
// before (ms), and reports whether it did.
func (db *DB) DeleteStaleUpload(ctx context.Context, id string, before int64) (bool, error) {
	var n int64
	err := db.tx(ctx, "delete stale upload", func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM uploads WHERE id = ? AND updated_at < ?`, id, before)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n == 1, err
}

// SetExecutionExtraAttrs replaces an execution's extra attributes (a JSON
// object), e.g. to add a job's results to its parameters.
func (db *DB) SetExecutionExtraAttrs(ctx context.Context, id int64, attrs string) error {
	const op = "set execution attributes"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE executions SET extra_attrs = ? WHERE id = ?`, attrs, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "execution %d not found", id)
		}
		return nil
	})
}
