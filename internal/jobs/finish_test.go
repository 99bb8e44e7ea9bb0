package jobs_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestExecutionsEndWhenTasksFinishTogether: executions of many tasks run
// by several workers all end, whichever tasks finish at the same time (on
// PostgreSQL two finishing tasks once each counted the other as running
// and left the execution "Running" for good).
func TestExecutionsEndWhenTasksFinishTogether(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := testserver.OpenStore(t, backend)
			svc := fast(db, 4)
			svc.Register(jobs.Kind{Name: "quick", Run: func(context.Context, *jobs.Task) error { return nil }})
			var ids []int64
			for range 20 {
				tasks := make([]jobs.TaskOf, 20)
				for i := range tasks {
					tasks[i] = jobs.TaskOf{Kind: "quick"}
				}
				id, err := svc.Submit(ctx, "TOGETHER", 0, jobs.Manual, nil, tasks...)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			start(t, svc)
			for _, id := range ids {
				waitExec(t, db, id, store.JobSuccess)
			}
		})
	}
}

// TestHistoryIsBoundedPerVendor: each vendor (a retention or webhook
// policy) keeps its own newest executions, as in Harbor.
func TestHistoryIsBoundedPerVendor(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := testserver.OpenStore(t, backend)
			svc := fast(db, 1)
			svc.Register(jobs.Kind{Name: "n", Run: func(context.Context, *jobs.Task) error { return nil }})
			start(t, svc)
			last := map[int64]int64{}
			for i := range 12 {
				vendor := int64(i%3 + 1)
				id, err := svc.Submit(ctx, "TEST", vendor, jobs.Manual, nil, jobs.TaskOf{Kind: "n"})
				if err != nil {
					t.Fatal(err)
				}
				waitExec(t, db, id, store.JobSuccess)
				last[vendor] = id
			}
			svc.PurgeHistory(ctx) // keeps 2 of "TEST" (fast)
			for vendor := int64(1); vendor <= 3; vendor++ {
				list, total, err := db.ListExecutions(ctx, "TEST", vendor, 0, 10)
				if err != nil || total != 2 || list[0].ID != last[vendor] {
					t.Errorf("vendor %d kept %d executions: %+v (%v)", vendor, total, list, err)
				}
			}
		})
	}
}
