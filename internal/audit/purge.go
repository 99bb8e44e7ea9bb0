package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
)

// Purges of the audit log (Harbor's PURGE_AUDIT_LOG job): delete the
// records of some event types older than a retention period, or with
// DryRun only count them. Deletion runs in batches of PurgeBatch rows,
// each its own transaction, so a purge never holds the table for long and
// a purge interrupted (stopped, or the server killed) has deleted whole
// batches only; running it again finishes the work.
const (
	PurgeVendor       = "PURGE_AUDIT_LOG" // execution vendor type
	PurgeKind         = "PURGE_AUDIT_LOG" // task kind
	MaxRetentionHours = 240000            // Harbor's upper bound for audit_retention_hour
	PurgeBatch        = 5000              // rows per delete transaction
)

// PurgeParams are a purge's parameters, with Harbor's names.
type PurgeParams struct {
	RetentionHour     int    `json:"audit_retention_hour"`
	IncludeEventTypes string `json:"include_event_types"` // comma-separated, e.g. "create_artifact,pull_artifact"
	DryRun            bool   `json:"dry_run"`
}

// EventTypes returns the event types to purge: trimmed, lower-cased,
// without empties or repeats. None means nothing is purged (as in Harbor).
func (p PurgeParams) EventTypes() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.Split(p.IncludeEventTypes, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// Validate checks p; known lists the event types that may be named.
func (p PurgeParams) Validate(known []string) error {
	const op = "purge parameters"
	if p.RetentionHour < 1 || p.RetentionHour > MaxRetentionHours {
		return errs.E(errs.Invalid, op, "audit_retention_hour must be between 1 and %d, not %d", MaxRetentionHours, p.RetentionHour)
	}
	for _, t := range p.EventTypes() {
		if !contains(known, t) {
			return errs.E(errs.Invalid, op, "include_event_types: unknown event type %q (known: %s)", t, strings.Join(known, ", "))
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// splitEventType splits "create_artifact" into operation and resource type.
func splitEventType(t string) (operation, resourceType string, ok bool) {
	operation, resourceType, ok = strings.Cut(t, "_")
	return operation, resourceType, ok && operation != "" && resourceType != ""
}

// PurgeStore is what purges need from the metadata store.
type PurgeStore interface {
	CountAuditEntriesBefore(ctx context.Context, operation, resourceType string, before int64) (int64, error)
	DeleteAuditEntriesBefore(ctx context.Context, operation, resourceType string, before int64, limit int) (int64, error)
}

// Submitter starts jobs.
type Submitter interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
}

// JobSystem is the part of the job system purges use.
type JobSystem interface {
	Submitter
	Register(k jobs.Kind)
	OnSchedule(vendorType string, fn jobs.ScheduleFunc)
}

// RegisterPurge adds the purge task kind and its schedule callback.
func RegisterPurge(js JobSystem, st PurgeStore) {
	js.Register(jobs.Kind{Name: PurgeKind, MaxAttempts: 3, Timeout: 6 * time.Hour, Run: func(ctx context.Context, t *jobs.Task) error {
		var p PurgeParams
		if err := t.ParamsInto(&p); err != nil {
			return err
		}
		return Purge(ctx, st, p, t.Logf)
	}})
	js.OnSchedule(PurgeVendor, func(ctx context.Context, _ int64, params string) error {
		var p PurgeParams
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return errs.Wrap("scheduled purge", err)
		}
		_, err := StartPurge(ctx, js, jobs.Schedule, p)
		return err
	})
}

// StartPurge submits a purge execution with p (trigger: jobs.Manual or
// jobs.Schedule) and returns its ID. The parameters are the execution's
// extra attributes, shown as its job_parameters.
func StartPurge(ctx context.Context, js Submitter, trigger string, p PurgeParams) (int64, error) {
	return js.Submit(ctx, PurgeVendor, 0, trigger, p, jobs.TaskOf{Kind: PurgeKind, Params: p})
}

// Purge deletes (or with p.DryRun counts) the audit records of p's event
// types older than p.RetentionHour hours, logging what it does with logf.
// It stops between batches when ctx ends; what it deleted stays deleted.
func Purge(ctx context.Context, st PurgeStore, p PurgeParams, logf func(string, ...any)) error {
	if p.RetentionHour < 1 || p.RetentionHour > MaxRetentionHours {
		return errs.E(errs.Invalid, "purge audit log", "audit_retention_hour must be between 1 and %d, not %d", MaxRetentionHours, p.RetentionHour)
	}
	before := time.Now().Add(-time.Duration(p.RetentionHour) * time.Hour)
	types := p.EventTypes()
	prefix := ""
	if p.DryRun {
		prefix = "[DRYRUN] "
	}
	logf("%spurge audit log: audit_retention_hour=%d (records before %s), include_event_types=%q, dry_run=%v",
		prefix, p.RetentionHour, before.UTC().Format(time.RFC3339), strings.Join(types, ","), p.DryRun)
	if len(types) == 0 {
		logf("%sno event types selected; nothing to purge", prefix)
		return nil
	}
	var total int64
	for _, et := range types {
		op, rt, ok := splitEventType(et)
		if !ok {
			logf("%sskipping malformed event type %q", prefix, et)
			continue
		}
		if p.DryRun {
			n, err := st.CountAuditEntriesBefore(ctx, op, rt, before.UnixMilli())
			if err != nil {
				return err
			}
			logf("[DRYRUN] %s: %d records would be purged", et, n)
			total += n
			continue
		}
		var n int64
		for {
			if err := ctx.Err(); err != nil {
				logf("%s: stopped after purging %d records", et, n)
				return err
			}
			k, err := st.DeleteAuditEntriesBefore(ctx, op, rt, before.UnixMilli(), PurgeBatch)
			if err != nil {
				return fmt.Errorf("purging %s after %d records: %w", et, n, err)
			}
			n += k
			if k > 0 && k == PurgeBatch {
				logf("%s: %d records purged so far", et, n)
			}
			if k < PurgeBatch {
				break
			}
		}
		logf("%s: %d records purged", et, n)
		total += n
	}
	if p.DryRun {
		logf("[DRYRUN] Purged %d rows of audit logs (nothing was deleted)", total)
	} else {
		logf("Purged %d rows of audit logs", total)
	}
	return nil
}
