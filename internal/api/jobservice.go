package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/system"
)

// Jobs is the job system as the API uses it: what system.Service, which
// the API builds over it, uses.
type Jobs = system.Jobs

// jobStore is what the job handlers need from the metadata store: what
// system.Service, which serves them, reads and writes.
type jobStore interface {
	system.Store
}

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

func (s *Server) workerPools(w http.ResponseWriter, r *http.Request, c *Caller) error {
	pools, err := s.system.Pools(c.Principal)
	if err != nil {
		return err
	}
	out := make([]WorkerPool, len(pools))
	for i, p := range pools {
		out[i] = WorkerPoolOf(p)
	}
	return writeJSON(w, http.StatusOK, out)
}

// WorkerPoolOf is a worker pool as Harbor shows it: this process's, whose
// heartbeat is now.
func WorkerPoolOf(p system.Pool) WorkerPool {
	return WorkerPool{PID: p.PID, WorkerPoolID: p.ID, StartAt: Timestamp(p.Start), HeartbeatAt: Timestamp(time.Now().UnixMilli()),
		Concurrency: p.Concurrency, Host: p.Host}
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	list, err := s.system.Workers(c.Principal, r.PathValue("pool_id"))
	if err != nil {
		return err
	}
	out := make([]Worker, len(list))
	for i, wk := range list {
		out[i] = WorkerOf(wk)
	}
	return writeJSON(w, http.StatusOK, out)
}

// WorkerOf is a busy worker as Harbor shows it.
func WorkerOf(wk system.Worker) Worker {
	t := wk.Task
	return Worker{ID: wk.ID, PoolID: wk.Pool, JobName: t.Kind, JobID: strconv.FormatInt(t.ID, 10),
		StartAt: Timestamp(t.StartTime), CheckIn: t.StatusMessage, CheckinAt: Timestamp(t.UpdateTime)}
}

// taskID is the task the path names, once c may do act on the job service.
func (s *Server) taskID(r *http.Request, c *Caller, act rbac.Action) (int64, error) {
	if err := s.system.MayMonitor(c.Principal, act); err != nil {
		return 0, err
	}
	return pathID(r, "job_id")
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := s.taskID(r, c, rbac.Stop)
	if err != nil {
		return err
	}
	if err := s.system.StopJob(r.Context(), c.Principal, id); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) jobLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := s.taskID(r, c, rbac.List)
	if err != nil {
		return err
	}
	text, err := s.system.JobLog(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	return writeLogText(w, text)
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
	list, err := s.system.Queues(r.Context(), c.Principal)
	if err != nil {
		return err
	}
	out := make([]JobQueue, len(list))
	for i, q := range list {
		out[i] = JobQueueOf(q)
	}
	return writeJSON(w, http.StatusOK, out)
}

// JobQueueOf is a queue as Harbor shows it.
func JobQueueOf(q system.Queue) JobQueue {
	return JobQueue{JobType: q.Kind, Count: q.Pending, Latency: q.Latency, Paused: q.Paused}
}

func (s *Server) queueAction(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.system.MayMonitor(c.Principal, rbac.Stop); err != nil {
		return err
	}
	var req struct {
		Action string `json:"action"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.system.QueueAction(r.Context(), c.Principal, r.PathValue("job_type"), req.Action); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.system.MayMonitor(c.Principal, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	all, err := s.system.Schedules(r.Context(), c.Principal)
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
	paused, err := s.system.QueuePaused(r.Context(), c.Principal, r.PathValue("job_type"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, SchedulerStatus{Paused: paused})
}

// ScheduleObj is Harbor's schedule of a periodic job.
type ScheduleObj struct {
	Type              string `json:"type"`
	Cron              string `json:"cron,omitempty"`
	NextScheduledTime string `json:"next_scheduled_time,omitempty"`
}
