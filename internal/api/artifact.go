package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/store"
)

// artifactStore is what the artifact handlers need from the metadata
// store: the artifact write service's and the repository service's, which
// own every rule (the handlers decode, call them and encode).
type artifactStore interface {
	artifact.Store
	repository.Store
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

// The views the artifact routes answer are the repository service's.
type (
	// Artifact is Harbor's artifact.
	Artifact = repository.Artifact
	// Tag is Harbor's tag.
	Tag = repository.Tag
	// Reference is an index's reference to a child manifest.
	Reference = repository.Reference
	// Platform is what an index child runs on.
	Platform = repository.Platform
	// Accessory is an artifact attached to another.
	Accessory = repository.Accessory
	// AdditionLink points at an addition of an artifact.
	AdditionLink = repository.AdditionLink
)

// readArtifactOptions reads with_tag (default true), with_label (default
// false) and with_accessory (default true, as Harbor's handlers do), and
// checks that the parameters Berth accepts but has nothing for yet are
// booleans.
func readArtifactOptions(r *http.Request) (repository.Options, error) {
	var o repository.Options
	var err error
	if o.Tags, err = boolParam(r, "with_tag", true); err != nil {
		return o, err
	}
	if o.Labels, err = boolParam(r, "with_label", false); err != nil {
		return o, err
	}
	if o.Accessories, err = boolParam(r, "with_accessory", true); err != nil {
		return o, err
	}
	if o.Immutable, err = boolParam(r, "with_immutable_status", false); err != nil {
		return o, err
	}
	for _, name := range []string{"with_scan_overview", "with_sbom_overview", "with_signature", "with_inherited_accessory"} {
		if _, err := boolParam(r, name, false); err != nil {
			return o, err
		}
	}
	return o, nil
}

// artifactListing reads a listing's paging, query and with_* options, and
// latest_in_repository when allowLatest.
func artifactListing(r *http.Request, allowLatest bool) (Page, repository.Listing, error) {
	p, err := page(r)
	if err != nil {
		return p, repository.Listing{}, err
	}
	l := repository.Listing{Query: p.Query, Offset: p.Offset(), Limit: p.Size}
	if l.Options, err = readArtifactOptions(r); err != nil {
		return p, l, err
	}
	if allowLatest {
		if l.Latest, err = boolParam(r, "latest_in_repository", false); err != nil {
			return p, l, err
		}
	}
	return p, l, nil
}

// writeList answers a page of a listing with Harbor's paging headers.
func writeList[T any](w http.ResponseWriter, r *http.Request, p Page, list []T, total int64) error {
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, list)
}

// pathRepository is the project and the full repository name the path
// names.
func (s *Server) pathRepository(r *http.Request) (*store.Project, string, error) {
	p, err := s.project(r, "project_name")
	if err != nil {
		return nil, "", err
	}
	return p, repoName(p.Name, r.PathValue("repository_name")), nil
}

// listArtifacts lists a repository's artifacts; the project, the caller's
// roles in it and the page are read together
// (repository.Service.ListArtifactsByName).
func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request, c *Caller) error {
	name := r.PathValue("project_name")
	p, l, err := artifactListing(r, false)
	if err != nil {
		return err
	}
	list, total, err := s.repos.ListArtifactsByName(r.Context(), c.Principal, name, repoName(name, r.PathValue("repository_name")), l)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

func (s *Server) listArtifactsOfProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	proj, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	p, l, err := artifactListing(r, true)
	if err != nil {
		// The caller's right first, as in listRepositories.
		return firstOf(s.repos.Require(r.Context(), c.Principal, proj, rbac.ResArtifact, rbac.List), err)
	}
	list, total, err := s.repos.ListProjectArtifacts(r.Context(), c.Principal, proj, l)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

// listAllArtifacts is Berth's own: one paged, filterable list of every
// artifact the caller can see, across projects (harbor#21010), so that a
// client need not walk projects, repositories and artifacts.
func (s *Server) listAllArtifacts(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, l, err := artifactListing(r, true)
	if err != nil {
		return err
	}
	list, total, err := s.repos.ListAllArtifacts(r.Context(), c.Principal, l)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

// getArtifact reads the project, the caller's roles in it and the
// artifact together (repository.Service.GetArtifactByName).
func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	o, err := readArtifactOptions(r)
	if err != nil {
		return err
	}
	name := r.PathValue("project_name")
	a, err := s.repos.GetArtifactByName(r.Context(), c.Principal, name, repoName(name, r.PathValue("repository_name")), r.PathValue("reference"), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// deleteArtifact deletes the artifact with its tags, its accessories and
// the index children nothing else uses. A child of an index in the
// repository cannot be deleted on its own (412, as in Harbor).
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	err = s.repos.DeleteArtifact(r.Context(), c.Principal, p, repo, r.PathValue("reference"))
	if errs.Is(err, errs.Precondition) {
		err = withCode("VIOLATE_FOREIGN_KEY_CONSTRAINT", err)
	}
	return errOr(err, w)
}

// newTag is Harbor's NewTag.
type newTag struct {
	Name *string `json:"name"`
}

func (s *Server) createTag(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	ref := r.PathValue("reference")
	var b newTag
	if err := decodeAfter(r, &b, func() error { return s.repos.AddTag(r.Context(), c.Principal, p, repo, ref, "") }); err != nil {
		return err
	}
	var name string
	if b.Name != nil {
		name = *b.Name
	}
	if err := s.repos.AddTag(r.Context(), c.Principal, p, repo, ref, name); err != nil {
		return err
	}
	// Harbor answers the new tag's path, as go-client reads it.
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+url.PathEscape(name))
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
	proj, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	list, total, err := s.repos.ListTags(r.Context(), c.Principal, proj, repo, r.PathValue("reference"), p.Query, p.Offset(), p.Size, withImmutable)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	return errOr(s.repos.DeleteTag(r.Context(), c.Principal, p, repo, r.PathValue("reference"), r.PathValue("tag_name")), w)
}

// listAccessories pages through an artifact's accessories; q filters by
// type and digest.
func (s *Server) listAccessories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	proj, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	list, total, err := s.repos.ListAccessories(r.Context(), c.Principal, proj, repo, r.PathValue("reference"), p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

// getVulnerabilities answers as Harbor does for an artifact without scan
// reports: an empty object. Berth has no scanners yet.
func (s *Server) getVulnerabilities(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	if err := s.repos.Vulnerabilities(r.Context(), c.Principal, p, repo, r.PathValue("reference")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write([]byte("{}"))
	return err
}

// getAddition serves an addition of an artifact (repository.Service.Addition).
func (s *Server) getAddition(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	body, contentType, err := s.repos.Addition(r.Context(), c.Principal, p, repo, r.PathValue("reference"), r.PathValue("addition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	_, err = w.Write(body)
	return err
}

// addLabel attaches a label (body: a Label of which only id counts) to
// the artifact.
func (s *Server) addLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	ref := r.PathValue("reference")
	var b labelBody
	if err := decodeAfter(r, &b, func() error { return s.repos.AddLabel(r.Context(), c.Principal, p, repo, ref, nil) }); err != nil {
		return err
	}
	return errOr(s.repos.AddLabel(r.Context(), c.Principal, p, repo, ref, b.ID), w)
}

func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "label_id")
	if err != nil {
		return err
	}
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	return errOr(s.repos.RemoveLabel(r.Context(), c.Principal, p, repo, r.PathValue("reference"), id), w)
}

// decodeAfter decodes r's body into v. A body that cannot be decoded is
// answered after what check (the service's call with nothing sent, which
// refuses that as errs.Invalid before it writes anything) answers: the
// caller's right and the path the request names come first, as before the
// services, so a bad body does not tell a hidden project from a missing one.
func decodeAfter(r *http.Request, v any, check func() error) error {
	err := decode(r, v)
	if err == nil {
		return nil
	}
	if cerr := check(); cerr != nil && !errs.Is(cerr, errs.Invalid) {
		return cerr
	}
	return err
}

// firstOf returns the first error that is not nil.
func firstOf(list ...error) error {
	for _, err := range list {
		if err != nil {
			return err
		}
	}
	return nil
}

// errOr returns err, or answers 200 with no body when it is nil.
func errOr(err error, w http.ResponseWriter) error {
	if err != nil {
		return err
	}
	return ok(w)
}

// copyArtifact copies an artifact from another repository of this
// registry (repository.Service.Copy); what the copy's rules refuse is
// Harbor's DENIED.
func (s *Server) copyArtifact(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	ref, err := s.repos.Copy(r.Context(), c.Principal, p, repo, r.URL.Query().Get("from"))
	var refused *repository.Refused
	if errors.As(err, &refused) {
		return withCode("DENIED", err)
	}
	if err != nil {
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+ref)
}
