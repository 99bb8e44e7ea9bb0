package api

import (
	"net/http"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/store"
)

// repositoryStore is what the repository handlers need from the metadata
// store: the repository service's, which owns every rule.
type repositoryStore interface {
	repository.Store
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

// Repository is Harbor's repository (the repository service's view).
type Repository = repository.Repository

// reach returns the projects c may see in listings that span projects
// (repository.Reach).
func (s *Server) reach(c *Caller) *store.Reach {
	return repository.Reach(c.Principal)
}

func (s *Server) listAllRepositories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.repos.ListAll(r.Context(), c.Principal, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request, c *Caller) error {
	proj, err := s.project(r, "project_name")
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		// The caller's right is answered first, so that a bad page does
		// not tell a hidden project from a missing one.
		return firstOf(s.repos.Require(r.Context(), c.Principal, proj, rbac.ResRepository, rbac.List), err)
	}
	list, total, err := s.repos.List(r.Context(), c.Principal, proj, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	return writeList(w, r, p, list, total)
}

func (s *Server) getRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	v, err := s.repos.Get(r.Context(), c.Principal, p, repo)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
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
const maxDescription = repository.MaxDescription

func (s *Server) updateRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	var u repositoryUpdate
	if err := decodeAfter(r, &u, func() error { return s.repos.UpdateDescription(r.Context(), c.Principal, p, repo, nil) }); err != nil {
		return err
	}
	return errOr(s.repos.UpdateDescription(r.Context(), c.Principal, p, repo, u.Description), w)
}

func (s *Server) deleteRepository(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, repo, err := s.pathRepository(r)
	if err != nil {
		return err
	}
	return errOr(s.repos.Delete(r.Context(), c.Principal, p, repo), w)
}
