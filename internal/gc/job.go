package gc

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
)

// Harbor's names for the job: executions of vendor type GARBAGE_COLLECTION
// (vendor ID -1, as Harbor records it) with one task of the same kind.
const (
	Vendor         = "GARBAGE_COLLECTION"
	Kind           = "GARBAGE_COLLECTION"
	VendorID int64 = -1
)

// ActiveStore tells which executions are still pending or running.
type ActiveStore interface {
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
}

// ExecutionStore is what starting and recording collections needs from
// the metadata store.
type ExecutionStore interface {
	ActiveStore
	SetExecutionExtraAttrs(ctx context.Context, id int64, attrs string) error
}

// Submitter starts and stops executions (the job system).
type Submitter interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
	Stop(ctx context.Context, executionID int64) error
}

// JobSystem is the part of the job system Register uses.
type JobSystem interface {
	Submitter
	Register(k jobs.Kind)
	OnSchedule(vendorType string, fn jobs.ScheduleFunc)
}

// Register adds the GARBAGE_COLLECTION task kind, which runs a collection
// with c and records its results in the execution's extra attributes
// (shown as job_parameters), and the callback of the GC schedule.
func Register(js JobSystem, st ExecutionStore, c *Collector, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	js.Register(jobs.Kind{Name: Kind, MaxAttempts: 1, Timeout: 24 * time.Hour, Run: func(ctx context.Context, t *jobs.Task) error {
		p := DefaultParams()
		if err := t.ParamsInto(&p); err != nil {
			return err
		}
		res, err := c.Run(ctx, p, t.Logf)
		attrs, _ := json.Marshal(struct {
			Params
			Result
		}{p, res})
		if aerr := st.SetExecutionExtraAttrs(context.WithoutCancel(ctx), t.ExecutionID, string(attrs)); aerr != nil {
			t.Logf("could not record the results: %v", aerr)
		}
		return err
	}})
	js.OnSchedule(Vendor, func(ctx context.Context, _ int64, params string) error {
		p := DefaultParams()
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return errs.Wrap("scheduled garbage collection", err)
		}
		_, err := Start(ctx, st, js, jobs.Schedule, p)
		if errs.Is(err, errs.Conflict) {
			log.Info("scheduled garbage collection skipped: one is still running")
			return nil
		}
		return err
	})
}

// Start submits a collection with p (trigger jobs.Manual or jobs.Schedule)
// and returns its execution ID. It refuses with errs.Conflict while another
// collection is pending or running; of two started at the same moment
// (possibly by two replicas) the later one stops itself.
func Start(ctx context.Context, st ActiveStore, js Submitter, trigger string, p Params) (int64, error) {
	const op = "start garbage collection"
	if err := p.Validate(); err != nil {
		return 0, err
	}
	busy := func(id int64) error {
		return errs.E(errs.Conflict, op, "garbage collection %d is still running; wait for it to finish or stop it", id)
	}
	active, err := st.ActiveExecutions(ctx, Vendor, VendorID)
	if err != nil {
		return 0, err
	}
	if len(active) > 0 {
		return 0, busy(active[0])
	}
	id, err := js.Submit(ctx, Vendor, VendorID, trigger, p, jobs.TaskOf{Kind: Kind, Params: p})
	if err != nil {
		return 0, err
	}
	if active, err = st.ActiveExecutions(ctx, Vendor, VendorID); err == nil && len(active) > 0 && active[0] != id {
		js.Stop(context.WithoutCancel(ctx), id)
		return 0, busy(active[0])
	}
	return id, nil
}
