package store

import (
	"strconv"

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
