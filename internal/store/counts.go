package store

import (
	"context"
	"database/sql"
	"strings"
)

// Each repository stores the number of artifacts a listing shows by
// default in repositories.artifact_count (migration 0016), so repository
// listings and search read a column instead of counting each row's
// artifacts, which was most of a search's cost (100 hits, each counted).
//
// The rule for "shown" depends on other rows of the repository (index
// children, referrers whose subject is there, cosign signature tags), so
// the column is not kept by increments: every transaction that adds or
// removes an artifact, a tag or an index of a repository locks the
// repository row before its first change (lockRepository; PutManifest's
// upsert of the row takes the same lock) and stores the recount
// (recount) before it commits. On PostgreSQL, under READ COMMITTED, the
// recount is a statement that starts after the lock was granted, so it
// sees every transaction that held the lock before; one that changes the
// repository later recounts after it. On SQLite the write transaction is
// exclusive. TestRepositoryCountsKept checks the column against a fresh
// count after every kind of change.

// shownCount is the number of artifacts a listing shows by default
// (shownArtifact) in the repository whose ID is the SQL expression repo.
//
// Counting with shownArtifact checks every artifact of the repository with
// four subqueries; at 10 artifacts per repository that was most of the cost
// of a repository listing and of a search. An artifact can only be hidden
// when it is an index child (its digest is referenced by an artifact of
// the repository), a referrer (non-empty subject) or carries a tag named
// like a cosign signature (sha256-…), and each of those is found with an
// index range in the repository. So the count is all the repository's
// artifacts (a covering index range) minus those candidates that
// shownArtifact rejects; in a repository of plain images the candidate
// lists are empty and nothing else is read.
// indexTypes are the manifest media types with child references, as the
// partial index artifacts_indexes (migration 0015) names them: a query
// must repeat the list exactly for the index to serve it.
const indexTypes = `'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'`

func shownCount(repo string) string {
	return strings.ReplaceAll(`((SELECT COUNT(*) FROM artifacts ca WHERE ca.repository_id = {r}) -
	CASE WHEN EXISTS (`+subjectCandidates+`) OR EXISTS (`+signatureCandidates+`) OR EXISTS (`+childCandidates+`)
	THEN (SELECT COUNT(*) FROM artifacts a WHERE a.id IN (
		`+subjectCandidates+`
		UNION ALL
		`+signatureCandidates+`
		UNION ALL
		`+childCandidates+`)
	AND NOT (`+shownArtifact+`)) ELSE 0 END)`, "{r}", repo)
}

// The artifacts of repository {r} that a listing may hide: referrers,
// those with a cosign-signature-like tag, index children. Each is an
// index range, empty in a repository of plain images; shownCount probes
// them with EXISTS first, so such a repository costs three seeks, not the
// set built for IN.
var (
	subjectCandidates   = `SELECT cx.id FROM artifacts cx WHERE cx.repository_id = {r} AND cx.subject_digest > ''`
	signatureCandidates = `SELECT ct.artifact_id FROM tags ct WHERE ct.repository_id = {r} AND ` + sqlCosignTagRange("ct.name")
	childCandidates     = `SELECT cc.id FROM artifacts cp CROSS JOIN artifact_references cr CROSS JOIN artifacts cc
			WHERE cp.repository_id = {r} AND cp.manifest_media_type IN (` + indexTypes + `)
			AND cr.parent_id = cp.id AND cc.repository_id = {r} AND cc.digest = cr.child_digest`
)

// lockRepository takes the row lock of repository id until the transaction
// ends (PostgreSQL; SQLite's write transaction already excludes others).
// A repository that is not there is not an error: there is nothing to count.
func (db *DB) lockRepository(ctx context.Context, tx *sql.Tx, id int64) error {
	if !db.pg {
		return nil
	}
	var got int64
	err := db.queryRow(ctx, tx, `SELECT id FROM repositories WHERE id = ? FOR UPDATE`, id).Scan(&got)
	if err == sql.ErrNoRows {
		return nil
	}
	return err
}

// lockRepositoryOf locks the repository of artifact id and returns its ID
// (0 if the artifact is not there).
func (db *DB) lockRepositoryOf(ctx context.Context, tx *sql.Tx, artifactID int64) (int64, error) {
	var id int64
	err := db.queryRow(ctx, tx, `SELECT id FROM repositories WHERE id = (SELECT repository_id FROM artifacts WHERE id = ?)`+
		db.lockRows(" FOR UPDATE"), artifactID).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return id, err
}

// lockRepositoryNamed locks repository name and returns its ID (0 if it is
// not there).
func (db *DB) lockRepositoryNamed(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := db.queryRow(ctx, tx, `SELECT id FROM repositories WHERE name = ?`+db.lockRows(" FOR UPDATE"), name).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return id, err
}

// plainRepository is true when repository {r} holds no index, no referrer
// and no tag named like a cosign signature (migration 0018): then every
// artifact is shown and none has an accessory.
func plainRepository(repo string) string {
	return strings.ReplaceAll(`(CASE WHEN EXISTS (`+subjectCandidates+`) OR EXISTS (`+signatureCandidates+`)
	OR EXISTS (SELECT 1 FROM artifacts ci WHERE ci.repository_id = {r} AND ci.manifest_media_type IN (`+indexTypes+`))
	THEN FALSE ELSE TRUE END)`, "{r}", repo)
}

// recount stores the shown count and the plain flag of repository id; the
// caller locked the row before changing the repository.
func (db *DB) recount(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := db.exec(ctx, tx, `UPDATE repositories SET artifact_count = `+shownCount("repositories.id")+`,
		plain = `+plainRepository("repositories.id")+` WHERE id = ?`, id)
	return err
}

// recountAll stores the shown count and plain flag of every repository
// whose stored ones are wrong (after a bulk load, and when migrations 0016
// and 0018 add the columns). Rows already right are not written: rewriting
// every row of a freshly loaded table doubles its indexes on PostgreSQL.
func (db *DB) recountAll(ctx context.Context, tx *sql.Tx) error {
	count, plain := shownCount("repositories.id"), plainRepository("repositories.id")
	_, err := db.exec(ctx, tx, `UPDATE repositories SET artifact_count = `+count+`, plain = `+plain+`
		WHERE artifact_count <> `+count+` OR plain <> `+plain)
	return err
}
