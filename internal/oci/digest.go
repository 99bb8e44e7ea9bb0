// Package oci holds the rules of the OCI image and distribution specs that
// every other package shares: digests, media types, repository and tag names,
// and the parsing of manifests and indexes into the facts Berth records.
package oci

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Digest is a content digest "algorithm:hex" that has passed ParseDigest.
type Digest string

// Algorithms Berth accepts.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// isLowerHex reports whether s is non-empty lower-case hex. (A loop: the
// regular expression it replaces was half the cost of parsing a manifest,
// which artifact listings do for every artifact on a page.)
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// ParseDigest checks s is a digest in a supported algorithm with a hex part of
// the right length.
func ParseDigest(s string) (Digest, error) {
	alg, hx, ok := strings.Cut(s, ":")
	if !ok {
		return "", errs.E(errs.Invalid, "parse digest", "digest %q has no algorithm", s)
	}
	var n int
	switch alg {
	case SHA256:
		n = 64
	case SHA512:
		n = 128
	default:
		return "", errs.E(errs.Invalid, "parse digest", "digest algorithm %q is not supported", alg)
	}
	if len(hx) != n || !isLowerHex(hx) {
		return "", errs.E(errs.Invalid, "parse digest", "digest %q is malformed", s)
	}
	return Digest(s), nil
}

// Algorithm returns the algorithm part.
func (d Digest) Algorithm() string { a, _, _ := strings.Cut(string(d), ":"); return a }

// Hex returns the hex part.
func (d Digest) Hex() string { _, h, _ := strings.Cut(string(d), ":"); return h }

func (d Digest) String() string { return string(d) }

// NewHash returns a fresh hash for algorithm alg, or nil if unsupported.
func NewHash(alg string) hash.Hash {
	switch alg {
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	}
	return nil
}

// FromBytes computes the sha256 digest of b.
func FromBytes(b []byte) Digest {
	s := sha256.Sum256(b)
	return Digest(SHA256 + ":" + hex.EncodeToString(s[:]))
}

// FromBytesAlg computes the digest of b with algorithm alg (sha256 or sha512).
func FromBytesAlg(alg string, b []byte) Digest {
	h := NewHash(alg)
	if h == nil {
		h, alg = sha256.New(), SHA256
	}
	h.Write(b)
	return FromHash(alg, h)
}

// FromHash formats the sum of h as a digest of algorithm alg.
func FromHash(alg string, h hash.Hash) Digest {
	return Digest(alg + ":" + hex.EncodeToString(h.Sum(nil)))
}
