package system

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Job is a system-wide periodic job whose runs are the executions of one
// vendor: GC or Purge. Its history, runs, logs and schedule work the same
// for each but for these names.
type Job struct {
	Vendor   string        // execution vendor type
	VendorID int64         // execution vendor ID
	Res      rbac.Resource // what the caller needs permission on
	Name     string        // a run in messages: "garbage collection"
	audit    string        // audit resource type prefix: "gc" for gc_job and gc_schedule
}

// The system jobs.
var (
	// GC is garbage collection (internal/gc).
	GC = &Job{Vendor: gc.Vendor, VendorID: gc.VendorID, Res: rbac.ResGC, Name: "garbage collection", audit: "gc"}
	// Purge is the audit log purge (internal/audit).
	Purge = &Job{Vendor: audit.PurgeVendor, Res: rbac.ResPurgeAudit, Name: "purge job", audit: "purge_audit"}
)

// MayJob checks that p may do act on j's runs or schedule (rbac.Create
// and rbac.Update for the schedule), and for rbac.Stop that the job system
// runs (errs.Unavailable if not). Every method of j checks it; the API
// asks it first, before it reads the request.
func (s *Service) MayJob(p *auth.Principal, j *Job, act rbac.Action) error {
	if err := s.auth.DecideSystem(p, j.Res, act); err != nil {
		return err
	}
	if act == rbac.Stop && s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "stop "+j.Name, "the job system is not running")
	}
	return nil
}

// Run is one run of a system job.
type Run struct {
	ID      int64
	Trigger string // how it started: jobs.Manual, jobs.Schedule
	Status  string
	Params  string // its parameters as JSON, with its results once done
	Start   int64  // Unix milliseconds
	Update  int64  // Unix milliseconds
}

func runOf(e *store.Execution) *Run {
	return &Run{ID: e.ID, Trigger: e.Trigger, Status: e.Status, Params: e.ExtraAttrs, Start: e.StartTime, Update: e.UpdateTime}
}

// Runs lists j's runs matching q, newest first, and their total.
func (s *Service) Runs(ctx context.Context, p *auth.Principal, j *Job, q *query.Query, offset, limit int) ([]Run, int64, error) {
	if err := s.MayJob(p, j, rbac.List); err != nil {
		return nil, 0, err
	}
	list, total, err := s.st.ListExecutionsMatching(ctx, j.Vendor, j.VendorID, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Run, len(list))
	for i := range list {
		out[i] = *runOf(&list[i])
	}
	return out, total, nil
}

// run loads j's run id.
func (s *Service) run(ctx context.Context, j *Job, id int64) (*store.Execution, error) {
	e, err := s.st.GetExecution(ctx, id)
	if err == nil && e.VendorType != j.Vendor {
		err = errs.E(errs.NotFound, "get "+j.Name, "%s %d not found", j.Name, id)
	}
	return e, err
}

// Run is j's run id.
func (s *Service) Run(ctx context.Context, p *auth.Principal, j *Job, id int64) (*Run, error) {
	if err := s.MayJob(p, j, rbac.Read); err != nil {
		return nil, err
	}
	e, err := s.run(ctx, j, id)
	if err != nil {
		return nil, err
	}
	return runOf(e), nil
}

// StopRun stops j's run id; what it did stays done.
func (s *Service) StopRun(ctx context.Context, p *auth.Principal, j *Job, id int64) error {
	if err := s.MayJob(p, j, rbac.Stop); err != nil {
		return err
	}
	e, err := s.run(ctx, j, id)
	if err != nil {
		return err
	}
	err = s.opts.Jobs.Stop(ctx, e.ID)
	s.record(p, "stop", j.audit+"_job", strconv.FormatInt(e.ID, 10), err)
	return err
}

// RunLog is the log of j's run id.
func (s *Service) RunLog(ctx context.Context, p *auth.Principal, j *Job, id int64) (string, error) {
	if err := s.MayJob(p, j, rbac.Read); err != nil {
		return "", err
	}
	e, err := s.run(ctx, j, id)
	if err != nil {
		return "", err
	}
	tasks, _, err := s.st.ListTasks(ctx, e.ID, 0, 1)
	if err != nil {
		return "", err
	}
	if len(tasks) == 0 {
		return "", errs.E(errs.NotFound, j.Name+" log", "%s %d has no log", j.Name, e.ID)
	}
	return s.st.TaskLog(ctx, tasks[0].ID)
}

// Schedule is j's schedule, nil when it has none.
func (s *Service) Schedule(ctx context.Context, p *auth.Principal, j *Job) (*store.Schedule, error) {
	if err := s.MayJob(p, j, rbac.Read); err != nil {
		return nil, err
	}
	sc, err := s.st.GetSchedule(ctx, j.Vendor, j.VendorID)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	return sc, err
}

// When is a request to set a system job's schedule, made by ScheduleOf:
// run the job now (Manual), remove the schedule (None) or (re)place it
// with Cron.
type When struct {
	Manual, None bool
	Cron         string
}

// Harbor's fixed schedule types, in its six-field cron.
var scheduleCron = map[string]string{
	"Hourly": "0 0 * * * *",
	"Daily":  "0 0 0 * * *",
	"Weekly": "0 0 0 * * 0",
}

// ScheduleOf validates a schedule of Harbor's type (Hourly, Daily, Weekly,
// Custom or Schedule with cron, Manual, None).
func ScheduleOf(typ, cron string) (When, error) {
	switch typ {
	case "Hourly", "Daily", "Weekly":
		return When{Cron: scheduleCron[typ]}, nil
	case "Custom", "Schedule":
		if _, err := jobs.ParseCron(cron); err != nil {
			return When{}, err
		}
		return When{Cron: cron}, nil
	case "Manual":
		return When{Manual: true}, nil
	case "None":
		return When{None: true}, nil
	}
	return When{}, errs.E(errs.Invalid, "schedule", "schedule type must be Hourly, Daily, Weekly, Custom, Schedule, Manual or None, not %q", typ)
}

// ScheduleType names a cron as Harbor shows it: Hourly, Daily, Weekly or
// Custom.
func ScheduleType(cron string) string {
	for t, c := range scheduleCron {
		if c == cron {
			return t
		}
	}
	return "Custom"
}

// SetGCSchedule creates (or updates) the schedule of garbage collection
// with p's parameters, or runs a collection now (its ID is returned; a
// manual run is errs.Conflict while another collection is running).
func (s *Service) SetGCSchedule(ctx context.Context, pr *auth.Principal, create bool, w When, p gc.Params) (int64, error) {
	return s.setSchedule(ctx, pr, GC, create, w, p, p.Validate, func(ctx context.Context) (int64, error) {
		return gc.Start(ctx, s.st, s.opts.Jobs, jobs.Manual, p)
	})
}

// SetPurgeSchedule is SetGCSchedule for the audit log purge; p is made by
// PurgeParams (None needs none).
func (s *Service) SetPurgeSchedule(ctx context.Context, pr *auth.Principal, create bool, w When, p audit.PurgeParams) (int64, error) {
	valid := func() error {
		if w.None {
			return nil
		}
		return p.Validate(s.opts.AuditEventTypes)
	}
	return s.setSchedule(ctx, pr, Purge, create, w, p, valid, func(ctx context.Context) (int64, error) {
		return audit.StartPurge(ctx, s.opts.Jobs, jobs.Manual, p)
	})
}

// setSchedule does what Harbor's createXSchedule and updateXSchedule do
// once the request is valid: Manual runs the job now (start), None
// removes the schedule, other types (re)place it with params.
func (s *Service) setSchedule(ctx context.Context, p *auth.Principal, j *Job, create bool, w When, params any, valid func() error, start func(context.Context) (int64, error)) (int64, error) {
	act := rbac.Update
	if create {
		act = rbac.Create
	}
	if err := s.MayJob(p, j, act); err != nil {
		return 0, err
	}
	if err := valid(); err != nil {
		return 0, err
	}
	if s.opts.Jobs == nil {
		return 0, errs.E(errs.Unavailable, j.Name+" schedule", "the job system is not running")
	}
	switch {
	case w.Manual:
		id, err := start(ctx)
		s.record(p, "create", j.audit+"_job", strconv.FormatInt(id, 10), err)
		return id, err
	case w.None:
		err := s.st.DeleteSchedule(ctx, j.Vendor, j.VendorID)
		s.record(p, "delete", j.audit+"_schedule", j.Vendor, err)
		return 0, err
	}
	err := s.opts.Jobs.SetSchedule(ctx, j.Vendor, j.VendorID, w.Cron, params)
	operation := "update"
	if create {
		operation = "create"
	}
	s.record(p, operation, j.audit+"_schedule", w.Cron, err)
	return 0, err
}

// GCParams reads a collection's parameters as Harbor's clients send them:
// Harbor's delete_untagged, dry_run, workers (1–5, default 1) and
// time_window (hours, default 2), and Berth's time_window_seconds (a finer
// window, instead of time_window) and stale_upload_hours (default 24).
// Anything else is an error.
func GCParams(raw map[string]json.RawMessage) (gc.Params, error) {
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

// PurgeParameters are a purge's parameters as Harbor's clients send them.
type PurgeParameters struct {
	AuditRetentionHour *int    `json:"audit_retention_hour"`
	IncludeEventTypes  *string `json:"include_event_types"`
	// IncludeOperations is the older form: operations (create,
	// delete, pull), each meaning every event type of that operation.
	IncludeOperations *string `json:"include_operations"`
	DryRun            *bool   `json:"dry_run"`
}

// PurgeParams validates a purge's parameters (nil: none were sent).
func (s *Service) PurgeParams(in *PurgeParameters) (audit.PurgeParams, error) {
	const op = "purge schedule"
	var p audit.PurgeParams
	if in == nil {
		return p, errs.E(errs.Invalid, op, "parameters are required (audit_retention_hour, include_event_types, dry_run)")
	}
	if in.AuditRetentionHour == nil {
		return p, errs.E(errs.Invalid, op, "parameters.audit_retention_hour is required")
	}
	p.RetentionHour = *in.AuditRetentionHour
	switch {
	case in.IncludeEventTypes != nil && in.IncludeOperations != nil:
		return p, errs.E(errs.Invalid, op, "give parameters.include_event_types or include_operations, not both")
	case in.IncludeEventTypes != nil:
		p.IncludeEventTypes = *in.IncludeEventTypes
	case in.IncludeOperations != nil:
		var types []string
		for _, o := range strings.Split(*in.IncludeOperations, ",") {
			o = strings.ToLower(strings.TrimSpace(o))
			if o == "" {
				continue
			}
			n := len(types)
			for _, t := range s.opts.AuditEventTypes {
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
	if in.DryRun != nil {
		p.DryRun = *in.DryRun
	}
	p.IncludeEventTypes = strings.Join(p.EventTypes(), ",")
	return p, p.Validate(s.opts.AuditEventTypes)
}
