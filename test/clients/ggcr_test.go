package clients_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/testserver"
)

// ggcr holds what the go-containerregistry subtests share.
type ggcr struct {
	srv   *testserver.Process
	admin []remote.Option
	anon  []remote.Option
}

func (g *ggcr) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(g.srv.Addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (g *ggcr) repo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(g.srv.Addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantStatus checks that err is a registry error with the HTTP status and,
// if code is not empty, that OCI error code.
func wantStatus(t *testing.T, err error, status int, code transport.ErrorCode) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a registry error, want status %d", err, status)
	}
	if te.StatusCode != status {
		t.Fatalf("status %d (%v), want %d", te.StatusCode, err, status)
	}
	if code == "" {
		return
	}
	for _, d := range te.Errors {
		if d.Code == code {
			return
		}
	}
	t.Fatalf("error %v has no code %s", err, code)
}

// TestGoContainerRegistry pushes and pulls images and indexes with
// go-containerregistry's remote package: authenticated push through the
// token service, anonymous pull from the public library project, tag
// listing with pagination, deletion, catalog and cross-repository mounts.
func TestGoContainerRegistry(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *testserver.Process) {
		ctx := remote.WithContext(t.Context())
		g := &ggcr{
			srv:   srv,
			admin: []remote.Option{ctx, remote.WithAuth(&authn.Basic{Username: adminUser, Password: testserver.AdminPassword})},
			anon:  []remote.Option{ctx, remote.WithAuth(authn.Anonymous)},
		}
		img, err := random.Image(4096, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("image", func(t *testing.T) { g.testImage(t, img) })
		t.Run("index", g.testIndex)
		t.Run("tags", func(t *testing.T) { g.testTags(t, img) })
		t.Run("mount", g.testMount)
		t.Run("stream", g.testStreamedLayer)
		t.Run("referrers", g.testReferrers)
		t.Run("delete", g.testDelete)
		t.Run("catalog", g.testCatalog)
		t.Run("denied", func(t *testing.T) { g.testDenied(t, img) })
	})
}

// sameImage checks that got has want's digest, manifest, config and layer
// bytes.
func sameImage(t *testing.T, got, want v1.Image) {
	t.Helper()
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := want.Digest()
	if gd != wd {
		t.Fatalf("digest %s, want %s", gd, wd)
	}
	gm, err := got.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	wm, _ := want.RawManifest()
	if !bytes.Equal(gm, wm) {
		t.Fatalf("manifest differs:\n%s\nwant\n%s", gm, wm)
	}
	gc, err := got.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := want.RawConfigFile()
	if !bytes.Equal(gc, wc) {
		t.Fatal("config blob differs")
	}
	gl, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wl, _ := want.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range gl {
		gb := layerBytes(t, gl[i])
		wb := layerBytes(t, wl[i])
		if !bytes.Equal(gb, wb) {
			t.Fatalf("layer %d: %d bytes differ from the %d pushed", i, len(gb), len(wb))
		}
		gld, _ := gl[i].Digest()
		wld, _ := wl[i].Digest()
		if gld != wld {
			t.Fatalf("layer %d digest %s, want %s", i, gld, wld)
		}
	}
}

func layerBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (g *ggcr) testImage(t *testing.T, img v1.Image) {
	tag := g.ref(t, "library/team/app:v1")
	if err := remote.Write(tag, img, g.admin...); err != nil {
		t.Fatalf("push: %v", err)
	}
	want, _ := img.Digest()

	desc, err := remote.Head(tag, g.anon...)
	if err != nil {
		t.Fatalf("anonymous HEAD: %v", err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	if desc.Digest != want || desc.Size != int64(len(raw)) || desc.MediaType != mt {
		t.Fatalf("HEAD gave %s %d %s, want %s %d %s", desc.Digest, desc.Size, desc.MediaType, want, len(raw), mt)
	}

	pulled, err := remote.Image(tag, g.anon...)
	if err != nil {
		t.Fatalf("anonymous pull by tag: %v", err)
	}
	sameImage(t, pulled, img)

	byDigest, err := remote.Image(g.ref(t, "library/team/app@"+want.String()), g.anon...)
	if err != nil {
		t.Fatalf("anonymous pull by digest: %v", err)
	}
	sameImage(t, byDigest, img)
}

func (g *ggcr) testIndex(t *testing.T) {
	for _, tc := range []struct {
		repo                 string
		index, child, config types.MediaType
	}{
		{"library/multi", types.OCIImageIndex, types.OCIManifestSchema1, types.OCIConfigJSON},
		{"library/multi-docker", types.DockerManifestList, types.DockerManifestSchema2, types.DockerConfigJSON},
	} {
		t.Run(string(tc.index), func(t *testing.T) { g.testIndexOf(t, tc.repo, tc.index, tc.child, tc.config) })
	}
}

func (g *ggcr) testIndexOf(t *testing.T, repo string, indexType, childType, configType types.MediaType) {
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "s390x"},
	}
	idx := mutate.IndexMediaType(empty.Index, indexType)
	var children []v1.Image
	for i := range platforms {
		img, err := random.Image(1024, 2)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, childType)
		img = mutate.ConfigMediaType(img, configType)
		children = append(children, img)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &platforms[i]},
		})
	}
	tag := g.ref(t, repo+":latest")
	if err := remote.WriteIndex(tag, idx, g.admin...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	want, _ := idx.Digest()

	d, err := remote.Get(tag, g.anon...)
	if err != nil {
		t.Fatalf("get index: %v", err)
	}
	if d.MediaType != indexType || d.Digest != want {
		t.Fatalf("got %s %s, want %s %s", d.MediaType, d.Digest, indexType, want)
	}
	pulled, err := d.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	gotRaw, _ := pulled.RawManifest()
	wantRaw, _ := idx.RawManifest()
	if !bytes.Equal(gotRaw, wantRaw) {
		t.Fatalf("index manifest differs:\n%s\nwant\n%s", gotRaw, wantRaw)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(platforms) {
		t.Fatalf("%d children, want %d", len(im.Manifests), len(platforms))
	}
	for i, c := range im.Manifests {
		if c.Platform == nil || !c.Platform.Equals(platforms[i]) {
			t.Fatalf("child %d platform %v, want %v", i, c.Platform, platforms[i])
		}
		child, err := pulled.Image(c.Digest)
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		sameImage(t, child, children[i])
	}

	// Resolving the tag for one platform picks that child.
	arm, err := remote.Image(tag, append(g.anon, remote.WithPlatform(platforms[1]))...)
	if err != nil {
		t.Fatalf("pull arm64: %v", err)
	}
	sameImage(t, arm, children[1])
}

func (g *ggcr) testTags(t *testing.T, img v1.Image) {
	repo := g.repo(t, "library/tagged")
	want := []string{"1.0", "1.1", "2.0", "latest", "stable"}
	for i, tag := range want {
		if i == 0 {
			if err := remote.Write(repo.Tag(tag), img, g.admin...); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := remote.Tag(repo.Tag(tag), img, g.admin...); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
	for _, pageSize := range []int{0, 2} {
		opts := g.anon
		if pageSize > 0 {
			opts = append(slices.Clone(opts), remote.WithPageSize(pageSize))
		}
		got, err := remote.List(repo, opts...)
		if err != nil {
			t.Fatalf("list (page size %d): %v", pageSize, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("tags (page size %d) %v, want %v", pageSize, got, want)
		}
	}
	_, err := remote.List(g.repo(t, "library/never-pushed"), g.anon...)
	wantStatus(t, err, http.StatusNotFound, transport.NameUnknownErrorCode)
}

// testMount copies an image pulled from one repository into another: ggcr
// mounts the blobs across repositories instead of uploading them again.
func (g *ggcr) testMount(t *testing.T) {
	src, err := remote.Image(g.ref(t, "library/team/app:v1"), g.admin...)
	if err != nil {
		t.Fatal(err)
	}
	dst := g.ref(t, "library/team/app-copy:v1")
	if err := remote.Write(dst, src, g.admin...); err != nil {
		t.Fatalf("push with mounts: %v", err)
	}
	got, err := remote.Image(dst, g.anon...)
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, got, src)
}

func (g *ggcr) testDelete(t *testing.T) {
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo := g.repo(t, "library/doomed")
	if err := remote.Write(repo.Tag("keep"), img, g.admin...); err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(repo.Tag("drop"), img, g.admin...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()

	wantStatus(t, remote.Delete(repo.Tag("drop"), g.anon...), http.StatusUnauthorized, "")

	// Deleting a tag leaves the manifest and its other tags.
	if err := remote.Delete(repo.Tag("drop"), g.admin...); err != nil {
		t.Fatalf("delete tag: %v", err)
	}
	tags, err := remote.List(repo, g.admin...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"keep"}) {
		t.Fatalf("tags after deleting drop: %v", tags)
	}
	_, err = remote.Head(repo.Tag("drop"), g.admin...)
	wantStatus(t, err, http.StatusNotFound, "")

	// Deleting the manifest by digest removes it and every tag.
	if err := remote.Delete(repo.Digest(d.String()), g.admin...); err != nil {
		t.Fatalf("delete manifest: %v", err)
	}
	_, err = remote.Head(repo.Digest(d.String()), g.admin...)
	wantStatus(t, err, http.StatusNotFound, "")
	_, err = remote.Image(repo.Tag("keep"), g.admin...)
	wantStatus(t, err, http.StatusNotFound, transport.ManifestUnknownErrorCode)
}

func (g *ggcr) testCatalog(t *testing.T) {
	reg, err := name.NewRegistry(g.srv.Addr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Catalog(t.Context(), reg, g.admin...)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	for _, want := range []string{"library/multi", "library/multi-docker", "library/signed", "library/streamed", "library/tagged", "library/team/app", "library/team/app-copy"} {
		if !slices.Contains(got, want) {
			t.Fatalf("catalog %v lacks %s", got, want)
		}
	}
	paged, err := remote.Catalog(t.Context(), reg, append(slices.Clone(g.admin), remote.WithPageSize(1))...)
	if err != nil {
		t.Fatalf("paged catalog: %v", err)
	}
	if !slices.Equal(paged, got) {
		t.Fatalf("paged catalog %v, want %v", paged, got)
	}
	_, err = remote.Catalog(t.Context(), reg, g.anon...)
	wantStatus(t, err, http.StatusUnauthorized, "")
}

func (g *ggcr) testDenied(t *testing.T, img v1.Image) {
	wantStatus(t, remote.Write(g.ref(t, "library/anon:v1"), img, g.anon...), http.StatusUnauthorized, "")
	bad := []remote.Option{remote.WithContext(t.Context()), remote.WithAuth(&authn.Basic{Username: adminUser, Password: "wrong"})}
	wantStatus(t, remote.Write(g.ref(t, "library/bad:v1"), img, bad...), http.StatusUnauthorized, "")
	err := remote.Write(g.ref(t, "no-such-project/app:v1"), img, g.admin...)
	wantStatus(t, err, http.StatusNotFound, transport.NameUnknownErrorCode)
}

// testStreamedLayer pushes a layer whose size and digest are unknown until it
// has been read: ggcr uploads it as one PATCH of unknown length.
func (g *ggcr) testStreamedLayer(t *testing.T) {
	content := tarOf(t, map[string]string{"a.txt": strings.Repeat("streamed ", 10000), "b/c.txt": "small"})
	img, err := mutate.AppendLayers(empty.Image, stream.NewLayer(io.NopCloser(bytes.NewReader(content))))
	if err != nil {
		t.Fatal(err)
	}
	tag := g.ref(t, "library/streamed:v1")
	if err := remote.Write(tag, img, g.admin...); err != nil {
		t.Fatalf("push streamed layer: %v", err)
	}
	pulled, err := remote.Image(tag, g.anon...)
	if err != nil {
		t.Fatal(err)
	}
	// The streamed layer cannot be read twice: compare digests, then the
	// pulled layer's content with the tar that was streamed.
	gd, _ := pulled.Digest()
	wd, err := img.Digest()
	if err != nil || gd != wd {
		t.Fatalf("pulled %s, pushed %s (%v)", gd, wd, err)
	}
	layers, _ := pulled.Layers()
	wl, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	ld, _ := layers[0].Digest()
	wld, _ := wl[0].Digest()
	if ld != wld {
		t.Fatalf("layer %s, pushed %s", ld, wld)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("streamed layer read back as %d bytes (%v), want the %d-byte tar", len(got), err, len(content))
	}
}

// testReferrers pushes a signature-like image whose subject is another image,
// with the referrers tag fallback disabled, and lists it through the API.
func (g *ggcr) testReferrers(t *testing.T) {
	const sigType = "application/vnd.example.ggcr.sig.v1+json"
	repo := g.repo(t, "library/signed")
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	if err := remote.Write(repo.Tag("v1"), img, g.admin...); err != nil {
		t.Fatal(err)
	}
	subject, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	sig = mutate.ConfigMediaType(sig, sigType)
	sig = mutate.Annotations(sig, map[string]string{"com.example.signed-by": "ggcr"}).(v1.Image)
	sig = mutate.Subject(sig, *subject).(v1.Image)
	sigDigest, _ := sig.Digest()
	noFallback := append(slices.Clone(g.admin), remote.WithReferrersTagFallback(false))
	if err := remote.Write(repo.Digest(sigDigest.String()), sig, noFallback...); err != nil {
		t.Fatalf("push referrer: %v", err)
	}

	for _, tc := range []struct {
		name   string
		filter []remote.Option
		want   int
	}{
		{"all", nil, 1},
		{"matching type", []remote.Option{remote.WithFilter("artifactType", sigType)}, 1},
		{"other type", []remote.Option{remote.WithFilter("artifactType", "application/vnd.example.none")}, 0},
	} {
		idx, err := remote.Referrers(repo.Digest(subject.Digest.String()), append(slices.Clone(g.anon), tc.filter...)...)
		if err != nil {
			t.Fatalf("%s: referrers: %v", tc.name, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != tc.want {
			t.Fatalf("%s: %d referrers, want %d: %+v", tc.name, len(im.Manifests), tc.want, im.Manifests)
		}
		if tc.want == 0 {
			continue
		}
		r := im.Manifests[0]
		if r.Digest != sigDigest || r.ArtifactType != sigType || r.MediaType != types.OCIManifestSchema1 ||
			r.Annotations["com.example.signed-by"] != "ggcr" {
			t.Fatalf("%s: referrer %+v, want %s of type %s", tc.name, r, sigDigest, sigType)
		}
	}
	tags, err := remote.List(repo, g.anon...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("tags %v, want only v1 (no referrers fallback tag)", tags)
	}
}
