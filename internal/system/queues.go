package system

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// The job service: the queue of each kind of job, this process's worker
// pool and what its workers run, and the logs of tasks.

// processStart is when this process, and so its worker pool, started.
var processStart = time.Now()

// MayMonitor checks that the job system runs (errs.Unavailable if not)
// and that p may do act on it (rbac.List to read, rbac.Stop to act). Every
// job service method checks it; the API asks it first, before it reads
// the request.
func (s *Service) MayMonitor(p *auth.Principal, act rbac.Action) error {
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "jobs", "the job system is not running")
	}
	return s.auth.DecideSystem(p, rbac.ResJobMonitor, act)
}

// Pool is this process's pool of job workers.
type Pool struct {
	ID          string
	PID         int
	Host        string
	Start       int64 // Unix milliseconds
	Concurrency int
}

// Pools lists the worker pools: this process's.
func (s *Service) Pools(p *auth.Principal) ([]Pool, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return []Pool{{ID: s.opts.Jobs.Owner(), PID: os.Getpid(), Host: host, Start: processStart.UnixMilli(), Concurrency: s.opts.Jobs.Workers()}}, nil
}

// Worker is one busy worker of a pool and the task it runs.
type Worker struct {
	ID   string
	Pool string
	Task store.Task
}

// Workers lists the busy workers of pool ("all" for every pool).
func (s *Service) Workers(p *auth.Principal, pool string) ([]Worker, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return nil, err
	}
	owner := s.opts.Jobs.Owner()
	if pool != owner && pool != "all" {
		return nil, errs.E(errs.NotFound, "workers", "worker pool %s is not this process's (%s)", pool, owner)
	}
	out := []Worker{}
	for i, t := range s.opts.Jobs.Running() {
		out = append(out, Worker{ID: strconv.Itoa(i), Pool: owner, Task: t})
	}
	return out, nil
}

// StopJob stops the execution task id belongs to.
func (s *Service) StopJob(ctx context.Context, p *auth.Principal, id int64) error {
	if err := s.MayMonitor(p, rbac.Stop); err != nil {
		return err
	}
	t, err := s.st.GetTask(ctx, id)
	if err != nil {
		return err
	}
	err = s.opts.Jobs.Stop(ctx, t.ExecutionID)
	s.record(p, "stop", "job", strconv.FormatInt(id, 10), err)
	return err
}

// JobLog is the log of task id.
func (s *Service) JobLog(ctx context.Context, p *auth.Principal, id int64) (string, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return "", err
	}
	if _, err := s.st.GetTask(ctx, id); err != nil {
		return "", err
	}
	return s.st.TaskLog(ctx, id)
}

// Queue is the backlog of one kind of job.
type Queue struct {
	Kind    string
	Pending int64
	Latency int64 // seconds the oldest pending job has waited
	Paused  bool
}

// Queues lists the queue of every kind of job, by kind.
func (s *Service) Queues(ctx context.Context, p *auth.Principal) ([]Queue, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return nil, err
	}
	stats, err := s.st.QueueStats(ctx)
	if err != nil {
		return nil, err
	}
	paused, err := s.st.PausedQueues(ctx)
	if err != nil {
		return nil, err
	}
	byKind := map[string]Queue{}
	for _, k := range s.opts.Jobs.Kinds() {
		byKind[k] = Queue{Kind: k}
	}
	now := time.Now().UnixMilli()
	for _, st := range stats {
		q := Queue{Kind: st.Kind, Pending: st.Pending}
		if st.Oldest > 0 && st.Oldest < now {
			q.Latency = (now - st.Oldest) / 1000
		}
		byKind[st.Kind] = q
	}
	for _, k := range paused {
		q := byKind[k]
		q.Kind, q.Paused = k, true
		byKind[k] = q
	}
	out := make([]Queue, 0, len(byKind))
	for _, q := range byKind {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Queue) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}

// QueueAction stops (the pending jobs of), pauses or resumes the queue of
// kind, or of every kind for "ALL". As in Harbor, the kind is upper-cased
// and the action compared without regard to case.
func (s *Service) QueueAction(ctx context.Context, p *auth.Principal, kind, action string) error {
	const op = "queue action"
	if err := s.MayMonitor(p, rbac.Stop); err != nil {
		return err
	}
	name := kind
	kind = strings.ToUpper(kind)
	if kind != "ALL" && !slices.Contains(s.opts.Jobs.Kinds(), kind) {
		return errs.E(errs.NotFound, op, "no job type %q", name)
	}
	kinds := []string{kind}
	if kind == "ALL" {
		kinds = s.opts.Jobs.Kinds()
	}
	action = strings.ToLower(action)
	var err error
	for _, k := range kinds {
		switch action {
		case "pause":
			err = s.st.SetQueuePaused(ctx, k, true)
		case "resume":
			err = s.st.SetQueuePaused(ctx, k, false)
		case "stop":
			err = s.st.StopPendingOfKind(ctx, k)
		default:
			return errs.E(errs.Invalid, op, "action must be stop, pause or resume, not %q", action)
		}
		if err != nil {
			break
		}
	}
	s.opts.Jobs.Wake()
	s.record(p, action, "job_queue", kind, err)
	return err
}

// Schedules lists every schedule of the job system.
func (s *Service) Schedules(ctx context.Context, p *auth.Principal) ([]store.Schedule, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return nil, err
	}
	return s.st.ListSchedules(ctx)
}

// QueuePaused reports whether the queue of kind (any, for "ALL") is paused.
func (s *Service) QueuePaused(ctx context.Context, p *auth.Principal, kind string) (bool, error) {
	if err := s.MayMonitor(p, rbac.List); err != nil {
		return false, err
	}
	paused, err := s.st.PausedQueues(ctx)
	if err != nil {
		return false, err
	}
	kind = strings.ToUpper(kind)
	return kind == "ALL" && len(paused) > 0 || slices.Contains(paused, kind), nil
}
