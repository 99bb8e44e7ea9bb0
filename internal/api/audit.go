package api

import (
	"context"
	"net/http"

	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// auditStore is what the audit log handlers need from the metadata store.
type auditStore interface {
	ListAuditEntries(ctx context.Context, q *query.Query, all bool, projectIDs []int64, offset, limit int) ([]store.AuditEntry, int64, error)
	ProjectsWithRole(ctx context.Context, userID int64, roles ...int) ([]int64, error)
}

func (s *Server) auditRoutes() []route {
	return []route{
		{method: "GET", path: "/audit-logs", op: "listAuditLogs", handle: s.listAuditLogs(false, false), resp: []AuditLog{}, respDef: "[]AuditLog"},
		{method: "GET", path: "/auditlog-exts", op: "listAuditLogExts", handle: s.listAuditLogs(true, false), resp: []AuditLogExt{}, respDef: "[]AuditLogExt"},
		{method: "GET", path: "/auditlog-exts/events", op: "listAuditLogEventTypes", handle: s.auditEventTypes, resp: []AuditLogEventType{}, respDef: "[]AuditLogEventType"},
		{method: "GET", path: "/projects/{project_name}/logs", op: "getLogs", handle: s.listAuditLogs(false, true), resp: []AuditLog{}, respDef: "[]AuditLog"},
		{method: "GET", path: "/projects/{project_name}/auditlog-exts", op: "getLogExts", handle: s.listAuditLogs(true, true), resp: []AuditLogExt{}, respDef: "[]AuditLogExt"},
	}
}

// AuditLog is Harbor's (legacy) audit log entry.
type AuditLog struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	Resource     string `json:"resource"`
	ResourceType string `json:"resource_type"`
	Operation    string `json:"operation"`
	OpTime       string `json:"op_time"`
}

// AuditLogExt is Harbor's extended audit log entry.
type AuditLogExt struct {
	ID                   int64  `json:"id"`
	Username             string `json:"username"`
	Resource             string `json:"resource"`
	ResourceType         string `json:"resource_type"`
	Operation            string `json:"operation"`
	OperationDescription string `json:"operation_description"`
	OperationResult      bool   `json:"operation_result"`
	OpTime               string `json:"op_time"`
}

// AuditLogEventType names one kind of audited event.
type AuditLogEventType struct {
	EventType string `json:"event_type"`
}

// auditEventTypes are the operation_resource pairs Berth records.
var auditEventTypes = []string{
	"create_artifact", "delete_artifact", "pull_artifact", "create_tag", "delete_tag",
	"create_project", "delete_project", "update_project", "delete_repository", "update_repository",
	"create_user", "delete_user", "update_user", "login_user", "logout_user",
	"create_robot", "delete_robot", "update_robot", "create_member", "delete_member", "update_member",
	"create_label", "delete_label", "update_label", "update_configuration", "update_quota",
}

func (s *Server) auditEventTypes(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResAuditLog, rbac.List); err != nil {
		return err
	}
	out := make([]AuditLogEventType, len(auditEventTypes))
	for i, t := range auditEventTypes {
		out[i] = AuditLogEventType{EventType: t}
	}
	return writeJSON(w, http.StatusOK, out)
}

// listAuditLogs serves the four listings: system-wide (admins and robots
// with audit-log:list see everything, other users the projects they
// administer, as Harbor does) or one project's (project log:list).
func (s *Server) listAuditLogs(ext, inProject bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		ctx := r.Context()
		p, err := page(r)
		if err != nil {
			return err
		}
		all := false
		var projects []int64
		switch {
		case inProject:
			project, err := s.project(r, "project_name")
			if err != nil {
				return err
			}
			if err := s.require(ctx, c, project, rbac.ResLog, rbac.List); err != nil {
				return err
			}
			projects = []int64{project.ID}
		case s.auth.CanSystem(c.Principal, rbac.ResAuditLog, rbac.List):
			all = true
		case c.IsRobot():
			// A robot without audit-log:list gets an empty page, not a
			// refusal, as in Harbor (whose listing keeps the projects
			// where a local user holds log:list; a robot is no local user).
		default:
			if err := requireUser(c); err != nil {
				return err
			}
			if projects, err = s.st.ProjectsWithRole(ctx, c.UserID, int(rbac.ProjectAdmin)); err != nil {
				return err
			}
		}
		entries, total, err := s.st.ListAuditEntries(ctx, p.Query, all, projects, p.Offset(), p.Size)
		if err != nil {
			return err
		}
		setPageHeaders(w, r, p, total)
		if ext {
			out := make([]AuditLogExt, len(entries))
			for i, e := range entries {
				out[i] = AuditLogExt{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
					Operation: e.Operation, OperationDescription: e.Description, OperationResult: e.Success, OpTime: Timestamp(e.OpTime)}
			}
			return writeJSON(w, http.StatusOK, out)
		}
		out := make([]AuditLog, len(entries))
		for i, e := range entries {
			out[i] = AuditLog{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
				Operation: e.Operation, OpTime: Timestamp(e.OpTime)}
		}
		return writeJSON(w, http.StatusOK, out)
	}
}
