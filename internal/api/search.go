package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// searchStore is what the search handler needs from the metadata store.
type searchStore interface {
	Search(ctx context.Context, f store.ProjectFilter, reach *store.Reach, user int64, limit int) (*store.SearchResult, error)
}

func (s *Server) searchRoutes() []route {
	return []route{
		{method: "GET", path: "/search", op: "search", handle: s.search, resp: Search{}, respDef: "Search"},
	}
}

// Search is Harbor's search result: projects and repositories whose names
// contain the keyword, among those the caller can see.
type Search struct {
	Project    []SearchProject    `json:"project"`
	Repository []SearchRepository `json:"repository"`
}

// SearchProject is a project as the search shows it (a subset of Harbor's
// Project).
type SearchProject struct {
	ProjectID          int64             `json:"project_id"`
	OwnerID            int64             `json:"owner_id"`
	Name               string            `json:"name"`
	CreationTime       string            `json:"creation_time"`
	UpdateTime         string            `json:"update_time"`
	Deleted            bool              `json:"deleted"`
	OwnerName          string            `json:"owner_name"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int64             `json:"repo_count"`
	Metadata           map[string]string `json:"metadata"`
}

// SearchRepository is a repository found by a search.
type SearchRepository struct {
	ProjectID      int64  `json:"project_id"`
	ProjectName    string `json:"project_name"`
	ProjectPublic  bool   `json:"project_public"`
	RepositoryName string `json:"repository_name"`
	PullCount      int64  `json:"pull_count"`
	ArtifactCount  int64  `json:"artifact_count"`
}

// searchLimit bounds each list of a search answer (Harbor's is unbounded).
const searchLimit = 100

func (s *Server) search(w http.ResponseWriter, r *http.Request, c *Caller) error {
	ctx := r.Context()
	qv := r.URL.Query()
	if _, ok := qv["q"]; !ok {
		return errs.E(errs.Invalid, "search", "q is required")
	}
	keyword := qv.Get("q")
	reach := s.reach(c)
	f := store.ProjectFilter{Name: keyword, All: reach.All, WithPublic: true, MemberID: reach.UserID, Names: reach.Projects}
	var user int64
	if !c.IsRobot() {
		user = c.UserID
	}
	found, err := s.st.Search(ctx, f, reach, user, searchLimit)
	if err != nil {
		return err
	}
	out := Search{Project: []SearchProject{}, Repository: []SearchRepository{}}
	for _, p := range found.Projects {
		sp := SearchProject{
			ProjectID: p.ID, OwnerID: p.OwnerID, Name: p.Name, OwnerName: p.OwnerName,
			CreationTime: Timestamp(p.CreatedAt), UpdateTime: Timestamp(p.UpdatedAt),
			RepoCount: p.RepoCount, Metadata: map[string]string{"public": strconv.FormatBool(p.Public)},
		}
		v := s.auth.ProjectView(c.Principal, &p.Project, found.Roles[p.ID])
		sp.CurrentUserRoleIDs, sp.CurrentUserRoleID = v.RoleIDs, int(v.Role)
		out.Project = append(out.Project, sp)
	}
	for _, h := range found.Repositories {
		out.Repository = append(out.Repository, SearchRepository{
			ProjectID: h.ProjectID, ProjectName: h.ProjectName, ProjectPublic: h.ProjectPublic,
			RepositoryName: h.Name, PullCount: h.PullCount, ArtifactCount: h.ArtifactCount,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}
