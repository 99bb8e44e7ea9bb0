package store

import "strings"

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
const (
	subjectCandidates   = `SELECT cx.id FROM artifacts cx WHERE cx.repository_id = {r} AND cx.subject_digest > ''`
	signatureCandidates = `SELECT ct.artifact_id FROM tags ct WHERE ct.repository_id = {r} AND ct.name >= 'sha256-' AND ct.name < 'sha256.'`
	childCandidates     = `SELECT cc.id FROM artifacts cp CROSS JOIN artifact_references cr CROSS JOIN artifacts cc
			WHERE cp.repository_id = {r} AND cp.manifest_media_type IN (` + indexTypes + `)
			AND cr.parent_id = cp.id AND cc.repository_id = {r} AND cc.digest = cr.child_digest`
)
