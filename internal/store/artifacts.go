package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// ManifestPut is everything recorded when a manifest or index is pushed.
type ManifestPut struct {
	ProjectID       int64
	Repository      string
	Digest          string
	Kind            string // IMAGE, CHART, ...
	MediaType       string // the manifest's media type
	ConfigMediaType string
	ArtifactType    string
	Size            int64
	Annotations     string // JSON object, or ""
	Subject         string // digest of the subject, or ""
	Body            []byte
	Blobs           []string // config and layer digests; each must be visible in the project
	Children        []Child  // index children; each must be in the repository
	Tags            []string // tags to point at it (none when pushed by digest alone)
	ExtraAttrs      string   // oci.ExtraAttrsJSON of its config, or "" (derived when read)
	TotalSize       int64    // oci.TotalSize of the manifest; 0 or less: computed when read
}

// Child is an index's reference to a manifest.
type Child struct {
	Digest    string
	MediaType string
	Platform  string // JSON, or ""
}

// PutManifest records a pushed manifest in one transaction: the repository
// (created on first push), the artifact, its blob and child references, and
// the tags (moved if they pointed elsewhere). A blob that is not there fails
// the whole push with errs.NotFound naming it, and nothing is written. Index
// children need not be there (sparse indexes, as copies of one platform
// make); their references are recorded all the same.
func (db *DB) PutManifest(ctx context.Context, m ManifestPut) (int64, error) {
	const op = "put manifest"
	blobs := dedupe(m.Blobs)
	var artifactID int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.checkNotOverLimit(ctx, tx, m.ProjectID); err != nil {
			return err
		}
		if len(blobs) > 0 {
			// The links are locked (PostgreSQL) until the artifact's
			// references commit, so garbage collection cannot drop one
			// it has not seen used (package gc).
			missing, err := db.missing(ctx, tx, `SELECT blob_digest FROM project_blobs WHERE project_id = ? AND blob_digest IN `,
				db.lockRows(" FOR KEY SHARE"), m.ProjectID, blobs)
			if err != nil {
				return err
			}
			if missing != "" {
				return &errs.Error{Kind: errs.NotFound, Op: op, Msg: "blob " + missing + " is not in the project: push it before the manifest"}
			}
		}
		t := now()
		var repoID int64
		if err := db.queryRow(ctx, tx, `INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at RETURNING id`,
			m.ProjectID, m.Repository, t, t).Scan(&repoID); err != nil {
			return err
		}
		plain := keepsPlain(m)
		var existing int64 // for the count of a plain repository (below)
		if plain {
			if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM artifacts WHERE repository_id = ? AND digest = ?`, repoID, m.Digest).Scan(&existing); err != nil {
				return err
			}
		}
		if err := db.queryRow(ctx, tx, `INSERT INTO artifacts (project_id, repository_id, digest, kind, manifest_media_type,
			config_media_type, artifact_type, size, annotations, subject_digest, manifest, push_time, extra_attrs, total_size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repository_id, digest) DO UPDATE SET push_time = excluded.push_time,
				extra_attrs = CASE WHEN artifacts.extra_attrs = '' THEN excluded.extra_attrs ELSE artifacts.extra_attrs END RETURNING id`,
			m.ProjectID, repoID, m.Digest, m.Kind, m.MediaType, m.ConfigMediaType, m.ArtifactType, m.Size,
			m.Annotations, m.Subject, m.Body, t, m.ExtraAttrs, totalSizeOrUnknown(m.TotalSize)).Scan(&artifactID); err != nil {
			return err
		}
		for _, b := range blobs {
			if _, err := db.exec(ctx, tx, `INSERT INTO artifact_blobs (artifact_id, blob_digest) VALUES (?, ?) ON CONFLICT DO NOTHING`, artifactID, b); err != nil {
				return err
			}
		}
		for _, c := range m.Children {
			if _, err := db.exec(ctx, tx, `INSERT INTO artifact_references (parent_id, child_digest, media_type, platform) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, artifactID, c.Digest, c.MediaType, c.Platform); err != nil {
				return err
			}
		}
		for _, tag := range m.Tags {
			if _, err := db.exec(ctx, tx, `INSERT INTO tags (repository_id, artifact_id, name, push_time) VALUES (?, ?, ?, ?)
				ON CONFLICT (repository_id, name) DO UPDATE SET artifact_id = excluded.artifact_id, push_time = excluded.push_time`,
				repoID, artifactID, tag, t); err != nil {
				return err
			}
		}
		// The upsert of the repository row above holds its lock.
		if plain {
			// A plain repository stays plain and shows every artifact:
			// the stored count (of every writer before us, who held the
			// lock) grows by the new artifact, without a recount, whose
			// cost grows with the repository.
			res, err := db.exec(ctx, tx, `UPDATE repositories SET artifact_count = artifact_count + ? WHERE id = ? AND plain`, 1-existing, repoID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return nil
			}
		}
		return db.recount(ctx, tx, repoID)
	})
	return artifactID, err
}

// missing returns the first of want that query (ending in "IN ", and
// followed by suffix) does not return, or "".
func (db *DB) missing(ctx context.Context, tx *sql.Tx, query, suffix string, scope int64, want []string) (string, error) {
	args := make([]any, 0, len(want)+1)
	args = append(args, scope)
	for _, w := range want {
		args = append(args, w)
	}
	rows, err := db.query(ctx, tx, query+"("+placeholders(len(want))+")"+suffix, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	have := make(map[string]bool, len(want))
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return "", err
		}
		have[d] = true
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	for _, w := range want {
		if !have[w] {
			return w, nil
		}
	}
	return "", nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ManifestRef is a resolved manifest reference.
type ManifestRef struct {
	ArtifactID int64
	TagID      int64 // 0 when resolved by digest
	Digest     string
	MediaType  string
	Size       int64
	Body       []byte // only when asked for
}

// ResolveManifest finds the manifest that tag or digest ref names in
// repository, with its body if withBody.
func (db *DB) ResolveManifest(ctx context.Context, repository, ref string, byDigest, withBody bool) (*ManifestRef, error) {
	const op = "get manifest"
	body := "NULL"
	if withBody {
		body = "a.manifest"
	}
	var m ManifestRef
	var b []byte
	var err error
	if byDigest {
		err = db.queryRow(ctx, nil, `SELECT a.id, 0, a.digest, a.manifest_media_type, a.size, `+body+`
			FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.digest = ?`, repository, ref).
			Scan(&m.ArtifactID, &m.TagID, &m.Digest, &m.MediaType, &m.Size, &b)
	} else {
		err = db.queryRow(ctx, nil, `SELECT a.id, t.id, a.digest, a.manifest_media_type, a.size, `+body+`
			FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN artifacts a ON a.id = t.artifact_id
			WHERE r.name = ? AND t.name = ?`, repository, ref).
			Scan(&m.ArtifactID, &m.TagID, &m.Digest, &m.MediaType, &m.Size, &b)
	}
	if err != nil {
		return nil, notFound(op, err, "manifest %s not found in %s", ref, repository)
	}
	m.Body = b
	return &m, nil
}

// DeleteManifest removes the artifact digest from repository, alone, as
// Distribution does: its referrers stay (shown on their own) and an index
// that names it keeps a reference the repository no longer holds. Its
// tags, labels and blob links go with it (cascade.go). Harbor's /v2 goes
// through its artifact controller and deletes accessories too; Berth's
// clients and TestRepositoryCountsKept rely on the manifest going alone.
func (db *DB) DeleteManifest(ctx context.Context, repository, digest string) error {
	const op = "delete manifest"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		repoID, err := db.lockRepositoryNamed(ctx, tx, repository)
		if err != nil {
			return err
		}
		var id int64
		err = db.queryRow(ctx, tx, `SELECT id FROM artifacts WHERE digest = ? AND repository_id = ?`, digest, repoID).Scan(&id)
		if err != nil {
			return notFound(op, err, "manifest %s not found in %s", digest, repository)
		}
		root, _, _, err := db.cascadeRow(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		if root == nil {
			return errs.E(errs.NotFound, op, "manifest %s not found in %s", digest, repository)
		}
		_, err = db.cascade(ctx, tx, repoID, root, 0, false)
		return err
	})
}

// DeleteTag removes tag from repository, leaving its artifact.
func (db *DB) DeleteTag(ctx context.Context, repository, tag string) error {
	const op = "delete tag"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		repoID, err := db.lockRepositoryNamed(ctx, tx, repository)
		if err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `DELETE FROM tags WHERE name = ? AND repository_id = ?`, tag, repoID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "tag %s not found in %s", tag, repository)
		}
		return db.recount(ctx, tx, repoID)
	})
}

// RepositoryExists reports whether repository has been created by a push.
func (db *DB) RepositoryExists(ctx context.Context, repository string) (bool, error) {
	var id int64
	err := db.queryRow(ctx, nil, `SELECT id FROM repositories WHERE name = ?`, repository).Scan(&id)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, errs.Wrap("get repository", err)
	}
	return true, nil
}

// ListTags returns up to n tag names of repository after last, in byte
// order. n <= 0 means no limit. An unknown repository is errs.NotFound.
func (db *DB) ListTags(ctx context.Context, repository, last string, n int) ([]string, error) {
	const op = "list tags"
	var repoID int64
	if err := db.queryRow(ctx, nil, `SELECT id FROM repositories WHERE name = ?`, repository).Scan(&repoID); err != nil {
		return nil, notFound(op, err, "repository %s not found", repository)
	}
	q := `SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name`
	args := []any{repoID, last}
	if n > 0 {
		q += ` LIMIT ?`
		args = append(args, n)
	}
	return db.strings(ctx, op, q, args...)
}

// Catalog returns up to n repository names after last in byte order, only
// from projects for which visible returns true (nil: all). n <= 0 means no limit.
func (db *DB) Catalog(ctx context.Context, last string, n int, visible func(projectID int64) bool) ([]string, error) {
	const op = "catalog"
	const page = 500
	out := []string{} // never nil: /v2 answers "repositories":[] past the end
	for {
		rows, err := db.query(ctx, nil, `SELECT name, project_id FROM repositories WHERE name > ? ORDER BY name LIMIT ?`, last, page)
		if err != nil {
			return nil, errs.Wrap(op, err)
		}
		got := 0
		for rows.Next() {
			var name string
			var pid int64
			if err := rows.Scan(&name, &pid); err != nil {
				rows.Close()
				return nil, errs.Wrap(op, err)
			}
			got++
			last = name
			if visible == nil || visible(pid) {
				out = append(out, name)
				if n > 0 && len(out) == n {
					rows.Close()
					return out, nil
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, errs.Wrap(op, err)
		}
		if got < page {
			return out, nil
		}
	}
}

func (db *DB) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := db.query(ctx, nil, q, args...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Referrer is a manifest whose subject is another.
type Referrer struct {
	Digest       string
	MediaType    string
	ArtifactType string
	Size         int64
	Annotations  string // JSON object or ""
}

// Referrers lists the manifests in repository whose subject is digest,
// optionally only those of artifactType.
func (db *DB) Referrers(ctx context.Context, repository, digest, artifactType string) ([]Referrer, error) {
	const op = "list referrers"
	q := `SELECT a.digest, a.manifest_media_type, a.artifact_type, a.size, a.annotations FROM artifacts a
		JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.subject_digest = ?`
	args := []any{repository, digest}
	if artifactType != "" {
		q += ` AND a.artifact_type = ?`
		args = append(args, artifactType)
	}
	q += ` ORDER BY a.push_time, a.id`
	rows, err := db.query(ctx, nil, q, args...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Referrer{}
	for rows.Next() {
		var r Referrer
		if err := rows.Scan(&r.Digest, &r.MediaType, &r.ArtifactType, &r.Size, &r.Annotations); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordPulls stores pull times gathered in memory: artifact ID → time and
// tag ID → time (milliseconds). Rows deleted meanwhile are skipped.
func (db *DB) RecordPulls(ctx context.Context, artifacts, tags map[int64]int64) error {
	ctx = routineWrite(ctx)
	if len(artifacts) == 0 && len(tags) == 0 {
		return nil
	}
	return db.tx(ctx, "record pulls", func(tx *sql.Tx) error {
		for id, t := range artifacts {
			if _, err := db.exec(ctx, tx, `UPDATE artifacts SET pull_time = ? WHERE id = ? AND pull_time < ?`, t, id, t); err != nil {
				return err
			}
		}
		for id, t := range tags {
			if _, err := db.exec(ctx, tx, `UPDATE tags SET pull_time = ? WHERE id = ? AND pull_time < ?`, t, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// ArtifactPullTime returns the recorded pull time of an artifact (ms).
func (db *DB) ArtifactPullTime(ctx context.Context, id int64) (int64, error) {
	var t int64
	err := db.queryRow(ctx, nil, `SELECT pull_time FROM artifacts WHERE id = ?`, id).Scan(&t)
	if err != nil {
		return 0, notFound("get artifact", err, "artifact %d not found", id)
	}
	return t, nil
}

// ManifestChildren lists the children recorded for index digest in
// repository, in digest order (empty for a manifest or an unknown digest).
func (db *DB) ManifestChildren(ctx context.Context, repository, digest string) ([]Child, error) {
	const op = "list children"
	rows, err := db.query(ctx, nil, `SELECT c.child_digest, c.media_type, c.platform FROM artifact_references c
		JOIN artifacts a ON a.id = c.parent_id JOIN repositories r ON r.id = a.repository_id
		WHERE r.name = ? AND a.digest = ? ORDER BY c.child_digest`, repository, digest)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Child{}
	for rows.Next() {
		var c Child
		if err := rows.Scan(&c.Digest, &c.MediaType, &c.Platform); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// totalSizeOrUnknown maps a size not given (0 or less) to the column's
// "not known" (-1), which readers compute from the manifest.
func totalSizeOrUnknown(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// keepsPlain reports whether pushing m leaves a plain repository plain:
// not an index, no subject, no tag named like a cosign signature.
func keepsPlain(m ManifestPut) bool {
	if m.Subject != "" || len(m.Children) > 0 || oci.IsIndexType(m.MediaType) {
		return false
	}
	for _, t := range m.Tags {
		if strings.HasPrefix(t, oci.CosignTagPrefix) {
			return false
		}
	}
	return true
}
