package api_test

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// jobsMXRows covers the job service, schedule and audit-purge operations:
// Harbor lets a system administrator, or a system robot holding
// jobservice-monitor / purge-audit, use them; nobody else.
func jobsMXRows() []mxRow {
	system := "D D D D D D D D D A A"
	// One finished dry-run purge is the fixture: its execution and task
	// serve the read, log and stop rows (stopping a finished job is a no-op
	// that succeeds).
	var exec, task int64
	fixture := func(e *mxEnv) {
		if exec != 0 {
			return
		}
		r := e.must("POST", "/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"},
			"parameters": map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact", "dry_run": true}})
		exec = e.createdID(r)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ex, err := e.srv.App.DB.GetExecution(context.Background(), exec)
			if err == nil && store.Terminal(ex.Status) {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("matrix fixture: the purge did not finish")
			}
			time.Sleep(20 * time.Millisecond)
		}
		tasks, _, err := e.srv.App.DB.ListTasks(context.Background(), exec, 0, 1)
		if err != nil || len(tasks) != 1 {
			e.t.Fatalf("matrix fixture: purge tasks %v %v", tasks, err)
		}
		task = tasks[0].ID
	}
	at := func(format string, id func() int64) func(*mxEnv, mxWho) mxReq {
		return func(e *mxEnv, _ mxWho) mxReq {
			fixture(e)
			return mxReq{path: fmt.Sprintf(format, id())}
		}
	}
	execID := func() int64 { return exec }
	taskID := func() int64 { return task }
	schedule := func(typ string) func(*mxEnv, mxWho) mxReq {
		return func(*mxEnv, mxWho) mxReq {
			return mxReq{path: "/system/purgeaudit/schedule", body: map[string]any{"schedule": map[string]any{"type": typ, "cron": "0 0 3 * * *"},
				"parameters": map[string]any{"audit_retention_hour": 240000, "include_event_types": "pull_artifact", "dry_run": true}}}
		}
	}
	return []mxRow{
		{op: "getWorkerPools", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system, req: mxAt("/jobservice/pools")},
		{op: "getWorkers", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/jobservice/pools/" + e.srv.App.Jobs.Owner() + "/workers"}
			}},
		{op: "stopRunningJob", needs: "system jobservice-monitor:stop", sys: mxPerms("jobservice-monitor:stop"), want: system, req: at("/jobservice/jobs/%d", taskID)},
		{op: "actionGetJobLog", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system, req: at("/jobservice/jobs/%d/log", taskID)},
		{op: "listJobQueues", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system, req: mxAt("/jobservice/queues")},
		{op: "actionPendingJobs", needs: "system jobservice-monitor:stop", sys: mxPerms("jobservice-monitor:stop"), want: system,
			req: func(*mxEnv, mxWho) mxReq {
				return mxReq{path: "/jobservice/queues/PURGE_AUDIT_LOG", body: map[string]string{"action": "resume"}}
			}},
		{op: "listSchedules", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system, req: mxAt("/schedules")},
		{op: "getSchedulePaused", needs: "system jobservice-monitor:list", sys: mxPerms("jobservice-monitor:list"), want: system, req: mxAt("/schedules/all/paused")},

		{op: "getPurgeHistory", needs: "system purge-audit:list", sys: mxPerms("purge-audit:list"), want: system, req: mxAt("/system/purgeaudit")},
		{op: "getPurgeJob", needs: "system purge-audit:read", sys: mxPerms("purge-audit:read"), want: system, req: at("/system/purgeaudit/%d", execID)},
		{op: "stopPurge", needs: "system purge-audit:stop", sys: mxPerms("purge-audit:stop"), want: system, req: at("/system/purgeaudit/%d", execID)},
		{op: "getPurgeJobLog", needs: "system purge-audit:read", sys: mxPerms("purge-audit:read"), want: system, req: at("/system/purgeaudit/%d/log", execID)},
		{op: "getPurgeSchedule", needs: "system purge-audit:read", sys: mxPerms("purge-audit:read"), want: system, req: mxAt("/system/purgeaudit/schedule")},
		{op: "createPurgeSchedule", needs: "system purge-audit:create", sys: mxPerms("purge-audit:create"), want: system, req: schedule("Daily")},
		{op: "updatePurgeSchedule", needs: "system purge-audit:update", sys: mxPerms("purge-audit:update"), want: system, req: schedule("Custom")},
	}
}
