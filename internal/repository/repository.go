// Package repository is the domain service of repositories and artifacts
// as a caller sees and changes them: who may list, read, tag, label, copy
// and delete (asked of auth, never worked out here), the views Harbor
// shows of them (artifacts with their tags, labels, accessories and
// additions, read from the store and the blob store), and the event of
// every change the REST API records as an operation. The REST API decodes
// a request, calls a Service and encodes the answer; the console calls the
// same Service with its session's principal.
//
// It is a sibling of package artifact rather than a part of it: artifact
// is the principal-free write service that /v2 (authorized by token
// scope), retention and this service call with a Target; this service is
// the principal-taking layer above it, and every write it makes goes
// through artifact, under its immutability, quota and event rules.
package repository

import (
	"context"
	"io"
	"log/slog"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service reads and writes beside the artifact service.
type Store interface {
	ProjectByName(ctx context.Context, name string) (*store.Project, error)
	ListRepositories(ctx context.Context, reach *store.Reach, projectID int64, q *query.Query, offset, limit int) ([]store.Repository, int64, error)
	RepositoryByName(ctx context.Context, name string) (*store.Repository, error)
	UpdateRepositoryDescription(ctx context.Context, name, description string) error
	DeleteRepository(ctx context.Context, name string) error

	ListArtifacts(ctx context.Context, f store.ArtifactFilter, q *query.Query, offset, limit int, w store.DetailsWanted) (*store.ArtifactPage, error)
	ListProjectArtifacts(ctx context.Context, projectName string, userID int64, f store.ArtifactFilter, q *query.Query, offset, limit int, w store.DetailsWanted) (*store.ProjectAccess, *store.ArtifactPage, error)
	ArtifactByRef(ctx context.Context, repository, ref string, byDigest bool) (*store.Artifact, error)
	ArtifactTags(ctx context.Context, ids []int64) (map[int64][]store.Tag, error)
	ArtifactAccessories(ctx context.Context, ids []int64) (map[int64][]store.Accessory, error)
	ArtifactDetailsOf(ctx context.Context, ids []int64, w store.DetailsWanted) (*store.ArtifactDetails, error)
	ProjectArtifact(ctx context.Context, projectName string, userID int64, repository, ref string, byDigest bool, w store.DetailsWanted) (*store.ProjectAccess, *store.Artifact, *store.ArtifactDetails, error)
	ListArtifactTags(ctx context.Context, id int64, q *query.Query, offset, limit int) ([]store.Tag, int64, error)
	ProjectBlob(ctx context.Context, projectID int64, digest string) (int64, error)
	ImmutableRules(ctx context.Context, projectID int64) ([]immutable.Rule, error)

	AttachLabel(ctx context.Context, artifact, label int64) error
	DetachLabel(ctx context.Context, artifact, label int64) error
	LabelByID(ctx context.Context, id int64) (*store.Label, error)
	ListLabels(ctx context.Context, scope string, projectID int64, name string, q *query.Query, offset, limit int) ([]store.Label, int64, error)
}

// Auth answers what a caller may do in a project: the set enforcement
// checks (auth.Decide), read by the service (ProjectPermissions) or from
// the roles the store read with a page (ProjectPermissionsWithRoles).
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	ProjectPermissionsWithRoles(p *auth.Principal, project *store.Project, roleIDs []int) rbac.Set
}

// Blobs opens stored blobs (configs, chart archives).
type Blobs interface {
	Open(ctx context.Context, d oci.Digest) (io.ReadSeekCloser, error)
}

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Config configures a Service.
type Config struct {
	Events  Publisher    // the operations the service records
	Changed func()       // called after every write (nil: none)
	Logger  *slog.Logger // nil: slog.Default()
	// Links is the path the views' addition links start with (the REST
	// API's prefix).
	Links string
}

// Service is the repository and artifact service.
type Service struct {
	st      Store
	auth    Auth
	arts    *artifact.Service
	blobs   Blobs
	events  Publisher
	changed func()
	log     *slog.Logger
	links   string
}

// New returns a service over st and blobs that asks a what callers may
// do and writes artifacts and tags through arts.
func New(st Store, a Auth, arts *artifact.Service, blobs Blobs, o Config) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{st: st, auth: a, arts: arts, blobs: blobs, events: o.Events, changed: o.Changed, log: o.Logger, links: o.Links}
}

// Require checks that p may do act on res in project (auth.Decide): a
// caller who holds nothing in a private project gets its NotFound.
func (s *Service) Require(ctx context.Context, p *auth.Principal, project *store.Project, res rbac.Resource, act rbac.Action) error {
	return auth.Require(ctx, s.auth, p, project, res, act)
}

// record publishes the operation p made (or was refused) and tells caches.
func (s *Service) record(p *auth.Principal, projectID int64, operation, resourceType, resource string, err error) {
	event.Record(s.events, s.changed, p.Name, projectID, operation, resourceType, resource, err)
}

// target is the artifact service's view of a write by p to repository of
// project.
func target(p *auth.Principal, project *store.Project, repository string) artifact.Target {
	return artifact.Target{ProjectID: project.ID, Project: project.Name, Repository: repository, Operator: p.Name}
}

// ProjectNotFound is the one answer for a project named name that does not
// exist or that the caller may not see.
func ProjectNotFound(name string) error {
	return errs.E(errs.NotFound, "get project", "project %s not found", name)
}

// Reach returns the projects p may see in listings that span projects:
// all of them for administrators; public ones plus, for a user, those it
// owns or is a member of, and for a robot, the projects its permissions name.
func Reach(p *auth.Principal) *store.Reach {
	switch {
	case p.Admin:
		return &store.Reach{All: true}
	case p.IsRobot():
		names, all := p.RobotProjects()
		if all {
			return &store.Reach{All: true}
		}
		return &store.Reach{Projects: names}
	case !p.Anonymous():
		return &store.Reach{UserID: p.UserID}
	}
	return &store.Reach{}
}

// MaxDescription bounds descriptions of repositories and labels.
const MaxDescription = 8 << 10

// repository is the repository name of project once p may do act on res
// there. A name that cannot exist is NotFound, like a missing one.
func (s *Service) repository(ctx context.Context, p *auth.Principal, project *store.Project, name string, res rbac.Resource, act rbac.Action) (*store.Repository, error) {
	if err := s.Require(ctx, p, project, res, act); err != nil {
		return nil, err
	}
	if oci.ValidateRepository(name) != nil {
		return nil, errs.E(errs.NotFound, "get repository", "repository %s not found", name)
	}
	return s.st.RepositoryByName(ctx, name)
}

// views turns stored repositories into their views.
func views(list []store.Repository) []Repository {
	out := make([]Repository, 0, len(list))
	for i := range list {
		out = append(out, repositoryOf(&list[i]))
	}
	return out
}

// List returns a page of project's repositories that q selects and how
// many match, once p may list them.
func (s *Service) List(ctx context.Context, p *auth.Principal, project *store.Project, q *query.Query, offset, limit int) ([]Repository, int64, error) {
	if err := s.Require(ctx, p, project, rbac.ResRepository, rbac.List); err != nil {
		return nil, 0, err
	}
	list, total, err := s.st.ListRepositories(ctx, nil, project.ID, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	return views(list), total, nil
}

// ListAll returns a page of the repositories of every project p can see
// (Reach) that q selects, and how many match.
func (s *Service) ListAll(ctx context.Context, p *auth.Principal, q *query.Query, offset, limit int) ([]Repository, int64, error) {
	list, total, err := s.st.ListRepositories(ctx, Reach(p), 0, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	return views(list), total, nil
}

// Get returns repository name (project/repo) of project. It needs
// repository list, as in Harbor: anonymous callers of a public project
// hold list and pull, not read.
func (s *Service) Get(ctx context.Context, p *auth.Principal, project *store.Project, name string) (Repository, error) {
	repo, err := s.repository(ctx, p, project, name, rbac.ResRepository, rbac.List)
	if err != nil {
		return Repository{}, err
	}
	return repositoryOf(repo), nil
}

// UpdateDescription sets the description of repository name of project
// (nil: none was sent, which is refused).
func (s *Service) UpdateDescription(ctx context.Context, p *auth.Principal, project *store.Project, name string, description *string) error {
	const op = "update repository"
	repo, err := s.repository(ctx, p, project, name, rbac.ResRepository, rbac.Update)
	if err != nil {
		return err
	}
	if description == nil {
		return errs.E(errs.Invalid, op, "description is required")
	}
	if len(*description) > MaxDescription {
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", MaxDescription)
	}
	err = s.st.UpdateRepositoryDescription(ctx, repo.Name, *description)
	s.record(p, project.ID, "update", "repository", repo.Name, err)
	return err
}

// Delete deletes repository name of project with all its artifacts,
// unless an immutable tag is among them (artifact.GuardRepository).
func (s *Service) Delete(ctx context.Context, p *auth.Principal, project *store.Project, name string) error {
	repo, err := s.repository(ctx, p, project, name, rbac.ResRepository, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.arts.GuardRepository(ctx, target(p, project, repo.Name), "delete repository")
	if err == nil {
		err = s.st.DeleteRepository(ctx, repo.Name)
	}
	s.record(p, project.ID, "delete", "repository", repo.Name, err)
	return err
}
