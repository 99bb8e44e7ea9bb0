// Package jobs is Berth's durable job system, built on the metadata store
// so it works the same on SQLite and PostgreSQL and needs no other process.
//
// Model (Harbor's): an execution is one run of a vendor's job (a GC, a
// retention policy, a webhook delivery) and owns tasks. A task is claimed
// by a worker with a lease in the tasks table; the worker renews the lease
// while the task runs. If the worker dies, the lease runs out and the
// maintenance loop of any replica puts the task back to pending (or ends it
// in Error when no attempts remain), so nothing stays "running" forever.
// Errors are retried with exponential backoff up to the kind's attempts;
// a panic fails the attempt with the panic and its stack in the task log,
// and the worker carries on. Stop works on pending tasks (they end at
// once) and running ones (the handler's context is cancelled).
//
// Claiming is one transaction: on PostgreSQL with FOR UPDATE SKIP LOCKED so
// replicas never claim the same task; SQLite has a single writer.
//
// Schedules (cron, with optional seconds as Harbor writes them) live in the
// schedules table; each due run is claimed by advancing next_run with a
// compare-and-set, so exactly one replica fires it. Execution history is
// bounded: the newest N finished executions per vendor type are kept.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the job system needs from the metadata store.
type Store interface {
	CreateExecution(ctx context.Context, e store.Execution, tasks []store.TaskSpec) (int64, error)
	ClaimTask(ctx context.Context, owner string, leaseUntil int64, paused []string) (*store.Task, error)
	RenewLease(ctx context.Context, taskID int64, owner string, leaseUntil int64) (bool, error)
	FinishTask(ctx context.Context, taskID int64, owner, status, message string, retryAt int64) error
	ReapExpiredLeases(ctx context.Context, retryAt int64) (int, error)
	StopExecution(ctx context.Context, id int64) error
	AppendTaskLog(ctx context.Context, taskID int64, text string) error
	PurgeExecutions(ctx context.Context, vendorType string, keep int) (int64, error)
	DueSchedules(ctx context.Context, at int64) ([]store.Schedule, error)
	AdvanceSchedule(ctx context.Context, id, from, to int64) (bool, error)
	PutSchedule(ctx context.Context, s store.Schedule) error
	PausedQueues(ctx context.Context) ([]string, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
}

// Triggers of an execution.
const (
	Manual   = "MANUAL"
	Schedule = "SCHEDULE"
	Event    = "EVENT"
)

// Handler runs one task. It should return promptly when ctx is cancelled.
type Handler func(ctx context.Context, t *Task) error

// Kind is a kind of task and how to run it.
type Kind struct {
	Name        string
	Run         Handler
	MaxAttempts int           // default 1
	Timeout     time.Duration // default 24h
	// Backoff is the wait before retry n (1-based); default 2^n seconds, at most 5 minutes.
	Backoff func(n int) time.Duration
}

// Task is a claimed task handed to a handler.
type Task struct {
	store.Task
	log *taskLog
}

// Logf appends a line to the task's log, readable while the task runs.
func (t *Task) Logf(format string, args ...any) {
	t.log.add(time.Now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, args...) + "\n")
}

// ParamsInto decodes the task's JSON parameters into v.
func (t *Task) ParamsInto(v any) error {
	if err := json.Unmarshal([]byte(t.Params), v); err != nil {
		return errs.Wrap("task params", err)
	}
	return nil
}

// ScheduleFunc starts a scheduled run for vendorID with the schedule's params.
type ScheduleFunc func(ctx context.Context, vendorID int64, params string) error

// Options configure the service.
type Options struct {
	Workers int           // concurrent tasks in this process (0: no workers; this replica only submits)
	Lease   time.Duration // lease length; renewed every third of it (default 30s)
	Poll    time.Duration // how often idle workers look for work (default 1s)
	// Keep is how many finished executions to keep per vendor type
	// (default DefaultKeep, then 50).
	Keep   map[string]int
	Logger *slog.Logger
}

// DefaultKeep is Harbor's execution retention per vendor type.
var DefaultKeep = map[string]int{
	"GARBAGE_COLLECTION": 50, "REPLICATION": 50, "WEBHOOK": 50, "SLACK": 50, "RETENTION": 50,
	"PURGE_AUDIT_LOG": 10, "SCAN_ALL": 1, "IMAGE_SCAN": 1, "EXECUTION_SWEEP": 10,
}

// Service runs tasks and schedules.
type Service struct {
	st     Store
	opts   Options
	owner  string
	log    *slog.Logger
	mu     sync.Mutex
	kinds  map[string]Kind
	sched  map[string]ScheduleFunc
	vendor map[string]bool // vendor types seen, for history purging
	wake   chan struct{}

	running sync.Map // task ID -> context.CancelFunc
	active  sync.WaitGroup
	busy    sync.Map // task ID -> store.Task (for the jobservice API)
}

// New returns a service over st.
func New(st Store, opts Options) *Service {
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	return &Service{
		st: st, opts: opts, log: opts.Logger,
		owner: fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e6),
		kinds: map[string]Kind{}, sched: map[string]ScheduleFunc{}, vendor: map[string]bool{},
		wake: make(chan struct{}, 1),
	}
}

// Owner names this process as a lease holder.
func (s *Service) Owner() string { return s.owner }

// Workers is the number of concurrent tasks this process runs.
func (s *Service) Workers() int { return s.opts.Workers }

// Register adds a task kind.
func (s *Service) Register(k Kind) {
	if k.MaxAttempts < 1 {
		k.MaxAttempts = 1
	}
	if k.Timeout <= 0 {
		k.Timeout = 24 * time.Hour
	}
	if k.Backoff == nil {
		k.Backoff = func(n int) time.Duration {
			d := time.Duration(1<<min(n, 8)) * time.Second
			return min(d, 5*time.Minute)
		}
	}
	s.mu.Lock()
	s.kinds[k.Name] = k
	s.mu.Unlock()
}

// Kinds lists the registered kinds.
func (s *Service) Kinds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		out = append(out, k)
	}
	return out
}

// OnSchedule sets what runs when a schedule of vendorType is due.
func (s *Service) OnSchedule(vendorType string, fn ScheduleFunc) {
	s.mu.Lock()
	s.sched[vendorType] = fn
	s.vendor[vendorType] = true
	s.mu.Unlock()
}

// TaskOf describes one task of a new execution.
type TaskOf struct {
	Kind   string
	Params any // marshalled to JSON
	Extra  any // shown with the task (JSON object), may be nil
}

// Submit records an execution of vendorType/vendorID with its tasks and
// wakes the workers. extra is stored as the execution's extra attributes.
func (s *Service) Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...TaskOf) (int64, error) {
	specs, ex, err := s.prepare("submit job", vendorType, extra, tasks)
	if err != nil {
		return 0, err
	}
	id, err := s.st.CreateExecution(ctx, store.Execution{VendorType: vendorType, VendorID: vendorID, Trigger: trigger, ExtraAttrs: ex}, specs)
	if err != nil {
		return 0, err
	}
	s.Wake()
	return id, nil
}

// RunNow records an execution as Submit does but runs its tasks at once,
// concurrently, in this process, and returns when all have ended. Each
// task gets one attempt whose outcome is final (no retry). The tasks are
// created leased to this process, so no worker claims them; should the
// process die meanwhile, the lease reaper ends them in Error. ctx bounds
// recording the execution: once started, a task runs to its end (within
// its kind's timeout) even if ctx ends.
func (s *Service) RunNow(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...TaskOf) (int64, error) {
	specs, ex, err := s.prepare("run job", vendorType, extra, tasks)
	if err != nil {
		return 0, err
	}
	lease := time.Now().Add(s.opts.Lease).UnixMilli()
	for i := range specs {
		specs[i].MaxAttempts, specs[i].Owner, specs[i].LeaseUntil = 1, s.owner, lease
	}
	id, err := s.st.CreateExecution(ctx, store.Execution{VendorType: vendorType, VendorID: vendorID, Trigger: trigger, ExtraAttrs: ex}, specs)
	if err != nil {
		return 0, err
	}
	list, _, err := s.st.ListTasks(context.WithoutCancel(ctx), id, 0, len(specs))
	if err != nil {
		return id, err
	}
	var wg sync.WaitGroup
	for i := range list {
		wg.Add(1)
		go func() { defer wg.Done(); s.execute(context.Background(), &list[i]) }()
	}
	wg.Wait()
	return id, nil
}

// prepare turns tasks into task specs and extra into the execution's
// extra attributes, checking that every task's kind is registered.
func (s *Service) prepare(op, vendorType string, extra any, tasks []TaskOf) ([]store.TaskSpec, string, error) {
	specs := make([]store.TaskSpec, 0, len(tasks))
	for _, t := range tasks {
		s.mu.Lock()
		k, ok := s.kinds[t.Kind]
		s.vendor[vendorType] = true
		s.mu.Unlock()
		if !ok {
			return nil, "", errs.E(errs.Internal, op, "unknown task kind %q", t.Kind)
		}
		p, err := json.Marshal(t.Params)
		if err != nil {
			return nil, "", errs.Wrap(op, err)
		}
		spec := store.TaskSpec{Kind: t.Kind, Params: string(p), MaxAttempts: k.MaxAttempts}
		if t.Extra != nil {
			x, _ := json.Marshal(t.Extra)
			spec.ExtraAttrs = string(x)
		}
		specs = append(specs, spec)
	}
	ex := "{}"
	if extra != nil {
		b, err := json.Marshal(extra)
		if err != nil {
			return nil, "", errs.Wrap(op, err)
		}
		ex = string(b)
	}
	return specs, ex, nil
}

// Wake makes idle workers look for work now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stop stops execution id: pending tasks end, running ones are cancelled
// (at once when they run in this process, else at their next lease renewal).
func (s *Service) Stop(ctx context.Context, id int64) error {
	if err := s.st.StopExecution(ctx, id); err != nil {
		return err
	}
	s.busy.Range(func(k, v any) bool {
		if v.(store.Task).ExecutionID == id {
			if c, ok := s.running.Load(k); ok {
				c.(context.CancelFunc)()
			}
		}
		return true
	})
	return nil
}

// Running lists the tasks this process is running now.
func (s *Service) Running() []store.Task {
	var out []store.Task
	s.busy.Range(func(_, v any) bool { out = append(out, v.(store.Task)); return true })
	return out
}

// Run works until ctx ends: workers claim and run tasks, and a maintenance
// loop reaps lost leases, fires due schedules and purges old history.
// Running tasks are cancelled at the end and go back to pending.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < s.opts.Workers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.worker(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.maintain(ctx) }()
	wg.Wait()
	s.active.Wait()
}

func (s *Service) worker(ctx context.Context) {
	for ctx.Err() == nil {
		ran, err := s.runOne(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("job worker", "err", err)
		}
		if ran {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(s.opts.Poll):
		}
	}
}

// runOne claims and runs one task; it reports whether there was one.
func (s *Service) runOne(ctx context.Context) (bool, error) {
	paused, err := s.st.PausedQueues(ctx)
	if err != nil {
		return false, err
	}
	t, err := s.st.ClaimTask(ctx, s.owner, time.Now().Add(s.opts.Lease).UnixMilli(), paused)
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.active.Add(1)
	defer s.active.Done()
	s.execute(ctx, t)
	return true, nil
}

func (s *Service) execute(parent context.Context, st *store.Task) {
	s.mu.Lock()
	k, known := s.kinds[st.Kind]
	s.mu.Unlock()
	tlog := &taskLog{st: s.st, id: st.ID}
	task := &Task{Task: *st, log: tlog}
	if !known {
		task.Logf("no handler for task kind %q in this process", st.Kind)
		tlog.flush()
		s.finish(st, store.JobError, "unknown task kind "+st.Kind, 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), k.Timeout)
	defer cancel()
	s.running.Store(st.ID, cancel)
	s.busy.Store(st.ID, *st)
	defer s.running.Delete(st.ID)
	defer s.busy.Delete(st.ID)

	// Keep the lease while the task runs; cancel it when a stop is asked
	// for, when the lease is lost, or when the service shuts down.
	var stopped, shutdown, lost bool
	var flag sync.Mutex
	hb := make(chan struct{})
	go func() {
		defer close(hb)
		tick := time.NewTicker(s.opts.Lease / 3)
		defer tick.Stop()
		// The log is readable through the API while the task runs: flush
		// it every second, not only at lease renewals.
		logTick := time.NewTicker(time.Second)
		defer logTick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-logTick.C:
				tlog.flush()
			case <-parent.Done():
				flag.Lock()
				shutdown = true
				flag.Unlock()
				cancel()
				return
			case <-tick.C:
				tlog.flush()
				stop, err := s.st.RenewLease(context.Background(), st.ID, s.owner, time.Now().Add(s.opts.Lease).UnixMilli())
				flag.Lock()
				if errs.Is(err, errs.Conflict) {
					lost = true
				}
				if stop {
					stopped = true
				}
				flag.Unlock()
				if stop || errs.Is(err, errs.Conflict) {
					cancel()
					return
				}
			}
		}
	}()
	err := s.call(ctx, k, task)
	cancel()
	<-hb
	tlog.flush()
	flag.Lock()
	defer flag.Unlock()
	switch {
	case lost:
		s.log.Warn("task lease lost; another worker owns it now", "task", st.ID)
	case err == nil:
		s.finish(st, store.JobSuccess, "", 0)
	case shutdown:
		task.Logf("interrupted by shutdown; will run again")
		tlog.flush()
		s.finish(st, "", "interrupted by shutdown", time.Now().UnixMilli())
	case stopped || s.stopAsked(st.ID, err):
		task.Logf("stopped")
		tlog.flush()
		s.finish(st, store.JobStopped, "stopped", 0)
	case st.Attempts < min(k.MaxAttempts, st.MaxAttempts): // RunNow's tasks have one attempt
		wait := k.Backoff(st.Attempts)
		task.Logf("attempt %d of %d failed: %v; retrying in %s", st.Attempts, k.MaxAttempts, err, wait)
		tlog.flush()
		s.finish(st, "", err.Error(), time.Now().Add(wait).UnixMilli())
	default:
		task.Logf("failed: %v", err)
		tlog.flush()
		s.finish(st, store.JobError, err.Error(), 0)
	}
}

// stopAsked reports whether err comes from a Stop of this task's execution
// handled in this process (the context was cancelled by Service.Stop).
func (s *Service) stopAsked(taskID int64, err error) bool {
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		return false
	}
	t, gerr := s.st.GetTask(context.Background(), taskID)
	return gerr == nil && t.StopRequested
}

// call runs the handler, turning a panic into an error with its stack in
// the task log.
func (s *Service) call(ctx context.Context, k Kind, t *Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.Logf("panic: %v\n%s", r, debug.Stack())
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return k.Run(ctx, t)
}

func (s *Service) finish(t *store.Task, status, msg string, retryAt int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.st.FinishTask(ctx, t.ID, s.owner, status, msg, retryAt); err != nil {
		s.log.Error("recording task end", "task", t.ID, "err", err)
	}
}

// maintain reaps lost leases, fires schedules and purges history.
func (s *Service) maintain(ctx context.Context) {
	tick := time.NewTicker(min(s.opts.Lease/3, time.Second))
	defer tick.Stop()
	lastPurge := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n, err := s.st.ReapExpiredLeases(ctx, time.Now().Add(time.Second).UnixMilli()); err != nil {
			s.log.Warn("reaping task leases", "err", err)
		} else if n > 0 {
			s.log.Info("tasks whose worker was lost were requeued", "count", n)
			s.Wake()
		}
		s.fireSchedules(ctx)
		if time.Since(lastPurge) > 10*time.Minute {
			lastPurge = time.Now()
			s.PurgeHistory(ctx)
		}
	}
}

// PurgeHistory keeps the newest finished executions per vendor type.
func (s *Service) PurgeHistory(ctx context.Context) {
	s.mu.Lock()
	vendors := make([]string, 0, len(s.vendor))
	for v := range s.vendor {
		vendors = append(vendors, v)
	}
	s.mu.Unlock()
	for _, v := range vendors {
		keep := s.opts.Keep[v]
		if keep == 0 {
			keep = DefaultKeep[v]
		}
		if keep == 0 {
			keep = 50
		}
		if n, err := s.st.PurgeExecutions(ctx, v, keep); err != nil {
			s.log.Warn("purging execution history", "vendor", v, "err", err)
		} else if n > 0 {
			s.log.Info("purged old executions", "vendor", v, "count", n)
		}
	}
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron checks a cron expression (5 or 6 fields, Harbor writes 6 with
// seconds first) and returns its schedule.
func ParseCron(expr string) (cron.Schedule, error) {
	sch, err := cronParser.Parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, errs.E(errs.Invalid, "parse cron", "invalid cron %q: %v", expr, err)
	}
	return sch, nil
}

// SetSchedule (re)schedules vendorType/vendorID on cron with params.
func (s *Service) SetSchedule(ctx context.Context, vendorType string, vendorID int64, expr string, params any) error {
	sch, err := ParseCron(expr)
	if err != nil {
		return err
	}
	p, _ := json.Marshal(params)
	next := sch.Next(time.Now())
	return s.st.PutSchedule(ctx, store.Schedule{VendorType: vendorType, VendorID: vendorID, Cron: expr, Params: string(p), NextRun: next.UnixMilli()})
}

func (s *Service) fireSchedules(ctx context.Context) {
	due, err := s.st.DueSchedules(ctx, time.Now().UnixMilli())
	if err != nil {
		s.log.Warn("reading schedules", "err", err)
		return
	}
	for _, sc := range due {
		sch, err := ParseCron(sc.Cron)
		if err != nil {
			s.log.Error("schedule has a bad cron; skipping", "vendor", sc.VendorType, "id", sc.VendorID, "cron", sc.Cron)
			continue
		}
		next := sch.Next(time.Now()).UnixMilli()
		won, err := s.st.AdvanceSchedule(ctx, sc.ID, sc.NextRun, next)
		if err != nil || !won {
			continue
		}
		s.mu.Lock()
		fn := s.sched[sc.VendorType]
		s.mu.Unlock()
		if fn == nil {
			s.log.Warn("no handler for schedule", "vendor", sc.VendorType)
			continue
		}
		if err := fn(ctx, sc.VendorID, sc.Params); err != nil {
			s.log.Error("starting scheduled job", "vendor", sc.VendorType, "id", sc.VendorID, "err", err)
		}
	}
}

// taskLog buffers log lines and appends them to the store in batches.
type taskLog struct {
	st  Store
	id  int64
	mu  sync.Mutex
	buf strings.Builder
	fmu sync.Mutex // serializes flushes, so chunks keep their order
}

func (l *taskLog) add(line string) {
	l.mu.Lock()
	l.buf.WriteString(line)
	big := l.buf.Len() > 64<<10
	l.mu.Unlock()
	if big {
		l.flush()
	}
}

func (l *taskLog) flush() {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	l.mu.Lock()
	text := l.buf.String()
	l.buf.Reset()
	l.mu.Unlock()
	if text == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.st.AppendTaskLog(ctx, l.id, text)
}
