package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// purgeStore is what the audit log purge handlers need from the metadata store.
type purgeStore interface {
	ListExecutionsMatching(ctx context.Context, vendorType string, vendorID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*store.Schedule, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
}

func (s *Server) purgeRoutes() []route {
	return []route{
		{method: "GET", path: "/system/purgeaudit", op: "getPurgeHistory", handle: s.purgeHistory, resp: []ExecHistory{}, respDef: "[]ExecHistory"},
		{method: "GET", path: "/system/purgeaudit/{purge_id}", op: "getPurgeJob", handle: s.purgeJob, resp: ExecHistory{}, respDef: "ExecHistory"},
		{method: "PUT", path: "/system/purgeaudit/{purge_id}", op: "stopPurge", handle: s.stopPurge},
		{method: "GET", path: "/system/purgeaudit/{purge_id}/log", op: "getPurgeJobLog", handle: s.purgeJobLog, resp: "", respDef: "string"},
		{method: "GET", path: "/system/purgeaudit/schedule", op: "getPurgeSchedule", handle: s.purgeSchedule, resp: ExecHistory{}, respDef: "ExecHistory"},
		{method: "POST", path: "/system/purgeaudit/schedule", op: "createPurgeSchedule", handle: s.setPurgeSchedule(true)},
		{method: "PUT", path: "/system/purgeaudit/schedule", op: "updatePurgeSchedule", handle: s.setPurgeSchedule(false)},
	}
}

// ExecHistory is one run of a system job such as an audit log purge.
type ExecHistory struct {
	ID            int64        `json:"id"`
	JobName       string       `json:"job_name"`
	JobKind       string       `json:"job_kind"`
	JobParameters string       `json:"job_parameters"`
	Schedule      *ScheduleObj `json:"schedule,omitempty"`
	JobStatus     string       `json:"job_status"`
	Deleted       bool         `json:"deleted"`
	CreationTime  string       `json:"creation_time"`
	UpdateTime    string       `json:"update_time"`
}

// execHistory shows a purge execution as Harbor does: the trigger is both
// the job kind and the schedule type.
func execHistory(e store.Execution) ExecHistory {
	return ExecHistory{
		ID: e.ID, JobName: audit.PurgeVendor, JobKind: e.Trigger, JobParameters: e.ExtraAttrs,
		Schedule: &ScheduleObj{Type: e.Trigger}, JobStatus: e.Status,
		CreationTime: Timestamp(e.StartTime), UpdateTime: Timestamp(e.UpdateTime),
	}
}

func (s *Server) purgeHistory(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResPurgeAudit, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListExecutionsMatching(r.Context(), audit.PurgeVendor, 0, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	setPageHeaders(w, r, p, total)
	out := make([]ExecHistory, len(list))
	for i, e := range list {
		out[i] = execHistory(e)
	}
	return writeJSON(w, http.StatusOK, out)
}

// purgeExecution loads the purge execution named by the path.
func (s *Server) purgeExecution(r *http.Request) (*store.Execution, error) {
	id, err := pathID(r, "purge_id")
	if err != nil {
		return nil, err
	}
	e, err := s.st.GetExecution(r.Context(), id)
	if err == nil && e.VendorType != audit.PurgeVendor {
		err = errs.E(errs.NotFound, "purge job", "purge job %d not found", id)
	}
	return e, err
}

func (s *Server) purgeJob(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResPurgeAudit, rbac.Read); err != nil {
		return err
	}
	e, err := s.purgeExecution(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, execHistory(*e))
}

func (s *Server) stopPurge(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResPurgeAudit, rbac.Stop); err != nil {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "stop purge", "the job system is not running")
	}
	e, err := s.purgeExecution(r)
	if err != nil {
		return err
	}
	err = s.opts.Jobs.Stop(r.Context(), e.ID)
	s.audit(c, 0, "stop", "purge_audit_job", strconv.FormatInt(e.ID, 10), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) purgeJobLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResPurgeAudit, rbac.Read); err != nil {
		return err
	}
	e, err := s.purgeExecution(r)
	if err != nil {
		return err
	}
	tasks, _, err := s.st.ListTasks(r.Context(), e.ID, 0, 1)
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return errs.E(errs.NotFound, "purge job log", "purge job %d has no log", e.ID)
	}
	return writeLog(w, r, s.st, tasks[0].ID)
}

func (s *Server) purgeSchedule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResPurgeAudit, rbac.Read); err != nil {
		return err
	}
	sc, err := s.st.GetSchedule(r.Context(), audit.PurgeVendor, 0)
	if errs.Is(err, errs.NotFound) {
		return writeJSON(w, http.StatusOK, ExecHistory{Schedule: &ScheduleObj{Type: "None"}, CreationTime: Timestamp(0), UpdateTime: Timestamp(0)})
	}
	if err != nil {
		return err
	}
	// Harbor shows a schedule as an ExecHistory whose job_kind is the cron.
	return writeJSON(w, http.StatusOK, ExecHistory{
		ID: sc.ID, JobKind: sc.Cron, JobParameters: sc.Params,
		Schedule:     &ScheduleObj{Type: scheduleTypeOf(sc.Cron), Cron: sc.Cron, NextScheduledTime: Timestamp(sc.NextRun)},
		CreationTime: Timestamp(sc.CreationTime), UpdateTime: Timestamp(sc.UpdateTime),
	})
}

// purgeScheduleBody is Harbor's Schedule object for a purge.
type purgeScheduleBody struct {
	// Read-only fields a client may send back; ignored.
	ID           *int64  `json:"id"`
	Status       *string `json:"status"`
	CreationTime *string `json:"creation_time"`
	UpdateTime   *string `json:"update_time"`

	Schedule   *ScheduleObj `json:"schedule"`
	Parameters *struct {
		AuditRetentionHour *int    `json:"audit_retention_hour"`
		IncludeEventTypes  *string `json:"include_event_types"`
		// IncludeOperations is the older form: operations (create,
		// delete, pull), each meaning every event type of that operation.
		IncludeOperations *string `json:"include_operations"`
		DryRun            *bool   `json:"dry_run"`
	} `json:"parameters"`
}

// params validates the body's parameters.
func (b *purgeScheduleBody) params() (audit.PurgeParams, error) {
	const op = "purge schedule"
	var p audit.PurgeParams
	if b.Parameters == nil {
		return p, errs.E(errs.Invalid, op, "parameters are required (audit_retention_hour, include_event_types, dry_run)")
	}
	if b.Parameters.AuditRetentionHour == nil {
		return p, errs.E(errs.Invalid, op, "parameters.audit_retention_hour is required")
	}
	p.RetentionHour = *b.Parameters.AuditRetentionHour
	switch {
	case b.Parameters.IncludeEventTypes != nil && b.Parameters.IncludeOperations != nil:
		return p, errs.E(errs.Invalid, op, "give parameters.include_event_types or include_operations, not both")
	case b.Parameters.IncludeEventTypes != nil:
		p.IncludeEventTypes = *b.Parameters.IncludeEventTypes
	case b.Parameters.IncludeOperations != nil:
		var types []string
		for _, o := range strings.Split(*b.Parameters.IncludeOperations, ",") {
			o = strings.ToLower(strings.TrimSpace(o))
			if o == "" {
				continue
			}
			n := len(types)
			for _, t := range auditEventTypes {
				if strings.HasPrefix(t, o+"_") {
					types = append(types, t)
				}
			}
			if len(types) == n {
				return p, errs.E(errs.Invalid, op, "include_operations: no event type has operation %q", o)
			}
		}
		p.IncludeEventTypes = strings.Join(types, ",")
	default:
		return p, errs.E(errs.Invalid, op, "parameters.include_event_types is required (a comma-separated list such as create_artifact,pull_artifact)")
	}
	if b.Parameters.DryRun != nil {
		p.DryRun = *b.Parameters.DryRun
	}
	p.IncludeEventTypes = strings.Join(p.EventTypes(), ",")
	return p, p.Validate(auditEventTypes)
}

// setPurgeSchedule serves createPurgeSchedule and updatePurgeSchedule,
// which do the same as in Harbor: Manual runs a purge now, None removes
// the schedule, other types (re)place it.
func (s *Server) setPurgeSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		const op = "purge schedule"
		act := rbac.Update
		if create {
			act = rbac.Create
		}
		if err := s.requireSystem(c, rbac.ResPurgeAudit, act); err != nil {
			return err
		}
		var b purgeScheduleBody
		if err := decode(r, &b); err != nil {
			return err
		}
		if b.Schedule == nil {
			return errs.E(errs.Invalid, op, "schedule is required")
		}
		cron, manual, none, err := cronOf(*b.Schedule)
		if err != nil {
			return err
		}
		var p audit.PurgeParams
		if !none {
			if p, err = b.params(); err != nil {
				return err
			}
		}
		if s.opts.Jobs == nil {
			return errs.E(errs.Unavailable, op, "the job system is not running")
		}
		ctx := r.Context()
		switch {
		case manual:
			id, err := audit.StartPurge(ctx, s.opts.Jobs, jobs.Manual, p)
			s.audit(c, 0, "create", "purge_audit_job", strconv.FormatInt(id, 10), err)
			if err != nil {
				return err
			}
			if create {
				return created(w, r, Prefix+"/system/purgeaudit/"+strconv.FormatInt(id, 10))
			}
		case none:
			err := s.st.DeleteSchedule(ctx, audit.PurgeVendor, 0)
			s.audit(c, 0, "delete", "purge_audit_schedule", audit.PurgeVendor, err)
			if err != nil {
				return err
			}
		default:
			err := s.opts.Jobs.SetSchedule(ctx, audit.PurgeVendor, 0, cron, p)
			operation := "update"
			if create {
				operation = "create"
			}
			s.audit(c, 0, operation, "purge_audit_schedule", cron, err)
			if err != nil {
				return err
			}
		}
		if create {
			return created(w, r, Prefix+"/system/purgeaudit/schedule")
		}
		return ok(w)
	}
}
