package oci_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

var (
	hex64  = strings.Repeat("a1", 32)
	hex128 = strings.Repeat("b2", 64)
)

func TestParseDigest(t *testing.T) {
	for _, c := range []struct {
		in      string
		ok      bool
		alg     string
		hexPart string
	}{
		{"sha256:" + hex64, true, "sha256", hex64},
		{"sha512:" + hex128, true, "sha512", hex128},
		{"sha256:" + hex128, false, "", ""},
		{"sha512:" + hex64, false, "", ""},
		{"sha256:" + hex64[:63], false, "", ""},
		{"sha256:" + hex64 + "0", false, "", ""},
		{"sha256:" + strings.ToUpper(hex64), false, "", ""},
		{"sha256:" + strings.Repeat("g", 64), false, "", ""},
		{"sha384:" + strings.Repeat("c", 96), false, "", ""},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", false, "", ""},
		{"SHA256:" + hex64, false, "", ""},
		{hex64, false, "", ""},
		{"sha256:", false, "", ""},
		{":" + hex64, false, "", ""},
		{"", false, "", ""},
		{"sha256:" + hex64 + ":" + hex64, false, "", ""},
	} {
		d, err := oci.ParseDigest(c.in)
		if !c.ok {
			if err == nil {
				t.Errorf("ParseDigest(%q) = %q, want an error", c.in, d)
			} else if !errs.Is(err, errs.Invalid) {
				t.Errorf("ParseDigest(%q): error kind %v, want invalid", c.in, errs.KindOf(err))
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDigest(%q): %v", c.in, err)
			continue
		}
		if d.Algorithm() != c.alg || d.Hex() != c.hexPart || d.String() != c.in {
			t.Errorf("ParseDigest(%q) = %q (%s, %s)", c.in, d, d.Algorithm(), d.Hex())
		}
	}
}

func TestDigestFrom(t *testing.T) {
	b := []byte("hello, berth")
	s256 := sha256.Sum256(b)
	s512 := sha512.Sum512(b)
	want256 := oci.Digest("sha256:" + hex.EncodeToString(s256[:]))
	want512 := oci.Digest("sha512:" + hex.EncodeToString(s512[:]))
	if got := oci.FromBytes(b); got != want256 {
		t.Errorf("FromBytes = %s, want %s", got, want256)
	}
	if got := oci.FromBytesAlg(oci.SHA256, b); got != want256 {
		t.Errorf("FromBytesAlg(sha256) = %s", got)
	}
	if got := oci.FromBytesAlg(oci.SHA512, b); got != want512 {
		t.Errorf("FromBytesAlg(sha512) = %s, want %s", got, want512)
	}
	if got := oci.FromBytesAlg("md5", b); got != want256 {
		t.Errorf("FromBytesAlg(md5) = %s, want the sha256 fallback", got)
	}
	for _, d := range []oci.Digest{want256, want512} {
		if _, err := oci.ParseDigest(string(d)); err != nil {
			t.Errorf("computed digest %s does not parse: %v", d, err)
		}
	}
	h := oci.NewHash(oci.SHA512)
	h.Write(b)
	if got := oci.FromHash(oci.SHA512, h); got != want512 {
		t.Errorf("FromHash(sha512) = %s", got)
	}
	if oci.NewHash("sha1") != nil {
		t.Error("NewHash(sha1) is not nil")
	}
}

func TestValidateRepository(t *testing.T) {
	valid := []string{
		"library/alpine", "a/b", "a/b/c/d", "my-proj/my_repo", "p/a.b", "p/a__b", "p/a---b", "p0/9x", "library/" + strings.Repeat("a", 247),
	}
	invalid := []string{
		"", "alpine", "Library/alpine", "library/Alpine", "library//alpine", "library/alpine/", "/library/alpine",
		"library/../alpine", "library/./alpine", "..", "library/-alpine", "library/alpine-", "library/alpine_", "library/a___b",
		"library/.alpine", "library/al pine", "library/alpine:latest", "library/alpine@sha256", "library/" + strings.Repeat("a", 248),
		"library\\alpine", "library/alpïne",
	}
	for _, n := range valid {
		if err := oci.ValidateRepository(n); err != nil {
			t.Errorf("ValidateRepository(%q): %v", n, err)
		}
	}
	for _, n := range invalid {
		err := oci.ValidateRepository(n)
		if err == nil {
			t.Errorf("ValidateRepository(%q) accepted it", n)
		} else if !errs.Is(err, errs.Invalid) {
			t.Errorf("ValidateRepository(%q): kind %v, want invalid", n, errs.KindOf(err))
		}
	}
	if p, r := oci.SplitRepository("library/a/b"); p != "library" || r != "a/b" {
		t.Errorf("SplitRepository = %q, %q", p, r)
	}
}

func TestValidateTag(t *testing.T) {
	for _, tag := range []string{"latest", "v1.0.0", "_private", "A", "1", "a-b_c.d", strings.Repeat("x", 128)} {
		if err := oci.ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q): %v", tag, err)
		}
	}
	for _, tag := range []string{"", ".hidden", "-dash", "a/b", "a:b", "a b", "a@b", strings.Repeat("x", 129), "tag\n"} {
		if err := oci.ValidateTag(tag); err == nil {
			t.Errorf("ValidateTag(%q) accepted it", tag)
		} else if !errs.Is(err, errs.Invalid) {
			t.Errorf("ValidateTag(%q): kind %v", tag, errs.KindOf(err))
		}
	}
	if !oci.IsDigestRef("sha256:"+hex64) || oci.IsDigestRef("latest") {
		t.Error("IsDigestRef")
	}
}

const (
	cfgDesc   = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1" + `","size":10}`
	layerDesc = `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha512:` + "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2" + `","size":20}`
	childDesc = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3" + `","size":30,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}`
	subjDesc  = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4" + `","size":40}`
	emptyDesc = `{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}`
)

func TestParseManifest(t *testing.T) {
	ociManifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfgDesc + `,"layers":[` + layerDesc + `],"annotations":{"a":"b"}}`
	for _, c := range []struct {
		name, contentType, body string
		mediaType, artifactType string
		layers, children        int
		subject                 bool
	}{
		{"oci manifest", oci.MediaTypeOCIManifest, ociManifest, oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, 1, 0, false},
		{"oci manifest, no Content-Type", "", ociManifest, oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, 1, 0, false},
		{"oci manifest, application/json", "application/json", ociManifest, oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, 1, 0, false},
		{"oci manifest, Content-Type with parameters", oci.MediaTypeOCIManifest + "; charset=utf-8", ociManifest, oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, 1, 0, false},
		{"oci manifest without mediaType", "", `{"schemaVersion":2,"config":` + cfgDesc + `,"layers":[]}`, oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, 0, 0, false},
		{"mediaType from Content-Type", oci.MediaTypeDockerManifest, `{"schemaVersion":2,"config":` + cfgDesc + `,"layers":[` + layerDesc + `]}`,
			oci.MediaTypeDockerManifest, "", 1, 0, false},
		{"docker manifest", oci.MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerManifest + `","config":` + cfgDesc + `,"layers":[` + layerDesc + `,` + layerDesc + `]}`,
			oci.MediaTypeDockerManifest, "", 2, 0, false},
		{"oci index", oci.MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIIndex + `","manifests":[` + childDesc + `,` + childDesc + `]}`,
			oci.MediaTypeOCIIndex, "", 0, 2, false},
		{"oci index without mediaType", "", `{"schemaVersion":2,"manifests":[]}`, oci.MediaTypeOCIIndex, "", 0, 0, false},
		{"docker list", oci.MediaTypeDockerList, `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerList + `","manifests":[` + childDesc + `]}`,
			oci.MediaTypeDockerList, "", 0, 1, false},
		{"artifact with artifactType and subject", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","artifactType":"application/vnd.example.sbom","config":` + emptyDesc + `,"layers":[` + layerDesc + `],"subject":` + subjDesc + `}`,
			oci.MediaTypeOCIManifest, "application/vnd.example.sbom", 1, 0, true},
		{"artifact with empty config and no artifactType", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + emptyDesc + `,"layers":[]}`,
			oci.MediaTypeOCIManifest, "", 0, 0, false},
		{"index with subject and artifactType", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIIndex + `","artifactType":"application/vnd.example.bundle","manifests":[` + childDesc + `],"subject":` + subjDesc + `}`,
			oci.MediaTypeOCIIndex, "application/vnd.example.bundle", 0, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := oci.ParseManifest(c.contentType, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != c.mediaType || m.ArtifactType != c.artifactType {
				t.Errorf("mediaType %q artifactType %q, want %q %q", m.MediaType, m.ArtifactType, c.mediaType, c.artifactType)
			}
			if len(m.Layers) != c.layers || len(m.Children) != c.children || (m.Subject != nil) != c.subject {
				t.Errorf("layers %d children %d subject %v", len(m.Layers), len(m.Children), m.Subject)
			}
			if m.IsIndex() != oci.IsIndexType(c.mediaType) || m.IsIndex() != (m.Config == nil) {
				t.Errorf("IsIndex %v with config %v", m.IsIndex(), m.Config)
			}
			if !m.IsIndex() {
				blobs := m.BlobDigests()
				if len(blobs) != 1+c.layers || !reflect.DeepEqual(blobs[0], *m.Config) {
					t.Errorf("BlobDigests = %+v", blobs)
				}
			}
		})
	}

	m, err := oci.ParseManifest("", []byte(ociManifest))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Annotations, map[string]string{"a": "b"}) {
		t.Errorf("annotations %v", m.Annotations)
	}
	if m.Layers[0].Digest != "sha512:"+hex128 || m.Layers[0].Size != 20 {
		t.Errorf("layer %+v", m.Layers[0])
	}
	idx, err := oci.ParseManifest("", []byte(`{"schemaVersion":2,"mediaType":"`+oci.MediaTypeOCIIndex+`","manifests":[`+childDesc+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := idx.Children[0].Platform; p == nil || p.Architecture != "arm64" || p.OS != "linux" || p.Variant != "v8" {
		t.Errorf("platform %+v", p)
	}
}

func TestParseManifestInvalid(t *testing.T) {
	bad := func(field, desc string) string {
		return `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + cfgDesc + `,"layers":[` + layerDesc + `],` + field + `:` + desc + `}`
	}
	badDigest := `{"mediaType":"application/octet-stream","digest":"sha256:abc","size":1}`
	noType := `{"digest":"sha256:` + hex64 + `","size":1}`
	negative := `{"mediaType":"application/octet-stream","digest":"sha256:` + hex64 + `","size":-1}`
	for _, c := range []struct {
		name, contentType, body string
		kind                    errs.Kind
	}{
		{"not JSON", "", `{"schemaVersion":`, errs.Invalid},
		{"not an object", "", `"manifest"`, errs.Invalid},
		{"empty", "", ``, errs.Invalid},
		{"no schemaVersion", oci.MediaTypeOCIManifest, `{"config":` + cfgDesc + `}`, errs.Invalid},
		{"schemaVersion 1 with a v2 type", oci.MediaTypeOCIManifest, `{"schemaVersion":1,"config":` + cfgDesc + `}`, errs.Invalid},
		{"schemaVersion 3", "", `{"schemaVersion":3,"config":` + cfgDesc + `}`, errs.Invalid},
		{"Content-Type disagrees", oci.MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + cfgDesc + `}`, errs.Invalid},
		{"unknown media type", "", `{"schemaVersion":2,"mediaType":"application/vnd.example+json","config":` + cfgDesc + `}`, errs.Invalid},
		{"unknown Content-Type", "application/vnd.example+json", `{"schemaVersion":2,"config":` + cfgDesc + `}`, errs.Invalid},
		{"no shape", "", `{"schemaVersion":2}`, errs.Invalid},
		{"manifest without config", oci.MediaTypeOCIManifest, `{"schemaVersion":2,"layers":[]}`, errs.Invalid},
		{"manifest with manifests", oci.MediaTypeOCIManifest, `{"schemaVersion":2,"config":` + cfgDesc + `,"manifests":[` + childDesc + `]}`, errs.Invalid},
		{"index with config", oci.MediaTypeOCIIndex, `{"schemaVersion":2,"config":` + cfgDesc + `,"manifests":[]}`, errs.Invalid},
		{"index with layers", oci.MediaTypeOCIIndex, `{"schemaVersion":2,"layers":[` + layerDesc + `],"manifests":[]}`, errs.Invalid},
		{"index child with bad digest", oci.MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[` + badDigest + `]}`, errs.Invalid},
		{"index child without mediaType", oci.MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[` + noType + `]}`, errs.Invalid},
		{"config with bad digest", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + badDigest + `}`, errs.Invalid},
		{"config with negative size", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + negative + `}`, errs.Invalid},
		{"layer with bad digest", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + cfgDesc + `,"layers":[` + badDigest + `]}`, errs.Invalid},
		{"layer with negative size", "", `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":` + cfgDesc + `,"layers":[` + negative + `]}`, errs.Invalid},
		{"subject with bad digest", "", bad(`"subject"`, badDigest), errs.Invalid},
		{"subject without mediaType", "", bad(`"subject"`, noType), errs.Invalid},
		{"schema1 by Content-Type", oci.MediaTypeDockerSchema1, `{"schemaVersion":1,"name":"a/b","fsLayers":[]}`, errs.Unsupported},
		{"signed schema1 by Content-Type", oci.MediaTypeSchema1Signed, `{"schemaVersion":1,"name":"a/b","fsLayers":[]}`, errs.Unsupported},
		{"schema1 by mediaType", "", `{"schemaVersion":1,"mediaType":"` + oci.MediaTypeDockerSchema1 + `"}`, errs.Unsupported},
		{"too large", "", `{"schemaVersion":2,"annotations":{"x":"` + strings.Repeat("x", oci.MaxManifestSize) + `"}}`, errs.TooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := oci.ParseManifest(c.contentType, []byte(c.body))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !errs.Is(err, c.kind) {
				t.Errorf("error kind %v, want %v: %v", errs.KindOf(err), c.kind, err)
			}
			if errs.Message(err) == "" {
				t.Errorf("error has no caller-safe message: %v", err)
			}
		})
	}
}

func TestArtifactKind(t *testing.T) {
	for _, c := range []struct{ manifest, config, artifact, want string }{
		{oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, "", "IMAGE"},
		{oci.MediaTypeDockerManifest, oci.MediaTypeDockerConfig, "", "IMAGE"},
		{oci.MediaTypeOCIManifest, "", "", "IMAGE"},
		{oci.MediaTypeOCIIndex, "", "", "IMAGE"},
		{oci.MediaTypeDockerList, "", "", "IMAGE"},
		{oci.MediaTypeOCIManifest, oci.MediaTypeHelmConfig, "", "CHART"},
		{oci.MediaTypeOCIManifest, oci.MediaTypeEmptyJSON, oci.MediaTypeHelmConfig, "CHART"},
		{oci.MediaTypeOCIManifest, "application/vnd.cnab.manifest.v1", "", "CNAB"},
		{oci.MediaTypeOCIManifest, "application/vnd.wasm.config.v1+json", "", "WASM"},
		{oci.MediaTypeOCIManifest, oci.MediaTypeEmptyJSON, "application/vnd.goharbor.harbor.sbom.v1", "SBOM"},
		{oci.MediaTypeOCIManifest, "application/vnd.cncf.openpolicyagent.config.v1+json", "", "OPENPOLICYAGENT"},
		{oci.MediaTypeOCIManifest, "application/vnd.acme.rocket.config.v2+json", "", "ROCKET"},
		{oci.MediaTypeOCIIndex, "", "application/vnd.acme.bundle.config.v1+json", "BUNDLE"},
		{oci.MediaTypeOCIManifest, oci.MediaTypeEmptyJSON, "application/vnd.example.sbom", "UNKNOWN"},
		{oci.MediaTypeOCIManifest, "text/plain", "", "UNKNOWN"},
	} {
		if got := oci.ArtifactKind(c.manifest, c.config, c.artifact); got != c.want {
			t.Errorf("ArtifactKind(%s, %s, %s) = %s, want %s", c.manifest, c.config, c.artifact, got, c.want)
		}
	}
}

// TestParseManifestBareDescriptors: a config or layer descriptor without
// mediaType is accepted (distribution accepts it; the registry then checks
// the blob like any other), and urls on it make no foreign layer.
func TestParseManifestBareDescriptors(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	body := `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":{"digest":"` + d + `","size":2},` +
		`"layers":[{"digest":"` + d + `","size":3,"urls":["https://example.invalid/x"]}]}`
	m, err := oci.ParseManifest(oci.MediaTypeOCIManifest, []byte(body))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if m.Config.MediaType != "" || len(m.Layers) != 1 || m.Layers[0].Foreign() {
		t.Fatalf("parsed %+v %+v", m.Config, m.Layers)
	}
	if k := oci.ArtifactKind(m.MediaType, m.Config.MediaType, m.ArtifactType); k != "IMAGE" {
		t.Errorf("kind %q, want IMAGE", k)
	}
}
