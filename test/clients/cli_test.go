package clients_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/testserver"
)

// lines splits output into its non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// tarOf builds an uncompressed tar of files (sorted by name).
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrane pushes a tarball image and a freshly appended layer with crane,
// then copies, lists, tags, inspects, deletes and catalogs.
func TestCrane(t *testing.T) {
	crane := tool(t, "crane")
	eachBackend(t, func(t *testing.T, srv *testserver.Process) { testCrane(t, crane, srv) })
}

func testCrane(t *testing.T, crane string, srv *testserver.Process) {
	host := srv.Addr
	c := newCLI(t)
	c.run([]byte(testserver.AdminPassword), crane, "auth", "login", host, "-u", adminUser, "--password-stdin")
	anon := newCLI(t)

	// crane push of an image tarball.
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	tag, _ := name.NewTag(host + "/library/crane:v1")
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	out := c.run(nil, crane, "push", "--insecure", tarPath, host+"/library/crane:v1")
	if got := strings.TrimSpace(out); got != host+"/library/crane@"+want.String() {
		t.Fatalf("crane push printed %q, want the digest %s", got, want)
	}

	// crane append onto scratch: the layer comes back as the tar we gave.
	layerTar := tarOf(t, map[string]string{"etc/motd": "hello from crane\n", "app/run.sh": "#!/bin/sh\necho hi\n"})
	writeFile(t, c.home, "layer.tar", layerTar)
	appended := strings.TrimSpace(c.run(nil, crane, "append", "--insecure", "--oci-empty-base", "-f", "layer.tar", "-t", host+"/library/crane:appended"))
	if !strings.HasPrefix(appended, host+"/library/crane@sha256:") {
		t.Fatalf("crane append printed %q", appended)
	}
	var m struct {
		MediaType string
		Layers    []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(anon.run(nil, crane, "manifest", "--insecure", host+"/library/crane:appended")), &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != string(types.OCIManifestSchema1) || len(m.Layers) != 1 {
		t.Fatalf("appended manifest %+v", m)
	}
	blob := anon.run(nil, crane, "blob", "--insecure", host+"/library/crane@"+m.Layers[0].Digest)
	if !bytes.Equal(gunzip(t, []byte(blob)), layerTar) {
		t.Fatal("appended layer differs from the tar given to crane append")
	}

	c.run(nil, crane, "copy", "--insecure", host+"/library/crane:v1", host+"/library/crane-copy:v1")
	c.run(nil, crane, "tag", "--insecure", host+"/library/crane-copy:v1", "stable")
	if got := strings.TrimSpace(anon.run(nil, crane, "digest", "--insecure", host+"/library/crane-copy:stable")); got != want.String() {
		t.Fatalf("crane digest of the copy %q, want %s", got, want)
	}
	if got := lines(anon.run(nil, crane, "ls", "--insecure", host+"/library/crane")); !slices.Equal(got, []string{"appended", "v1"}) {
		t.Fatalf("crane ls %v", got)
	}
	if got := lines(anon.run(nil, crane, "ls", "--insecure", host+"/library/crane-copy")); !slices.Equal(got, []string{"stable", "v1"}) {
		t.Fatalf("crane ls of the copy %v", got)
	}

	pulled := filepath.Join(t.TempDir(), "pulled.tar")
	anon.run(nil, crane, "pull", "--insecure", host+"/library/crane-copy:v1", pulled)
	pimg, err := tarball.ImageFromPath(pulled, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, pimg, img)

	anon.fails("UNAUTHORIZED", crane, "delete", "--insecure", host+"/library/crane-copy@"+want.String())
	c.run(nil, crane, "delete", "--insecure", host+"/library/crane-copy@"+want.String())
	anon.fails("MANIFEST_UNKNOWN", crane, "digest", "--insecure", host+"/library/crane-copy:v1")
	if got := lines(c.run(nil, crane, "ls", "--insecure", host+"/library/crane-copy")); len(got) != 0 {
		t.Fatalf("tags after deleting the manifest: %v", got)
	}

	catalog := lines(c.run(nil, crane, "catalog", "--insecure", host))
	for _, r := range []string{"library/crane", "library/crane-copy"} {
		if !slices.Contains(catalog, r) {
			t.Fatalf("crane catalog %v lacks %s", catalog, r)
		}
	}
	anon.fails("UNAUTHORIZED", crane, "catalog", "--insecure", host)
	anon.fails("UNAUTHORIZED", crane, "push", "--insecure", tarPath, host+"/library/crane:anon")
}

// TestOrasCLI pushes files as an artifact with oras, attaches an SBOM,
// discovers it, pulls the files back and copies the artifact with its
// referrers.
func TestOrasCLI(t *testing.T) {
	oras := tool(t, "oras")
	eachBackend(t, func(t *testing.T, srv *testserver.Process) { testOrasCLI(t, oras, srv) })
}

func testOrasCLI(t *testing.T, oras string, srv *testserver.Process) {
	host := srv.Addr
	c := newCLI(t)
	c.run(nil, oras, "login", host, "-u", adminUser, "-p", testserver.AdminPassword, "--plain-http")
	anon := newCLI(t)

	files := map[string]string{"hello.txt": "hello from the oras CLI\n", "values.json": `{"a":1,"b":[true,false]}`}
	for n, s := range files {
		writeFile(t, c.home, n, []byte(s))
	}
	ref := host + "/library/oras-cli:v1"
	const artifactType = "application/vnd.berth.cli.bundle.v1"
	var pushed struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	}
	out := c.run(nil, oras, "push", ref, "--plain-http", "--artifact-type", artifactType,
		"hello.txt:text/plain", "values.json:application/json", "--format", "json")
	if err := json.Unmarshal([]byte(out), &pushed); err != nil || !strings.HasPrefix(pushed.Digest, "sha256:") {
		t.Fatalf("oras push output %q: %v", out, err)
	}

	writeFile(t, c.home, "sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","name":"oras-cli"}`))
	var attached struct {
		Digest string `json:"digest"`
	}
	out = c.run(nil, oras, "attach", ref, "--plain-http", "--artifact-type", sbomArtifactType,
		"--annotation", "kind=sbom", "sbom.spdx.json:application/spdx+json", "--format", "json")
	if err := json.Unmarshal([]byte(out), &attached); err != nil || attached.Digest == "" {
		t.Fatalf("oras attach output %q: %v", out, err)
	}

	discover := func(cl *cli, r string) []map[string]any {
		t.Helper()
		out := cl.run(nil, oras, "discover", r, "--plain-http", "--format", "json")
		var d struct {
			Referrers []map[string]any `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("oras discover output %q: %v", out, err)
		}
		return d.Referrers
	}
	refs := discover(anon, ref)
	if len(refs) != 1 || refs[0]["digest"] != attached.Digest || refs[0]["artifactType"] != sbomArtifactType {
		t.Fatalf("oras discover found %v, want the sbom %s", refs, attached.Digest)
	}
	if tags := lines(anon.run(nil, oras, "repo", "tags", host+"/library/oras-cli", "--plain-http")); !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("tags %v, want only v1 (no referrers fallback tag)", tags)
	}

	manifest := anon.run(nil, oras, "manifest", "fetch", ref, "--plain-http")
	if !strings.Contains(manifest, `"artifactType":"`+artifactType+`"`) {
		t.Fatalf("manifest lacks the artifact type: %s", manifest)
	}
	outDir := t.TempDir()
	anon.run(nil, oras, "pull", ref, "--plain-http", "-o", outDir)
	for n, s := range files {
		if got := string(readFile(t, filepath.Join(outDir, n))); got != s {
			t.Fatalf("pulled %s = %q, want %q", n, got, s)
		}
	}
	sbomDir := t.TempDir()
	anon.run(nil, oras, "pull", host+"/library/oras-cli@"+attached.Digest, "--plain-http", "-o", sbomDir)
	if got := string(readFile(t, filepath.Join(sbomDir, "sbom.spdx.json"))); !strings.Contains(got, "SPDX-2.3") {
		t.Fatalf("pulled sbom %q", got)
	}

	copyRef := host + "/library/oras-cli-copy:v1"
	c.run(nil, oras, "cp", "-r", ref, copyRef, "--from-plain-http", "--to-plain-http")
	if refs := discover(anon, copyRef); len(refs) != 1 || refs[0]["digest"] != attached.Digest {
		t.Fatalf("referrers of the copy %v", refs)
	}
	writeFile(t, anon.home, "hello.txt", []byte(files["hello.txt"]))
	anon.fails("unauthorized", oras, "push", host+"/library/oras-cli:anon", "--plain-http", "hello.txt")
}

// TestRegctl copies an index from an OCI layout into Berth and between
// repositories with regctl, lists tags, puts an artifact with a subject and
// lists and fetches it.
func TestRegctl(t *testing.T) {
	regctl := tool(t, "regctl")
	eachBackend(t, func(t *testing.T, srv *testserver.Process) { testRegctl(t, regctl, srv) })
}

func testRegctl(t *testing.T, regctl string, srv *testserver.Process) {
	host := srv.Addr
	c := newCLI(t)
	c.run(nil, regctl, "registry", "set", host, "--tls", "disabled")
	c.run([]byte(testserver.AdminPassword), regctl, "registry", "login", host, "-u", adminUser, "--pass-stdin")
	anon := newCLI(t)
	anon.run(nil, regctl, "registry", "set", host, "--tls", "disabled")

	dir, idx := ociLayoutIndex(t)
	want, _ := idx.Digest()
	c.run(nil, regctl, "image", "copy", "ocidir://"+dir+":v1", host+"/library/regctl-src:v1")
	c.run(nil, regctl, "image", "copy", host+"/library/regctl-src:v1", host+"/library/regctl:v1")
	c.run(nil, regctl, "image", "copy", host+"/library/regctl-src:v1", host+"/library/regctl:v2")
	if got := strings.TrimSpace(anon.run(nil, regctl, "image", "digest", host+"/library/regctl:v2")); got != want.String() {
		t.Fatalf("regctl image digest %q, want %s", got, want)
	}
	if got := lines(anon.run(nil, regctl, "tag", "ls", host+"/library/regctl")); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("regctl tag ls %v", got)
	}
	raw := anon.run(nil, regctl, "manifest", "get", host+"/library/regctl:v1", "--format", "raw-body")
	wantRaw, _ := idx.RawManifest()
	if raw != string(wantRaw) {
		t.Fatalf("regctl manifest get:\n%s\nwant\n%s", raw, wantRaw)
	}

	sbom := `{"spdxVersion":"SPDX-2.3","name":"regctl"}`
	writeFile(t, c.home, "sbom.json", []byte(sbom))
	c.run(nil, regctl, "artifact", "put", "--subject", host+"/library/regctl:v1",
		"--artifact-type", "application/spdx+json", "--file", "sbom.json", "--file-media-type", "application/spdx+json",
		"--annotation", "kind=sbom")
	var list struct {
		Descriptors []struct {
			MediaType    string            `json:"mediaType"`
			Digest       string            `json:"digest"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"descriptors"`
	}
	out := anon.run(nil, regctl, "artifact", "list", host+"/library/regctl:v1", "--format", "{{json .}}")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("regctl artifact list output %q: %v", out, err)
	}
	if len(list.Descriptors) != 1 || list.Descriptors[0].ArtifactType != "application/spdx+json" || list.Descriptors[0].Annotations["kind"] != "sbom" {
		t.Fatalf("regctl artifact list %+v", list.Descriptors)
	}
	sbomDigest := list.Descriptors[0].Digest
	out = anon.run(nil, regctl, "artifact", "list", host+"/library/regctl:v1", "--filter-artifact-type", "application/vnd.example.other", "--format", "{{json .}}")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Descriptors) != 0 {
		t.Fatalf("filtered artifact list %q: %v", out, err)
	}
	got := anon.run(nil, regctl, "artifact", "get", host+"/library/regctl@"+sbomDigest)
	if got != sbom {
		t.Fatalf("regctl artifact get %q, want %q", got, sbom)
	}
	if tags := lines(anon.run(nil, regctl, "tag", "ls", host+"/library/regctl")); !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Fatalf("tags %v, want [v1 v2] (no referrers fallback tag)", tags)
	}
	c.run(nil, regctl, "tag", "delete", host+"/library/regctl:v2")
	if got := lines(anon.run(nil, regctl, "tag", "ls", host+"/library/regctl")); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("tags after regctl tag delete %v", got)
	}
}

// TestSkopeo copies an image and a multi-platform index from OCI layouts into
// Berth with skopeo, inspects them, and copies them back out to a dir and an
// OCI layout.
func TestSkopeo(t *testing.T) {
	skopeo := tool(t, "skopeo")
	eachBackend(t, func(t *testing.T, srv *testserver.Process) { testSkopeo(t, skopeo, srv) })
}

func testSkopeo(t *testing.T, skopeo string, srv *testserver.Process) {
	host := srv.Addr
	c := newCLI(t)
	authfile := filepath.Join(c.home, "auth.json")
	c.run([]byte(testserver.AdminPassword), skopeo, "login", "--tls-verify=false", "--authfile", authfile, "-u", adminUser, "--password-stdin", host)
	anon := newCLI(t)

	img, err := random.Image(2500, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	want, _ := img.Digest()
	wantRaw, _ := img.RawManifest()
	src := t.TempDir()
	lp, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}

	dst := "docker://" + host + "/library/skopeo:v1"
	c.run(nil, skopeo, "--insecure-policy", "copy", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false",
		"--preserve-digests", "oci:"+src+":v1", dst)

	var info struct {
		Digest string
		Layers []string
	}
	out := anon.run(nil, skopeo, "inspect", "--tls-verify=false", "--no-creds", dst)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("skopeo inspect output %q: %v", out, err)
	}
	if info.Digest != want.String() || len(info.Layers) != 2 {
		t.Fatalf("skopeo inspect %+v, want %s with 2 layers", info, want)
	}
	if raw := anon.run(nil, skopeo, "inspect", "--tls-verify=false", "--no-creds", "--raw", dst); raw != string(wantRaw) {
		t.Fatalf("skopeo inspect --raw:\n%s\nwant\n%s", raw, wantRaw)
	}

	// Back out to a dir: the manifest and every layer are byte-identical.
	out1 := t.TempDir()
	anon.run(nil, skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", "--src-no-creds", "--preserve-digests", dst, "dir:"+out1)
	if got := readFile(t, filepath.Join(out1, "manifest.json")); !bytes.Equal(got, wantRaw) {
		t.Fatalf("dir manifest.json differs:\n%s", got)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if got := readFile(t, filepath.Join(out1, d.Hex)); !bytes.Equal(got, layerBytes(t, l)) {
			t.Fatalf("layer %s differs", d)
		}
	}

	// A multi-platform index, copied whole both ways. skopeo re-encodes an
	// index it did not write itself, so its children keep their digests but
	// the index gets a new one, reported in --digestfile.
	idxDir, idx := ociLayoutIndex(t)
	multi := "docker://" + host + "/library/skopeo-multi:v1"
	digestFile := filepath.Join(c.home, "index.digest")
	c.run(nil, skopeo, "--insecure-policy", "copy", "--all", "--authfile", authfile, "--dest-tls-verify=false",
		"--digestfile", digestFile, "oci:"+idxDir+":v1", multi)
	wantIdx := strings.TrimSpace(string(readFile(t, digestFile)))
	out = anon.run(nil, skopeo, "inspect", "--tls-verify=false", "--no-creds", "--raw", multi)
	if got := digest.FromString(out).String(); got != wantIdx {
		t.Fatalf("stored index has digest %s, skopeo pushed %s", got, wantIdx)
	}
	var stored ggcrv1.IndexManifest
	if err := json.Unmarshal([]byte(out), &stored); err != nil {
		t.Fatal(err)
	}
	children, _ := idx.IndexManifest()
	if len(stored.Manifests) != len(children.Manifests) {
		t.Fatalf("stored index has %d children, want %d", len(stored.Manifests), len(children.Manifests))
	}
	for i, ch := range children.Manifests {
		if stored.Manifests[i].Digest != ch.Digest || !stored.Manifests[i].Platform.Equals(*ch.Platform) {
			t.Fatalf("stored child %d %+v, want %+v", i, stored.Manifests[i], ch)
		}
	}
	back := t.TempDir()
	anon.run(nil, skopeo, "--insecure-policy", "copy", "--all", "--src-tls-verify=false", "--src-no-creds", "--preserve-digests", multi, "oci:"+back+":v1")
	bl, err := layout.ImageIndexFromPath(back)
	if err != nil {
		t.Fatal(err)
	}
	bim, err := bl.IndexManifest()
	if err != nil || len(bim.Manifests) != 1 || bim.Manifests[0].Digest.String() != wantIdx {
		t.Fatalf("copied-back layout index %+v, %v; want %s", bim, err, wantIdx)
	}
	backIdx, err := bl.ImageIndex(bim.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range children.Manifests {
		got, err := backIdx.Image(ch.Digest)
		if err != nil {
			t.Fatalf("child %s: %v", ch.Digest, err)
		}
		wantImg, _ := idx.Image(ch.Digest)
		sameImage(t, got, wantImg)
	}

	var tags struct{ Tags []string }
	out = anon.run(nil, skopeo, "list-tags", "--tls-verify=false", "--no-creds", "docker://"+host+"/library/skopeo")
	if err := json.Unmarshal([]byte(out), &tags); err != nil || !slices.Equal(tags.Tags, []string{"v1"}) {
		t.Fatalf("skopeo list-tags %q: %v", out, err)
	}

	anon.fails("401 Unauthorized", skopeo, "delete", "--tls-verify=false", "--no-creds", dst)
	c.run(nil, skopeo, "delete", "--tls-verify=false", "--authfile", authfile, dst)
	anon.fails("manifest unknown", skopeo, "inspect", "--tls-verify=false", "--no-creds", dst)
}
