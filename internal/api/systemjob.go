package api

import (
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/system"
)

// systemJob is a system job (system.GC, system.Purge) as the API shows
// it: its history, run, stop, log and schedule endpoints work the same for
// every such job but for these names.
type systemJob struct {
	job   *system.Job
	param string // path parameter naming a run
	path  string // the job's endpoints below Prefix: "/system/gc"
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

// run shows a run as Harbor does: the trigger is the job kind and the
// schedule type; the parameters are the job parameters.
func (j systemJob) run(e system.Run) any {
	return j.resp(ExecHistory{
		ID: e.ID, JobName: j.job.Vendor, JobKind: e.Trigger, JobParameters: e.Params,
		Schedule: &ScheduleObj{Type: j.trigger(e.Trigger)}, JobStatus: e.Status,
		CreationTime: Timestamp(e.Start), UpdateTime: Timestamp(e.Update),
	})
}

func (s *Server) jobHistory(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		if err := s.system.MayJob(c.Principal, j.job, rbac.List); err != nil {
			return err
		}
		p, err := page(r)
		if err != nil {
			return err
		}
		list, total, err := s.system.Runs(r.Context(), c.Principal, j.job, p.Query, p.Offset(), p.Size)
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

// runID is the run the path names, once c may do act on j's runs.
func (s *Server) runID(r *http.Request, c *Caller, j systemJob, act rbac.Action) (int64, error) {
	if err := s.system.MayJob(c.Principal, j.job, act); err != nil {
		return 0, err
	}
	return pathID(r, j.param)
}

func (s *Server) jobGet(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		id, err := s.runID(r, c, j, rbac.Read)
		if err != nil {
			return err
		}
		e, err := s.system.Run(r.Context(), c.Principal, j.job, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, j.run(*e))
	}
}

func (s *Server) jobStop(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		id, err := s.runID(r, c, j, rbac.Stop)
		if err != nil {
			return err
		}
		if err := s.system.StopRun(r.Context(), c.Principal, j.job, id); err != nil {
			return err
		}
		return ok(w)
	}
}

func (s *Server) jobRunLog(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		id, err := s.runID(r, c, j, rbac.Read)
		if err != nil {
			return err
		}
		text, err := s.system.RunLog(r.Context(), c.Principal, j.job, id)
		if err != nil {
			return err
		}
		return writeLogText(w, text)
	}
}

// jobScheduleGet shows the schedule as Harbor does: a run whose job_kind
// is the cron.
func (s *Server) jobScheduleGet(j systemJob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *Caller) error {
		sc, err := s.system.Schedule(r.Context(), c.Principal, j.job)
		if err != nil {
			return err
		}
		if sc == nil {
			return writeJSON(w, http.StatusOK, j.resp(ExecHistory{Schedule: &ScheduleObj{Type: "None"}, CreationTime: Timestamp(0), UpdateTime: Timestamp(0)}))
		}
		return writeJSON(w, http.StatusOK, j.resp(ExecHistory{
			ID: sc.ID, JobKind: sc.Cron, JobParameters: sc.Params,
			Schedule:     &ScheduleObj{Type: system.ScheduleType(sc.Cron), Cron: sc.Cron, NextScheduledTime: Timestamp(sc.NextRun)},
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

// decodeJobSchedule checks that the caller may create (or update) j's
// schedule and decodes the request into body, a job's Schedule object
// embedding head. The job's own parameters are left to the caller to read.
func (s *Server) decodeJobSchedule(r *http.Request, c *Caller, j systemJob, create bool, body any, head *jobScheduleBody) (system.When, error) {
	act := rbac.Update
	if create {
		act = rbac.Create
	}
	if err := s.system.MayJob(c.Principal, j.job, act); err != nil {
		return system.When{}, err
	}
	if err := decode(r, body); err != nil {
		return system.When{}, err
	}
	if head.Schedule == nil {
		return system.When{}, errs.E(errs.Invalid, j.job.Name+" schedule", "schedule is required")
	}
	return system.ScheduleOf(head.Schedule.Type, head.Schedule.Cron)
}

// scheduleSet answers createXSchedule and updateXSchedule once the
// service set the schedule (or, for Manual, started run id).
func scheduleSet(w http.ResponseWriter, r *http.Request, j systemJob, create bool, when system.When, id int64) error {
	switch {
	case !create:
		return ok(w)
	case when.Manual:
		return created(w, r, Prefix+j.path+"/"+strconv.FormatInt(id, 10))
	}
	return created(w, r, Prefix+j.path+"/schedule")
}
