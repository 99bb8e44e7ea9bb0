package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/system"
)

// gcStore is what the garbage collection handlers (system.Service) need
// from the metadata store beside systemJobStore.
type gcStore interface {
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
}

// gcJob is garbage collection as a system job.
var gcJob = systemJob{
	job: system.GC, param: "gc_id", path: "/system/gc",
	// Harbor title-cases the trigger as the schedule type.
	trigger: func(t string) string {
		t = strings.ToLower(t)
		if t != "" {
			t = strings.ToUpper(t[:1]) + t[1:]
		}
		return t
	},
	resp: func(h ExecHistory) any { return GCHistory(h) },
}

func (s *Server) gcRoutes() []route {
	return []route{
		{method: "GET", path: "/system/gc", op: "getGCHistory", handle: s.jobHistory(gcJob), resp: []GCHistory{}, respDef: "[]GCHistory"},
		{method: "GET", path: "/system/gc/{gc_id}", op: "getGC", handle: s.jobGet(gcJob), resp: GCHistory{}, respDef: "GCHistory"},
		{method: "PUT", path: "/system/gc/{gc_id}", op: "stopGC", handle: s.jobStop(gcJob)},
		{method: "GET", path: "/system/gc/{gc_id}/log", op: "getGCLog", handle: s.jobRunLog(gcJob), resp: "", respDef: "string"},
		{method: "GET", path: "/system/gc/schedule", op: "getGCSchedule", handle: s.jobScheduleGet(gcJob), resp: GCHistory{}, respDef: "GCHistory"},
		{method: "POST", path: "/system/gc/schedule", op: "createGCSchedule", handle: s.setGCSchedule(true)},
		{method: "PUT", path: "/system/gc/schedule", op: "updateGCSchedule", handle: s.setGCSchedule(false)},
	}
}

// GCHistory is one garbage collection run, or the GC schedule.
type GCHistory struct {
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

// gcScheduleBody is Harbor's Schedule object for garbage collection.
type gcScheduleBody struct {
	jobScheduleBody
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// setGCSchedule serves createGCSchedule and updateGCSchedule. A manual
// run answers 409 while another collection is running.
func (s *Server) setGCSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		var b gcScheduleBody
		when, err := s.decodeJobSchedule(r, c, gcJob, create, &b, &b.jobScheduleBody)
		if err != nil {
			return err
		}
		p, err := system.GCParams(b.Parameters)
		if err != nil {
			return err
		}
		id, err := s.system.SetGCSchedule(r.Context(), c.Principal, create, when, p)
		if err != nil {
			return err
		}
		return scheduleSet(w, r, gcJob, create, when, id)
	}
}
