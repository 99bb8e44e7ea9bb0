package api

import (
	"net/http"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/store"
)

// auditStore is what the audit log's reader needs from the metadata store.
type auditStore interface {
	audit.LogStore
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

// auditEventTypes are the event types the audit log records.
var auditEventTypes = audit.EventTypes

func (s *Server) auditEventTypes(w http.ResponseWriter, r *http.Request, c *Caller) error {
	types, err := s.auditLog.ListEventTypes(c.Principal)
	if err != nil {
		return err
	}
	out := make([]AuditLogEventType, len(types))
	for i, t := range types {
		out[i] = AuditLogEventType{EventType: t}
	}
	return writeJSON(w, http.StatusOK, out)
}

// AuditLogsOf is the API form of audit log entries.
func AuditLogsOf(entries []store.AuditEntry) []AuditLog {
	out := make([]AuditLog, len(entries))
	for i, e := range entries {
		out[i] = AuditLog{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
			Operation: e.Operation, OpTime: Timestamp(e.OpTime)}
	}
	return out
}

// listAuditLogs serves the four listings: system-wide or one project's,
// as audit.Log answers them to the caller.
func (s *Server) listAuditLogs(ext, inProject bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		ctx := r.Context()
		p, err := page(r)
		if err != nil {
			return err
		}
		var entries []store.AuditEntry
		var total int64
		if inProject {
			var project *store.Project
			if project, err = s.project(r, "project_name"); err != nil {
				return err
			}
			entries, total, err = s.auditLog.ListProject(ctx, c.Principal, project, p.Query, p.Offset(), p.Size)
		} else {
			entries, total, err = s.auditLog.List(ctx, c.Principal, p.Query, p.Offset(), p.Size)
		}
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
		return writeJSON(w, http.StatusOK, AuditLogsOf(entries))
	}
}
