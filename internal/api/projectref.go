package api

import (
	"context"
	"strconv"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// loadProject reads a project by ID (ref holds its decimal ID) or by name.
func (s *Server) loadProject(ctx context.Context, byID bool, ref string) (*store.Project, error) {
	if byID {
		id, _ := strconv.ParseInt(ref, 10, 64)
		return s.st.ProjectByID(ctx, id)
	}
	return s.st.ProjectByName(ctx, ref)
}

// projectPermissions is what c may do in project, as auth decides it.
func (s *Server) projectPermissions(ctx context.Context, c *Caller, project *store.Project) (rbac.Set, error) {
	return s.auth.ProjectPermissions(ctx, c.Principal, project)
}
