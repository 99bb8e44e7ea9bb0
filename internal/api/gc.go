package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// gcStore is what the garbage collection handlers need from the metadata store.
type gcStore interface {
	ListExecutionsMatching(ctx context.Context, vendorType string, vendorID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*store.Schedule, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
}

func (s *Server) gcRoutes() []route {
	return []route{
		{method: "GET", path: "/system/gc", op: "getGCHistory", handle: s.gcHistory, resp: []GCHistory{}, respDef: "[]GCHistory"},
		{method: "GET", path: "/system/gc/{gc_id}", op: "getGC", handle: s.getGC, resp: GCHistory{}, respDef: "GCHistory"},
		{method: "PUT", path: "/system/gc/{gc_id}", op: "stopGC", handle: s.stopGC},
		{method: "GET", path: "/system/gc/{gc_id}/log", op: "getGCLog", handle: s.gcLog, resp: "", respDef: "string"},
		{method: "GET", path: "/system/gc/schedule", op: "getGCSchedule", handle: s.gcSchedule, resp: GCHistory{}, respDef: "GCHistory"},
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

// gcHistory shows an execution as Harbor does: the trigger is the job kind
// and, title-cased, the schedule type; the parameters (and, once it ended,
// what the run deleted) are the job parameters.
func gcHistoryOf(e store.Execution) GCHistory {
	trigger := strings.ToLower(e.Trigger)
	if trigger != "" {
		trigger = strings.ToUpper(trigger[:1]) + trigger[1:]
	}
	return GCHistory{
		ID: e.ID, JobName: gc.Vendor, JobKind: e.Trigger, JobParameters: e.ExtraAttrs,
		Schedule: &ScheduleObj{Type: trigger}, JobStatus: e.Status,
		CreationTime: Timestamp(e.StartTime), UpdateTime: Timestamp(e.UpdateTime),
	}
}

func (s *Server) gcHistory(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResGC, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListExecutionsMatching(r.Context(), gc.Vendor, gc.VendorID, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	setPageHeaders(w, r, p, total)
	out := make([]GCHistory, len(list))
	for i, e := range list {
		out[i] = gcHistoryOf(e)
	}
	return writeJSON(w, http.StatusOK, out)
}

// gcExecution loads the collection named by the path.
func (s *Server) gcExecution(r *http.Request) (*store.Execution, error) {
	id, err := pathID(r, "gc_id")
	if err != nil {
		return nil, err
	}
	e, err := s.st.GetExecution(r.Context(), id)
	if err == nil && e.VendorType != gc.Vendor {
		err = errs.E(errs.NotFound, "get gc", "garbage collection %d not found", id)
	}
	return e, err
}

func (s *Server) getGC(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResGC, rbac.Read); err != nil {
		return err
	}
	e, err := s.gcExecution(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gcHistoryOf(*e))
}

func (s *Server) stopGC(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResGC, rbac.Stop); err != nil {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "stop gc", "the job system is not running")
	}
	e, err := s.gcExecution(r)
	if err != nil {
		return err
	}
	err = s.opts.Jobs.Stop(r.Context(), e.ID)
	s.audit(c, 0, "stop", "gc_job", strconv.FormatInt(e.ID, 10), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) gcLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResGC, rbac.Read); err != nil {
		return err
	}
	e, err := s.gcExecution(r)
	if err != nil {
		return err
	}
	tasks, _, err := s.st.ListTasks(r.Context(), e.ID, 0, 1)
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return errs.E(errs.NotFound, "gc log", "garbage collection %d log is not found", e.ID)
	}
	return writeLog(w, r, s.st, tasks[0].ID)
}

func (s *Server) gcSchedule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResGC, rbac.Read); err != nil {
		return err
	}
	sc, err := s.st.GetSchedule(r.Context(), gc.Vendor, gc.VendorID)
	if errs.Is(err, errs.NotFound) {
		return writeJSON(w, http.StatusOK, GCHistory{Schedule: &ScheduleObj{Type: "None"}, CreationTime: Timestamp(0), UpdateTime: Timestamp(0)})
	}
	if err != nil {
		return err
	}
	// Harbor shows the schedule as a GCHistory whose job_kind is the cron.
	return writeJSON(w, http.StatusOK, GCHistory{
		ID: sc.ID, JobKind: sc.Cron, JobParameters: sc.Params,
		Schedule:     &ScheduleObj{Type: scheduleTypeOf(sc.Cron), Cron: sc.Cron, NextScheduledTime: Timestamp(sc.NextRun)},
		CreationTime: Timestamp(sc.CreationTime), UpdateTime: Timestamp(sc.UpdateTime),
	})
}

// gcScheduleBody is Harbor's Schedule object for garbage collection.
type gcScheduleBody struct {
	// Read-only fields a client may send back; ignored.
	ID           *int64  `json:"id"`
	Status       *string `json:"status"`
	CreationTime *string `json:"creation_time"`
	UpdateTime   *string `json:"update_time"`

	Schedule   *ScheduleObj               `json:"schedule"`
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

// setGCSchedule serves createGCSchedule and updateGCSchedule, which do the
// same as in Harbor: Manual runs a collection now (409 while one is
// running), None removes the schedule, other types (re)place it.
func (s *Server) setGCSchedule(create bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		const op = "gc schedule"
		act := rbac.Update
		if create {
			act = rbac.Create
		}
		if err := s.requireSystem(c, rbac.ResGC, act); err != nil {
			return err
		}
		var b gcScheduleBody
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
		p, err := gcParams(b.Parameters)
		if err != nil {
			return err
		}
		if s.opts.Jobs == nil {
			return errs.E(errs.Unavailable, op, "the job system is not running")
		}
		ctx := r.Context()
		switch {
		case manual:
			id, err := gc.Start(ctx, s.st, s.opts.Jobs, jobs.Manual, p)
			s.audit(c, 0, "create", "gc_job", strconv.FormatInt(id, 10), err)
			if err != nil {
				return err
			}
			if create {
				return created(w, r, Prefix+"/system/gc/"+strconv.FormatInt(id, 10))
			}
		case none:
			err := s.st.DeleteSchedule(ctx, gc.Vendor, gc.VendorID)
			s.audit(c, 0, "delete", "gc_schedule", gc.Vendor, err)
			if err != nil {
				return err
			}
		default:
			err := s.opts.Jobs.SetSchedule(ctx, gc.Vendor, gc.VendorID, cron, p)
			operation := "update"
			if create {
				operation = "create"
			}
			s.audit(c, 0, operation, "gc_schedule", cron, err)
			if err != nil {
				return err
			}
		}
		if create {
			return created(w, r, Prefix+"/system/gc/schedule")
		}
		return ok(w)
	}
}
