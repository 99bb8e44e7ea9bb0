package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Upload is a resumable blob upload session. Size is the number of bytes
// acknowledged to the client; HashState is the marshalled sha256 state after
// exactly those bytes.
type Upload struct {
	ID         string
	ProjectID  int64
	Repository string
	Size       int64
	HashState  []byte
	CreatedAt  int64
	UpdatedAt  int64
}

// CreateUpload records a new upload session; an unknown project is
// errs.NotFound. (It is checked by reading, not by a foreign key, whose row
// lock on the project would make concurrent pushes into one project
// queue: see 0003_projects.sql.)
func (db *DB) CreateUpload(ctx context.Context, u Upload) error {
	ctx = routineWrite(ctx)
	return db.CreateUploadAtMost(ctx, u, 0)
}

// CreateUploadAtMost is CreateUpload refusing (errs.RateLimited) while the
// project already has max open sessions (max <= 0: no bound). On
// PostgreSQL, sessions created at the same instant may pass max by as many.
func (db *DB) CreateUploadAtMost(ctx context.Context, u Upload, max int) error {
	ctx = routineWrite(ctx)
	const op = "create upload"
	t := now()
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if max > 0 {
			var open int
			if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM uploads WHERE project_id = ?`, u.ProjectID).Scan(&open); err != nil {
				return err
			}
			if open >= max {
				return errs.E(errs.RateLimited, op, "the project has %d open upload sessions, the most allowed: finish or cancel one first", open)
			}
		}
		res, err := db.exec(ctx, tx, `INSERT INTO uploads (id, project_id, repository, size, hash_state, created_at, updated_at)
			SELECT ?, id, ?, ?, ?, ?, ? FROM projects WHERE id = ?`, u.ID, u.Repository, u.Size, u.HashState, t, t, u.ProjectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "project %d not found", u.ProjectID)
		}
		return nil
	})
}

// GetUpload returns upload id.
func (db *DB) GetUpload(ctx context.Context, id string) (*Upload, error) {
	var u Upload
	err := db.queryRow(ctx, nil, `SELECT id, project_id, repository, size, hash_state, created_at, updated_at FROM uploads WHERE id = ?`, id).
		Scan(&u.ID, &u.ProjectID, &u.Repository, &u.Size, &u.HashState, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return nil, notFound("get upload", err, "upload %q not found", id)
	}
	return &u, nil
}

// AdvanceUpload records that upload id now holds size bytes with hash state
// state, provided it held from bytes before; otherwise errs.Conflict.
func (db *DB) AdvanceUpload(ctx context.Context, id string, from, size int64, state []byte) error {
	ctx = routineWrite(ctx)
	const op = "advance upload"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE uploads SET size = ?, hash_state = ?, updated_at = ? WHERE id = ? AND size = ?`,
			size, state, now(), id, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.Conflict, op, "upload %q changed underneath this request", id)
		}
		return nil
	})
}

// DeleteUpload removes upload id's record.
func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	ctx = routineWrite(ctx)
	return db.tx(ctx, "delete upload", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `DELETE FROM uploads WHERE id = ?`, id)
		return err
	})
}

// StaleUploads lists uploads not touched since before (milliseconds).
func (db *DB) StaleUploads(ctx context.Context, before int64) ([]string, error) {
	rows, err := db.query(ctx, nil, `SELECT id FROM uploads WHERE updated_at < ?`, before)
	if err != nil {
		return nil, errs.Wrap("stale uploads", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, errs.Wrap("stale uploads", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// FinishUpload records blob digest of size as stored and visible in project,
// and removes upload id (if not empty), all in one transaction.
func (db *DB) FinishUpload(ctx context.Context, uploadID string, projectID int64, digest string, size int64) error {
	for attempt := 0; ; attempt++ {
		err := db.tx(ctx, "finish upload", func(tx *sql.Tx) error {
			if err := db.linkBlob(ctx, tx, projectID, digest, size); err != nil {
				return err
			}
			if uploadID != "" {
				_, err := db.exec(ctx, tx, `DELETE FROM uploads WHERE id = ?`, uploadID)
				return err
			}
			return nil
		})
		// On PostgreSQL garbage collection can delete the blob row between
		// the insert that found it and the link's foreign key check; the
		// next attempt records the blob again (package gc).
		if attempt < 3 && isForeignKeyViolation(err) {
			continue
		}
		return err
	}
}

// isForeignKeyViolation reports whether err is a foreign key failure.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 23503") || strings.Contains(s, "FOREIGN KEY constraint failed")
}

func (db *DB) linkBlob(ctx context.Context, tx *sql.Tx, projectID int64, digest string, size int64) error {
	t := now()
	if _, err := db.exec(ctx, tx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`, digest, size, t); err != nil {
		return err
	}
	// An existing link is refreshed: garbage collection drops links no
	// artifact uses only once they are older than its time window, and a
	// push that links a blob again is about to use it (package gc).
	res, err := db.exec(ctx, tx, `UPDATE project_blobs SET created_at = ? WHERE project_id = ? AND blob_digest = ?`, t, projectID, digest)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil // already visible: counted once
	}
	res, err = db.exec(ctx, tx, `INSERT INTO project_blobs (project_id, blob_digest, size, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, blob_digest) DO NOTHING`, projectID, digest, size, t)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // already visible: counted once
	}
	// New in the project: counted against its quota (projects_api.go).
	return db.chargeUsage(ctx, tx, projectID, size)
}

// LinkBlob makes an already stored blob visible in project (a mount). It
// returns the blob's size, or errs.NotFound if the blob is not stored.
func (db *DB) LinkBlob(ctx context.Context, projectID int64, digest string) (int64, error) {
	const op = "link blob"
	var size int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		// The row is locked (PostgreSQL) so garbage collection cannot
		// delete it, and its content, before the link commits (package gc).
		if err := db.queryRow(ctx, tx, `SELECT size FROM blobs WHERE digest = ?`+db.lockRows(" FOR KEY SHARE"), digest).Scan(&size); err != nil {
			return notFound(op, err, "blob %s not found", digest)
		}
		return db.linkBlob(ctx, tx, projectID, digest, size)
	})
	return size, err
}

// ProjectBlob returns the size of digest if it is visible in project.
func (db *DB) ProjectBlob(ctx context.Context, projectID int64, digest string) (int64, error) {
	var size int64
	err := db.queryRow(ctx, nil, `SELECT size FROM project_blobs WHERE project_id = ? AND blob_digest = ?`, projectID, digest).Scan(&size)
	if err != nil {
		return 0, notFound("get blob", err, "blob %s not found", digest)
	}
	return size, nil
}

// BlobSize returns the size of a stored blob, wherever it is visible.
func (db *DB) BlobSize(ctx context.Context, digest string) (int64, error) {
	var size int64
	err := db.queryRow(ctx, nil, `SELECT size FROM blobs WHERE digest = ?`, digest).Scan(&size)
	if err != nil {
		return 0, notFound("get blob", err, "blob %s not found", digest)
	}
	return size, nil
}

// UnlinkBlob removes digest from project. The stored content stays until
// garbage collection finds no project and no manifest referring to it.
func (db *DB) UnlinkBlob(ctx context.Context, projectID int64, digest string) error {
	const op = "delete blob"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		var size int64
		err := db.queryRow(ctx, tx, `DELETE FROM project_blobs WHERE project_id = ? AND blob_digest = ? RETURNING size`, projectID, digest).Scan(&size)
		if err != nil {
			return notFound(op, err, "blob %s not found", digest)
		}
		return db.addUsage(ctx, tx, projectID, -size)
	})
}

// ProjectUsage returns the bytes of distinct blobs visible in project: the
// sum of its usage shards, kept in step with project_blobs.
func (db *DB) ProjectUsage(ctx context.Context, projectID int64) (int64, error) {
	var n sql.NullInt64
	err := db.queryRow(ctx, nil, `SELECT SUM(bytes) FROM project_usage WHERE project_id = ?`, projectID).Scan(&n)
	if err != nil {
		return 0, errs.Wrap("project usage", err)
	}
	return n.Int64, nil
}

// BlobProjects lists the projects in which digest is visible.
func (db *DB) BlobProjects(ctx context.Context, digest string) ([]int64, error) {
	rows, err := db.query(ctx, nil, `SELECT project_id FROM project_blobs WHERE blob_digest = ? ORDER BY project_id`, digest)
	if err != nil {
		return nil, errs.Wrap("blob projects", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, errs.Wrap("blob projects", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// UploadRoom is what a project's storage quota can still take of uploads.
type UploadRoom struct {
	Project string
	Limit   int64 // bytes; negative: no limit
	Used    int64 // usage of the project's blobs
	Open    int64 // acknowledged bytes of the project's open upload sessions
}

// Limited reports whether the project has a storage limit.
func (r *UploadRoom) Limited() bool { return r.Limit >= 0 }

// Left is how many more bytes uploads into the project may write: the limit
// less the usage and the bytes already held by open sessions (at least 0).
func (r *UploadRoom) Left() int64 { return max(0, r.Limit-r.Used-r.Open) }

// Exceeded is the refusal of an upload that would add more than Left: the
// store's quota error (errs.Denied of "check quota", as CheckQuota's).
func (r *UploadRoom) Exceeded(adding int64) error {
	return errs.E(errs.Denied, "check quota", "quota exceeded in project %s: adding %s of storage resource, which when updated to current usage of %s and %s held by open uploads will exceed the configured upper limit of %s",
		r.Project, byteSize(adding), byteSize(r.Used), byteSize(r.Open), byteSize(r.Limit))
}

// ProjectUploadRoom reads what project's storage quota can still take of
// uploads, in one statement. Bytes of open upload sessions count: they are
// on disk until the session is finished, cancelled or purged as stale.
func (db *DB) ProjectUploadRoom(ctx context.Context, projectID int64) (*UploadRoom, error) {
	const op = "check quota"
	r := &UploadRoom{}
	err := db.queryRow(ctx, nil, `SELECT p.name, p.storage_limit,
		COALESCE((SELECT SUM(bytes) FROM project_usage WHERE project_id = p.id), 0),
		COALESCE((SELECT SUM(size) FROM uploads WHERE project_id = p.id), 0)
		FROM projects p WHERE p.id = ?`, projectID).Scan(&r.Project, &r.Limit, &r.Used, &r.Open)
	if err != nil {
		return nil, notFound(op, err, "project %d not found", projectID)
	}
	return r, nil
}
