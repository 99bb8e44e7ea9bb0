package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRunNow checks that RunNow runs an execution's tasks in the caller,
// concurrently, with workers busy elsewhere or none at all: each task is
// running (leased to this process) while its handler runs, gets one
// attempt whose failure is final even for a kind with retries, keeps its
// log, and the execution is finished when RunNow returns. Workers never
// run such a task again.
func TestRunNow(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := testserver.OpenStore(t, backend)
			svc := fast(db, 2)
			var runs atomic.Int32
			var running atomic.Int32
			var both atomic.Bool
			svc.Register(jobs.Kind{Name: "call", MaxAttempts: 4, Backoff: func(int) time.Duration { return 10 * time.Millisecond },
				Run: func(ctx context.Context, task *jobs.Task) error {
					runs.Add(1)
					if running.Add(1) == 2 { // the other task is running too
						both.Store(true)
					}
					defer running.Add(-1)
					st, err := db.GetTask(ctx, task.ID)
					if err != nil || st.Status != store.JobRunning || st.LeaseOwner != svc.Owner() || st.Attempts != 1 {
						t.Errorf("task while it runs: %+v %v", st, err)
					}
					time.Sleep(100 * time.Millisecond)
					var p struct{ Fail bool }
					task.ParamsInto(&p)
					task.Logf("attempt %d of %d", task.Attempts, task.MaxAttempts)
					if p.Fail {
						return errors.New("refused")
					}
					return nil
				}})
			start(t, svc)

			id, err := svc.RunNow(ctx, "NOW", 3, "TEST", map[string]any{"test": true},
				jobs.TaskOf{Kind: "call", Params: map[string]bool{"Fail": false}, Extra: map[string]string{"to": "a"}},
				jobs.TaskOf{Kind: "call", Params: map[string]bool{"Fail": true}, Extra: map[string]string{"to": "b"}})
			if err != nil {
				t.Fatal(err)
			}
			if !both.Load() {
				t.Error("the tasks of RunNow did not run concurrently")
			}
			e, err := db.GetExecution(ctx, id)
			if err != nil || e.Status != store.JobError || e.Trigger != "TEST" || e.VendorID != 3 || e.EndTime == 0 || !strings.Contains(e.ExtraAttrs, "test") {
				t.Fatalf("execution when RunNow returned: %+v %v", e, err)
			}
			tasks, _, err := db.ListTasks(ctx, id, 0, 10)
			if err != nil || len(tasks) != 2 {
				t.Fatalf("tasks: %+v %v", tasks, err)
			}
			for i, want := range []string{store.JobSuccess, store.JobError} {
				tk := tasks[i]
				log, _ := db.TaskLog(ctx, tk.ID)
				if tk.Status != want || tk.Attempts != 1 || tk.MaxAttempts != 1 || tk.LeaseOwner != "" || tk.StartTime == 0 || tk.EndTime < tk.StartTime ||
					!strings.Contains(log, "attempt 1 of 1") || strings.Contains(log, "retrying") {
					t.Errorf("task %d: %+v, log %q", i, tk, log)
				}
			}
			if tasks[1].StatusMessage != "refused" {
				t.Errorf("failed task's message %q", tasks[1].StatusMessage)
			}
			time.Sleep(300 * time.Millisecond) // workers poll every 20ms; backoff is 10ms
			if n := runs.Load(); n != 2 {
				t.Errorf("handlers ran %d times, want 2 (no retry, no worker run)", n)
			}

			// Without workers, RunNow still runs; an unknown kind is refused
			// before anything is recorded.
			idle := jobs.New(db, jobs.Options{})
			idle.Register(jobs.Kind{Name: "quick", Run: func(context.Context, *jobs.Task) error { return nil }})
			id, err = idle.RunNow(ctx, "NOW", 4, "TEST", nil, jobs.TaskOf{Kind: "quick"})
			if err != nil {
				t.Fatal(err)
			}
			if e, err := db.GetExecution(ctx, id); err != nil || e.Status != store.JobSuccess {
				t.Errorf("RunNow without workers: %+v %v", e, err)
			}
			if _, err := idle.RunNow(ctx, "NOW", 4, "TEST", nil, jobs.TaskOf{Kind: "nope"}); err == nil {
				t.Error("RunNow with an unknown kind: no error")
			}
		})
	}
}
