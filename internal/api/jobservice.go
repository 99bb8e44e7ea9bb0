package api

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Jobs is the job system as the API uses it.
type Jobs interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
	Stop(ctx context.Context, executionID int64) error
	SetSchedule(ctx context.Context, vendorType string, vendorID int64, cron string, params any) error
	Running() []store.Task
	Owner() string
	Workers() int
	Kinds() []string
	Wake()
}

// jobStore is what the job handlers need from the metadata store.
type jobStore interface {
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	ListExecutions(ctx context.Context, vendorType string, vendorID int64, offset, limit int) ([]store.Execution, int64, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*store.Schedule, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
	ListSchedules(ctx context.Context) ([]store.Schedule, error)
	QueueStats(ctx context.Context) ([]store.QueueStat, error)
	PausedQueues(ctx context.Context) ([]string, error)
	SetQueuePaused(ctx context.Context, kind string, paused bool) error
	StopPendingOfKind(ctx context.Context, kind string) error
}

var processStart = time.Now()

func (s *Server) jobserviceRoutes() []route {
	return []route{
		{method: "GET", path: "/jobservice/pools", op: "getWorkerPools", handle: s.workerPools, resp: []WorkerPool{}, respDef: "[]WorkerPool"},
		{method: "GET", path: "/jobservice/pools/{pool_id}/workers", op: "getWorkers", handle: s.workers, resp: []Worker{}, respDef: "[]Worker"},
		{method: "PUT", path: "/jobservice/jobs/{job_id}", op: "stopRunningJob", handle: s.stopJob},
		{method: "GET", path: "/jobservice/jobs/{job_id}/log", op: "actionGetJobLog", handle: s.jobLog, resp: "", respDef: "string"},
		{method: "GET", path: "/jobservice/queues", op: "listJobQueues", handle: s.jobQueues, resp: []JobQueue{}, respDef: "[]JobQueue"},
		{method: "PUT", path: "/jobservice/queues/{job_type}", op: "actionPendingJobs", handle: s.queueAction},
		{method: "GET", path: "/schedules", op: "listSchedules", handle: s.listSchedules, resp: []ScheduleTask{}, respDef: "[]ScheduleTask"},
		{method: "GET", path: "/schedules/{job_type}/paused", op: "getSchedulePaused", handle: s.schedulePaused, resp: SchedulerStatus{}, respDef: "SchedulerStatus"},
	}
}

// WorkerPool is one process's pool of job workers.
type WorkerPool struct {
	PID          int    `json:"pid"`
	WorkerPoolID string `json:"worker_pool_id"`
	StartAt      string `json:"start_at"`
	HeartbeatAt  string `json:"heartbeat_at"`
	Concurrency  int    `json:"concurrency"`
	Host         string `json:"host"`
}

// Worker is one worker and the task it runs.
type Worker struct {
	ID        string `json:"id"`
	PoolID    string `json:"pool_id"`
	JobName   string `json:"job_name"`
	JobID     string `json:"job_id"`
	StartAt   string `json:"start_at,omitempty"`
	CheckIn   string `json:"check_in"`
	CheckinAt string `json:"checkin_at,omitempty"`
}

// JobQueue is the backlog of one kind of job.
type JobQueue struct {
	JobType string `json:"job_type"`
	Count   int64  `json:"count"`
	Latency int64  `json:"latency"`
	Paused  bool   `json:"paused"`
}

// ScheduleTask is one schedule.
type ScheduleTask struct {
	ID         int64  `json:"id"`
	VendorType string `json:"vendor_type"`
	VendorID   int64  `json:"vendor_id"`
	Cron       string `json:"cron"`
	UpdateTime string `json:"update_time"`
}

// SchedulerStatus tells whether a job type's queue is paused.
type SchedulerStatus struct {
	Paused bool `json:"paused"`
}

func (s *Server) requireJobs(c *Caller, act rbac.Action) error {
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "jobs", "the job system is not running")
	}
	return s.requireSystem(c, rbac.ResJobMonitor, act)
}

func (s *Server) workerPools(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	host, _ := os.Hostname()
	now := Timestamp(time.Now().UnixMilli())
	return writeJSON(w, http.StatusOK, []WorkerPool{{
		PID: os.Getpid(), WorkerPoolID: s.opts.Jobs.Owner(), StartAt: Timestamp(processStart.UnixMilli()),
		HeartbeatAt: now, Concurrency: s.opts.Jobs.Workers(), Host: host,
	}})
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	pool := r.PathValue("pool_id")
	if pool != s.opts.Jobs.Owner() && pool != "all" {
		return errs.E(errs.NotFound, "workers", "worker pool %s is not this process's (%s)", pool, s.opts.Jobs.Owner())
	}
	out := []Worker{}
	for i, t := range s.opts.Jobs.Running() {
		out = append(out, Worker{ID: strconv.Itoa(i), PoolID: s.opts.Jobs.Owner(), JobName: t.Kind, JobID: strconv.FormatInt(t.ID, 10),
			StartAt: Timestamp(t.StartTime), CheckIn: t.StatusMessage, CheckinAt: Timestamp(t.UpdateTime)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.Stop); err != nil {
		return err
	}
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	t, err := s.st.GetTask(r.Context(), id)
	if err != nil {
		return err
	}
	err = s.opts.Jobs.Stop(r.Context(), t.ExecutionID)
	s.audit(c, 0, "stop", "job", strconv.FormatInt(id, 10), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) jobLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	if _, err := s.st.GetTask(r.Context(), id); err != nil {
		return err
	}
	return writeLog(w, r, s.st, id)
}

// writeLog sends a task's log as text/plain.
func writeLog(w http.ResponseWriter, r *http.Request, st interface {
	TaskLog(ctx context.Context, taskID int64) (string, error)
}, taskID int64) error {
	text, err := st.TaskLog(r.Context(), taskID)
	if err != nil {
		return err
	}
	return writeLogText(w, text)
}

// writeLogText sends a task's log text as text/plain.
func writeLogText(w http.ResponseWriter, text string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte(text))
	return err
}

func (s *Server) jobQueues(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	ctx := r.Context()
	stats, err := s.st.QueueStats(ctx)
	if err != nil {
		return err
	}
	paused, err := s.st.PausedQueues(ctx)
	if err != nil {
		return err
	}
	byKind := map[string]JobQueue{}
	for _, k := range s.opts.Jobs.Kinds() {
		byKind[k] = JobQueue{JobType: k}
	}
	now := time.Now().UnixMilli()
	for _, st := range stats {
		q := JobQueue{JobType: st.Kind, Count: st.Pending}
		if st.Oldest > 0 && st.Oldest < now {
			q.Latency = (now - st.Oldest) / 1000
		}
		byKind[st.Kind] = q
	}
	for _, k := range paused {
		q := byKind[k]
		q.JobType, q.Paused = k, true
		byKind[k] = q
	}
	out := make([]JobQueue, 0, len(byKind))
	for _, q := range byKind {
		out = append(out, q)
	}
	sortBy(out, func(q JobQueue) string { return q.JobType })
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) queueAction(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.Stop); err != nil {
		return err
	}
	var req struct {
		Action string `json:"action"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	// Harbor upper-cases the job type and compares the action without
	// regard to case (ALL, all, Stop, PAUSE).
	kind := strings.ToUpper(r.PathValue("job_type"))
	ctx := r.Context()
	known := kind == "ALL"
	for _, k := range s.opts.Jobs.Kinds() {
		known = known || k == kind
	}
	if !known {
		return errs.E(errs.NotFound, "queue action", "no job type %q", r.PathValue("job_type"))
	}
	kinds := []string{kind}
	if kind == "ALL" {
		kinds = s.opts.Jobs.Kinds()
	}
	req.Action = strings.ToLower(req.Action)
	var err error
	for _, k := range kinds {
		switch req.Action {
		case "pause":
			err = s.st.SetQueuePaused(ctx, k, true)
		case "resume":
			err = s.st.SetQueuePaused(ctx, k, false)
		case "stop":
			err = s.st.StopPendingOfKind(ctx, k)
		default:
			return errs.E(errs.Invalid, "queue action", "action must be stop, pause or resume, not %q", req.Action)
		}
		if err != nil {
			break
		}
	}
	s.opts.Jobs.Wake()
	s.audit(c, 0, req.Action, "job_queue", kind, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	all, err := s.st.ListSchedules(r.Context())
	if err != nil {
		return err
	}
	setPageHeaders(w, r, p, int64(len(all)))
	out := []ScheduleTask{}
	for i := p.Offset(); i < len(all) && i < p.Offset()+p.Size; i++ {
		sc := all[i]
		out = append(out, ScheduleTask{ID: sc.ID, VendorType: sc.VendorType, VendorID: sc.VendorID, Cron: sc.Cron, UpdateTime: Timestamp(sc.UpdateTime)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) schedulePaused(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireJobs(c, rbac.List); err != nil {
		return err
	}
	paused, err := s.st.PausedQueues(r.Context())
	if err != nil {
		return err
	}
	kind := strings.ToUpper(r.PathValue("job_type"))
	out := SchedulerStatus{}
	for _, k := range paused {
		if k == kind || kind == "ALL" {
			out.Paused = true
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// ScheduleObj is Harbor's schedule of a periodic job.
type ScheduleObj struct {
	Type              string `json:"type"`
	Cron              string `json:"cron,omitempty"`
	NextScheduledTime string `json:"next_scheduled_time,omitempty"`
}

// Harbor's fixed schedule types, in its six-field cron.
var scheduleCron = map[string]string{
	"Hourly": "0 0 * * * *",
	"Daily":  "0 0 0 * * *",
	"Weekly": "0 0 0 * * 0",
}

// cronOf validates a schedule object and returns the cron it runs on.
// manual is true for "Manual" (run now, once); none for "None" (no schedule).
func cronOf(o ScheduleObj) (cron string, manual, none bool, err error) {
	switch o.Type {
	case "Hourly", "Daily", "Weekly":
		return scheduleCron[o.Type], false, false, nil
	case "Custom", "Schedule":
		if _, err := jobs.ParseCron(o.Cron); err != nil {
			return "", false, false, err
		}
		return o.Cron, false, false, nil
	case "Manual":
		return "", true, false, nil
	case "None":
		return "", false, true, nil
	}
	return "", false, false, errs.E(errs.Invalid, "schedule", "schedule type must be Hourly, Daily, Weekly, Custom, Schedule, Manual or None, not %q", o.Type)
}

// scheduleTypeOf names a cron as Harbor shows it.
func scheduleTypeOf(cron string) string {
	for t, c := range scheduleCron {
		if c == cron {
			return t
		}
	}
	return "Custom"
}

func sortBy[T any](xs []T, key func(T) string) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && key(xs[j]) < key(xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}
