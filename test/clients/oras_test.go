package clients_test

import (
	"bytes"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/file"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/berth-dev/berth/internal/testserver"
)

const (
	orasArtifactType = "application/vnd.berth.test.bundle.v1"
	sbomArtifactType = "application/vnd.example.sbom.v1"
	sigArtifactType  = "application/vnd.example.signature.v1"
)

// orasRepo returns an oras-go repository on srv over plain HTTP, logged in as
// admin when admin is true and anonymous otherwise.
func orasRepo(t *testing.T, srv *testserver.Process, name string, admin bool) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(srv.Addr + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	client := &auth.Client{Client: retry.DefaultClient, Cache: auth.NewCache()}
	if admin {
		client.Credential = auth.StaticCredential(srv.Addr, auth.Credential{Username: adminUser, Password: testserver.AdminPassword})
	}
	repo.Client = client
	return repo
}

func referrersOf(t *testing.T, repo *remote.Repository, subject ocispec.Descriptor, artifactType string) []ocispec.Descriptor {
	t.Helper()
	var out []ocispec.Descriptor
	err := repo.Referrers(t.Context(), subject, artifactType, func(r []ocispec.Descriptor) error {
		out = append(out, r...)
		return nil
	})
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject.Digest, err)
	}
	return out
}

func tagsOf(t *testing.T, repo *remote.Repository) []string {
	t.Helper()
	var out []string
	if err := repo.Tags(t.Context(), "", func(tags []string) error { out = append(out, tags...); return nil }); err != nil {
		t.Fatalf("tags: %v", err)
	}
	return out
}

// TestOrasGo pushes an artifact of files with a custom artifactType through
// oras-go, attaches referrers to it, lists them through the referrers API
// (with and without an artifactType filter), pulls the files back
// anonymously and copies the artifact with its referrers to another
// repository.
func TestOrasGo(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *testserver.Process) {
		ctx := t.Context()
		files := map[string][]byte{
			"readme.txt":      []byte("hello from oras-go\n"),
			"data/blob.bin":   bytes.Repeat([]byte{0, 1, 2, 3, 254, 255}, 5000),
			"config.yaml":     []byte("answer: 42\n"),
			"empty-file.json": {},
		}
		mediaTypes := map[string]string{
			"readme.txt":      "text/plain",
			"data/blob.bin":   "application/octet-stream",
			"config.yaml":     "application/yaml",
			"empty-file.json": "application/json",
		}
		src := t.TempDir()
		fs, err := file.New(src)
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		var layers []ocispec.Descriptor
		for _, n := range slices.Sorted(maps.Keys(files)) {
			writeFile(t, src, n, files[n])
			d, err := fs.Add(ctx, n, mediaTypes[n], filepath.Join(src, n))
			if err != nil {
				t.Fatalf("add %s: %v", n, err)
			}
			layers = append(layers, d)
		}
		artifact, err := oras.PackManifest(ctx, fs, oras.PackManifestVersion1_1, orasArtifactType, oras.PackManifestOptions{
			Layers:              layers,
			ManifestAnnotations: map[string]string{"org.opencontainers.image.created": "2024-01-02T03:04:05Z", "com.example.purpose": "test"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.Tag(ctx, artifact, "v1"); err != nil {
			t.Fatal(err)
		}

		repo := orasRepo(t, srv, "library/oras-lib", true)
		pushed, err := oras.Copy(ctx, fs, "v1", repo, "v1", oras.DefaultCopyOptions)
		if err != nil {
			t.Fatalf("push artifact: %v", err)
		}
		if pushed.Digest != artifact.Digest {
			t.Fatalf("pushed %s, packed %s", pushed.Digest, artifact.Digest)
		}

		// Referrers: an SBOM and a signature with the artifact as subject.
		sbom, err := oras.PushBytes(ctx, repo, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"oras-lib"}`))
		if err != nil {
			t.Fatal(err)
		}
		sbomManifest, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sbomArtifactType, oras.PackManifestOptions{
			Subject:             &pushed,
			Layers:              []ocispec.Descriptor{sbom},
			ManifestAnnotations: map[string]string{"org.opencontainers.image.created": "2024-01-02T03:04:06Z", "kind": "sbom"},
		})
		if err != nil {
			t.Fatalf("push sbom referrer: %v", err)
		}
		// Berth answered the subject push with OCI-Subject (or a working
		// referrers endpoint), so oras-go settled on the referrers API and
		// created no fallback tag.
		if err := repo.SetReferrersCapability(false); !errors.Is(err, remote.ErrReferrersCapabilityAlreadySet) {
			t.Fatalf("oras-go did not detect the referrers API: %v", err)
		}
		sig, err := oras.PushBytes(ctx, repo, "application/octet-stream", []byte("not really a signature"))
		if err != nil {
			t.Fatal(err)
		}
		sigManifest, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sigArtifactType, oras.PackManifestOptions{
			Subject: &pushed,
			Layers:  []ocispec.Descriptor{sig},
		})
		if err != nil {
			t.Fatalf("push signature referrer: %v", err)
		}
		if tags := tagsOf(t, repo); !slices.Equal(tags, []string{"v1"}) {
			t.Fatalf("tags %v, want only v1 (no referrers fallback tag)", tags)
		}

		anon := orasRepo(t, srv, "library/oras-lib", false)
		if err := anon.SetReferrersCapability(true); err != nil {
			t.Fatal(err)
		}
		all := referrersOf(t, anon, pushed, "")
		if len(all) != 2 {
			t.Fatalf("%d referrers, want 2: %+v", len(all), all)
		}
		byDigest := map[string]ocispec.Descriptor{}
		for _, d := range all {
			byDigest[d.Digest.String()] = d
		}
		for _, want := range []ocispec.Descriptor{sbomManifest, sigManifest} {
			got, ok := byDigest[want.Digest.String()]
			if !ok {
				t.Fatalf("referrers %+v lack %s", all, want.Digest)
			}
			if got.MediaType != ocispec.MediaTypeImageManifest || got.Size != want.Size || got.ArtifactType != want.ArtifactType {
				t.Fatalf("referrer %+v, want %+v", got, want)
			}
		}
		if a := byDigest[sbomManifest.Digest.String()].Annotations; a["kind"] != "sbom" {
			t.Fatalf("sbom referrer annotations %v, want kind=sbom", a)
		}
		filtered := referrersOf(t, anon, pushed, sbomArtifactType)
		if len(filtered) != 1 || filtered[0].Digest != sbomManifest.Digest {
			t.Fatalf("referrers filtered by %s: %+v", sbomArtifactType, filtered)
		}
		if none := referrersOf(t, anon, pushed, "application/vnd.example.none"); len(none) != 0 {
			t.Fatalf("referrers of an unused type: %+v", none)
		}
		if none := referrersOf(t, anon, sbomManifest, ""); len(none) != 0 {
			t.Fatalf("referrers of the sbom: %+v", none)
		}

		// Pull the files back anonymously.
		out := t.TempDir()
		dst, err := file.New(out)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		pulled, err := oras.Copy(ctx, anon, "v1", dst, "v1", oras.DefaultCopyOptions)
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		if pulled.Digest != artifact.Digest || pulled.MediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("pulled %+v, want the OCI manifest %s", pulled, artifact.Digest)
		}
		for n, want := range files {
			if got := readFile(t, filepath.Join(out, n)); !bytes.Equal(got, want) {
				t.Fatalf("%s: pulled %d bytes, pushed %d", n, len(got), len(want))
			}
		}
		manifest, err := content.FetchAll(ctx, anon, pulled)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(manifest), `"artifactType":"`+orasArtifactType+`"`) {
			t.Fatalf("manifest lacks the artifactType: %s", manifest)
		}

		// Copy the artifact and everything that refers to it.
		copyRepo := orasRepo(t, srv, "library/oras-lib-copy", true)
		copied, err := oras.ExtendedCopy(ctx, repo, "v1", copyRepo, "v1", oras.DefaultExtendedCopyOptions)
		if err != nil {
			t.Fatalf("extended copy: %v", err)
		}
		if copied.Digest != artifact.Digest {
			t.Fatalf("copied %s, want %s", copied.Digest, artifact.Digest)
		}
		if got := referrersOf(t, copyRepo, copied, ""); len(got) != 2 {
			t.Fatalf("copy has %d referrers, want 2: %+v", len(got), got)
		}

		// Deleting a referrer takes it out of the list.
		if err := repo.Delete(ctx, sigManifest); err != nil {
			t.Fatalf("delete signature: %v", err)
		}
		if got := referrersOf(t, anon, pushed, ""); len(got) != 1 || got[0].Digest != sbomManifest.Digest {
			t.Fatalf("referrers after deleting the signature: %+v", got)
		}
	})
}
