package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
)

// gcStore is what the garbage collection handlers need from the metadata
// store beside systemJobStore.
type gcStore interface {
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
}

// gcJob is garbage collection as a system job.
var gcJob = systemJob{
	vendor: gc.Vendor, vendorID: gc.VendorID, param: "gc_id", res: rbac.ResGC,
	name: "garbage collection", auditType: "gc", path: "/system/gc",
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

// gcParams reads a collection's parameters: Harbor's delete_untagged,
// dry_run, workers (1–5, default 1) and time_window (hours, default 2),
// and Berth's time_window_seconds (a finer window, instead of
// time_window) and stale_upload_hours (default 24). Anything else is an
// error.
func gcParams(raw map[string]json.RawMessage) (gc.Params, error) {
	const op = "gc parameters"
	p := gc.DefaultParams()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	number := func(k string, v json.RawMessage) (float64, error) {
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, errs.E(errs.Invalid, op, "parameters.%s must be a number, not %s", k, v)
		}
		return f, nil
	}
	hours := false
	for _, k := range keys {
		v := raw[k]
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var err error
		switch k {
		case "delete_untagged", "dry_run":
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return p, errs.E(errs.Invalid, op, "parameters.%s must be true or false, not %s", k, v)
			}
			if k == "dry_run" {
				p.DryRun = b
			} else {
				p.DeleteUntagged = b
			}
		case "workers":
			var n int
			if json.Unmarshal(v, &n) != nil {
				return p, errs.E(errs.Invalid, op, "parameters.workers must be a whole number from 1 to %d, not %s", gc.MaxWorkers, v)
			}
			p.Workers = n
		case "time_window":
			p.TimeWindow, err = number(k, v)
			hours = true
		case "time_window_seconds":
			var f float64
			f, err = number(k, v)
			p.TimeWindowSeconds = &f
		case "stale_upload_hours":
			var f float64
			f, err = number(k, v)
			p.StaleUploadHours = &f
		default:
			return p, errs.E(errs.Invalid, op, "unknown parameter %q (known: delete_untagged, dry_run, workers, time_window, time_window_seconds, stale_upload_hours)", k)
		}
		if err != nil {
			return p, err
		}
	}
	if hours && p.TimeWindowSeconds != nil {
		return p, errs.E(errs.Invalid, op, "give parameters.time_window (hours) or time_window_seconds, not both")
	}
	return p, p.Validate()
}

// setGCSchedule serves createGCSchedule and updateGCSchedule. A manual
// run answers 409 while another collection is running.
func (s *Server) setGCSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		var b gcScheduleBody
		sc, err := s.decodeJobSchedule(r, c, gcJob, create, &b, &b.jobScheduleBody)
		if err != nil {
			return err
		}
		p, err := gcParams(b.Parameters)
		if err != nil {
			return err
		}
		return s.setJobSchedule(w, r, c, gcJob, sc, p, func(ctx context.Context) (int64, error) {
			return gc.Start(ctx, s.st, s.opts.Jobs, jobs.Manual, p)
		})
	}
}
