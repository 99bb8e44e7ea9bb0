package artifact

import (
	"context"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// maxCopyDepth bounds the nesting of indexes and accessories a copy follows.
const maxCopyDepth = 8

// Copy copies artifact a of repository srcRepo (with tags, its index
// children the source holds, first, then its accessories) into dst: the
// blobs are linked into dst's project (its quota applies) and each
// manifest is stored by put, under every rule of a push (immutability of
// the tags it points, blobs, quota). It publishes no push events: the API
// records the copy as one operation, as Harbor's CopyArtifact does.
func (s *Service) Copy(ctx context.Context, dst Target, srcRepo string, a *store.Artifact, tags []string) error {
	return s.copyOne(ctx, dst, srcRepo, a, tags, 0)
}

func (s *Service) copyOne(ctx context.Context, dst Target, srcRepo string, a *store.Artifact, tags []string, depth int) error {
	const op = "copy artifact"
	if depth > maxCopyDepth {
		return errs.E(errs.Invalid, op, "the artifact nests more than %d levels deep", maxCopyDepth)
	}
	// Before anything is linked into the target project (put asks again).
	if err := s.guardMove(ctx, dst, a.Digest, tags); err != nil {
		return err
	}
	m, err := oci.ParseManifest(a.MediaType, a.Manifest)
	if err != nil {
		return errs.Wrap(op, err)
	}
	for _, ch := range m.Children {
		child, err := s.st.ArtifactByRef(ctx, srcRepo, ch.Digest, true)
		if errs.Is(err, errs.NotFound) {
			continue // a sparse index: the source lacks this child too
		}
		if err != nil {
			return err
		}
		if err := s.copyOne(ctx, dst, srcRepo, child, nil, depth+1); err != nil {
			return err
		}
	}
	for _, d := range m.BlobDigests() {
		if d.Foreign() {
			continue // non-distributable, fetched from its URLs
		}
		if _, err := s.st.LinkBlob(ctx, dst.ProjectID, d.Digest); err != nil {
			return err
		}
	}
	d, err := oci.ParseDigest(a.Digest)
	if err != nil {
		return errs.Wrap(op, err)
	}
	if _, err := s.put(ctx, dst, Manifest{MediaType: a.MediaType, Body: a.Manifest, Digest: d, Tags: tags}, a); err != nil {
		return err
	}
	accs, err := s.st.ArtifactAccessories(ctx, []int64{a.ID})
	if err != nil {
		return err
	}
	for _, x := range accs[a.ID] {
		var xt []string
		if x.Tagged {
			xt = []string{oci.CosignSignatureTag(a.Digest)}
		}
		if err := s.copyOne(ctx, dst, srcRepo, &x.Artifact, xt, depth+1); err != nil {
			return err
		}
	}
	return nil
}
