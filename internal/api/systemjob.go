package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// systemJobStore is what the handlers of the system jobs (garbage
// collection, audit log purge) need from the metadata store.
type systemJobStore interface {
	ListExecutionsMatching(ctx context.Context, vendorType string, vendorID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*store.Schedule, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
}

// systemJob is a system-wide periodic job whose runs are the executions of
// one vendor. Its history, run, stop, log and schedule endpoints work the
// same for every such job but for these names.
type systemJob struct {
	vendor    string        // execution vendor type
	vendorID  int64         // execution vendor ID
	param     string        // path parameter naming a run
	res       rbac.Resource // what the caller needs permission on
	name      string        // a run in messages: "garbage collection"
	auditType string        // audit resource type prefix: "gc" for gc_job and gc_schedule
	path      string        // the job's endpoints below Prefix: "/system/gc"
	// trigger shows a run's trigger as its schedule type.
	trigger func(string) string
	// resp gives a run or the schedule the job's response type
	// (GCHistory or ExecHistory, whose JSON is the same).
	resp func(ExecHistory) any
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

// run shows an execution as Harbor does: the trigger is the job kind and
// the schedule type; the parameters are the job parameters.
func (j systemJob) run(e store.Execution) any {
	return j.resp(ExecHistory{
		ID: e.ID, JobName: j.vendor, JobKind: e.Trigger, JobParameters: e.ExtraAttrs,
		Schedule: &ScheduleObj{Type: j.trigger(e.Trigger)}, JobStatus: e.Status,
		CreationTime: Timestamp(e.StartTime), UpdateTime: Timestamp(e.UpdateTime),
	})
}

func (s *Server) jobHistory(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.requireSystem(c, j.res, rbac.List); err != nil {
			return err
		}
		p, err := page(r)
		if err != nil {
			return err
		}
		list, total, err := s.st.ListExecutionsMatching(r.Context(), j.vendor, j.vendorID, p.Query, p.Offset(), p.Size)
		if err != nil {
			return err
		}
		setPageHeaders(w, r, p, total)
		out := make([]any, len(list))
		for i, e := range list {
			out[i] = j.run(e)
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

// execution loads the run named by the path.
func (s *Server) execution(r *http.Request, j systemJob) (*store.Execution, error) {
	id, err := pathID(r, j.param)
	if err != nil {
		return nil, err
	}
	e, err := s.st.GetExecution(r.Context(), id)
	if err == nil && e.VendorType != j.vendor {
		err = errs.E(errs.NotFound, "get "+j.name, "%s %d not found", j.name, id)
	}
	return e, err
}

func (s *Server) jobGet(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.requireSystem(c, j.res, rbac.Read); err != nil {
			return err
		}
		e, err := s.execution(r, j)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, j.run(*e))
	}
}

func (s *Server) jobStop(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.requireSystem(c, j.res, rbac.Stop); err != nil {
			return err
		}
		if s.opts.Jobs == nil {
			return errs.E(errs.Unavailable, "stop "+j.name, "the job system is not running")
		}
		e, err := s.execution(r, j)
		if err != nil {
			return err
		}
		err = s.opts.Jobs.Stop(r.Context(), e.ID)
		s.audit(c, 0, "stop", j.auditType+"_job", strconv.FormatInt(e.ID, 10), err)
		if err != nil {
			return err
		}
		return ok(w)
	}
}

func (s *Server) jobRunLog(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.requireSystem(c, j.res, rbac.Read); err != nil {
			return err
		}
		e, err := s.execution(r, j)
		if err != nil {
			return err
		}
		tasks, _, err := s.st.ListTasks(r.Context(), e.ID, 0, 1)
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return errs.E(errs.NotFound, j.name+" log", "%s %d has no log", j.name, e.ID)
		}
		return writeLog(w, r, s.st, tasks[0].ID)
	}
}

// jobScheduleGet shows the schedule as Harbor does: a run whose job_kind
// is the cron.
func (s *Server) jobScheduleGet(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.requireSystem(c, j.res, rbac.Read); err != nil {
			return err
		}
		sc, err := s.st.GetSchedule(r.Context(), j.vendor, j.vendorID)
		if errs.Is(err, errs.NotFound) {
			return writeJSON(w, http.StatusOK, j.resp(ExecHistory{Schedule: &ScheduleObj{Type: "None"}, CreationTime: Timestamp(0), UpdateTime: Timestamp(0)}))
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, j.resp(ExecHistory{
			ID: sc.ID, JobKind: sc.Cron, JobParameters: sc.Params,
			Schedule:     &ScheduleObj{Type: scheduleTypeOf(sc.Cron), Cron: sc.Cron, NextScheduledTime: Timestamp(sc.NextRun)},
			CreationTime: Timestamp(sc.CreationTime), UpdateTime: Timestamp(sc.UpdateTime),
		}))
	}
}

// jobScheduleBody is the part of Harbor's Schedule object every system job
// takes; each job's body embeds it beside its parameters.
type jobScheduleBody struct {
	// Read-only fields a client may send back; ignored.
	ID           *int64  `json:"id"`
	Status       *string `json:"status"`
	CreationTime *string `json:"creation_time"`
	UpdateTime   *string `json:"update_time"`

	Schedule *ScheduleObj `json:"schedule"`
}

// jobSchedule is a request to set a system job's schedule: create or
// update it to cron, run the job now (manual) or remove the schedule (none).
type jobSchedule struct {
	create       bool
	cron         string
	manual, none bool
}

// decodeJobSchedule checks that the caller may create (or update) j's
// schedule and decodes the request into body, a job's Schedule object
// embedding head. The job's own parameters are left to the caller to check.
func (s *Server) decodeJobSchedule(r *http.Request, c *Caller, j systemJob, create bool, body any, head *jobScheduleBody) (jobSchedule, error) {
	act := rbac.Update
	if create {
		act = rbac.Create
	}
	if err := s.requireSystem(c, j.res, act); err != nil {
		return jobSchedule{}, err
	}
	if err := decode(r, body); err != nil {
		return jobSchedule{}, err
	}
	if head.Schedule == nil {
		return jobSchedule{}, errs.E(errs.Invalid, j.name+" schedule", "schedule is required")
	}
	cron, manual, none, err := cronOf(*head.Schedule)
	return jobSchedule{create: create, cron: cron, manual: manual, none: none}, err
}

// setJobSchedule does what createXSchedule and updateXSchedule do in
// Harbor once the request is valid: Manual runs the job now (start, with
// params), None removes the schedule, other types (re)place it.
func (s *Server) setJobSchedule(w http.ResponseWriter, r *http.Request, c *Caller, j systemJob, sc jobSchedule, params any, start func(context.Context) (int64, error)) error {
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, j.name+" schedule", "the job system is not running")
	}
	ctx := r.Context()
	switch {
	case sc.manual:
		id, err := start(ctx)
		s.audit(c, 0, "create", j.auditType+"_job", strconv.FormatInt(id, 10), err)
		if err != nil {
			return err
		}
		if sc.create {
			return created(w, r, Prefix+j.path+"/"+strconv.FormatInt(id, 10))
		}
	case sc.none:
		err := s.st.DeleteSchedule(ctx, j.vendor, j.vendorID)
		s.audit(c, 0, "delete", j.auditType+"_schedule", j.vendor, err)
		if err != nil {
			return err
		}
	default:
		err := s.opts.Jobs.SetSchedule(ctx, j.vendor, j.vendorID, sc.cron, params)
		operation := "update"
		if sc.create {
			operation = "create"
		}
		s.audit(c, 0, operation, j.auditType+"_schedule", sc.cron, err)
		if err != nil {
			return err
		}
	}
	if sc.create {
		return created(w, r, Prefix+j.path+"/schedule")
	}
	return ok(w)
}
