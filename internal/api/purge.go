package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
)

// purgeJob is the audit log purge as a system job.
var purgeJob = systemJob{
	vendor: audit.PurgeVendor, param: "purge_id", res: rbac.ResPurgeAudit,
	name: "purge job", auditType: "purge_audit", path: "/system/purgeaudit",
	// Harbor shows the trigger itself as the schedule type.
	trigger: func(t string) string { return t },
	resp:    func(h ExecHistory) any { return h },
}

func (s *Server) purgeRoutes() []route {
	return []route{
		{method: "GET", path: "/system/purgeaudit", op: "getPurgeHistory", handle: s.jobHistory(purgeJob), resp: []ExecHistory{}, respDef: "[]ExecHistory"},
		{method: "GET", path: "/system/purgeaudit/{purge_id}", op: "getPurgeJob", handle: s.jobGet(purgeJob), resp: ExecHistory{}, respDef: "ExecHistory"},
		{method: "PUT", path: "/system/purgeaudit/{purge_id}", op: "stopPurge", handle: s.jobStop(purgeJob)},
		{method: "GET", path: "/system/purgeaudit/{purge_id}/log", op: "getPurgeJobLog", handle: s.jobRunLog(purgeJob), resp: "", respDef: "string"},
		{method: "GET", path: "/system/purgeaudit/schedule", op: "getPurgeSchedule", handle: s.jobScheduleGet(purgeJob), resp: ExecHistory{}, respDef: "ExecHistory"},
		{method: "POST", path: "/system/purgeaudit/schedule", op: "createPurgeSchedule", handle: s.setPurgeSchedule(true)},
		{method: "PUT", path: "/system/purgeaudit/schedule", op: "updatePurgeSchedule", handle: s.setPurgeSchedule(false)},
	}
}

// purgeScheduleBody is Harbor's Schedule object for a purge.
type purgeScheduleBody struct {
	jobScheduleBody
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

// setPurgeSchedule serves createPurgeSchedule and updatePurgeSchedule.
// Removing the schedule takes no parameters.
func (s *Server) setPurgeSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		var b purgeScheduleBody
		sc, err := s.decodeJobSchedule(r, c, purgeJob, create, &b, &b.jobScheduleBody)
		if err != nil {
			return err
		}
		var p audit.PurgeParams
		if !sc.none {
			if p, err = b.params(); err != nil {
				return err
			}
		}
		return s.setJobSchedule(w, r, c, purgeJob, sc, p, func(ctx context.Context) (int64, error) {
			return audit.StartPurge(ctx, s.opts.Jobs, jobs.Manual, p)
		})
	}
}
