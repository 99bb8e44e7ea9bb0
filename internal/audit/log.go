package audit

import (
	"context"
	"slices"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// LogStore is what the audit log's readers need from the metadata store.
type LogStore interface {
	ListAuditEntries(ctx context.Context, q *query.Query, all bool, projectIDs []int64, offset, limit int) ([]store.AuditEntry, int64, error)
	ProjectsWithRole(ctx context.Context, userID int64, roles ...int) ([]int64, error)
}

// LogAuth answers what a reader of the audit log may see.
type LogAuth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
}

// Log is the audit log as callers read it: which entries each caller may
// list (asked of auth) and the event types recorded. The REST API and the
// web console call it.
type Log struct {
	st   LogStore
	auth LogAuth
}

// NewLog returns the audit log's reader over st, asking a who may read.
func NewLog(st LogStore, a LogAuth) *Log { return &Log{st: st, auth: a} }

// EventTypes are the operation_resource pairs Berth records (what a purge
// may select). Callers must not change it.
var EventTypes = []string{
	"create_artifact", "delete_artifact", "pull_artifact", "create_tag", "delete_tag",
	"create_project", "delete_project", "update_project", "delete_repository", "update_repository",
	"create_user", "delete_user", "update_user", "login_user", "logout_user",
	"create_robot", "delete_robot", "update_robot", "create_member", "delete_member", "update_member",
	"create_label", "delete_label", "update_label", "update_configuration", "update_quota",
}

// ListEventTypes returns EventTypes to p, who needs the system
// audit-log:list permission.
func (l *Log) ListEventTypes(p *auth.Principal) ([]string, error) {
	if err := l.auth.DecideSystem(p, rbac.ResAuditLog, rbac.List); err != nil {
		return nil, err
	}
	return slices.Clone(EventTypes), nil
}

// List returns a page of the system-wide audit log that q selects, as p
// may see it, and how many entries match in all: everything for
// administrators and robots with audit-log:list, the projects a user
// administers for other users (as Harbor), and an empty page for other
// robots (Harbor keeps the projects where a local user holds log:list; a
// robot is no local user). Anonymous callers are refused.
func (l *Log) List(ctx context.Context, p *auth.Principal, q *query.Query, offset, limit int) ([]store.AuditEntry, int64, error) {
	all := false
	var projects []int64
	switch {
	case l.auth.CanSystem(p, rbac.ResAuditLog, rbac.List):
		all = true
	case p.IsRobot():
	case p.Anonymous():
		return nil, 0, errs.E(errs.Unauthenticated, "authorize", "authentication required")
	default:
		var err error
		if projects, err = l.st.ProjectsWithRole(ctx, p.UserID, int(rbac.ProjectAdmin)); err != nil {
			return nil, 0, err
		}
	}
	return l.list(ctx, q, all, projects, offset, limit)
}

// ListProject returns a page of project's audit log that q selects, for p
// (log:list in the project), and how many entries match in all.
func (l *Log) ListProject(ctx context.Context, p *auth.Principal, project *store.Project, q *query.Query, offset, limit int) ([]store.AuditEntry, int64, error) {
	if err := auth.Require(ctx, l.auth, p, project, rbac.ResLog, rbac.List); err != nil {
		return nil, 0, err
	}
	return l.list(ctx, q, false, []int64{project.ID}, offset, limit)
}

// list reads a page of the entries of projects (of every project with
// all) that q selects (nil: every entry).
func (l *Log) list(ctx context.Context, q *query.Query, all bool, projects []int64, offset, limit int) ([]store.AuditEntry, int64, error) {
	if q == nil {
		q = &query.Query{}
	}
	return l.st.ListAuditEntries(ctx, q, all, projects, offset, limit)
}
