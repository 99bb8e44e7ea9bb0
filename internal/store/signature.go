package store

import (
	"context"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// SQL spellings of cosign's signature tag scheme (oci.CosignSignatureTag):
// the signature of sha256:<hex> is tagged sha256-<hex>.sig. Every statement
// that links a signature to its subject by tag builds its SQL here, from
// the constants of internal/oci.

// sqlDigestHexStart is the 1-based position of the hex part of a sha256
// digest ("sha256:" is 7 bytes).
var sqlDigestHexStart = strconv.Itoa(len(oci.SHA256+":") + 1)

// sqlCosignTagOf is the cosign signature tag of the sha256 digest in the
// SQL expression digest.
func sqlCosignTagOf(digest string) string {
	return `'` + oci.CosignTagPrefix + `' || SUBSTR(` + digest + `, ` + sqlDigestHexStart + `) || '` + oci.CosignTagSuffix + `'`
}

// sqlCosignTagSubject is the digest the cosign signature tag in the SQL
// expression tag names (meaningful when sqlIsCosignTag holds).
func sqlCosignTagSubject(tag string) string {
	return `'` + oci.SHA256 + `:' || SUBSTR(` + tag + `, ` + strconv.Itoa(len(oci.CosignTagPrefix)+1) + `, 64)`
}

// sqlCosignTagRange holds for the tag names that start like a cosign
// signature tag, as an index range (the byte after '-' is '.').
func sqlCosignTagRange(tag string) string {
	return tag + ` >= '` + oci.CosignTagPrefix + `' AND ` + tag + ` < '` + oci.SHA256 + `.'`
}

// sqlIsCosignTag holds for a tag name of cosign's signature scheme.
func sqlIsCosignTag(tag string) string {
	return sqlCosignTagRange(tag) + ` AND LENGTH(` + tag + `) = ` + strconv.Itoa(oci.CosignTagLength) +
		` AND ` + tag + ` LIKE '` + oci.CosignTagPrefix + `%` + oci.CosignTagSuffix + `'`
}

// Signatures are what a repository holds that signs an artifact, and
// whether the artifact is itself a signature.
type Signatures struct {
	// Referrers are the kinds (oci.ReferrerSignature) of the artifact's
	// referrers in its repository, signatures or not.
	Referrers []oci.Signature
	// CosignTagged is set when the repository has the artifact's cosign
	// signature tag.
	CosignTagged bool
	// Self is the artifact's own kind as a referrer (NoSignature when it
	// has no subject), and SelfTagged is set when it carries the cosign
	// signature tag of an artifact of its repository.
	Self       oci.Signature
	SelfTagged bool
	// Kind is the artifact's type (IMAGE, CNAB, ...).
	Kind string
}

// ArtifactSignatures returns the signatures of artifact id, in one
// statement: its referrers' types, its cosign signature tag, its own type
// and subject, its cosign-signature tags naming an artifact of the
// repository, and its kind.
func (db *DB) ArtifactSignatures(ctx context.Context, id int64) (*Signatures, error) {
	rows, err := db.query(ctx, nil, `SELECT 'r', x.artifact_type, x.config_media_type FROM artifacts a
			JOIN artifacts x ON x.repository_id = a.repository_id AND x.subject_digest = a.digest WHERE a.id = ?
		UNION ALL
		SELECT 't', '', '' FROM artifacts a
			JOIN tags t ON t.repository_id = a.repository_id AND t.name = `+sqlCosignTagOf("a.digest")+`
			WHERE a.id = ? AND a.digest LIKE '`+oci.SHA256+`:%'
		UNION ALL
		SELECT 's', a.artifact_type, a.config_media_type FROM artifacts a WHERE a.id = ? AND a.subject_digest <> ''
		UNION ALL
		SELECT 'u', '', '' FROM tags t JOIN artifacts v ON v.repository_id = t.repository_id
			AND v.digest = `+sqlCosignTagSubject("t.name")+`
			WHERE t.artifact_id = ? AND `+sqlIsCosignTag("t.name")+`
		UNION ALL
		SELECT 'k', a.kind, '' FROM artifacts a WHERE a.id = ?`, id, id, id, id, id)
	if err != nil {
		return nil, errs.Wrap("artifact signatures", err)
	}
	defer rows.Close()
	var s Signatures
	for rows.Next() {
		var src, artifactType, configType string
		if err := rows.Scan(&src, &artifactType, &configType); err != nil {
			return nil, errs.Wrap("artifact signatures", err)
		}
		switch src {
		case "r":
			s.Referrers = append(s.Referrers, oci.ReferrerSignature(artifactType, configType))
		case "t":
			s.CosignTagged = true
		case "s":
			s.Self = oci.ReferrerSignature(artifactType, configType)
		case "u":
			s.SelfTagged = true
		case "k":
			s.Kind = artifactType
		}
	}
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap("artifact signatures", err)
	}
	return &s, nil
}
