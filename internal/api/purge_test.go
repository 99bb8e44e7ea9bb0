package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/testserver"
)

// purgeRun starts a manual purge as who and returns its execution ID.
func (e *pgEnv) purgeRun(who pgWho, retention int, types string, dryRun bool) int64 {
	e.t.Helper()
	r := e.do("POST", "/api/v2.0/system/purgeaudit/schedule", who, map[string]any{"schedule": map[string]any{"type": "Manual"},
		"parameters": map[string]any{"audit_retention_hour": retention, "include_event_types": types, "dry_run": dryRun}})
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if r.status != http.StatusCreated || err != nil || !strings.HasPrefix(loc, "/api/v2.0/system/purgeaudit/") {
		e.t.Fatalf("manual purge: %d %q %s", r.status, loc, r.body)
	}
	return id
}

// purgeJob returns a purge execution as the API shows it.
func (e *pgEnv) purgeJob(id int64) api.ExecHistory {
	e.t.Helper()
	var h api.ExecHistory
	e.get("/api/v2.0/system/purgeaudit/"+strconv.FormatInt(id, 10), &h)
	return h
}

// purgeWait waits until purge id ends and returns its log.
func (e *pgEnv) purgeWait(id int64, status string) string {
	e.t.Helper()
	var h api.ExecHistory
	e.waitFor("purge "+strconv.FormatInt(id, 10)+" to end", 30*time.Second, func() bool {
		h = e.purgeJob(id)
		return h.JobStatus == "Success" || h.JobStatus == "Error" || h.JobStatus == "Stopped"
	})
	log := string(e.get("/api/v2.0/system/purgeaudit/"+strconv.FormatInt(id, 10)+"/log", nil).body)
	if h.JobStatus != status {
		e.t.Fatalf("purge %d ended %s, want %s; log:\n%s", id, h.JobStatus, status, log)
	}
	return log
}

// TestPurgeAuditLog runs purges by age and event type, dry and for real,
// in batches, and checks history, job, log, stop and their validation.
func TestPurgeAuditLog(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPGEnv(t, backend)
			e.seedAudit("create_artifact", 3, 48*time.Hour)
			e.seedAudit("pull_artifact", 4, 48*time.Hour)
			e.seedAudit("pull_artifact", 2, time.Hour)
			e.seedAudit("delete_project", 2, 30*24*time.Hour)
			counts := func() [4]int64 {
				return [4]int64{e.auditCount("username=seed,operation=create"), e.auditCount("username=seed,operation=pull"),
					e.auditCount("username=seed,operation=delete"), e.auditCount("username=seed")}
			}
			if got := counts(); got != [4]int64{3, 6, 2, 11} {
				t.Fatalf("seeded %v", got)
			}

			// Dry run: counts reported, nothing deleted.
			id := e.purgeRun(e.admin, 24, "pull_artifact, create_artifact,PULL_ARTIFACT", true)
			log := e.purgeWait(id, "Success")
			for _, want := range []string{"[DRYRUN] pull_artifact: 4 records would be purged", "[DRYRUN] create_artifact: 3 records would be purged",
				"[DRYRUN] Purged 7 rows of audit logs", `include_event_types="pull_artifact,create_artifact"`} {
				if !strings.Contains(log, want) {
					t.Errorf("dry run log lacks %q:\n%s", want, log)
				}
			}
			if got := counts(); got != [4]int64{3, 6, 2, 11} {
				t.Fatalf("dry run deleted records: %v", got)
			}
			h := e.purgeJob(id)
			var params map[string]any
			if err := json.Unmarshal([]byte(h.JobParameters), &params); err != nil || params["audit_retention_hour"] != 24.0 ||
				params["dry_run"] != true || params["include_event_types"] != "pull_artifact,create_artifact" {
				t.Errorf("job_parameters %q", h.JobParameters)
			}
			if h.ID != id || h.JobName != "PURGE_AUDIT_LOG" || h.JobKind != "MANUAL" || h.Schedule == nil || h.Schedule.Type != "MANUAL" || h.Deleted {
				t.Errorf("purge job %+v", h)
			}

			// By event type: old pulls go, recent pulls and old creates stay.
			log = e.purgeWait(e.purgeRun(e.admin, 24, "pull_artifact", false), "Success")
			if !strings.Contains(log, "pull_artifact: 4 records purged") || !strings.Contains(log, "Purged 4 rows of audit logs") {
				t.Errorf("purge log:\n%s", log)
			}
			if got := counts(); got != [4]int64{3, 2, 2, 7} {
				t.Fatalf("after purging old pulls: %v", got)
			}
			// By age: a 31-day retention keeps the 30-day-old deletes, 29 days does not.
			e.purgeWait(e.purgeRun(e.admin, 31*24, "delete_project,create_artifact", false), "Success")
			if got := counts(); got != [4]int64{3, 2, 2, 7} {
				t.Fatalf("after purging with 31 days: %v", got)
			}
			e.purgeWait(e.purgeRun(e.admin, 29*24, "delete_project,create_artifact", false), "Success")
			if got := counts(); got != [4]int64{3, 2, 0, 5} {
				t.Fatalf("after purging with 29 days: %v", got)
			}
			e.purgeWait(e.purgeRun(e.admin, 24, "create_artifact", false), "Success")
			if got := counts(); got != [4]int64{0, 2, 0, 2} {
				t.Fatalf("after purging creates: %v", got)
			}
			// An empty list purges nothing, as in Harbor.
			log = e.purgeWait(e.purgeRun(e.admin, 1, "", false), "Success")
			if !strings.Contains(log, "no event types selected") || counts() != [4]int64{0, 2, 0, 2} {
				t.Errorf("empty include_event_types: %v\n%s", counts(), log)
			}

			// Many rows go in bounded batches, each its own transaction.
			e.seedAudit("delete_tag", 12001, 72*time.Hour)
			log = e.purgeWait(e.purgeRun(e.admin, 24, "delete_tag", false), "Success")
			for _, want := range []string{"delete_tag: 5000 records purged so far", "delete_tag: 10000 records purged so far", "delete_tag: 12001 records purged"} {
				if !strings.Contains(log, want) {
					t.Errorf("batched purge log lacks %q:\n%s", want, log)
				}
			}
			if n := e.auditCount("operation=delete,resource_type=tag"); n != 0 {
				t.Errorf("%d delete_tag records left", n)
			}

			// History: newest first, paged, filtered and sorted.
			r := e.get("/api/v2.0/system/purgeaudit?page=1&page_size=2", nil)
			var hist []api.ExecHistory
			json.Unmarshal(r.body, &hist)
			if r.header.Get("X-Total-Count") != "7" || len(hist) != 2 || hist[0].ID <= hist[1].ID || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Errorf("history page: %s %q %s", r.header.Get("X-Total-Count"), r.header.Get("Link"), r.body)
			}
			e.get("/api/v2.0/system/purgeaudit?sort=id&q=job_status%3DSuccess&page_size=50", &hist)
			if len(hist) != 7 || hist[0].ID != id || hist[0].JobStatus != "Success" {
				t.Errorf("history sorted by id: %+v", hist)
			}
			for _, q := range []string{"q=nosuch%3D1", "sort=nosuch", "page=-1", "page_size=101"} {
				if r := e.do("GET", "/api/v2.0/system/purgeaudit?"+q, e.admin, nil); r.status != http.StatusBadRequest {
					t.Errorf("history ?%s: %d, want 400", q, r.status)
				}
			}

			// Stop: a purge waiting in a paused queue ends Stopped and deletes nothing.
			if r := e.do("PUT", "/api/v2.0/jobservice/queues/PURGE_AUDIT_LOG", e.admin, `{"action":"pause"}`); r.status != http.StatusOK {
				t.Fatalf("pause: %d %s", r.status, r.body)
			}
			stopID := e.purgeRun(e.admin, 1, "pull_artifact", false)
			time.Sleep(300 * time.Millisecond)
			if h := e.purgeJob(stopID); h.JobStatus != "Pending" {
				t.Fatalf("purge in a paused queue is %s", h.JobStatus)
			}
			path := "/api/v2.0/system/purgeaudit/" + strconv.FormatInt(stopID, 10)
			if r := e.do("PUT", path, e.user, nil); r.status != http.StatusForbidden {
				t.Errorf("stop as a plain user: %d", r.status)
			}
			if r := e.do("PUT", path, e.admin, nil); r.status != http.StatusOK {
				t.Fatalf("stop: %d %s", r.status, r.body)
			}
			e.do("PUT", "/api/v2.0/jobservice/queues/PURGE_AUDIT_LOG", e.admin, `{"action":"resume"}`)
			e.purgeWait(stopID, "Stopped")
			if got := counts(); got != [4]int64{0, 2, 0, 2} {
				t.Errorf("stopped purge deleted records: %v", got)
			}

			// IDs that are not purges.
			e.srv.App.Jobs.Register(jobs.Kind{Name: "TEST_NOT_PURGE", Run: func(context.Context, *jobs.Task) error { return nil }})
			other, err := e.srv.App.Jobs.Submit(context.Background(), "TEST_VENDOR", 0, jobs.Manual, nil, jobs.TaskOf{Kind: "TEST_NOT_PURGE"})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				method, path string
				status       int
			}{
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(other, 10), 404},
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(other, 10) + "/log", 404},
				{"PUT", "/system/purgeaudit/" + strconv.FormatInt(other, 10), 404},
				{"GET", "/system/purgeaudit/99999999", 404},
				{"GET", "/system/purgeaudit/99999999/log", 404},
				{"PUT", "/system/purgeaudit/99999999", 404},
				{"GET", "/system/purgeaudit/abc", 400},
				{"GET", "/system/purgeaudit/-1/log", 400},
			} {
				if r := e.do(c.method, "/api/v2.0"+c.path, e.admin, nil); r.status != c.status {
					t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
				}
			}
			// The operations are in the audit log.
			if n := e.auditCount("operation=create,resource_type=purge_audit_job,username=admin"); n != 8 {
				t.Errorf("%d purge runs audited, want 8", n)
			}
		})
	}
}

// TestPurgeSchedule covers schedule CRUD, a schedule firing, validation
// of every parameter (nothing written when refused) and who may do what.
func TestPurgeSchedule(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPGEnv(t, backend)
			const path = "/api/v2.0/system/purgeaudit/schedule"
			schedule := func() api.ExecHistory {
				var h api.ExecHistory
				e.get(path, &h)
				return h
			}
			if h := schedule(); h.Schedule == nil || h.Schedule.Type != "None" || h.ID != 0 {
				t.Fatalf("initial schedule: %+v", h)
			}
			body := func(typ, cron string, params string) string {
				return `{"schedule":{"type":"` + typ + `","cron":"` + cron + `"},"parameters":` + params + `}`
			}
			const good = `{"audit_retention_hour":168,"include_event_types":"create_artifact,pull_artifact","dry_run":true}`

			// Validation: 400 and nothing written.
			for _, c := range []struct{ name, body string }{
				{"empty object", `{}`},
				{"no schedule", `{"parameters":` + good + `}`},
				{"unknown type", body("Monthly", "", good)},
				{"custom without cron", body("Custom", "", good)},
				{"custom with bad cron", body("Custom", "61 * * * *", good)},
				{"custom with too many fields", body("Custom", "0 0 0 * * * * *", good)},
				{"no parameters", `{"schedule":{"type":"Daily"}}`},
				{"no retention", body("Daily", "", `{"include_event_types":"pull_artifact"}`)},
				{"retention 0", body("Daily", "", `{"audit_retention_hour":0,"include_event_types":"pull_artifact"}`)},
				{"retention too long", body("Daily", "", `{"audit_retention_hour":240001,"include_event_types":"pull_artifact"}`)},
				{"retention as string", body("Daily", "", `{"audit_retention_hour":"168","include_event_types":"pull_artifact"}`)},
				{"retention fractional", body("Daily", "", `{"audit_retention_hour":1.5,"include_event_types":"pull_artifact"}`)},
				{"no event types", body("Daily", "", `{"audit_retention_hour":168}`)},
				{"unknown event type", body("Daily", "", `{"audit_retention_hour":168,"include_event_types":"pull_artifact,eat_artifact"}`)},
				{"event types as list", body("Daily", "", `{"audit_retention_hour":168,"include_event_types":["pull_artifact"]}`)},
				{"both include forms", body("Daily", "", `{"audit_retention_hour":168,"include_event_types":"pull_artifact","include_operations":"pull"}`)},
				{"unknown operation", body("Daily", "", `{"audit_retention_hour":168,"include_operations":"create,eat"}`)},
				{"dry_run as string", body("Daily", "", `{"audit_retention_hour":168,"include_event_types":"pull_artifact","dry_run":"yes"}`)},
				{"unknown parameter", body("Daily", "", `{"audit_retention_hour":168,"include_event_types":"pull_artifact","keep":1}`)},
				{"manual with bad parameters", body("Manual", "", `{"audit_retention_hour":-1,"include_event_types":"pull_artifact"}`)},
			} {
				for _, method := range []string{"POST", "PUT"} {
					r := e.do(method, path, e.admin, c.body)
					if r.status != http.StatusBadRequest || r.code() == "" {
						t.Errorf("%s %s: %d %s, want 400", method, c.name, r.status, r.body)
					}
				}
			}
			var hist []api.ExecHistory
			if e.get("/api/v2.0/system/purgeaudit", &hist); len(hist) != 0 {
				t.Errorf("refused requests started purges: %+v", hist)
			}
			if h := schedule(); h.Schedule.Type != "None" {
				t.Errorf("refused requests set a schedule: %+v", h)
			}

			// Create, read, update, remove.
			r := e.do("POST", path, e.admin, body("Hourly", "", good))
			if r.status != http.StatusCreated || r.header.Get("Location") != path {
				t.Fatalf("create hourly: %d %q %s", r.status, r.header.Get("Location"), r.body)
			}
			h := schedule()
			next, err := time.Parse(time.RFC3339, h.Schedule.NextScheduledTime)
			if h.ID == 0 || h.Schedule.Type != "Hourly" || h.Schedule.Cron != "0 0 * * * *" || h.JobKind != "0 0 * * * *" ||
				err != nil || !next.After(time.Now()) || next.After(time.Now().Add(time.Hour)) {
				t.Errorf("hourly schedule: %+v (next %v)", h, err)
			}
			var params map[string]any
			json.Unmarshal([]byte(h.JobParameters), &params)
			if params["audit_retention_hour"] != 168.0 || params["include_event_types"] != "create_artifact,pull_artifact" || params["dry_run"] != true {
				t.Errorf("schedule parameters %q", h.JobParameters)
			}
			if r := e.do("PUT", path, e.admin, body("Custom", "0 30 2 * * *", `{"audit_retention_hour":24,"include_operations":"pull"}`)); r.status != http.StatusOK {
				t.Fatalf("update custom: %d %s", r.status, r.body)
			}
			h = schedule()
			json.Unmarshal([]byte(h.JobParameters), &params)
			if h.Schedule.Type != "Custom" || h.Schedule.Cron != "0 30 2 * * *" || params["include_event_types"] != "pull_artifact" || params["dry_run"] != false {
				t.Errorf("custom schedule: %+v", h)
			}
			var all []api.ScheduleTask
			e.get("/api/v2.0/schedules", &all)
			if len(all) != 1 || all[0].VendorType != "PURGE_AUDIT_LOG" || all[0].Cron != "0 30 2 * * *" {
				t.Errorf("schedules: %+v", all)
			}
			if r := e.do("PUT", path, e.admin, body("Weekly", "", good)); r.status != http.StatusOK || schedule().Schedule.Type != "Weekly" {
				t.Errorf("update weekly: %d", r.status)
			}
			if r := e.do("PUT", path, e.admin, `{"schedule":{"type":"None"}}`); r.status != http.StatusOK || schedule().Schedule.Type != "None" {
				t.Errorf("remove: %d %+v", r.status, schedule())
			}

			// A schedule fires: every second, until removed.
			e.seedAudit("pull_artifact", 2, 200*time.Hour)
			if r := e.do("POST", path, e.admin, body("Schedule", "* * * * * *", good)); r.status != http.StatusCreated {
				t.Fatalf("every second: %d %s", r.status, r.body)
			}
			e.waitFor("a scheduled purge", 20*time.Second, func() bool {
				e.get("/api/v2.0/system/purgeaudit", &hist)
				return len(hist) > 0 && hist[len(hist)-1].JobStatus == "Success"
			})
			e.do("PUT", path, e.admin, `{"schedule":{"type":"None"}}`)
			first := hist[len(hist)-1]
			if first.JobKind != "SCHEDULE" || first.Schedule.Type != "SCHEDULE" {
				t.Errorf("scheduled run: %+v", first)
			}
			log := string(e.get("/api/v2.0/system/purgeaudit/"+strconv.FormatInt(first.ID, 10)+"/log", nil).body)
			if !strings.Contains(log, "[DRYRUN] pull_artifact: 2 records would be purged") || e.auditCount("username=seed") != 2 {
				t.Errorf("scheduled dry run log:\n%s", log)
			}
			// Manual through PUT runs now and answers 200.
			if r := e.do("PUT", path, e.admin, body("Manual", "", good)); r.status != http.StatusOK {
				t.Errorf("manual via PUT: %d %s", r.status, r.body)
			}

			// Who may do what: admin and a system robot with purge-audit.
			for _, c := range []struct {
				method, path string
				who          pgWho
				body         string
				status       int
			}{
				{"GET", "/system/purgeaudit", e.anon, "", 401},
				{"GET", "/system/purgeaudit", e.user, "", 403},
				{"GET", "/system/purgeaudit", e.projRobot, "", 403},
				{"GET", "/system/purgeaudit", e.sysRobot, "", 200},
				{"GET", "/system/purgeaudit/schedule", e.anon, "", 401},
				{"GET", "/system/purgeaudit/schedule", e.user, "", 403},
				{"GET", "/system/purgeaudit/schedule", e.sysRobot, "", 200},
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(first.ID, 10), e.user, "", 403},
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(first.ID, 10), e.sysRobot, "", 200},
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(first.ID, 10) + "/log", e.anon, "", 401},
				{"GET", "/system/purgeaudit/" + strconv.FormatInt(first.ID, 10) + "/log", e.sysRobot, "", 200},
				{"POST", "/system/purgeaudit/schedule", e.anon, body("Daily", "", good), 401},
				{"POST", "/system/purgeaudit/schedule", e.user, body("Daily", "", good), 403},
				{"POST", "/system/purgeaudit/schedule", e.projRobot, body("Daily", "", good), 403},
				{"PUT", "/system/purgeaudit/schedule", e.user, body("Daily", "", good), 403},
				{"POST", "/system/purgeaudit/schedule", e.sysRobot, body("Daily", "", good), 201},
				{"PUT", "/system/purgeaudit/schedule", e.sysRobot, `{"schedule":{"type":"None"}}`, 200},
				{"PUT", "/system/purgeaudit/" + strconv.FormatInt(first.ID, 10), e.sysRobot, "", 200},
			} {
				var b any
				if c.body != "" {
					b = c.body
				}
				if r := e.do(c.method, "/api/v2.0"+c.path, c.who, b); r.status != c.status {
					t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.path, c.who.name, r.status, r.body, c.status)
				}
			}
			if h := schedule(); h.Schedule.Type != "None" {
				t.Errorf("schedule after the robot removed it: %+v", h)
			}
		})
	}
}
