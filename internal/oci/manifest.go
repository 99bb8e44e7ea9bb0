package oci

import (
	"encoding/json"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Media types Berth recognises.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeEmptyJSON      = "application/vnd.oci.empty.v1+json"
	MediaTypeHelmConfig     = "application/vnd.cncf.helm.config.v1+json"
	MediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaTypeOCIConfig      = "application/vnd.oci.image.config.v1+json"
	MediaTypeCosignConfig   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	MediaTypeNotationSig    = "application/vnd.cncf.notary.signature"
)

// MaxManifestSize is the largest manifest body accepted (4 MiB).
const MaxManifestSize = 4 << 20

// Descriptor points at content.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
}

// Platform describes what an index child runs on.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// manifestDoc covers the fields of every manifest and index format.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// Manifest is what Berth records about a pushed manifest or index.
type Manifest struct {
	MediaType    string
	ArtifactType string // explicit artifactType, else the config media type
	Config       *Descriptor
	Layers       []Descriptor // blobs, for image manifests
	Children     []Descriptor // manifests, for indexes
	Subject      *Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether m is an index or manifest list.
func (m *Manifest) IsIndex() bool { return IsIndexType(m.MediaType) }

// IsIndexType reports whether mt is an index or manifest list media type.
func IsIndexType(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList }

// IsManifestType reports whether mt is a manifest media type Berth stores.
func IsManifestType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

// Foreign reports whether d is a non-distributable layer, fetched from its
// urls instead of the registry. As in distribution, urls count only on a
// descriptor that names its mediaType: one without is checked like any
// other blob (it must be in the repository).
func (d Descriptor) Foreign() bool { return len(d.URLs) > 0 && d.MediaType != "" }

// BlobDigests lists every blob the manifest references (config first).
func (m *Manifest) BlobDigests() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	return append(out, m.Layers...)
}

func invalid(format string, args ...any) error {
	return errs.E(errs.Invalid, "parse manifest", format, args...)
}

// ParseManifest validates body as a manifest of contentType (which may be
// empty: the body's own mediaType is then used) and returns its facts.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	if len(body) > MaxManifestSize {
		return nil, errs.E(errs.TooLarge, "parse manifest", "manifest is larger than %d bytes", MaxManifestSize)
	}
	contentType = strings.TrimSpace(strings.Split(contentType, ";")[0])
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, invalid("manifest is not valid JSON: %v", err)
	}
	mt := doc.MediaType
	switch {
	case contentType == "" || contentType == "application/json" || contentType == "application/octet-stream":
	case mt == "":
		mt = contentType
	case mt != contentType:
		return nil, invalid("manifest mediaType %q does not match Content-Type %q", doc.MediaType, contentType)
	}
	if mt == "" {
		// OCI manifests may omit mediaType; tell them apart by shape.
		switch {
		case doc.Manifests != nil:
			mt = MediaTypeOCIIndex
		case doc.Config != nil:
			mt = MediaTypeOCIManifest
		}
	}
	if mt == MediaTypeDockerSchema1 || mt == MediaTypeSchema1Signed {
		return nil, errs.E(errs.Unsupported, "parse manifest", "Docker schema 1 manifests are not supported")
	}
	if !IsManifestType(mt) {
		return nil, invalid("unsupported manifest media type %q", mt)
	}
	if doc.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	m := &Manifest{MediaType: mt, ArtifactType: doc.ArtifactType, Subject: doc.Subject, Annotations: doc.Annotations}
	if doc.Subject != nil {
		if err := checkDescriptor(*doc.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	if IsIndexType(mt) {
		if doc.Config != nil || len(doc.Layers) > 0 {
			return nil, invalid("an index has no config or layers")
		}
		for i, d := range doc.Manifests {
			if err := checkDescriptor(d, "manifests"); err != nil {
				return nil, err
			}
			_ = i
		}
		m.Children = doc.Manifests
		return m, nil
	}
	if doc.Config == nil {
		return nil, invalid("manifest has no config")
	}
	if len(doc.Manifests) > 0 {
		return nil, invalid("an image manifest has no manifests list")
	}
	// The config's and the layers' mediaType may be left out, as
	// distribution (Harbor's registry) accepts it: such a blob is
	// checked like any other, it must exist in the repository.
	if err := checkBlobDescriptor(*doc.Config, "config"); err != nil {
		return nil, err
	}
	// A config is always content of the registry: urls (a foreign,
	// non-distributable layer's) would exempt it from the check that the
	// repository holds the blob, and what the API shows of a config
	// (extra_attrs, build history) would then be read from another
	// project's blob named by its digest.
	if len(doc.Config.URLs) > 0 {
		return nil, invalid("config descriptor has urls: a config must be pushed to the registry")
	}
	for _, d := range doc.Layers {
		if err := checkBlobDescriptor(d, "layers"); err != nil {
			return nil, err
		}
	}
	m.Config, m.Layers = doc.Config, doc.Layers
	if m.ArtifactType == "" && mt == MediaTypeOCIManifest && doc.Config.MediaType != MediaTypeEmptyJSON {
		m.ArtifactType = doc.Config.MediaType
	}
	return m, nil
}

func checkDescriptor(d Descriptor, field string) error {
	if d.MediaType == "" {
		return invalid("%s descriptor has no mediaType", field)
	}
	return checkBlobDescriptor(d, field)
}

// checkBlobDescriptor checks a config or layer descriptor, whose mediaType
// may be empty.
func checkBlobDescriptor(d Descriptor, field string) error {
	if _, err := ParseDigest(d.Digest); err != nil {
		return invalid("%s descriptor has invalid digest %q", field, d.Digest)
	}
	if d.Size < 0 {
		return invalid("%s descriptor has negative size", field)
	}
	return nil
}

// ArtifactKind classifies an artifact the way Harbor's processors do:
// IMAGE, CHART, CNAB, WASM, SBOM, or a type taken from the config media type.
func ArtifactKind(manifestType, configType, artifactType string) string {
	if IsIndexType(manifestType) {
		if artifactType == "" {
			return "IMAGE"
		}
	}
	t := configType
	if artifactType != "" {
		t = artifactType
	}
	switch t {
	case "", MediaTypeDockerConfig, MediaTypeOCIConfig:
		return "IMAGE"
	case MediaTypeHelmConfig:
		return "CHART"
	case "application/vnd.cnab.manifest.v1":
		return "CNAB"
	case "application/vnd.wasm.config.v1+json":
		return "WASM"
	case "application/vnd.goharbor.harbor.sbom.v1":
		return "SBOM"
	}
	// application/vnd.<x>.<type>.config.<v>+json
	if s, ok := strings.CutPrefix(t, "application/vnd."); ok {
		parts := strings.Split(s, ".")
		for i := 1; i+1 < len(parts); i++ {
			if parts[i+1] == "config" {
				return strings.ToUpper(parts[i])
			}
		}
	}
	return "UNKNOWN"
}

// TotalSize is Harbor's size of a manifest: its own bytes, its config's
// and its layers' (an index's children are not counted here: which of them
// a repository holds changes, so readers add them). m may be nil (the
// manifest could not be parsed): then only the bytes count.
func TotalSize(body []byte, m *Manifest) int64 {
	n := int64(len(body))
	if m == nil {
		return n
	}
	if m.Config != nil {
		n += m.Config.Size
	}
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}
