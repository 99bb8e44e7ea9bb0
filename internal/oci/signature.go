package oci

import "strings"

// Signatures. This file is the one home of the rules that say what counts
// as a signature of a manifest, as Harbor classifies accessories
// (src/server/middleware/cosign for the tag, src/server/middleware/subject
// for referrers):
//
//   - cosign's tag scheme: the signature of sha256:<hex> is the manifest
//     tagged sha256-<hex>.sig in the same repository (CosignSignatureTag,
//     CosignSignatureSubject);
//   - an OCI 1.1 referrer (a manifest whose subject is the signed one) whose
//     artifactType, or config media type when it has none, is cosign's
//     (application/vnd.dev.cosign.artifact.sig.v1+json or the sigstore
//     bundle) or notation's (application/vnd.cncf.notary.signature):
//     ReferrerSignature.
//
// The SQL in internal/store spells the tag scheme from the constants below.

// Media types of signature artifacts.
const (
	MediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// The cosign signature tag of sha256:<hex> is CosignTagPrefix + <hex> +
// CosignTagSuffix.
const (
	CosignTagPrefix = SHA256 + "-"
	CosignTagSuffix = ".sig"
	// CosignTagLength is the length of every cosign signature tag.
	CosignTagLength = len(CosignTagPrefix) + 64 + len(CosignTagSuffix)
)

// Signature is a kind of signature artifact.
type Signature int

// The signature kinds.
const (
	NoSignature Signature = iota
	Cosign
	Notation
)

func (s Signature) String() string {
	switch s {
	case Cosign:
		return "cosign"
	case Notation:
		return "notation"
	}
	return "none"
}

// CosignSignatureTag returns the tag cosign gives the signature of digest,
// or "" when digest is not a sha256 digest (cosign signs only those).
func CosignSignatureTag(digest string) string {
	hex, ok := strings.CutPrefix(digest, SHA256+":")
	if !ok || len(hex) != 64 || !isLowerHex(hex) {
		return ""
	}
	return CosignTagPrefix + hex + CosignTagSuffix
}

// CosignSignatureSubject returns the digest whose cosign signature tag is
// tag, and whether tag is one.
func CosignSignatureSubject(tag string) (string, bool) {
	if len(tag) != CosignTagLength {
		return "", false
	}
	hex, ok := strings.CutPrefix(tag, CosignTagPrefix)
	if !ok {
		return "", false
	}
	if hex, ok = strings.CutSuffix(hex, CosignTagSuffix); !ok || !isLowerHex(hex) {
		return "", false
	}
	return SHA256 + ":" + hex, true
}

// ReferrerSignature classifies a referrer by its artifactType, or its
// config media type when it has none, as Harbor's subject middleware does.
func ReferrerSignature(artifactType, configMediaType string) Signature {
	t := artifactType
	if t == "" {
		t = configMediaType
	}
	switch t {
	case MediaTypeCosignConfig, MediaTypeSigstoreBundle:
		return Cosign
	case MediaTypeNotationSig:
		return Notation
	}
	return NoSignature
}
