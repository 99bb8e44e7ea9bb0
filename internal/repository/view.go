package repository

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// The views of repositories and artifacts the service answers: Harbor's
// models, which the REST API encodes as they are and the console shows.

// Artifact is Harbor's artifact.
type Artifact struct {
	ID                int64                   `json:"id"`
	Type              string                  `json:"type"`
	MediaType         string                  `json:"media_type"`
	ManifestMediaType string                  `json:"manifest_media_type"`
	ArtifactType      string                  `json:"artifact_type"`
	ProjectID         int64                   `json:"project_id"`
	RepositoryID      int64                   `json:"repository_id"`
	RepositoryName    string                  `json:"repository_name"`
	Digest            string                  `json:"digest"`
	Size              int64                   `json:"size"`
	PushTime          string                  `json:"push_time"`
	PullTime          string                  `json:"pull_time"`
	ExtraAttrs        json.RawMessage         `json:"extra_attrs"` // a JSON object, or null
	Annotations       map[string]string       `json:"annotations"`
	References        []Reference             `json:"references"`
	Tags              []Tag                   `json:"tags"`
	AdditionLinks     map[string]AdditionLink `json:"addition_links"`
	Labels            []Label                 `json:"labels"`
	Accessories       []Accessory             `json:"accessories"`
}

// Tag is Harbor's tag. Immutable is filled when the caller asks with
// with_immutable_status=true, as in Harbor (one query per project and
// page); otherwise it is false.
type Tag struct {
	ID           int64  `json:"id"`
	RepositoryID int64  `json:"repository_id"`
	ArtifactID   int64  `json:"artifact_id"`
	Name         string `json:"name"`
	PushTime     string `json:"push_time"`
	PullTime     string `json:"pull_time"`
	Immutable    bool   `json:"immutable"`
}

// Reference is an index's reference to a child manifest.
type Reference struct {
	ParentID    int64             `json:"parent_id"`
	ChildID     int64             `json:"child_id"`
	ChildDigest string            `json:"child_digest"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	URLs        []string          `json:"urls,omitempty"`
}

// Platform is what an index child runs on. Harbor's definition spells the
// OS version and features keys with quotes ('os.version'), which no client
// reads; Berth leaves them out.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// Accessory is an artifact attached to another: a signature, an SBOM, any
// OCI referrer. Its ID is the accessory artifact's ID.
type Accessory struct {
	ID                    int64  `json:"id"`
	ArtifactID            int64  `json:"artifact_id"`
	SubjectArtifactID     int64  `json:"subject_artifact_id"`
	SubjectArtifactDigest string `json:"subject_artifact_digest"`
	SubjectArtifactRepo   string `json:"subject_artifact_repo"`
	Size                  int64  `json:"size"`
	Digest                string `json:"digest"`
	Type                  string `json:"type"`
	Icon                  string `json:"icon"`
	CreationTime          string `json:"creation_time"`
}

// AdditionLink points at an addition of an artifact.
type AdditionLink struct {
	Href     string `json:"href"`
	Absolute bool   `json:"absolute"`
}

// Media types the artifact views recognise beyond package oci's.
const (
	mediaTypeHelmChart   = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	mediaTypeHarborSBOM  = "application/vnd.goharbor.harbor.sbom.v1"
	annotationNydusBoot  = "containerd.io/snapshot/nydus-bootstrap"
	annotationArtifactTy = "org.opencontainers.artifactType"
)

// Limits on what the artifact views read from the blob store.
const (
	maxConfigBytes = 4 << 20  // a config blob read for extra_attrs and build_history
	maxChartFile   = 4 << 20  // one file read from a chart archive
	maxChartBytes  = 64 << 20 // uncompressed bytes read from a chart archive
)

// assemble turns a page of artifacts and the details o asks for (read by
// the store with the page) into their views.
func (s *Service) assemble(ctx context.Context, list []store.Artifact, d *store.ArtifactDetails, o Options) ([]Artifact, error) {
	var err error
	refs, tags, labels, accs := d.References, d.Tags, d.Labels, d.Accessories
	imm := s.immutability()
	out := make([]Artifact, 0, len(list))
	for i := range list {
		a := &list[i]
		v := s.artifactView(ctx, a, refs[a.ID])
		if o.Tags {
			v.Tags = make([]Tag, 0, len(tags[a.ID]))
			for _, t := range tags[a.ID] {
				tv := tagOf(&t)
				if o.Immutable {
					if tv.Immutable, err = imm.immutable(ctx, a.ProjectID, a.Repository, t.Name); err != nil {
						return nil, err
					}
				}
				v.Tags = append(v.Tags, tv)
			}
		}
		if o.Labels {
			v.Labels = make([]Label, 0, len(labels[a.ID]))
			for _, l := range labels[a.ID] {
				v.Labels = append(v.Labels, LabelOf(&l))
			}
		}
		if o.Accessories {
			v.Accessories = make([]Accessory, 0, len(accs[a.ID]))
			for _, x := range accs[a.ID] {
				v.Accessories = append(v.Accessories, accessoryOf(a, &x))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func tagOf(t *store.Tag) Tag {
	return Tag{ID: t.ID, RepositoryID: t.RepositoryID, ArtifactID: t.ArtifactID, Name: t.Name,
		PushTime: Timestamp(t.PushTime), PullTime: Timestamp(t.PullTime)}
}

// parseStored parses a manifest the registry validated when it was pushed.
func parseStored(a *store.Artifact) *oci.Manifest {
	if a.Manifest == nil {
		return nil // a listing that did not need it (store.listedFields)
	}
	m, err := oci.ParseManifest(a.MediaType, a.Manifest)
	if err != nil {
		return nil
	}
	return m
}

// manifestSize is Harbor's size of a manifest (oci.TotalSize): stored at
// push, else computed from the manifest.
func manifestSize(a *store.Artifact, m *oci.Manifest) int64 {
	if a.TotalSize > 0 {
		return a.TotalSize
	}
	return oci.TotalSize(a.Manifest, m)
}

// artifactSize is Harbor's size of an artifact: for an index, its own
// bytes and the sizes of the children the repository holds.
func artifactSize(a *store.Artifact, m *oci.Manifest, refs []store.Reference) int64 {
	if !oci.IsIndexType(a.MediaType) {
		return manifestSize(a, m)
	}
	n := a.Size
	for _, r := range refs {
		switch {
		case r.ChildSize > 0:
			n += r.ChildSize
		case r.ChildManifest != nil:
			cm, _ := oci.ParseManifest(r.MediaType, r.ChildManifest)
			n += oci.TotalSize(r.ChildManifest, cm)
		}
	}
	return n
}

// artifactView is the view of a, without tags, labels and accessories.
func (s *Service) artifactView(ctx context.Context, a *store.Artifact, refs []store.Reference) Artifact {
	m := parseStored(a)
	v := Artifact{
		ID: a.ID, Type: a.Kind, MediaType: a.ConfigMediaType, ManifestMediaType: a.MediaType, ArtifactType: a.ArtifactType,
		ProjectID: a.ProjectID, RepositoryID: a.RepositoryID, RepositoryName: a.Repository, Digest: a.Digest,
		Size: artifactSize(a, m, refs), PushTime: Timestamp(a.PushTime), PullTime: Timestamp(a.PullTime),
	}
	if a.Annotations != "" {
		json.Unmarshal([]byte(a.Annotations), &v.Annotations)
	}
	if oci.IsIndexType(a.MediaType) {
		v.MediaType = a.MediaType
		if t := v.Annotations[annotationArtifactTy]; t != "" {
			v.MediaType = t
		}
		v.References = references(a, m, refs)
	}
	v.ExtraAttrs = s.extraAttrs(ctx, a, m)
	project, repo := oci.SplitRepository(a.Repository)
	for _, name := range additionsOf(a) {
		if v.AdditionLinks == nil {
			v.AdditionLinks = map[string]AdditionLink{}
		}
		v.AdditionLinks[name] = AdditionLink{Href: s.links + "/projects/" + project + "/repositories/" +
			strings.ReplaceAll(repo, "/", "%252F") + "/artifacts/" + a.Digest + "/additions/" + name}
	}
	return v
}

// references lists an index's children in the index's order, with the IDs
// of those the repository holds (0 for the others).
func references(a *store.Artifact, m *oci.Manifest, refs []store.Reference) []Reference {
	ids := make(map[string]int64, len(refs))
	for _, r := range refs {
		ids[r.ChildDigest] = r.ChildID
	}
	out := []Reference{}
	if m == nil {
		return out
	}
	for _, c := range m.Children {
		ref := Reference{ParentID: a.ID, ChildID: ids[c.Digest], ChildDigest: c.Digest, Annotations: c.Annotations, URLs: c.URLs}
		if c.Platform != nil {
			ref.Platform = &Platform{Architecture: c.Platform.Architecture, OS: c.Platform.OS, Variant: c.Platform.Variant}
		}
		out = append(out, ref)
	}
	return out
}

// additionsOf lists the additions Harbor offers for a's type.
func additionsOf(a *store.Artifact) []string {
	switch {
	case oci.IsIndexType(a.MediaType):
		return nil
	case a.Kind == "IMAGE" && oci.IsImageConfig(a.ConfigMediaType):
		return []string{"build_history"}
	case a.Kind == "CHART":
		return []string{"values.yaml", "readme.md", "dependencies"}
	}
	return nil
}

// projectBlob checks that the blob d describes may be read for an artifact
// of project: it is content of the registry (no urls) visible in the
// project, as GET /v2/<name>/blobs/<digest> requires. The blob store holds
// every project's content by digest; a manifest naming a digest (with urls,
// which exempt a layer from the push's check) must not make another
// project's blob readable through what the API shows of it.
func (s *Service) projectBlob(ctx context.Context, op string, project int64, d *oci.Descriptor) (oci.Digest, error) {
	if len(d.URLs) > 0 {
		return "", errs.E(errs.NotFound, op, "blob %s is not stored in the registry", d.Digest)
	}
	dg, err := oci.ParseDigest(d.Digest)
	if err != nil {
		return "", errs.Wrap(op, err)
	}
	if _, err := s.st.ProjectBlob(ctx, project, string(dg)); err != nil {
		return "", errs.Wrap(op, err)
	}
	return dg, nil
}

// readConfig decodes the config blob of m, an artifact of project (at most
// maxConfigBytes); small ones are kept decoded in configs. The map returned
// is shared: read only.
func (s *Service) readConfig(ctx context.Context, project int64, m *oci.Manifest) (map[string]json.RawMessage, error) {
	const op = "read config"
	if m == nil || m.Config == nil {
		return nil, errs.E(errs.NotFound, op, "the artifact has no config")
	}
	if m.Config.Size > maxConfigBytes {
		return nil, errs.E(errs.TooLarge, op, "the config is larger than %d bytes", maxConfigBytes)
	}
	// Asked before the cache too: a config cached for one project is not
	// thereby readable from another.
	d, err := s.projectBlob(ctx, op, project, m.Config)
	if err != nil {
		return nil, err
	}
	key := configKey{s.blobs, m.Config.Digest}
	if v := configs.get(key); v != nil {
		return v, nil
	}
	rc, err := s.blobs.Open(ctx, d)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rc.Close()
	var v map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(rc, maxConfigBytes)).Decode(&v); err != nil {
		return nil, errs.E(errs.Invalid, op, "the config is not a JSON object")
	}
	if v != nil {
		configs.put(key, m.Config.Size, v)
	}
	return v, nil
}

// extraAttrs is what Harbor shows of an artifact's config (oci.ExtraAttrs),
// encoded: the attributes stored with the artifact at push, as they are
// (decoding and encoding them again was a tenth of a listing's CPU), or,
// for an artifact stored without them (pushed before Berth kept them, or
// whose config could not be read then), derived from its config blob now.
func (s *Service) extraAttrs(ctx context.Context, a *store.Artifact, m *oci.Manifest) json.RawMessage {
	if a.ExtraAttrs != "" && json.Valid([]byte(a.ExtraAttrs)) {
		return json.RawMessage(a.ExtraAttrs)
	}
	if !oci.HasExtraAttrs(a.Kind, a.ConfigMediaType, m) {
		return nil
	}
	cfg, err := s.readConfig(ctx, a.ProjectID, m)
	if err != nil {
		s.log.Warn("reading artifact config", "repository", a.Repository, "digest", a.Digest, "err", err)
		return nil
	}
	b, err := json.Marshal(oci.ExtraAttrs(a.ConfigMediaType, cfg))
	if err != nil {
		return nil
	}
	return b
}

// accessoryOf is the view of accessory x of subject.
func accessoryOf(subject *store.Artifact, x *store.Accessory) Accessory {
	return Accessory{
		ID: x.ID, ArtifactID: x.ID, SubjectArtifactID: subject.ID, SubjectArtifactDigest: subject.Digest,
		SubjectArtifactRepo: subject.Repository, Size: manifestSize(&x.Artifact, parseStored(&x.Artifact)),
		Digest: x.Digest, Type: accessoryType(x), CreationTime: Timestamp(x.PushTime),
	}
}

// accessoryType classifies an accessory as Harbor does, from its artifact
// type (else its config media type).
func accessoryType(x *store.Accessory) string {
	if x.Tagged {
		return "signature.cosign"
	}
	switch oci.ReferrerSignature(x.ArtifactType, x.ConfigMediaType) {
	case oci.Cosign:
		return "signature.cosign"
	case oci.Notation:
		return "signature.notation"
	}
	t := x.ArtifactType
	if t == "" {
		t = x.ConfigMediaType
	}
	switch t {
	case mediaTypeHarborSBOM:
		return "sbom.harbor"
	case oci.MediaTypeOCIConfig, oci.MediaTypeDockerConfig:
		if m := parseStored(&x.Artifact); m != nil && len(m.Layers) > 0 {
			if _, nydus := m.Layers[len(m.Layers)-1].Annotations[annotationNydusBoot]; nydus {
				return "accelerator.nydus"
			}
		}
	}
	return "subject.accessory"
}

// chartFiles streams a chart's archive (the layer that is not its config)
// and returns the files of the chart's top directory named in want
// (compared case-insensitively; keys are lower case). It stops as soon as
// it has them all and reads at most maxChartBytes.
func (s *Service) chartFiles(ctx context.Context, project int64, m *oci.Manifest, want ...string) (map[string][]byte, error) {
	const op = "read chart"
	if m == nil {
		return nil, errs.E(errs.Invalid, op, "the chart manifest cannot be read")
	}
	var layer *oci.Descriptor
	for i := range m.Layers {
		l := &m.Layers[i]
		if l.MediaType == mediaTypeHelmChart {
			layer = l
			break
		}
		if layer == nil && (m.Config == nil || l.Digest != m.Config.Digest) {
			layer = l
		}
	}
	if layer == nil {
		return nil, errs.E(errs.NotFound, op, "the chart has no archive layer")
	}
	d, err := s.projectBlob(ctx, op, project, layer)
	if err != nil {
		return nil, err
	}
	rc, err := s.blobs.Open(ctx, d)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rc.Close()
	gz, err := gzip.NewReader(bufio.NewReader(rc))
	if err != nil {
		return nil, errs.E(errs.Invalid, op, "the chart archive is not gzip-compressed")
	}
	defer gz.Close()
	wanted := map[string]bool{}
	for _, n := range want {
		wanted[strings.ToLower(n)] = true
	}
	out := map[string][]byte{}
	tr := tar.NewReader(io.LimitReader(gz, maxChartBytes))
	for len(out) < len(wanted) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errs.E(errs.Invalid, op, "the chart archive cannot be read (or is larger than %d bytes uncompressed)", maxChartBytes)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(path.Clean(h.Name), "./"), "/")
		if len(parts) != 2 {
			continue
		}
		key := strings.ToLower(parts[1])
		if !wanted[key] || out[key] != nil {
			continue
		}
		if h.Size > maxChartFile {
			return nil, errs.E(errs.TooLarge, op, "%s is larger than %d bytes", parts[1], maxChartFile)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxChartFile))
		if err != nil {
			return nil, errs.E(errs.Invalid, op, "the chart archive cannot be read")
		}
		out[key] = b
	}
	return out, nil
}

// chartDependency is Helm's dependency, with Helm's JSON field names.
type chartDependency struct {
	Name         string   `json:"name" yaml:"name"`
	Version      string   `json:"version,omitempty" yaml:"version"`
	Repository   string   `json:"repository" yaml:"repository"`
	Condition    string   `json:"condition,omitempty" yaml:"condition"`
	Tags         []string `json:"tags,omitempty" yaml:"tags"`
	Enabled      bool     `json:"enabled,omitempty" yaml:"enabled"`
	ImportValues []any    `json:"import-values,omitempty" yaml:"import-values"`
	Alias        string   `json:"alias,omitempty" yaml:"alias"`
}

// chartDependencies returns a chart's dependencies as JSON: from
// Chart.yaml (apiVersion v2), else from requirements.yaml (v1).
func (s *Service) chartDependencies(ctx context.Context, project int64, m *oci.Manifest) ([]byte, error) {
	files, err := s.chartFiles(ctx, project, m, "chart.yaml", "requirements.yaml")
	if err != nil {
		return nil, err
	}
	var deps struct {
		Dependencies []chartDependency `yaml:"dependencies"`
	}
	for _, name := range []string{"chart.yaml", "requirements.yaml"} {
		if len(deps.Dependencies) > 0 || files[name] == nil {
			continue
		}
		if err := yaml.Unmarshal(files[name], &deps); err != nil {
			return nil, errs.E(errs.Invalid, "read chart", "%s is not valid YAML", name)
		}
	}
	if deps.Dependencies == nil {
		deps.Dependencies = []chartDependency{}
	}
	return json.Marshal(deps.Dependencies)
}

// Label is Harbor's label, as an artifact carries it.
type Label struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Color        string `json:"color"`
	Scope        string `json:"scope"`
	ProjectID    int64  `json:"project_id"`
	CreationTime string `json:"creation_time"`
	UpdateTime   string `json:"update_time"`
}

// LabelOf is the view of l.
func LabelOf(l *store.Label) Label {
	return Label{
		ID: l.ID, Name: l.Name, Description: l.Description, Color: l.Color, Scope: l.Scope, ProjectID: l.ProjectID,
		CreationTime: Timestamp(l.CreatedAt), UpdateTime: Timestamp(l.UpdatedAt),
	}
}

// Repository is Harbor's repository.
type Repository struct {
	ID            int64  `json:"id"`
	ProjectID     int64  `json:"project_id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	ArtifactCount int64  `json:"artifact_count"`
	PullCount     int64  `json:"pull_count"`
	CreationTime  string `json:"creation_time"`
	UpdateTime    string `json:"update_time"`
}

func repositoryOf(r *store.Repository) Repository {
	return Repository{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description,
		ArtifactCount: r.ArtifactCount, PullCount: r.PullCount,
		CreationTime: Timestamp(r.CreatedAt), UpdateTime: Timestamp(r.UpdatedAt),
	}
}

// Timestamp is Harbor's rendering of a time in Unix milliseconds (the
// zero time for 0).
func Timestamp(ms int64) string {
	if ms == 0 {
		return "0001-01-01T00:00:00.000Z"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// tagImmutability answers whether the tags of a page of artifacts are
// immutable, loading each project's rules once for the page.
type tagImmutability struct {
	st    Store
	rules map[int64][]immutable.Rule
}

func (s *Service) immutability() *tagImmutability {
	return &tagImmutability{st: s.st, rules: map[int64][]immutable.Rule{}}
}

func (ti *tagImmutability) immutable(ctx context.Context, projectID int64, repository, tag string) (bool, error) {
	rules, ok := ti.rules[projectID]
	if !ok {
		var err error
		if rules, err = ti.st.ImmutableRules(ctx, projectID); err != nil {
			return false, err
		}
		ti.rules[projectID] = rules
	}
	_, matched := immutable.Match(rules, repository, tag)
	return matched, nil
}
