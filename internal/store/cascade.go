package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// The artifact delete cascade: the one walk every artifact delete takes
// (DeleteArtifact for the API and retention through the artifact service,
// GC's DeleteUntaggedArtifact, and DeleteManifest for /v2, which takes the
// manifest alone).
//
// What goes with an artifact is Harbor's (src/controller/artifact
// controller.go, deleteDeeply): its accessories, recursively (referrers
// through their subject, and cosign signatures through their
// sha256-<hex>.sig tag), and its index children that have no tag and no
// other parent in the repository. What hangs off each row (its tags,
// labels, index references and blob links) goes by the schema's ON DELETE
// CASCADE (migrations 0001 and 0002; SQLite connections are opened with
// foreign_keys(1)): one DELETE per artifact, nothing spelled twice.
// TestArtifactCascade checks both databases leave no row behind.

// maxCascade bounds the artifacts one delete removes.
const maxCascade = 10000

// cascadeRow reads artifact id for a delete, locked (FOR UPDATE on
// PostgreSQL) and only if it was pushed before before (ms; 0: any time).
// A missing artifact is (nil, nil).
func (db *DB) cascadeRow(ctx context.Context, tx *sql.Tx, id, before int64) (*GCArtifact, int64, string, error) {
	var a GCArtifact
	var repoID int64
	var subject string
	q := `SELECT id, project_id, repository_id, digest, manifest_media_type, size, subject_digest FROM artifacts WHERE id = ?`
	args := []any{id}
	if before > 0 {
		q += ` AND push_time < ?`
		args = append(args, before)
	}
	err := db.queryRow(ctx, tx, q+db.lockRows(" FOR UPDATE"), args...).
		Scan(&a.ID, &a.ProjectID, &repoID, &a.Digest, &a.MediaType, &a.Size, &subject)
	if err == sql.ErrNoRows {
		return nil, 0, "", nil
	}
	if err != nil {
		return nil, 0, "", err
	}
	return &a, repoID, subject, nil
}

// indexParents counts the indexes of repository repoID that reference
// digest, leaving out parent except (0: none).
func (db *DB) indexParents(ctx context.Context, tx *sql.Tx, repoID int64, digest string, except int64) (int, error) {
	var n int
	err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM artifact_references ar JOIN artifacts p ON p.id = ar.parent_id
		WHERE ar.child_digest = ? AND p.repository_id = ? AND p.id <> ?`, digest, repoID, except).Scan(&n)
	return n, err
}

// cascade deletes root, an artifact of repository repoID (locked by the
// caller, in tx), with what goes with it when deep, each only if pushed
// before before (ms; 0: any time): something pushed within GC's window
// stays. It returns what it deleted, root first, and recounts the
// repository.
func (db *DB) cascade(ctx context.Context, tx *sql.Tx, repoID int64, root *GCArtifact, before int64, deep bool) ([]GCArtifact, error) {
	var repo string
	if err := db.queryRow(ctx, tx, `SELECT name FROM repositories WHERE id = ?`, repoID).Scan(&repo); err != nil {
		return nil, err
	}
	related := func(q string, args ...any) ([]int64, error) {
		rows, err := db.query(ctx, tx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var x int64
			if err := rows.Scan(&x); err != nil {
				return nil, err
			}
			ids = append(ids, x)
		}
		return ids, rows.Err()
	}
	var removed []GCArtifact
	doomed := map[int64]bool{root.ID: true}
	queue := []GCArtifact{*root}
	for len(queue) > 0 && len(doomed) < maxCascade {
		a := queue[0]
		queue = queue[1:]
		a.Repository = repo
		removed = append(removed, a)
		if !deep {
			break
		}
		acc, err := related(`SELECT id FROM artifacts WHERE repository_id = ? AND subject_digest = ?`, repoID, a.Digest)
		if err != nil {
			return nil, err
		}
		if sigTag := oci.CosignSignatureTag(a.Digest); sigTag != "" {
			sig, err := related(`SELECT artifact_id FROM tags WHERE repository_id = ? AND name = ?`, repoID, sigTag)
			if err != nil {
				return nil, err
			}
			acc = append(acc, sig...)
		}
		children, err := related(`SELECT c.id FROM artifact_references ar
			JOIN artifacts c ON c.repository_id = ? AND c.digest = ar.child_digest WHERE ar.parent_id = ?`, repoID, a.ID)
		if err != nil {
			return nil, err
		}
		for i, x := range append(acc, children...) {
			if doomed[x] {
				continue
			}
			next, _, _, err := db.cascadeRow(ctx, tx, x, before)
			if err != nil {
				return nil, err
			}
			if next == nil {
				continue
			}
			if i >= len(acc) { // a child: only without a tag and another parent
				var tags int
				if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM tags WHERE artifact_id = ?`, x).Scan(&tags); err != nil {
					return nil, err
				}
				others, err := db.indexParents(ctx, tx, repoID, next.Digest, a.ID)
				if err != nil {
					return nil, err
				}
				if tags+others > 0 {
					continue
				}
			}
			doomed[x] = true
			queue = append(queue, *next)
		}
	}
	for _, a := range removed {
		if _, err := db.exec(ctx, tx, `DELETE FROM artifacts WHERE id = ?`, a.ID); err != nil {
			return nil, err
		}
	}
	return removed, db.recount(ctx, tx, repoID)
}

// deleteRoot is the delete of one artifact a caller names (the API,
// retention): the artifact is locked and, when an index of its repository
// references it, refused with errs.Precondition (delete the index
// instead), as Harbor refuses it; then the cascade.
func (db *DB) deleteRoot(ctx context.Context, tx *sql.Tx, op string, repoID, id int64) ([]GCArtifact, error) {
	root, _, _, err := db.cascadeRow(ctx, tx, id, 0)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, errs.E(errs.NotFound, op, "artifact %d not found", id)
	}
	parents, err := db.indexParents(ctx, tx, repoID, root.Digest, 0)
	if err != nil {
		return nil, err
	}
	if parents > 0 {
		return nil, errs.E(errs.Precondition, op, "the artifact is referenced by an index in the repository; delete the index instead")
	}
	return db.cascade(ctx, tx, repoID, root, 0, true)
}
