package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/testserver"
)

func start(t *testing.T, svc *jobs.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func fast(db *store.DB, workers int) *jobs.Service {
	return jobs.New(db, jobs.Options{Workers: workers, Lease: 600 * time.Millisecond, Poll: 20 * time.Millisecond, Keep: map[string]int{"TEST": 2}})
}

func waitExec(t *testing.T, db *store.DB, id int64, want string) *store.Execution {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e, err := db.GetExecution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d is %s, want %s", id, e.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func onlyTask(t *testing.T, db *store.DB, execID int64) store.Task {
	t.Helper()
	tasks, _, err := db.ListTasks(context.Background(), execID, 0, 10)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks of %d: %v %v", execID, tasks, err)
	}
	return tasks[0]
}

func TestJobs(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()

			t.Run("success with a readable log", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 2)
				svc.Register(jobs.Kind{Name: "echo", Run: func(ctx context.Context, task *jobs.Task) error {
					var p struct{ Word string }
					task.ParamsInto(&p)
					task.Logf("said %s", p.Word)
					return nil
				}})
				start(t, svc)
				id, err := svc.Submit(ctx, "TEST", 7, jobs.Manual, map[string]any{"dry_run": true}, jobs.TaskOf{Kind: "echo", Params: map[string]string{"Word": "hello"}})
				if err != nil {
					t.Fatal(err)
				}
				e := waitExec(t, db, id, store.JobSuccess)
				if e.VendorID != 7 || e.Trigger != jobs.Manual || !strings.Contains(e.ExtraAttrs, "dry_run") || e.EndTime == 0 {
					t.Errorf("execution %+v", e)
				}
				task := onlyTask(t, db, id)
				log, _ := db.TaskLog(ctx, task.ID)
				if task.Status != store.JobSuccess || task.Attempts != 1 || !strings.Contains(log, "said hello") {
					t.Errorf("task %+v log %q", task, log)
				}
			})

			t.Run("retries with backoff then succeeds", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				var calls atomic.Int32
				svc.Register(jobs.Kind{Name: "flaky", MaxAttempts: 3, Backoff: func(int) time.Duration { return 50 * time.Millisecond },
					Run: func(ctx context.Context, task *jobs.Task) error {
						if calls.Add(1) < 3 {
							return errors.New("transient")
						}
						return nil
					}})
				start(t, svc)
				id, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "flaky"})
				waitExec(t, db, id, store.JobSuccess)
				task := onlyTask(t, db, id)
				log, _ := db.TaskLog(ctx, task.ID)
				if task.Attempts != 3 || strings.Count(log, "retrying") != 2 {
					t.Errorf("attempts %d, log %q", task.Attempts, log)
				}
			})

			t.Run("gives up after the last attempt", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				svc.Register(jobs.Kind{Name: "broken", MaxAttempts: 2, Backoff: func(int) time.Duration { return 10 * time.Millisecond },
					Run: func(ctx context.Context, task *jobs.Task) error { return errors.New("always") }})
				start(t, svc)
				id, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "broken"})
				waitExec(t, db, id, store.JobError)
				if task := onlyTask(t, db, id); task.Attempts != 2 || task.StatusMessage != "always" {
					t.Errorf("task %+v", task)
				}
			})

			t.Run("a panic fails the task and the worker goes on", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				svc.Register(jobs.Kind{Name: "boom", Run: func(ctx context.Context, task *jobs.Task) error { panic("kaboom") }})
				svc.Register(jobs.Kind{Name: "fine", Run: func(ctx context.Context, task *jobs.Task) error { return nil }})
				start(t, svc)
				bad, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "boom"})
				good, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "fine"})
				waitExec(t, db, bad, store.JobError)
				waitExec(t, db, good, store.JobSuccess)
				log, _ := db.TaskLog(ctx, onlyTask(t, db, bad).ID)
				if !strings.Contains(log, "panic: kaboom") || !strings.Contains(log, "goroutine") {
					t.Errorf("panic log %q", log)
				}
			})

			t.Run("a task whose worker died runs again", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				dead := fast(db, 0)
				dead.Register(jobs.Kind{Name: "work", MaxAttempts: 2})
				id, _ := dead.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "work"})
				// A worker claims it with a short lease and then vanishes.
				if _, err := db.ClaimTask(ctx, "dead-worker", time.Now().Add(100*time.Millisecond).UnixMilli(), nil); err != nil {
					t.Fatal(err)
				}
				waitExec(t, db, id, store.JobRunning)
				var ran atomic.Int32
				live := fast(db, 1)
				live.Register(jobs.Kind{Name: "work", MaxAttempts: 2, Run: func(ctx context.Context, task *jobs.Task) error { ran.Add(1); return nil }})
				start(t, live)
				waitExec(t, db, id, store.JobSuccess)
				if task := onlyTask(t, db, id); ran.Load() != 1 || task.Attempts != 2 {
					t.Errorf("ran %d, task %+v", ran.Load(), task)
				}
			})

			t.Run("stop ends pending and running tasks", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				started := make(chan struct{}, 1)
				svc.Register(jobs.Kind{Name: "long", Run: func(ctx context.Context, task *jobs.Task) error {
					started <- struct{}{}
					<-ctx.Done()
					return ctx.Err()
				}})
				start(t, svc)
				id, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "long"}, jobs.TaskOf{Kind: "long"})
				<-started
				if err := svc.Stop(ctx, id); err != nil {
					t.Fatal(err)
				}
				waitExec(t, db, id, store.JobStopped)
				tasks, _, _ := db.ListTasks(ctx, id, 0, 10)
				for _, task := range tasks {
					if task.Status != store.JobStopped {
						t.Errorf("task %+v", task)
					}
				}
			})

			t.Run("stop reaches a task running in another replica", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				runner := fast(db, 1)
				started := make(chan struct{}, 1)
				runner.Register(jobs.Kind{Name: "long", Run: func(ctx context.Context, task *jobs.Task) error {
					started <- struct{}{}
					<-ctx.Done()
					return ctx.Err()
				}})
				start(t, runner)
				other := fast(db, 0)
				other.Register(jobs.Kind{Name: "long"})
				id, _ := other.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "long"})
				<-started
				other.Stop(ctx, id)
				waitExec(t, db, id, store.JobStopped)
			})

			t.Run("paused queues wait", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				svc.Register(jobs.Kind{Name: "q", Run: func(ctx context.Context, task *jobs.Task) error { return nil }})
				db.SetQueuePaused(ctx, "q", true)
				start(t, svc)
				id, _ := svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "q"})
				time.Sleep(200 * time.Millisecond)
				if e, _ := db.GetExecution(ctx, id); e.Status != store.JobPending {
					t.Fatalf("paused queue ran: %s", e.Status)
				}
				db.SetQueuePaused(ctx, "q", false)
				svc.Wake()
				waitExec(t, db, id, store.JobSuccess)
			})

			t.Run("history is bounded", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				svc := fast(db, 1)
				svc.Register(jobs.Kind{Name: "n", Run: func(ctx context.Context, task *jobs.Task) error { return nil }})
				start(t, svc)
				var last int64
				for i := 0; i < 5; i++ {
					last, _ = svc.Submit(ctx, "TEST", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "n"})
					waitExec(t, db, last, store.JobSuccess)
				}
				svc.PurgeHistory(ctx)
				list, total, _ := db.ListExecutions(ctx, "TEST", -1, 0, 10)
				if total != 2 || list[0].ID != last {
					t.Errorf("kept %d executions: %+v", total, list)
				}
			})

			t.Run("two replicas run each task once", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				var mu sync.Mutex
				seen := map[int64]int{}
				run := func(ctx context.Context, task *jobs.Task) error {
					mu.Lock()
					seen[task.ID]++
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					return nil
				}
				var ids []int64
				for r := 0; r < 2; r++ {
					svc := fast(db, 3)
					svc.Register(jobs.Kind{Name: "each", Run: run})
					if r == 0 {
						for i := 0; i < 40; i++ {
							id, _ := svc.Submit(ctx, "REPLICAS", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "each"})
							ids = append(ids, id)
						}
					}
					start(t, svc)
				}
				for _, id := range ids {
					waitExec(t, db, id, store.JobSuccess)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(seen) != 40 {
					t.Errorf("%d tasks ran, want 40", len(seen))
				}
				for id, n := range seen {
					if n != 1 {
						t.Errorf("task %d ran %d times", id, n)
					}
				}
			})

			t.Run("schedules fire once per run across replicas", func(t *testing.T) {
				db := testserver.OpenStore(t, backend)
				var fired atomic.Int32
				for r := 0; r < 2; r++ {
					svc := fast(db, 0)
					svc.OnSchedule("TEST", func(ctx context.Context, vendorID int64, params string) error {
						if vendorID == 3 && strings.Contains(params, "x") {
							fired.Add(1)
						}
						return nil
					})
					if r == 0 {
						if err := svc.SetSchedule(ctx, "TEST", 3, "* * * * * *", map[string]int{"x": 1}); err != nil {
							t.Fatal(err)
						}
					}
					start(t, svc)
				}
				time.Sleep(3500 * time.Millisecond)
				if n := fired.Load(); n < 2 || n > 4 {
					t.Errorf("a once-a-second schedule fired %d times in 3.5 s over two replicas", n)
				}
				if _, err := jobs.ParseCron("61 * * * *"); err == nil {
					t.Error("bad cron accepted")
				}
				if _, err := jobs.ParseCron("0 0 0 * * *"); err != nil {
					t.Errorf("Harbor's six-field cron refused: %v", err)
				}
			})
		})
	}
}
