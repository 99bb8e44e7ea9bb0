package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// jsKinds registers the test-only task kinds on the real job system:
// TEST_BLOCK logs and runs until stopped (or released), TEST_QUICK
// succeeds at once, TEST_PANIC panics.
func (e *pgEnv) jsKinds(release <-chan struct{}) {
	e.srv.App.Jobs.Register(jobs.Kind{Name: "TEST_BLOCK", Run: func(ctx context.Context, t *jobs.Task) error {
		t.Logf("started task %d", t.ID)
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-release:
				return nil
			case <-time.After(100 * time.Millisecond):
				t.Logf("working")
			}
		}
	}})
	e.srv.App.Jobs.Register(jobs.Kind{Name: "TEST_QUICK", Run: func(ctx context.Context, t *jobs.Task) error {
		t.Logf("quick ran")
		return nil
	}})
	e.srv.App.Jobs.Register(jobs.Kind{Name: "TEST_PANIC", Run: func(ctx context.Context, t *jobs.Task) error {
		var p struct{ N int }
		t.ParamsInto(&p)
		t.Logf("about to panic")
		panic(fmt.Sprintf("boom %d", p.N))
	}})
}

// jsSubmit submits one task of kind and returns its task ID.
func (e *pgEnv) jsSubmit(kind string, params any) int64 {
	e.t.Helper()
	ctx := context.Background()
	ex, err := e.srv.App.Jobs.Submit(ctx, "TEST_JOBS", 0, jobs.Manual, nil, jobs.TaskOf{Kind: kind, Params: params})
	if err != nil {
		e.t.Fatal(err)
	}
	tasks, _, err := e.db.ListTasks(ctx, ex, 0, 1)
	if err != nil || len(tasks) != 1 {
		e.t.Fatalf("tasks of %d: %v %v", ex, tasks, err)
	}
	return tasks[0].ID
}

func (e *pgEnv) jsTask(id int64) *store.Task {
	e.t.Helper()
	t, err := e.db.GetTask(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *pgEnv) jsWaitStatus(id int64, status string, within time.Duration) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("task %d to be %s", id, status), within, func() bool { return e.jsTask(id).Status == status })
}

func (e *pgEnv) jsQueues() map[string]api.JobQueue {
	e.t.Helper()
	var qs []api.JobQueue
	e.get("/api/v2.0/jobservice/queues", &qs)
	out := map[string]api.JobQueue{}
	for _, q := range qs {
		out[q.JobType] = q
	}
	return out
}

func (e *pgEnv) jsPaused(kind string) bool {
	e.t.Helper()
	var s api.SchedulerStatus
	e.get("/api/v2.0/schedules/"+kind+"/paused", &s)
	return s.Paused
}

// TestJobServiceAPI exercises the jobservice operations on the real job
// system: pools and workers, a running job's log and stopping it, queue
// pause/resume/stop, the schedule list, permissions.
func TestJobServiceAPI(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPGEnv(t, backend)
			release := make(chan struct{})
			defer close(release)
			e.jsKinds(release)
			owner := e.srv.App.Jobs.Owner()

			var pools []api.WorkerPool
			e.get("/api/v2.0/jobservice/pools", &pools)
			host, _ := os.Hostname()
			if len(pools) != 1 || pools[0].WorkerPoolID != owner || pools[0].Concurrency != 4 || pools[0].PID != os.Getpid() || pools[0].Host != host {
				t.Fatalf("pools: %+v", pools)
			}

			// A running job: in the worker list, its log readable while it runs.
			block := e.jsSubmit("TEST_BLOCK", nil)
			e.jsWaitStatus(block, store.JobRunning, 10*time.Second)
			for _, pool := range []string{owner, "all"} {
				var workers []api.Worker
				e.get("/api/v2.0/jobservice/pools/"+pool+"/workers", &workers)
				if len(workers) != 1 || workers[0].JobName != "TEST_BLOCK" || workers[0].JobID != strconv.FormatInt(block, 10) || workers[0].PoolID != owner {
					t.Errorf("workers of %s: %+v", pool, workers)
				}
			}
			if r := e.do("GET", "/api/v2.0/jobservice/pools/elsewhere/workers", e.admin, nil); r.status != http.StatusNotFound {
				t.Errorf("workers of another pool: %d", r.status)
			}
			logPath := "/api/v2.0/jobservice/jobs/" + strconv.FormatInt(block, 10) + "/log"
			e.waitFor("the running job's log", 5*time.Second, func() bool {
				r := e.get(logPath, nil)
				return strings.Contains(string(r.body), fmt.Sprintf("started task %d", block)) && strings.Contains(string(r.body), "working") &&
					strings.HasPrefix(r.header.Get("Content-Type"), "text/plain")
			})
			if s := e.jsTask(block).Status; s != store.JobRunning {
				t.Fatalf("job ended (%s) before its log was read", s)
			}

			// Stop it through the API.
			stopPath := "/api/v2.0/jobservice/jobs/" + strconv.FormatInt(block, 10)
			if r := e.do("PUT", stopPath, e.user, nil); r.status != http.StatusForbidden {
				t.Errorf("stop as a plain user: %d", r.status)
			}
			start := time.Now()
			if r := e.do("PUT", stopPath, e.admin, nil); r.status != http.StatusOK {
				t.Fatalf("stop: %d %s", r.status, r.body)
			}
			e.jsWaitStatus(block, store.JobStopped, 10*time.Second)
			t.Logf("running job stopped in %v", time.Since(start).Round(time.Millisecond))
			if log := string(e.get(logPath, nil).body); !strings.Contains(log, "stopped") {
				t.Errorf("stopped job's log:\n%s", log)
			}
			for _, c := range []struct {
				method, path string
				status       int
			}{
				{"PUT", "/jobservice/jobs/99999999", 404},
				{"GET", "/jobservice/jobs/99999999/log", 404},
				{"PUT", "/jobservice/jobs/x", 400},
				{"GET", "/jobservice/jobs/0/log", 400},
			} {
				if r := e.do(c.method, "/api/v2.0"+c.path, e.admin, nil); r.status != c.status {
					t.Errorf("%s %s: %d, want %d", c.method, c.path, r.status, c.status)
				}
			}

			// Queues: pause one, a submitted task waits; resume, it runs.
			qs := e.jsQueues()
			for _, k := range []string{"TEST_QUICK", "TEST_BLOCK", "PURGE_AUDIT_LOG"} {
				if q, ok := qs[k]; !ok || q.Paused {
					t.Errorf("queue %s: %+v %v", k, q, ok)
				}
			}
			queue := func(kind, action string) {
				t.Helper()
				if r := e.do("PUT", "/api/v2.0/jobservice/queues/"+kind, e.admin, `{"action":"`+action+`"}`); r.status != http.StatusOK {
					t.Fatalf("%s %s: %d %s", action, kind, r.status, r.body)
				}
			}
			queue("TEST_QUICK", "pause")
			if !e.jsQueues()["TEST_QUICK"].Paused || !e.jsPaused("TEST_QUICK") || e.jsPaused("TEST_BLOCK") || !e.jsPaused("all") {
				t.Errorf("after pausing TEST_QUICK: %+v", e.jsQueues())
			}
			waiting := e.jsSubmit("TEST_QUICK", nil)
			time.Sleep(1500 * time.Millisecond)
			if s := e.jsTask(waiting).Status; s != store.JobPending {
				t.Fatalf("task in a paused queue is %s", s)
			}
			if q := e.jsQueues()["TEST_QUICK"]; q.Count != 1 || q.Latency < 1 {
				t.Errorf("paused queue: %+v", q)
			}
			queue("TEST_QUICK", "resume")
			e.jsWaitStatus(waiting, store.JobSuccess, 10*time.Second)
			if e.jsPaused("TEST_QUICK") || e.jsQueues()["TEST_QUICK"].Count != 0 {
				t.Errorf("after resuming: %+v", e.jsQueues()["TEST_QUICK"])
			}
			// Stop what is pending.
			queue("TEST_QUICK", "pause")
			p1, p2 := e.jsSubmit("TEST_QUICK", nil), e.jsSubmit("TEST_QUICK", nil)
			queue("TEST_QUICK", "stop")
			queue("TEST_QUICK", "resume")
			for _, id := range []int64{p1, p2} {
				if s := e.jsTask(id).Status; s != store.JobStopped {
					t.Errorf("pending task %d after a queue stop: %s", id, s)
				}
			}
			// Every queue at once.
			queue("all", "pause")
			for k, q := range e.jsQueues() {
				if !q.Paused {
					t.Errorf("queue %s not paused by all", k)
				}
			}
			queue("all", "resume")
			for k, q := range e.jsQueues() {
				if q.Paused {
					t.Errorf("queue %s still paused", k)
				}
			}
			for _, c := range []struct {
				kind, body string
				who        pgWho
				status     int
			}{
				{"TEST_QUICK", `{"action":"explode"}`, e.admin, 400},
				{"TEST_QUICK", `{"action":"pause","now":true}`, e.admin, 400},
				{"TEST_QUICK", `{"action":7}`, e.admin, 400},
				{"TEST_QUICK", `{"action":"pause"`, e.admin, 400},
				{"NO_SUCH_KIND", `{"action":"pause"}`, e.admin, 404},
				{"TEST_QUICK", `{"action":"pause"}`, e.anon, 401},
				{"TEST_QUICK", `{"action":"pause"}`, e.user, 403},
				{"TEST_QUICK", `{"action":"pause"}`, e.projRobot, 403},
				{"TEST_QUICK", `{"action":"resume"}`, e.sysRobot, 200},
			} {
				if r := e.do("PUT", "/api/v2.0/jobservice/queues/"+c.kind, c.who, c.body); r.status != c.status {
					t.Errorf("%s %s as %q: %d %s, want %d", c.kind, c.body, c.who.name, r.status, r.body, c.status)
				}
			}
			if e.jsPaused("TEST_QUICK") {
				t.Error("refused requests paused the queue")
			}

			// Schedules: listed with paging.
			var sch []api.ScheduleTask
			if e.get("/api/v2.0/schedules", &sch); len(sch) != 0 {
				t.Errorf("schedules before any: %+v", sch)
			}
			if err := e.srv.App.Jobs.SetSchedule(context.Background(), "TEST_JOBS", 1, "0 0 3 * * *", nil); err != nil {
				t.Fatal(err)
			}
			if r := e.do("POST", "/api/v2.0/system/purgeaudit/schedule", e.admin,
				`{"schedule":{"type":"Daily"},"parameters":{"audit_retention_hour":1,"include_event_types":"pull_artifact"}}`); r.status != http.StatusCreated {
				t.Fatalf("purge schedule: %d %s", r.status, r.body)
			}
			r := e.get("/api/v2.0/schedules?page_size=1&page=2", &sch)
			if r.header.Get("X-Total-Count") != "2" || len(sch) != 1 || sch[0].VendorType != "TEST_JOBS" || sch[0].VendorID != 1 ||
				sch[0].Cron != "0 0 3 * * *" || !strings.Contains(r.header.Get("Link"), `rel="prev"`) {
				t.Errorf("schedules page 2: %q %+v", r.header.Get("X-Total-Count"), sch)
			}

			// Who may look.
			for _, c := range []struct {
				path   string
				who    pgWho
				status int
			}{
				{"/jobservice/pools", e.anon, 401},
				{"/jobservice/pools", e.user, 403},
				{"/jobservice/pools", e.projRobot, 403},
				{"/jobservice/pools", e.sysRobot, 200},
				{"/jobservice/pools/all/workers", e.user, 403},
				{"/jobservice/queues", e.anon, 401},
				{"/jobservice/queues", e.sysRobot, 200},
				{"/jobservice/jobs/" + strconv.FormatInt(block, 10) + "/log", e.user, 403},
				{"/jobservice/jobs/" + strconv.FormatInt(block, 10) + "/log", e.sysRobot, 200},
				{"/schedules", e.user, 403},
				{"/schedules", e.sysRobot, 200},
				{"/schedules/TEST_QUICK/paused", e.anon, 401},
			} {
				if r := e.do("GET", "/api/v2.0"+c.path, c.who, nil); r.status != c.status {
					t.Errorf("GET %s as %q: %d, want %d", c.path, c.who.name, r.status, c.status)
				}
			}
		})
	}
}

// TestJobPanicKeepsWorkers checks that a task whose handler panics ends in
// Error with the panic and its stack in the log, and that the workers
// carry on: more panics than workers, then ordinary tasks, all run.
func TestJobPanicKeepsWorkers(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPGEnv(t, backend)
			release := make(chan struct{})
			defer close(release)
			e.jsKinds(release)
			var panics, quick []int64
			for i := 0; i < 10; i++ {
				panics = append(panics, e.jsSubmit("TEST_PANIC", map[string]int{"N": i}))
			}
			for i := 0; i < 10; i++ {
				quick = append(quick, e.jsSubmit("TEST_QUICK", nil))
			}
			for _, id := range quick {
				e.jsWaitStatus(id, store.JobSuccess, 20*time.Second)
			}
			for i, id := range panics {
				e.jsWaitStatus(id, store.JobError, 20*time.Second)
				task := e.jsTask(id)
				log := string(e.get("/api/v2.0/jobservice/jobs/"+strconv.FormatInt(id, 10)+"/log", nil).body)
				want := fmt.Sprintf("panic: boom %d", i)
				if !strings.Contains(task.StatusMessage, want) || !strings.Contains(log, "about to panic") || !strings.Contains(log, want) ||
					!strings.Contains(log, "goroutine ") || !strings.Contains(log, "jobservice_test.go") {
					t.Errorf("panicked task %d: status message %q, log:\n%s", id, task.StatusMessage, log)
				}
			}
			var pools []api.WorkerPool
			e.get("/api/v2.0/jobservice/pools", &pools)
			var workers []api.Worker
			e.get("/api/v2.0/jobservice/pools/all/workers", &workers)
			if len(pools) != 1 || pools[0].Concurrency != 4 || len(workers) != 0 {
				t.Errorf("after panics: pools %+v workers %+v", pools, workers)
			}
			// Still working: a blocking task runs and is released.
			id := e.jsSubmit("TEST_BLOCK", nil)
			e.jsWaitStatus(id, store.JobRunning, 10*time.Second)
			release <- struct{}{}
			e.jsWaitStatus(id, store.JobSuccess, 10*time.Second)
			b, _ := json.Marshal(e.jsTask(id))
			t.Logf("after 10 panics a new task ran: %s", b)
		})
	}
}
