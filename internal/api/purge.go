package api

import (
	"net/http"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/system"
)

// purgeJob is the audit log purge as a system job.
var purgeJob = systemJob{
	job: system.Purge, param: "purge_id", path: "/system/purgeaudit",
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
	Parameters *system.PurgeParameters `json:"parameters"`
}

// setPurgeSchedule serves createPurgeSchedule and updatePurgeSchedule.
// Removing the schedule takes no parameters.
func (s *Server) setPurgeSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		var b purgeScheduleBody
		when, err := s.decodeJobSchedule(r, c, purgeJob, create, &b, &b.jobScheduleBody)
		if err != nil {
			return err
		}
		var p audit.PurgeParams
		if !when.None {
			if p, err = s.system.PurgeParams(b.Parameters); err != nil {
				return err
			}
		}
		id, err := s.system.SetPurgeSchedule(r.Context(), c.Principal, create, when, p)
		if err != nil {
			return err
		}
		return scheduleSet(w, r, purgeJob, create, when, id)
	}
}
