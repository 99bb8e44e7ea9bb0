package repository

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Options are the with_* parameters of artifact reads: what each artifact
// carries besides itself.
type Options struct {
	Tags, Labels, Accessories bool
	// Immutable fills each tag's Immutable (one read of the rules per
	// project and page, as in Harbor).
	Immutable bool
}

// wanted is the store's details for the options o.
func (o Options) wanted() store.DetailsWanted {
	return store.DetailsWanted{Tags: o.Tags, Labels: o.Labels, Accessories: o.Accessories, References: true}
}

// Listing is a page of an artifact listing: the query, the page and what
// each artifact carries.
type Listing struct {
	Query         *query.Query
	Offset, Limit int
	Options
	// Latest keeps the latest artifact of each repository only (the
	// listings that span repositories).
	Latest bool
}

// artifactNotFound is the answer for a reference a repository does not hold.
func artifactNotFound(repository, ref string) error {
	return errs.E(errs.NotFound, "get artifact", "artifact %s not found in %s", ref, repository)
}

// artifact resolves reference ref (a digest or a tag) of repository (the
// full name) after checking that p may do act on res in project.
func (s *Service) artifact(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, res rbac.Resource, act rbac.Action) (*store.Artifact, error) {
	if err := s.Require(ctx, p, project, res, act); err != nil {
		return nil, err
	}
	if oci.ValidateRepository(repository) != nil {
		return nil, artifactNotFound(repository, ref)
	}
	_, derr := oci.ParseDigest(ref)
	return s.st.ArtifactByRef(ctx, repository, ref, derr == nil)
}

// page turns a stored page into views.
func (s *Service) page(ctx context.Context, pg *store.ArtifactPage, o Options) ([]Artifact, int64, error) {
	out, err := s.assemble(ctx, pg.Artifacts, pg.Details, o)
	if err != nil {
		return nil, 0, err
	}
	return out, pg.Total, nil
}

// list returns the page of the artifacts f selects.
func (s *Service) list(ctx context.Context, f store.ArtifactFilter, l Listing) ([]Artifact, int64, error) {
	f.LatestInRepository = l.Latest
	pg, err := s.st.ListArtifacts(ctx, f, l.Query, l.Offset, l.Limit, l.wanted())
	if err != nil {
		return nil, 0, err
	}
	return s.page(ctx, pg, l.Options)
}

// ListArtifacts returns a page of the artifacts of repository (the full
// name) of project, once p may list them. An unknown repository has none,
// as in Harbor.
func (s *Service) ListArtifacts(ctx context.Context, p *auth.Principal, project *store.Project, repository string, l Listing) ([]Artifact, int64, error) {
	if err := s.Require(ctx, p, project, rbac.ResArtifact, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.list(ctx, store.ArtifactFilter{RepositoryName: repository}, Listing{Query: l.Query, Offset: l.Offset, Limit: l.Limit, Options: l.Options})
}

// ListArtifactsByName is ListArtifacts for the project named projectName,
// which the caller has not looked up: the project, p's roles in it and the
// page are read together (store.ListProjectArtifacts: one round trip on
// PostgreSQL instead of two), and the page is dropped unless p may list.
func (s *Service) ListArtifactsByName(ctx context.Context, p *auth.Principal, projectName, repository string, l Listing) ([]Artifact, int64, error) {
	access, pg, err := s.st.ListProjectArtifacts(ctx, projectName, p.MemberUserID(), store.ArtifactFilter{RepositoryName: repository}, l.Query, l.Offset, l.Limit, l.wanted())
	if errs.Is(err, errs.NotFound) {
		return nil, 0, ProjectNotFound(projectName) // only a missing project is NotFound here
	}
	if err != nil {
		return nil, 0, err
	}
	set := s.auth.ProjectPermissionsWithRoles(p, access.Project, access.Roles)
	if err := auth.Decide(p, access.Project, set, rbac.ResArtifact, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.page(ctx, pg, l.Options)
}

// ListProjectArtifacts returns a page of the artifacts of every repository
// of project, once p may list them.
func (s *Service) ListProjectArtifacts(ctx context.Context, p *auth.Principal, project *store.Project, l Listing) ([]Artifact, int64, error) {
	if err := s.Require(ctx, p, project, rbac.ResArtifact, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.list(ctx, store.ArtifactFilter{ProjectID: project.ID}, l)
}

// ListAllArtifacts returns a page of every artifact p can see, across
// projects (Reach; Berth's own, harbor#21010).
func (s *Service) ListAllArtifacts(ctx context.Context, p *auth.Principal, l Listing) ([]Artifact, int64, error) {
	return s.list(ctx, store.ArtifactFilter{Reach: Reach(p)}, l)
}

// GetArtifact returns artifact ref of repository (the full name) of
// project with what o asks for, once p may read it.
func (s *Service) GetArtifact(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, o Options) (Artifact, error) {
	if err := s.Require(ctx, p, project, rbac.ResArtifact, rbac.Read); err != nil {
		return Artifact{}, err
	}
	if oci.ValidateRepository(repository) != nil {
		return Artifact{}, artifactNotFound(repository, ref)
	}
	_, derr := oci.ParseDigest(ref)
	a, err := s.st.ArtifactByRef(ctx, repository, ref, derr == nil)
	if errs.Is(err, errs.NotFound) {
		return Artifact{}, artifactNotFound(repository, ref)
	}
	if err != nil {
		return Artifact{}, err
	}
	w := o.wanted()
	w.Accessories = w.Accessories && !a.InPlainRepository
	w.References = oci.IsIndexType(a.MediaType)
	d, err := s.st.ArtifactDetailsOf(ctx, []int64{a.ID}, w)
	if err != nil {
		return Artifact{}, err
	}
	out, err := s.assemble(ctx, []store.Artifact{*a}, d, o)
	if err != nil {
		return Artifact{}, err
	}
	return out[0], nil
}

// GetArtifactByName is GetArtifact for the project named projectName,
// which the caller has not looked up: the project, p's roles in it and the
// artifact with its details are read together (store.ProjectArtifact: one
// round trip on PostgreSQL instead of four), and the artifact is dropped
// unless p may read.
func (s *Service) GetArtifactByName(ctx context.Context, p *auth.Principal, projectName, repository, ref string, o Options) (Artifact, error) {
	repo := repository
	if oci.ValidateRepository(repo) != nil {
		// Nothing to read, but the project and the caller's right in it
		// decide the answer as for any other missing artifact.
		repo = ""
	}
	_, derr := oci.ParseDigest(ref)
	access, a, d, err := s.st.ProjectArtifact(ctx, projectName, p.MemberUserID(), repo, ref, derr == nil, o.wanted())
	if access == nil {
		if errs.Is(err, errs.NotFound) {
			return Artifact{}, ProjectNotFound(projectName)
		}
		return Artifact{}, err
	}
	set := s.auth.ProjectPermissionsWithRoles(p, access.Project, access.Roles)
	if aerr := auth.Decide(p, access.Project, set, rbac.ResArtifact, rbac.Read); aerr != nil {
		return Artifact{}, aerr
	}
	if errs.Is(err, errs.NotFound) {
		return Artifact{}, artifactNotFound(repository, ref)
	}
	if err != nil {
		return Artifact{}, err
	}
	out, err := s.assemble(ctx, []store.Artifact{*a}, d, o)
	if err != nil {
		return Artifact{}, err
	}
	return out[0], nil
}

// ListTags returns a page of the tags of artifact ref that q selects and
// how many match, once p may list tags; immutable fills their Immutable.
func (s *Service) ListTags(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, q *query.Query, offset, limit int, immutable bool) ([]Tag, int64, error) {
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResTag, rbac.List)
	if err != nil {
		return nil, 0, err
	}
	list, total, err := s.st.ListArtifactTags(ctx, a.ID, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	imm := s.immutability()
	out := make([]Tag, 0, len(list))
	for i := range list {
		tv := tagOf(&list[i])
		if immutable {
			if tv.Immutable, err = imm.immutable(ctx, a.ProjectID, a.Repository, tv.Name); err != nil {
				return nil, 0, err
			}
		}
		out = append(out, tv)
	}
	return out, total, nil
}

// ListAccessories returns a page of the accessories of artifact ref and how
// many match q, which filters by type and digest (exact values) and sorts
// by creation_time, once p may list accessories.
func (s *Service) ListAccessories(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, q *query.Query, offset, limit int) ([]Accessory, int64, error) {
	const op = "list accessories"
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResAccessory, rbac.List)
	if err != nil {
		return nil, 0, err
	}
	accs, err := s.st.ArtifactAccessories(ctx, []int64{a.ID})
	if err != nil {
		return nil, 0, err
	}
	if q == nil {
		q = &query.Query{}
	}
	var matched []Accessory
	for _, x := range accs[a.ID] {
		v := accessoryOf(a, &x)
		keep := true
		for _, cond := range q.Conds {
			var field string
			switch cond.Key {
			case "type":
				field = v.Type
			case "digest":
				field = v.Digest
			default:
				return nil, 0, errs.E(errs.Invalid, op, "cannot filter by %q", cond.Key)
			}
			if cond.Kind != query.Exact {
				return nil, 0, errs.E(errs.Invalid, op, "%s takes an exact value", cond.Key)
			}
			keep = keep && field == cond.Value
		}
		if keep {
			matched = append(matched, v)
		}
	}
	for _, k := range q.Sort {
		if k.Key != "creation_time" {
			return nil, 0, errs.E(errs.Invalid, op, "cannot sort by %q", k.Key)
		}
		if !k.Desc {
			sort.SliceStable(matched, func(i, j int) bool { return matched[i].CreationTime < matched[j].CreationTime })
		}
	}
	out := []Accessory{}
	if offset < len(matched) {
		out = matched[offset:min(offset+limit, len(matched))]
	}
	return out, int64(len(matched)), nil
}

// Vulnerabilities checks that p may read the additions of artifact ref,
// which has no scan reports: Berth has no scanners yet.
func (s *Service) Vulnerabilities(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string) error {
	_, err := s.artifact(ctx, p, project, repository, ref, rbac.ResArtifactAddition, rbac.Read)
	return err
}

// Addition returns addition name of artifact ref and its content type,
// once p may read additions: build_history for images (the config's
// history) and values.yaml, readme.md and dependencies for Helm charts
// (read from the chart archive). Others are errs.Invalid, as in Harbor.
func (s *Service) Addition(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref, name string) (body []byte, contentType string, err error) {
	const op = "get addition"
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResArtifactAddition, rbac.Read)
	if err != nil {
		return nil, "", err
	}
	addition := strings.ToLower(name)
	supported := false
	for _, n := range additionsOf(a) {
		supported = supported || n == addition
	}
	if !supported {
		return nil, "", errs.E(errs.Invalid, op, "addition %s is not supported for %s artifacts", addition, a.Kind)
	}
	m := parseStored(a)
	contentType = "application/json; charset=utf-8"
	switch addition {
	case "build_history":
		cfg, err := s.readConfig(ctx, a.ProjectID, m)
		if err != nil {
			return nil, "", err
		}
		body = []byte("[]")
		if h := cfg["history"]; len(h) > 0 && string(h) != "null" {
			body = h
		}
	case "values.yaml":
		files, err := s.chartFiles(ctx, a.ProjectID, m, "values.yaml")
		if err != nil {
			return nil, "", err
		}
		body, contentType = files["values.yaml"], "text/plain; charset=utf-8"
	case "readme.md":
		files, err := s.chartFiles(ctx, a.ProjectID, m, "readme.md")
		if err != nil {
			return nil, "", err
		}
		body, contentType = files["readme.md"], "text/markdown; charset=utf-8"
	case "dependencies":
		if body, err = s.chartDependencies(ctx, a.ProjectID, m); err != nil {
			return nil, "", err
		}
	}
	return body, contentType, nil
}

// Manifest returns the manifest of artifact digest as stored, once p may
// pull from the repository: the console's view of it, which is not a pull
// (no pull time or count, no pull event).
func (s *Service) Manifest(ctx context.Context, p *auth.Principal, project *store.Project, repository, digest string) ([]byte, error) {
	a, err := s.artifact(ctx, p, project, repository, digest, rbac.ResRepository, rbac.Pull)
	if err != nil {
		return nil, err
	}
	return a.Manifest, nil
}

// AddTag points tag name at artifact ref, once p may create tags.
func (s *Service) AddTag(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref, name string) error {
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResTag, rbac.Create)
	if err != nil {
		return err
	}
	if name == "" {
		return errs.E(errs.Invalid, "create tag", "name is required")
	}
	_, err = s.arts.Tag(ctx, target(p, project, a.Repository), a, name)
	if errs.Is(err, errs.Invalid) {
		return err // a bad name: nothing was attempted
	}
	s.record(p, project.ID, "create", "tag", a.Repository+":"+name, err)
	return err
}

// DeleteTag deletes tag name of artifact ref, once p may delete tags. A
// deletion is recorded by the artifact service's DELETE_TAG event; a
// refused one here.
func (s *Service) DeleteTag(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref, name string) error {
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResTag, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.arts.DeleteTag(ctx, target(p, project, a.Repository), name, a.ID); err != nil {
		s.record(p, project.ID, "delete", "tag", a.Repository+":"+name, err)
		return err
	}
	return nil
}

// DeleteArtifact deletes artifact ref with its tags, its accessories and
// the index children nothing else uses, once p may delete artifacts. A
// child of an index in the repository cannot be deleted on its own
// (errs.Precondition, as in Harbor). A deletion is recorded by the
// artifact service's DELETE_ARTIFACT events; a refused one here.
func (s *Service) DeleteArtifact(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string) error {
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResArtifact, rbac.Delete)
	if err != nil {
		return err
	}
	if _, err := s.arts.DeleteArtifact(ctx, target(p, project, a.Repository), a.ID); err != nil {
		s.record(p, project.ID, "delete", "artifact", a.Repository+"@"+a.Digest, err)
		return err
	}
	return nil
}

// AddLabel attaches label id (nil: none was sent) to artifact ref, once p
// may add labels to artifacts. A project label of another project is not
// found.
func (s *Service) AddLabel(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, id *int64) error {
	const op = "add label"
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResArtifactLabel, rbac.Create)
	if err != nil {
		return err
	}
	if id == nil || *id <= 0 {
		return errs.E(errs.Invalid, op, "id (a positive integer) is required")
	}
	l, err := s.st.LabelByID(ctx, *id)
	if err != nil {
		return err
	}
	if l.Scope == store.LabelProject && l.ProjectID != project.ID {
		return errs.E(errs.NotFound, op, "label %d not found in project %s", l.ID, project.Name)
	}
	return s.st.AttachLabel(ctx, a.ID, l.ID)
}

// RemoveLabel detaches label id from artifact ref, once p may remove
// labels from artifacts.
func (s *Service) RemoveLabel(ctx context.Context, p *auth.Principal, project *store.Project, repository, ref string, id int64) error {
	a, err := s.artifact(ctx, p, project, repository, ref, rbac.ResArtifactLabel, rbac.Delete)
	if err != nil {
		return err
	}
	return s.st.DetachLabel(ctx, a.ID, id)
}

// maxOfferedLabels bounds the labels of each scope an artifact page offers.
const maxOfferedLabels = 100

// AttachableLabels returns the global labels and, when p may list them,
// project's labels (at most maxOfferedLabels of each) that a, an artifact
// of project, does not carry, once p may add labels to artifacts there.
func (s *Service) AttachableLabels(ctx context.Context, p *auth.Principal, project *store.Project, a *Artifact) ([]Label, error) {
	if err := s.Require(ctx, p, project, rbac.ResArtifactLabel, rbac.Create); err != nil {
		return nil, err
	}
	have := map[int64]bool{}
	for _, l := range a.Labels {
		have[l.ID] = true
	}
	scopes := []struct {
		name    string
		project int64
	}{{store.LabelGlobal, 0}}
	if s.Require(ctx, p, project, rbac.ResLabel, rbac.List) == nil {
		scopes = append(scopes, struct {
			name    string
			project int64
		}{store.LabelProject, project.ID})
	}
	var out []Label
	for _, scope := range scopes {
		list, _, err := s.st.ListLabels(ctx, scope.name, scope.project, "", nil, 0, maxOfferedLabels)
		if err != nil {
			return nil, err
		}
		for i := range list {
			if !have[list[i].ID] {
				out = append(out, LabelOf(&list[i]))
			}
		}
	}
	return out, nil
}

// Refused is a copy the rules of the copy itself refuse (an accessory on
// its own, an immutable tag it would move, the target's quota), as opposed
// to the caller's permissions: Harbor answers it with its DENIED code.
type Refused struct{ Err error }

// Error is the refusal's text.
func (e *Refused) Error() string { return e.Err.Error() }

// Unwrap returns the refusal.
func (e *Refused) Unwrap() error { return e.Err }

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

// Copy copies the artifact from names (project/repo:tag or
// project/repo@digest; with its tags, its index children and its
// accessories) into repository (the full name) of project and returns the
// reference from named. It needs artifact create in the target project and
// artifact read in the source one, as in Harbor (handler/artifact.go
// CopyArtifact), so a robot given those copies. The blobs are linked into
// the target project (its quota applies). What the copy's own rules refuse
// is a *Refused.
func (s *Service) Copy(ctx context.Context, p *auth.Principal, project *store.Project, repository, from string) (string, error) {
	const op = "copy artifact"
	if err := s.Require(ctx, p, project, rbac.ResArtifact, rbac.Create); err != nil {
		return "", err
	}
	if err := oci.ValidateRepository(repository); err != nil {
		return "", errs.E(errs.Invalid, op, "invalid repository name %q", repository)
	}
	if from == "" {
		return "", errs.E(errs.Invalid, op, "from is required")
	}
	srcRepo, ref, byDigest, err := parseFrom(from)
	if err != nil {
		return "", err
	}
	srcProject, _ := oci.SplitRepository(srcRepo)
	src, err := s.st.ProjectByName(ctx, srcProject)
	if errs.Is(err, errs.NotFound) {
		return "", ProjectNotFound(srcProject)
	}
	if err != nil {
		return "", err
	}
	if err := s.Require(ctx, p, src, rbac.ResArtifact, rbac.Read); err != nil {
		var h *auth.HiddenProject
		if errors.As(err, &h) {
			return "", ProjectNotFound(srcProject)
		}
		return "", err
	}
	a, err := s.st.ArtifactByRef(ctx, srcRepo, ref, byDigest)
	if err != nil {
		return "", err
	}
	tags, err := s.st.ArtifactTags(ctx, []int64{a.ID})
	if err != nil {
		return "", err
	}
	var names []string
	for _, t := range tags[a.ID] {
		names = append(names, t.Name)
	}
	if s.isAccessory(ctx, a, names) {
		return "", &Refused{errs.E(errs.Denied, op, "an accessory cannot be copied on its own; copy its subject")}
	}
	err = s.arts.Copy(ctx, target(p, project, repository), srcRepo, a, names)
	s.record(p, project.ID, "create", "artifact", repository+"@"+a.Digest, err)
	if errs.Is(err, errs.Denied) {
		return "", &Refused{err}
	}
	return ref, err
}

// isAccessory reports whether a is attached to another artifact of its
// repository (by its subject, or as a cosign signature tag).
func (s *Service) isAccessory(ctx context.Context, a *store.Artifact, tags []string) bool {
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
