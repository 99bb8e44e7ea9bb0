package clients_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"

	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/testserver"
)

const rcSigType = "application/vnd.example.regclient.sig.v1"

// ociLayoutIndex writes a two-platform OCI index tagged v1 into a fresh OCI
// layout directory and returns the directory and the index.
func ociLayoutIndex(t *testing.T) (string, ggcrv1.ImageIndex) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []ggcrv1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: ggcrv1.Descriptor{Platform: &p}})
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	return dir, idx
}

func mustRef(t *testing.T, s string) ref.Ref {
	t.Helper()
	r, err := ref.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRegclient copies a multi-platform index from an OCI layout into Berth
// and between Berth repositories with regclient, reads it back with
// ManifestGet/ManifestHead/TagList, attaches a referrer and finds it through
// the referrers API, including after a copy that carries referrers along.
func TestRegclient(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *testserver.Process) {
		ctx := t.Context()
		rc := regclient.New(regclient.WithConfigHost(config.Host{
			Name: srv.Addr, TLS: config.TLSDisabled, User: adminUser, Pass: testserver.AdminPassword,
		}))
		anon := regclient.New(regclient.WithConfigHost(config.Host{Name: srv.Addr, TLS: config.TLSDisabled}))
		dir, idx := ociLayoutIndex(t)
		want, _ := idx.Digest()
		wantRaw, _ := idx.RawManifest()

		src := mustRef(t, "ocidir://"+dir+":v1")
		dst := mustRef(t, srv.Addr+"/library/rc-src:v1")
		if err := rc.ImageCopy(ctx, src, dst); err != nil {
			t.Fatalf("copy from OCI layout: %v", err)
		}

		head, err := anon.ManifestHead(ctx, dst)
		if err != nil {
			t.Fatalf("ManifestHead: %v", err)
		}
		if d := head.GetDescriptor(); d.Digest.String() != want.String() || d.MediaType != mediatype.OCI1ManifestList || d.Size != int64(len(wantRaw)) {
			t.Fatalf("HEAD gave %+v, want %s", d, want)
		}
		m, err := anon.ManifestGet(ctx, dst)
		if err != nil {
			t.Fatalf("ManifestGet: %v", err)
		}
		raw, _ := m.RawBody()
		if !m.IsList() || !bytes.Equal(raw, wantRaw) {
			t.Fatalf("ManifestGet gave %s, want %s", raw, wantRaw)
		}
		children, err := m.(manifest.Indexer).GetManifestList()
		if err != nil || len(children) != 2 {
			t.Fatalf("index children %v, %v", children, err)
		}
		for _, c := range children {
			cm, err := anon.ManifestGet(ctx, dst.SetDigest(c.Digest.String()))
			if err != nil {
				t.Fatalf("child %s: %v", c.Digest, err)
			}
			layers, err := cm.(manifest.Imager).GetLayers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("child layers %v, %v", layers, err)
			}
			for _, l := range layers {
				if _, err := anon.BlobHead(ctx, dst, l); err != nil {
					t.Fatalf("blob %s: %v", l.Digest, err)
				}
			}
		}

		// Berth to Berth, under two tags.
		cp := mustRef(t, srv.Addr+"/library/rc-copy:v1")
		if err := rc.ImageCopy(ctx, dst, cp); err != nil {
			t.Fatalf("copy between repositories: %v", err)
		}
		if err := rc.ImageCopy(ctx, dst, cp.SetTag("v2")); err != nil {
			t.Fatalf("copy to a second tag: %v", err)
		}
		h2, err := rc.ManifestHead(ctx, cp.SetTag("v2"))
		if err != nil || h2.GetDescriptor().Digest.String() != want.String() {
			t.Fatalf("copy has %v, %v; want %s", h2.GetDescriptor().Digest, err, want)
		}
		tl, err := anon.TagList(ctx, cp)
		if err != nil {
			t.Fatalf("TagList: %v", err)
		}
		tags, _ := tl.GetTags()
		if !slices.Equal(tags, []string{"v1", "v2"}) {
			t.Fatalf("tags %v, want [v1 v2]", tags)
		}
		page, err := anon.TagList(ctx, cp, scheme.WithTagLimit(1))
		if err != nil {
			t.Fatalf("TagList with limit: %v", err)
		}
		if tags, _ := page.GetTags(); !slices.Equal(tags, []string{"v1"}) {
			t.Fatalf("first page of tags %v, want [v1]", tags)
		}

		// A referrer with the index as subject.
		subject := head.GetDescriptor()
		sig := pushReferrer(t, rc, dst, subject)
		rl, err := anon.ReferrerList(ctx, dst)
		if err != nil {
			t.Fatalf("ReferrerList: %v", err)
		}
		if len(rl.Tags) != 0 {
			t.Fatalf("regclient fell back to referrers tags %v", rl.Tags)
		}
		if len(rl.Descriptors) != 1 || rl.Descriptors[0].Digest != sig.Digest || rl.Descriptors[0].ArtifactType != rcSigType {
			t.Fatalf("referrers %+v, want the signature %s", rl.Descriptors, sig.Digest)
		}
		if rl.Descriptors[0].Annotations["com.example.signer"] != "regclient" {
			t.Fatalf("referrer annotations %v", rl.Descriptors[0].Annotations)
		}
		filtered, err := anon.ReferrerList(ctx, dst, scheme.WithReferrerMatchOpt(descriptor.MatchOpt{ArtifactType: "application/vnd.example.other"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(filtered.Descriptors) != 0 {
			t.Fatalf("referrers of another type: %+v", filtered.Descriptors)
		}
		tl, err = anon.TagList(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		if tags, _ := tl.GetTags(); !slices.Equal(tags, []string{"v1"}) {
			t.Fatalf("tags %v, want only v1 (no referrers fallback tag)", tags)
		}

		// Copy with referrers: the signature comes along.
		withRefs := mustRef(t, srv.Addr+"/library/rc-signed:v1")
		if err := rc.ImageCopy(ctx, dst, withRefs, regclient.ImageWithReferrers()); err != nil {
			t.Fatalf("copy with referrers: %v", err)
		}
		rl, err = anon.ReferrerList(ctx, withRefs)
		if err != nil {
			t.Fatal(err)
		}
		if len(rl.Descriptors) != 1 || rl.Descriptors[0].Digest != sig.Digest {
			t.Fatalf("referrers of the copy %+v, want %s", rl.Descriptors, sig.Digest)
		}

		// Chunked uploads: a client that sends every blob in 64 KiB PATCHes
		// with Content-Range.
		chunked := regclient.New(regclient.WithConfigHost(config.Host{
			Name: srv.Addr, TLS: config.TLSDisabled, User: adminUser, Pass: testserver.AdminPassword,
			BlobChunk: 64 << 10, BlobMax: 1,
		}))
		big := make([]byte, 300<<10+17)
		rand.Read(big)
		bigDesc := descriptor.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(big), Size: int64(len(big))}
		chunkedRef := mustRef(t, srv.Addr+"/library/rc-chunked:v1")
		if _, err := chunked.BlobPut(ctx, chunkedRef, bigDesc, bytes.NewReader(big)); err != nil {
			t.Fatalf("chunked blob upload: %v", err)
		}
		br, err := chunked.BlobGet(ctx, chunkedRef, bigDesc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(br)
		br.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("chunked blob read back: %d bytes, %v", len(got), err)
		}
		if err := chunked.ImageCopy(ctx, src, chunkedRef); err != nil {
			t.Fatalf("chunked copy from OCI layout: %v", err)
		}
		if h, err := anon.ManifestHead(ctx, chunkedRef); err != nil || h.GetDescriptor().Digest.String() != want.String() {
			t.Fatalf("chunked copy: %v, %v", h, err)
		}

		// Tag delete leaves the other tag.
		if err := rc.TagDelete(ctx, cp.SetTag("v2")); err != nil {
			t.Fatalf("TagDelete: %v", err)
		}
		tl, err = anon.TagList(ctx, cp)
		if err != nil {
			t.Fatal(err)
		}
		if tags, _ := tl.GetTags(); !slices.Equal(tags, []string{"v1"}) {
			t.Fatalf("tags after delete %v, want [v1]", tags)
		}
	})
}

// pushReferrer pushes a small signature-like artifact whose subject is
// subject and returns its descriptor.
func pushReferrer(t *testing.T, rc *regclient.RegClient, r ref.Ref, subject descriptor.Descriptor) descriptor.Descriptor {
	t.Helper()
	ctx := t.Context()
	cfg := descriptor.Descriptor{MediaType: mediatype.OCI1Empty, Digest: descriptor.EmptyDigest, Size: int64(len(descriptor.EmptyData))}
	if _, err := rc.BlobPut(ctx, r, cfg, bytes.NewReader(descriptor.EmptyData)); err != nil {
		t.Fatalf("put empty config: %v", err)
	}
	payload := []byte("signature of " + subject.Digest.String())
	layer := descriptor.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(payload), Size: int64(len(payload))}
	if _, err := rc.BlobPut(ctx, r, layer, bytes.NewReader(payload)); err != nil {
		t.Fatalf("put signature blob: %v", err)
	}
	subj := descriptor.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m, err := manifest.New(manifest.WithOrig(v1.Manifest{
		Versioned:    v1.ManifestSchemaVersion,
		MediaType:    mediatype.OCI1Manifest,
		ArtifactType: rcSigType,
		Config:       cfg,
		Layers:       []descriptor.Descriptor{layer},
		Subject:      &subj,
		Annotations:  map[string]string{"com.example.signer": "regclient"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := m.GetDescriptor()
	if err := rc.ManifestPut(ctx, r.SetDigest(d.Digest.String()), m); err != nil {
		t.Fatalf("put referrer: %v", err)
	}
	return d
}
