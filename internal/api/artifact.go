package api

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// artifactStore is what the artifact handlers need from the metadata store
// (writes go through the artifact service, over the same store).
type artifactStore interface {
	artifact.Store
	ListArtifacts(ctx context.Context, f store.ArtifactFilter, q *query.Query, offset, limit int, w store.DetailsWanted) (*store.ArtifactPage, error)
	ListProjectArtifacts(ctx context.Context, projectName string, userID int64, f store.ArtifactFilter, q *query.Query, offset, limit int, w store.DetailsWanted) (*store.ProjectAccess, *store.ArtifactPage, error)
	ArtifactByRef(ctx context.Context, repository, ref string, byDigest bool) (*store.Artifact, error)
	ArtifactTags(ctx context.Context, ids []int64) (map[int64][]store.Tag, error)
	ArtifactAccessories(ctx context.Context, ids []int64) (map[int64][]store.Accessory, error)
	ArtifactDetailsOf(ctx context.Context, ids []int64, w store.DetailsWanted) (*store.ArtifactDetails, error)
	ProjectArtifact(ctx context.Context, projectName string, userID int64, repository, ref string, byDigest bool, w store.DetailsWanted) (*store.ProjectAccess, *store.Artifact, *store.ArtifactDetails, error)
	ListArtifactTags(ctx context.Context, id int64, q *query.Query, offset, limit int) ([]store.Tag, int64, error)
	AttachLabel(ctx context.Context, artifact, label int64) error
	DetachLabel(ctx context.Context, artifact, label int64) error
	LabelByID(ctx context.Context, id int64) (*store.Label, error)
	RepositoryByName(ctx context.Context, name string) (*store.Repository, error)
	ProjectBlob(ctx context.Context, projectID int64, digest string) (int64, error)
}

func (s *Server) artifactRoutes() []route {
	const arts = "/projects/{project_name}/repositories/{repository_name}/artifacts"
	const art = arts + "/{reference}"
	return []route{
		{method: "GET", path: arts, op: "listArtifacts", handle: s.listArtifacts, resp: []Artifact{}, respDef: "[]Artifact"},
		{method: "POST", path: arts, op: "CopyArtifact", handle: s.copyArtifact},
		{method: "GET", path: art, op: "getArtifact", handle: s.getArtifact, resp: Artifact{}, respDef: "Artifact"},
		{method: "DELETE", path: art, op: "deleteArtifact", handle: s.deleteArtifact},
		{method: "POST", path: art + "/tags", op: "createTag", handle: s.createTag},
		{method: "GET", path: art + "/tags", op: "listTags", handle: s.listTags, resp: []Tag{}, respDef: "[]Tag"},
		{method: "DELETE", path: art + "/tags/{tag_name}", op: "deleteTag", handle: s.deleteTag},
		{method: "GET", path: art + "/accessories", op: "listAccessories", handle: s.listAccessories, resp: []Accessory{}, respDef: "[]Accessory"},
		{method: "GET", path: art + "/additions/vulnerabilities", op: "getVulnerabilitiesAddition", handle: s.getVulnerabilities, resp: "", respDef: "string"},
		{method: "GET", path: art + "/additions/{addition}", op: "getAddition", handle: s.getAddition, resp: "", respDef: "string"},
		{method: "POST", path: art + "/labels", op: "addLabel", handle: s.addLabel},
		{method: "DELETE", path: art + "/labels/{label_id}", op: "removeLabel", handle: s.removeLabel},
		{method: "GET", path: "/projects/{project_name_or_id}/artifacts", op: "listArtifactsOfProject", handle: s.listArtifactsOfProject, resp: []Artifact{}, respDef: "[]Artifact"},
		// Beyond Harbor (harbor#21010): every artifact the caller can see.
		{method: "GET", path: "/artifacts", op: "listAllArtifacts", handle: s.listAllArtifacts, resp: []Artifact{}, respDef: "[]Artifact"},
	}
}

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

// artifactOptions are the with_* parameters of artifact reads.
type artifactOptions struct {
	tags, labels, accessories, immutable bool
}

// readArtifactOptions reads with_tag (default true), with_label (default
// false) and with_accessory (default true, as Harbor's handlers do), and
// checks that the parameters Berth accepts but has nothing for yet are
// booleans.
func readArtifactOptions(r *http.Request) (artifactOptions, error) {
	var o artifactOptions
	var err error
	if o.tags, err = boolParam(r, "with_tag", true); err != nil {
		return o, err
	}
	if o.labels, err = boolParam(r, "with_label", false); err != nil {
		return o, err
	}
	if o.accessories, err = boolParam(r, "with_accessory", true); err != nil {
		return o, err
	}
	if o.immutable, err = boolParam(r, "with_immutable_status", false); err != nil {
		return o, err
	}
	for _, name := range []string{"with_scan_overview", "with_sbom_overview", "with_signature", "with_inherited_accessory"} {
		if _, err := boolParam(r, name, false); err != nil {
			return o, err
		}
	}
	return o, nil
}

// artifact resolves the artifact the path names (reference is a digest or
// a tag) after checking that c may do act on res in its project.
func (s *Server) artifact(r *http.Request, c *Caller, res rbac.Resource, act rbac.Action) (*store.Project, *store.Artifact, error) {
	p, err := s.project(r, "project_name")
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(r.Context(), c, p, res, act); err != nil {
		return nil, nil, err
	}
	name := repoName(p.Name, r.PathValue("repository_name"))
	ref := r.PathValue("reference")
	if oci.ValidateRepository(name) != nil {
		return nil, nil, errs.E(errs.NotFound, "get artifact", "artifact %s not found in %s", ref, name)
	}
	_, derr := oci.ParseDigest(ref)
	a, err := s.st.ArtifactByRef(r.Context(), name, ref, derr == nil)
	if err != nil {
		return nil, nil, err
	}
	return p, a, nil
}

// wanted is the store's details for the options o.
func (o artifactOptions) wanted() store.DetailsWanted {
	return store.DetailsWanted{Tags: o.tags, Labels: o.labels, Accessories: o.accessories, References: true}
}

// assemble turns a page of artifacts and the details o asks for (read by
// the store with the page) into the API's view.
func (s *Server) assemble(ctx context.Context, list []store.Artifact, d *store.ArtifactDetails, o artifactOptions) ([]Artifact, error) {
	var err error
	refs, tags, labels, accs := d.References, d.Tags, d.Labels, d.Accessories
	imm := s.tagImmutability()
	out := make([]Artifact, 0, len(list))
	for i := range list {
		a := &list[i]
		v := s.artifactView(ctx, a, refs[a.ID])
		if o.tags {
			v.Tags = make([]Tag, 0, len(tags[a.ID]))
			for _, t := range tags[a.ID] {
				tv := tagOf(&t)
				if o.immutable {
					if tv.Immutable, err = imm.immutable(ctx, a.ProjectID, a.Repository, t.Name); err != nil {
						return nil, err
					}
				}
				v.Tags = append(v.Tags, tv)
			}
		}
		if o.labels {
			v.Labels = make([]Label, 0, len(labels[a.ID]))
			for _, l := range labels[a.ID] {
				v.Labels = append(v.Labels, labelOf(&l))
			}
		}
		if o.accessories {
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

// artifactView is the API's view of a, without tags, labels and accessories.
func (s *Server) artifactView(ctx context.Context, a *store.Artifact, refs []store.Reference) Artifact {
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
		v.AdditionLinks[name] = AdditionLink{Href: Prefix + "/projects/" + project + "/repositories/" +
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
func (s *Server) projectBlob(ctx context.Context, op string, project int64, d *oci.Descriptor) (oci.Digest, error) {
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
func (s *Server) readConfig(ctx context.Context, project int64, m *oci.Manifest) (map[string]json.RawMessage, error) {
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
func (s *Server) extraAttrs(ctx context.Context, a *store.Artifact, m *oci.Manifest) json.RawMessage {
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

func (s *Server) writeArtifacts(ctx context.Context, w http.ResponseWriter, r *http.Request, p Page, o artifactOptions, page *store.ArtifactPage) error {
	out, err := s.assemble(ctx, page.Artifacts, page.Details, o)
	if err != nil {
		return err
	}
	setPageHeaders(w, r, p, page.Total)
	return writeJSON(w, http.StatusOK, out)
}

// serveArtifacts answers a listing of the artifacts f selects, with the
// request's paging, query and with_* options; latest_in_repository is read
// when allowLatest.
func (s *Server) serveArtifacts(w http.ResponseWriter, r *http.Request, f store.ArtifactFilter, allowLatest bool) error {
	p, o, err := artifactListing(r, &f, allowLatest)
	if err != nil {
		return err
	}
	page, err := s.st.ListArtifacts(r.Context(), f, p.Query, p.Offset(), p.Size, o.wanted())
	if err != nil {
		return err
	}
	return s.writeArtifacts(r.Context(), w, r, p, o, page)
}

// artifactListing reads a listing's paging, query and with_* options, and
// latest_in_repository into f when allowLatest.
func artifactListing(r *http.Request, f *store.ArtifactFilter, allowLatest bool) (Page, artifactOptions, error) {
	p, err := page(r)
	if err != nil {
		return p, artifactOptions{}, err
	}
	o, err := readArtifactOptions(r)
	if err != nil {
		return p, o, err
	}
	if allowLatest {
		if f.LatestInRepository, err = boolParam(r, "latest_in_repository", false); err != nil {
			return p, o, err
		}
	}
	return p, o, nil
}

// listedProject is the project of the path after checking that c may list
// its artifacts.
func (s *Server) listedProject(r *http.Request, c *Caller, param string) (*store.Project, error) {
	proj, err := s.project(r, param)
	if err != nil {
		return nil, err
	}
	return proj, s.require(r.Context(), c, proj, rbac.ResArtifact, rbac.List)
}

// listArtifacts lists a repository's artifacts. An unknown repository has
// none, as in Harbor.
//
// Unless the console's page cache already holds the project, the project,
// the caller's roles in it and the page are read together
// (store.ListProjectArtifacts: one round trip on PostgreSQL instead of
// two), and the page is dropped unless the caller may list.
func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request, c *Caller) error {
	ctx := r.Context()
	name := r.PathValue("project_name")
	if pageCachedAlready(ctx, projectNameKey(name)) {
		proj, err := s.listedProject(r, c, "project_name")
		if err != nil {
			return err
		}
		return s.serveArtifacts(w, r, store.ArtifactFilter{RepositoryName: repoName(proj.Name, r.PathValue("repository_name"))}, false)
	}
	f := store.ArtifactFilter{RepositoryName: repoName(name, r.PathValue("repository_name"))}
	p, o, err := artifactListing(r, &f, false)
	if err != nil {
		return err
	}
	access, page, err := s.st.ListProjectArtifacts(ctx, name, c.MemberUserID(), f, p.Query, p.Offset(), p.Size, o.wanted())
	if errs.Is(err, errs.NotFound) {
		return projectNotFound(name) // only a missing project is NotFound here
	}
	if err != nil {
		return err
	}
	set := s.auth.ProjectPermissionsWithRoles(c.Principal, access.Project, access.Roles)
	pageCachePut(ctx, projectNameKey(name), access.Project)
	pageCachePut(ctx, projectIDKey(access.Project.ID), access.Project)
	pageCachePut(ctx, permsKey(c, access.Project.ID), set)
	if err := s.allowed(c, access.Project, set, rbac.ResArtifact, rbac.List); err != nil {
		return err
	}
	return s.writeArtifacts(ctx, w, r, p, o, page)
}

func (s *Server) listArtifactsOfProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	proj, err := s.listedProject(r, c, "project_name_or_id")
	if err != nil {
		return err
	}
	return s.serveArtifacts(w, r, store.ArtifactFilter{ProjectID: proj.ID}, true)
}

// listAllArtifacts is Berth's own: one paged, filterable list of every
// artifact the caller can see, across projects (harbor#21010), so that a
// client need not walk projects, repositories and artifacts.
func (s *Server) listAllArtifacts(w http.ResponseWriter, r *http.Request, c *Caller) error {
	return s.serveArtifacts(w, r, store.ArtifactFilter{Reach: s.reach(c)}, true)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	o, err := readArtifactOptions(r)
	if err != nil {
		return err
	}
	a, d, err := s.readArtifact(r, c, o.wanted())
	if err != nil {
		return err
	}
	out, err := s.assemble(r.Context(), []store.Artifact{*a}, d, o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// readArtifact is the artifact the path names with the details w asks
// for, once c may read it. Unless the console's page cache already holds
// the project, the project, the caller's roles in it and the artifact
// with its tags and labels are read together (store.ProjectArtifact: one
// round trip on PostgreSQL instead of four), and the artifact is dropped
// unless the caller may read.
func (s *Server) readArtifact(r *http.Request, c *Caller, w store.DetailsWanted) (*store.Artifact, *store.ArtifactDetails, error) {
	ctx := r.Context()
	name := r.PathValue("project_name")
	if pageCachedAlready(ctx, projectNameKey(name)) {
		_, a, err := s.artifact(r, c, rbac.ResArtifact, rbac.Read)
		if err != nil {
			return nil, nil, err
		}
		w.Accessories = w.Accessories && !a.InPlainRepository
		w.References = oci.IsIndexType(a.MediaType)
		d, err := s.st.ArtifactDetailsOf(ctx, []int64{a.ID}, w)
		return a, d, err
	}
	repo := repoName(name, r.PathValue("repository_name"))
	ref := r.PathValue("reference")
	if oci.ValidateRepository(repo) != nil {
		// Nothing to read, but the project and the caller's right in it
		// decide the answer as for any other missing artifact.
		repo = ""
	}
	_, derr := oci.ParseDigest(ref)
	access, a, d, err := s.st.ProjectArtifact(ctx, name, c.MemberUserID(), repo, ref, derr == nil, w)
	if access == nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, projectNotFound(name)
		}
		return nil, nil, err
	}
	set := s.auth.ProjectPermissionsWithRoles(c.Principal, access.Project, access.Roles)
	if aerr := s.allowed(c, access.Project, set, rbac.ResArtifact, rbac.Read); aerr != nil {
		return nil, nil, aerr
	}
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.NotFound, "get artifact", "artifact %s not found in %s", ref, repoName(name, r.PathValue("repository_name")))
		}
		return nil, nil, err
	}
	return a, d, nil
}

// deleteArtifact deletes the artifact with its tags, its accessories and
// the index children nothing else uses. A child of an index in the
// repository cannot be deleted on its own (412, as in Harbor).
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, a, err := s.artifact(r, c, rbac.ResArtifact, rbac.Delete)
	if err != nil {
		return err
	}
	_, err = s.arts.DeleteArtifact(r.Context(), s.target(c, p, a.Repository), a.ID)
	if errs.Is(err, errs.Precondition) {
		err = withCode("VIOLATE_FOREIGN_KEY_CONSTRAINT", err)
	}
	if err != nil {
		// A deletion is recorded by the service's DELETE_ARTIFACT events;
		// a refused one here.
		s.audit(c, p.ID, "delete", "artifact", a.Repository+"@"+a.Digest, err)
		return err
	}
	return ok(w)
}

// target is the artifact service's view of a write by c to repository of
// project p.
func (s *Server) target(c *Caller, p *store.Project, repository string) artifact.Target {
	return artifact.Target{ProjectID: p.ID, Project: p.Name, Repository: repository, Operator: c.Name}
}

// newTag is Harbor's NewTag.
type newTag struct {
	Name *string `json:"name"`
}

func (s *Server) createTag(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "create tag"
	p, a, err := s.artifact(r, c, rbac.ResTag, rbac.Create)
	if err != nil {
		return err
	}
	var b newTag
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Name == nil || *b.Name == "" {
		return errs.E(errs.Invalid, op, "name is required")
	}
	_, err = s.arts.Tag(r.Context(), s.target(c, p, a.Repository), a, *b.Name)
	if errs.Is(err, errs.Invalid) {
		return err // a bad name: nothing was attempted
	}
	s.audit(c, p.ID, "create", "tag", a.Repository+":"+*b.Name, err)
	if err != nil {
		return err
	}
	// Harbor answers the new tag's path, as go-client reads it.
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+url.PathEscape(*b.Name))
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	withImmutable, err := boolParam(r, "with_immutable_status", false)
	if err != nil {
		return err
	}
	_, a, err := s.artifact(r, c, rbac.ResTag, rbac.List)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListArtifactTags(r.Context(), a.ID, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	imm := s.tagImmutability()
	out := make([]Tag, 0, len(list))
	for i := range list {
		tv := tagOf(&list[i])
		if withImmutable {
			if tv.Immutable, err = imm.immutable(r.Context(), a.ProjectID, a.Repository, tv.Name); err != nil {
				return err
			}
		}
		out = append(out, tv)
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, a, err := s.artifact(r, c, rbac.ResTag, rbac.Delete)
	if err != nil {
		return err
	}
	name := r.PathValue("tag_name")
	err = s.arts.DeleteTag(r.Context(), s.target(c, p, a.Repository), name, a.ID)
	if err != nil {
		// A deletion is recorded by the service's DELETE_TAG event; a
		// refused one here.
		s.audit(c, p.ID, "delete", "tag", a.Repository+":"+name, err)
		return err
	}
	return ok(w)
}

// listAccessories pages through an artifact's accessories; q filters by
// type and digest.
func (s *Server) listAccessories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list accessories"
	p, err := page(r)
	if err != nil {
		return err
	}
	_, a, err := s.artifact(r, c, rbac.ResAccessory, rbac.List)
	if err != nil {
		return err
	}
	accs, err := s.st.ArtifactAccessories(r.Context(), []int64{a.ID})
	if err != nil {
		return err
	}
	all := make([]Accessory, 0, len(accs[a.ID]))
	for _, x := range accs[a.ID] {
		all = append(all, accessoryOf(a, &x))
	}
	var matched []Accessory
	for _, v := range all {
		keep := true
		for _, cond := range p.Query.Conds {
			var field string
			switch cond.Key {
			case "type":
				field = v.Type
			case "digest":
				field = v.Digest
			default:
				return errs.E(errs.Invalid, op, "cannot filter by %q", cond.Key)
			}
			if cond.Kind != query.Exact {
				return errs.E(errs.Invalid, op, "%s takes an exact value", cond.Key)
			}
			keep = keep && field == cond.Value
		}
		if keep {
			matched = append(matched, v)
		}
	}
	for _, k := range p.Query.Sort {
		if k.Key != "creation_time" {
			return errs.E(errs.Invalid, op, "cannot sort by %q", k.Key)
		}
		if !k.Desc {
			sort.SliceStable(matched, func(i, j int) bool { return matched[i].CreationTime < matched[j].CreationTime })
		}
	}
	out := []Accessory{}
	if off := p.Offset(); off < len(matched) {
		out = matched[off:min(off+p.Size, len(matched))]
	}
	setPageHeaders(w, r, p, int64(len(matched)))
	return writeJSON(w, http.StatusOK, out)
}

// getVulnerabilities answers as Harbor does for an artifact without scan
// reports: an empty object. Berth has no scanners yet.
func (s *Server) getVulnerabilities(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if _, _, err := s.artifact(r, c, rbac.ResArtifactAddition, rbac.Read); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write([]byte("{}"))
	return err
}

// getAddition serves build_history for images (the config's history) and
// values.yaml, readme.md and dependencies for Helm charts (read from the
// chart archive). Other additions are 400, as in Harbor.
func (s *Server) getAddition(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "get addition"
	_, a, err := s.artifact(r, c, rbac.ResArtifactAddition, rbac.Read)
	if err != nil {
		return err
	}
	addition := strings.ToLower(r.PathValue("addition"))
	supported := false
	for _, name := range additionsOf(a) {
		supported = supported || name == addition
	}
	if !supported {
		return errs.E(errs.Invalid, op, "addition %s is not supported for %s artifacts", addition, a.Kind)
	}
	m := parseStored(a)
	var body []byte
	contentType := "application/json; charset=utf-8"
	switch addition {
	case "build_history":
		cfg, err := s.readConfig(r.Context(), a.ProjectID, m)
		if err != nil {
			return err
		}
		body = []byte("[]")
		if h := cfg["history"]; len(h) > 0 && string(h) != "null" {
			body = h
		}
	case "values.yaml":
		files, err := s.chartFiles(r.Context(), a.ProjectID, m, "values.yaml")
		if err != nil {
			return err
		}
		body, contentType = files["values.yaml"], "text/plain; charset=utf-8"
	case "readme.md":
		files, err := s.chartFiles(r.Context(), a.ProjectID, m, "readme.md")
		if err != nil {
			return err
		}
		body, contentType = files["readme.md"], "text/markdown; charset=utf-8"
	case "dependencies":
		if body, err = s.chartDependencies(r.Context(), a.ProjectID, m); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", contentType)
	_, err = w.Write(body)
	return err
}

// chartFiles streams a chart's archive (the layer that is not its config)
// and returns the files of the chart's top directory named in want
// (compared case-insensitively; keys are lower case). It stops as soon as
// it has them all and reads at most maxChartBytes.
func (s *Server) chartFiles(ctx context.Context, project int64, m *oci.Manifest, want ...string) (map[string][]byte, error) {
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
func (s *Server) chartDependencies(ctx context.Context, project int64, m *oci.Manifest) ([]byte, error) {
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

// addLabel attaches a label (body: a Label of which only id counts) to
// the artifact. A project label of another project is not found.
func (s *Server) addLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "add label"
	p, a, err := s.artifact(r, c, rbac.ResArtifactLabel, rbac.Create)
	if err != nil {
		return err
	}
	var b labelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.ID == nil || *b.ID <= 0 {
		return errs.E(errs.Invalid, op, "id (a positive integer) is required")
	}
	l, err := s.st.LabelByID(r.Context(), *b.ID)
	if err != nil {
		return err
	}
	if l.Scope == store.LabelProject && l.ProjectID != p.ID {
		return errs.E(errs.NotFound, op, "label %d not found in project %s", l.ID, p.Name)
	}
	return errOr(s.st.AttachLabel(r.Context(), a.ID, l.ID), w)
}

func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "label_id")
	if err != nil {
		return err
	}
	_, a, err := s.artifact(r, c, rbac.ResArtifactLabel, rbac.Delete)
	if err != nil {
		return err
	}
	return errOr(s.st.DetachLabel(r.Context(), a.ID, id), w)
}

// errOr returns err, or answers 200 with no body when it is nil.
func errOr(err error, w http.ResponseWriter) error {
	if err != nil {
		return err
	}
	return ok(w)
}

// parseFrom splits CopyArtifact's from (project/repo:tag or
// project/repo@digest).
func parseFrom(from string) (repo, ref string, byDigest bool, err error) {
	const op = "copy artifact"
	bad := errs.E(errs.Invalid, op, "from must be project/repository:tag or project/repository@digest, not %q", from)
	if i := strings.Index(from, "@"); i >= 0 {
		repo, ref, byDigest = from[:i], from[i+1:], true
		if _, err := oci.ParseDigest(ref); err != nil {
			return "", "", false, bad
		}
	} else {
		i := strings.LastIndex(from, ":")
		if i < 0 || strings.Contains(from[i+1:], "/") {
			return "", "", false, bad
		}
		repo, ref = from[:i], from[i+1:]
		if oci.ValidateTag(ref) != nil {
			return "", "", false, bad
		}
	}
	if oci.ValidateRepository(repo) != nil {
		return "", "", false, bad
	}
	return repo, ref, byDigest, nil
}

// copyArtifact copies an artifact (with its tags, its index children and
// its accessories) from another repository of this registry: the blobs are
// linked into the target project (its quota applies) and the manifests
// recorded in the target repository. It needs artifact create in the
// target project and artifact read in the source one, as in Harbor
// (handler/artifact.go CopyArtifact), so a robot given those copies.
func (s *Server) copyArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "copy artifact"
	ctx := r.Context()
	dst, err := s.project(r, "project_name")
	if err != nil {
		return err
	}
	if err := s.require(ctx, c, dst, rbac.ResArtifact, rbac.Create); err != nil {
		return err
	}
	dstRepo := repoName(dst.Name, r.PathValue("repository_name"))
	if err := oci.ValidateRepository(dstRepo); err != nil {
		return errs.E(errs.Invalid, op, "invalid repository name %q", dstRepo)
	}
	from := r.URL.Query().Get("from")
	if from == "" {
		return errs.E(errs.Invalid, op, "from is required")
	}
	srcRepo, ref, byDigest, err := parseFrom(from)
	if err != nil {
		return err
	}
	srcProject, _ := oci.SplitRepository(srcRepo)
	src, err := s.projectByName(ctx, srcProject)
	if err != nil {
		return err
	}
	if err := s.require(ctx, c, src, rbac.ResArtifact, rbac.Read); err != nil {
		return hideName(err, srcProject)
	}
	a, err := s.st.ArtifactByRef(ctx, srcRepo, ref, byDigest)
	if err != nil {
		return err
	}
	tags, err := s.st.ArtifactTags(ctx, []int64{a.ID})
	if err != nil {
		return err
	}
	var names []string
	for _, t := range tags[a.ID] {
		names = append(names, t.Name)
	}
	if s.isAccessory(ctx, a, names) {
		return withCode("DENIED", errs.E(errs.Denied, op, "an accessory cannot be copied on its own; copy its subject"))
	}
	err = s.arts.Copy(ctx, s.target(c, dst, dstRepo), srcRepo, a, names)
	s.audit(c, dst.ID, "create", "artifact", dstRepo+"@"+a.Digest, err)
	if err != nil {
		if errs.Is(err, errs.Denied) {
			return withCode("DENIED", err)
		}
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+ref)
}

// isAccessory reports whether a is attached to another artifact of its
// repository (by its subject, or as a cosign signature tag).
func (s *Server) isAccessory(ctx context.Context, a *store.Artifact, tags []string) bool {
	subjects := []string{}
	if a.Subject != "" {
		subjects = append(subjects, a.Subject)
	}
	for _, t := range tags {
		if d, ok := oci.CosignSignatureSubject(t); ok {
			subjects = append(subjects, d)
		}
	}
	for _, d := range subjects {
		if _, err := s.st.ArtifactByRef(ctx, a.Repository, d, true); err == nil {
			return true
		}
	}
	return false
}
