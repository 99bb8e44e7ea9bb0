package api

import (
	"context"
	"net/http"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// repositoryStore is what the repository handlers need from the metadata store.
type repositoryStore interface {
	ListRepositories(ctx context.Context, reach *store.Reach, projectID int64, q *query.Query, offset, limit int) ([]store.Repository, int64, error)
	RepositoryByName(ctx context.Context, name string) (*store.Repository, error)
	UpdateRepositoryDescription(ctx context.Context, name, description string) error
	DeleteRepository(ctx context.Context, name string) error
}

func (s *Server) repositoryRoutes() []route {
	const repo = "/projects/{project_name}/repositories/{repository_name}"
	return []route{
		{method: "GET", path: "/repositories", op: "listAllRepositories", handle: s.listAllRepositories, resp: []Repository{}, respDef: "[]Repository"},
		{method: "GET", path: "/projects/{project_name}/repositories", op: "listRepositories", handle: s.listRepositories, resp: []Repository{}, respDef: "[]Repository"},
		{method: "GET", path: repo, op: "getRepository", handle: s.getRepository, resp: Repository{}, respDef: "Repository"},
		{method: "PUT", path: repo, op: "updateRepository", handle: s.updateRepository},
		{method: "DELETE", path: repo, op: "deleteRepository", handle: s.deleteRepository},
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

// reach returns the projects c may see in listings that span projects:
// all of them for administrators; public ones plus, for a user, those it
// owns or is a member of, and for a robot, the projects its permissions name.
func (s *Server) reach(c *Caller) *store.Reach {
	switch {
	case c.Admin:
		return &store.Reach{All: true}
	case c.IsRobot():
		names, all := c.RobotProjects()
		if all {
			return &store.Reach{All: true}
		}
		return &store.Reach{Projects: names}
	case !c.Anonymous():
		return &store.Reach{UserID: c.UserID}
	}
	return &store.Reach{}
}

// repository resolves the project and repository named by the path and
// checks that c may do act on res in the project. A name that cannot exist
// is NotFound, like a missing one.
func (s *Server) repository(r *http.Request, c *Caller, res rbac.Resource, act rbac.Action) (*store.Project, *store.Repository, error) {
	p, err := s.project(r, "project_name")
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(r.Context(), c, p, res, act); err != nil {
		return nil, nil, err
	}
	name := repoName(p.Name, r.PathValue("repository_name"))
	if oci.ValidateRepository(name) != nil {
		return nil, nil, errs.E(errs.NotFound, "get repository", "repository %s not found", name)
	}
	repo, err := s.st.RepositoryByName(r.Context(), name)
	if err != nil {
		return nil, nil, err
	}
	return p, repo, nil
}

func (s *Server) writeRepositories(w http.ResponseWriter, r *http.Request, p Page, list []store.Repository, total int64) error {
	out := make([]Repository, 0, len(list))
	for i := range list {
		out = append(out, repositoryOf(&list[i]))
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listAllRepositories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListRepositories(r.Context(), s.reach(c), 0, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	return s.writeRepositories(w, r, p, list, total)
}

func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	proj, err := s.project(r, "project_name")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, proj, rbac.ResRepository, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListRepositories(r.Context(), nil, proj.ID, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	return s.writeRepositories(w, r, p, list, total)
}

// getRepository needs repository list, as in Harbor: anonymous callers of
// a public project hold list and pull, not read.
func (s *Server) getRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, repo, err := s.repository(r, c, rbac.ResRepository, rbac.List)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, repositoryOf(repo))
}

// repositoryUpdate is the body of PUT: Harbor's Repository, of which only
// the description is changed.
type repositoryUpdate struct {
	ID            *int64  `json:"id"`
	ProjectID     *int64  `json:"project_id"`
	Name          *string `json:"name"`
	Description   *string `json:"description"`
	ArtifactCount *int64  `json:"artifact_count"`
	PullCount     *int64  `json:"pull_count"`
	CreationTime  *string `json:"creation_time"`
	UpdateTime    *string `json:"update_time"`
}

// maxDescription bounds descriptions of repositories and labels.
const maxDescription = 8 << 10

func (s *Server) updateRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update repository"
	p, repo, err := s.repository(r, c, rbac.ResRepository, rbac.Update)
	if err != nil {
		return err
	}
	var u repositoryUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if u.Description == nil {
		return errs.E(errs.Invalid, op, "description is required")
	}
	if len(*u.Description) > maxDescription {
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", maxDescription)
	}
	err = s.st.UpdateRepositoryDescription(r.Context(), repo.Name, *u.Description)
	s.audit(c, p.ID, "update", "repository", repo.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.repository(r, c, rbac.ResRepository, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.arts.GuardRepository(r.Context(), s.target(c, p, repo.Name), "delete repository")
	if err == nil {
		err = s.st.DeleteRepository(r.Context(), repo.Name)
	}
	s.audit(c, p.ID, "delete", "repository", repo.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}
