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
func shownCount(repo string) string {
	return strings.ReplaceAll(`((SELECT COUNT(*) FROM artifacts ca WHERE ca.repository_id = {r}) -
	(SELECT COUNT(*) FROM artifacts a WHERE a.id IN (
		SELECT cx.id FROM artifacts cx WHERE cx.repository_id = {r} AND cx.subject_digest > ''
		UNION ALL
		SELECT ct.artifact_id FROM tags ct WHERE ct.repository_id = {r} AND ct.name >= 'sha256-' AND ct.name < 'sha256.'
		UNION ALL
		SELECT cc.id FROM artifacts cp CROSS JOIN artifact_references cr CROSS JOIN artifacts cc
			WHERE cp.repository_id = {r} AND cr.parent_id = cp.id AND cc.repository_id = {r} AND cc.digest = cr.child_digest)
	AND NOT (`+shownArtifact+`)))`, "{r}", repo)
}
