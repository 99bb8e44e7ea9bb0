package oci_test

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
)

// TestCosignSignatureTag pins cosign's tag scheme both ways: the tag of a
// sha256 digest, the digest of a tag, and everything that is not one.
func TestCosignSignatureTag(t *testing.T) {
	d := "sha256:" + hex64
	tag := oci.CosignSignatureTag(d)
	if tag != "sha256-"+hex64+".sig" {
		t.Fatalf("CosignSignatureTag(%s) = %q", d, tag)
	}
	if len(tag) != oci.CosignTagLength {
		t.Fatalf("len(%q) = %d, CosignTagLength %d", tag, len(tag), oci.CosignTagLength)
	}
	if got, ok := oci.CosignSignatureSubject(tag); !ok || got != d {
		t.Fatalf("CosignSignatureSubject(%q) = %q, %v", tag, got, ok)
	}
	for _, bad := range []string{"sha512:" + hex128, "sha256:" + hex64[:63], "sha256:" + strings.ToUpper(hex64), hex64, ""} {
		if got := oci.CosignSignatureTag(bad); got != "" {
			t.Errorf("CosignSignatureTag(%q) = %q, want none", bad, got)
		}
	}
	for _, bad := range []string{
		"v1", "latest", "sha256-" + hex64, "sha256-" + hex64 + ".att", "sha256-" + hex64 + ".sbom",
		"sha256-" + hex64[:63] + ".sig", "sha256-" + hex64 + "0.sig", "sha512-" + hex64 + ".sig",
		"sha256-" + strings.ToUpper(hex64) + ".sig", "sha256-" + hex64[:62] + "zz.sig",
	} {
		if got, ok := oci.CosignSignatureSubject(bad); ok {
			t.Errorf("CosignSignatureSubject(%q) = %q, want not a signature tag", bad, got)
		}
	}
}

// TestReferrerSignature classifies referrers as Harbor's subject
// middleware does: artifactType first, config media type otherwise.
func TestReferrerSignature(t *testing.T) {
	for _, c := range []struct {
		artifactType, config string
		want                 oci.Signature
	}{
		{oci.MediaTypeNotationSig, oci.MediaTypeEmptyJSON, oci.Notation},
		{"", oci.MediaTypeNotationSig, oci.Notation},
		{oci.MediaTypeCosignConfig, "", oci.Cosign},
		{"", oci.MediaTypeCosignConfig, oci.Cosign},
		{oci.MediaTypeSigstoreBundle, oci.MediaTypeEmptyJSON, oci.Cosign},
		{"application/spdx+json", oci.MediaTypeNotationSig, oci.NoSignature}, // artifactType wins
		{"", oci.MediaTypeOCIConfig, oci.NoSignature},
		{"", "", oci.NoSignature},
	} {
		if got := oci.ReferrerSignature(c.artifactType, c.config); got != c.want {
			t.Errorf("ReferrerSignature(%q, %q) = %v, want %v", c.artifactType, c.config, got, c.want)
		}
	}
}
