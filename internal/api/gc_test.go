package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestGCValidationAndAccess sends every GC operation as each kind of
// caller and with every kind of bad input, and checks the status, the
// Harbor error code, and that refused requests changed nothing.
func TestGCValidationAndAccess(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newGCEnv(t, backend)
			ctx := context.Background()
			// Collections stay pending: nothing runs during this test.
			if err := e.srv.App.DB.SetQueuePaused(ctx, gc.Kind, true); err != nil {
				t.Fatal(err)
			}
			manual := func(params any) map[string]any {
				return map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": params}
			}
			const sched = "/api/v2.0/system/gc/schedule"
			rows := []struct {
				name         string
				method, path string
				who          gcWho
				body         any
				status       int
				code         string
			}{
				{"history anonymous", "GET", "/api/v2.0/system/gc", e.anon, nil, 401, "UNAUTHORIZED"},
				{"history plain user", "GET", "/api/v2.0/system/gc", e.user, nil, 403, "FORBIDDEN"},
				{"history other robot", "GET", "/api/v2.0/system/gc", e.otherBot, nil, 403, "FORBIDDEN"},
				{"history gc robot", "GET", "/api/v2.0/system/gc", e.gcRobot, nil, 200, ""},
				{"schedule plain user", "GET", sched, e.user, nil, 403, "FORBIDDEN"},
				{"schedule gc robot", "GET", sched, e.gcRobot, nil, 200, ""},
				{"run anonymous", "POST", sched, e.anon, manual(map[string]any{}), 401, "UNAUTHORIZED"},
				{"run plain user", "POST", sched, e.user, manual(map[string]any{}), 403, "FORBIDDEN"},
				{"run other robot", "POST", sched, e.otherBot, manual(map[string]any{}), 403, "FORBIDDEN"},
				{"update plain user", "PUT", sched, e.user, manual(map[string]any{}), 403, "FORBIDDEN"},
				{"get missing", "GET", "/api/v2.0/system/gc/99999", e.admin, nil, 404, "NOT_FOUND"},
				{"get bad id", "GET", "/api/v2.0/system/gc/abc", e.admin, nil, 400, "BAD_REQUEST"},
				{"log missing", "GET", "/api/v2.0/system/gc/99999/log", e.admin, nil, 404, "NOT_FOUND"},
				{"stop missing", "PUT", "/api/v2.0/system/gc/99999", e.admin, nil, 404, "NOT_FOUND"},
				{"stop plain user", "PUT", "/api/v2.0/system/gc/1", e.user, nil, 403, "FORBIDDEN"},
				{"malformed JSON", "POST", sched, e.admin, `{"schedule":`, 400, "BAD_REQUEST"},
				{"unknown field", "POST", sched, e.admin, `{"schedule":{"type":"Manual"},"extra":1}`, 400, "BAD_REQUEST"},
				{"no schedule", "POST", sched, e.admin, map[string]any{"parameters": map[string]any{}}, 400, "BAD_REQUEST"},
				{"unknown schedule type", "POST", sched, e.admin, map[string]any{"schedule": map[string]any{"type": "Sometimes"}}, 400, "BAD_REQUEST"},
				{"bad cron", "POST", sched, e.admin, map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "every day"}}, 400, "BAD_REQUEST"},
				{"workers 0", "POST", sched, e.admin, manual(map[string]any{"workers": 0}), 400, "BAD_REQUEST"},
				{"workers 6", "POST", sched, e.admin, manual(map[string]any{"workers": 6}), 400, "BAD_REQUEST"},
				{"workers fraction", "POST", sched, e.admin, manual(map[string]any{"workers": 1.5}), 400, "BAD_REQUEST"},
				{"workers string", "POST", sched, e.admin, manual(map[string]any{"workers": "2"}), 400, "BAD_REQUEST"},
				{"negative window", "POST", sched, e.admin, manual(map[string]any{"time_window": -1}), 400, "BAD_REQUEST"},
				{"window string", "POST", sched, e.admin, manual(map[string]any{"time_window": "2h"}), 400, "BAD_REQUEST"},
				{"negative seconds", "POST", sched, e.admin, manual(map[string]any{"time_window_seconds": -5}), 400, "BAD_REQUEST"},
				{"both windows", "POST", sched, e.admin, manual(map[string]any{"time_window": 1, "time_window_seconds": 5}), 400, "BAD_REQUEST"},
				{"negative stale age", "POST", sched, e.admin, manual(map[string]any{"stale_upload_hours": -1}), 400, "BAD_REQUEST"},
				{"delete_untagged string", "POST", sched, e.admin, manual(map[string]any{"delete_untagged": "yes"}), 400, "BAD_REQUEST"},
				{"dry_run number", "POST", sched, e.admin, manual(map[string]any{"dry_run": 1}), 400, "BAD_REQUEST"},
				{"unknown parameter", "POST", sched, e.admin, manual(map[string]any{"redis_url_reg": "x"}), 400, "BAD_REQUEST"},
				{"parameters not an object", "POST", sched, e.admin, manual([]int{1}), 400, "BAD_REQUEST"},
				{"bad input on update too", "PUT", sched, e.admin, manual(map[string]any{"workers": 9}), 400, "BAD_REQUEST"},
			}
			for _, row := range rows {
				r := e.do(row.method, row.path, row.who, row.body)
				if r.status != row.status || r.code() != row.code {
					t.Errorf("%s: %d %s, want %d %s: %s", row.name, r.status, r.code(), row.status, row.code, r.body)
				}
			}
			var list []api.GCHistory
			json.Unmarshal(e.do("GET", "/api/v2.0/system/gc", e.admin, nil).body, &list)
			if len(list) != 0 {
				t.Fatalf("refused requests started %d collections", len(list))
			}
			if _, err := e.srv.App.DB.GetSchedule(ctx, gc.Vendor, gc.VendorID); err == nil {
				t.Fatal("refused requests created a schedule")
			}

			// A robot with GC permissions starts one; a second is refused
			// while the first is pending (409), and allowed once it stopped.
			r := e.do("POST", sched, e.gcRobot, manual(map[string]any{"workers": 2, "dry_run": true}))
			if r.status != 201 {
				t.Fatalf("robot run: %d %s", r.status, r.body)
			}
			first := r.header.Get("Location")
			if r := e.do("POST", sched, e.admin, manual(nil)); r.status != 409 || r.code() != "CONFLICT" {
				t.Errorf("second run while one is pending: %d %s", r.status, r.body)
			}
			if r := e.do("PUT", sched, e.admin, manual(nil)); r.status != 409 {
				t.Errorf("second run by update while one is pending: %d %s", r.status, r.body)
			}
			if r := e.do("PUT", first, e.gcRobot, nil); r.status != 200 {
				t.Fatalf("stop: %d %s", r.status, r.body)
			}
			id := e.run(map[string]any{})
			if h := e.history(id); h.JobStatus != "Pending" {
				t.Errorf("new run is %s, want Pending", h.JobStatus)
			}
			// An execution of another job is not a GC.
			if other := e.do("POST", "/api/v2.0/system/purgeaudit/schedule", e.admin, map[string]any{"schedule": map[string]any{"type": "Manual"},
				"parameters": map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact"}}); other.status == 201 {
				loc := other.header.Get("Location")
				pid := loc[strings.LastIndex(loc, "/")+1:]
				if r := e.do("GET", "/api/v2.0/system/gc/"+pid, e.admin, nil); r.status != 404 {
					t.Errorf("a purge execution through the GC API: %d %s", r.status, r.body)
				}
			}
		})
	}
}

// TestGCRunsAndSchedules runs collections through the API against a
// registry with garbage: a dry run reports without deleting, a real run
// deletes the blobs of a deleted manifest and keeps a tagged image, the
// history pages and filters, the log and results are readable, and the
// schedule is created, shown, replaced and removed.
func TestGCRunsAndSchedules(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newGCEnv(t, backend)
			_, keptLayer := e.push("library/kept", "v1")
			gone, goneLayer := e.push("library/gone", "v1")
			if s := e.registry("DELETE", "/v2/library/gone/manifests/"+gone); s != 202 {
				t.Fatalf("delete manifest: %d", s)
			}
			untagged, untaggedLayer := e.push("library/untagged", "v1")
			if s := e.registry("DELETE", "/v2/library/untagged/manifests/v1"); s != 202 {
				t.Fatalf("delete tag: %d", s)
			}

			// Dry run: the log says what would go, nothing goes.
			id := e.run(map[string]any{"dry_run": true, "time_window_seconds": 0, "delete_untagged": true})
			h, log := e.wait(id, "Success")
			for _, want := range []string{"would delete blob " + goneLayer, "would delete untagged artifact library/untagged@" + untagged,
				"dry run finished (nothing was deleted)"} {
				if !strings.Contains(log, want) {
					t.Errorf("dry run log lacks %q:\n%s", want, log)
				}
			}
			if s := e.registry("HEAD", "/v2/library/gone/blobs/"+goneLayer); s != 200 {
				t.Errorf("dry run deleted the layer link: %d", s)
			}
			if h.JobName != gc.Vendor || h.JobKind != "MANUAL" || h.Schedule == nil || h.Schedule.Type != "Manual" || h.Deleted {
				t.Errorf("history entry %+v", h)
			}

			// The real run, with Harbor's hour window given as 0.
			id = e.run(map[string]any{"time_window": 0, "workers": 3, "delete_untagged": false})
			h, log = e.wait(id, "Success")
			var attrs map[string]any
			if err := json.Unmarshal([]byte(h.JobParameters), &attrs); err != nil {
				t.Fatalf("job_parameters %q: %v", h.JobParameters, err)
			}
			for k, v := range map[string]any{"delete_untagged": false, "dry_run": false, "workers": 3.0, "time_window": 0.0, "deleted_blobs": 1.0} {
				if attrs[k] != v {
					t.Errorf("job_parameters %s = %v, want %v (%s)", k, attrs[k], v, h.JobParameters)
				}
			}
			if !strings.Contains(log, "deleted blob "+goneLayer) || !strings.Contains(log, "garbage collection finished") {
				t.Errorf("log:\n%s", log)
			}
			if s := e.registry("HEAD", "/v2/library/gone/blobs/"+goneLayer); s != 404 {
				t.Errorf("deleted manifest's layer still served: %d", s)
			}
			for repo, layer := range map[string]string{"library/kept": keptLayer, "library/untagged": untaggedLayer} {
				if s := e.registry("GET", "/v2/"+repo+"/blobs/"+layer); s != 200 {
					t.Errorf("%s layer: %d after GC", repo, s)
				}
			}

			// delete_untagged takes the untagged image, then its layer.
			id = e.run(map[string]any{"time_window": 0, "delete_untagged": true})
			if _, log = e.wait(id, "Success"); !strings.Contains(log, "deleted untagged artifact library/untagged@"+untagged) {
				t.Errorf("log:\n%s", log)
			}
			if s := e.registry("HEAD", "/v2/library/untagged/manifests/"+untagged); s != 404 {
				t.Errorf("untagged manifest: %d", s)
			}
			if s := e.registry("GET", "/v2/library/kept/manifests/v1"); s != 200 {
				t.Errorf("tagged manifest: %d", s)
			}

			// History: newest first, paged, filtered, sorted.
			r := e.do("GET", "/api/v2.0/system/gc?page=1&page_size=2", e.admin, nil)
			var list []api.GCHistory
			json.Unmarshal(r.body, &list)
			if r.status != 200 || r.header.Get("X-Total-Count") != "3" || len(list) != 2 || list[0].ID != id ||
				!strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Errorf("page 1: %d total %s link %q %s", r.status, r.header.Get("X-Total-Count"), r.header.Get("Link"), r.body)
			}
			r = e.do("GET", "/api/v2.0/system/gc?sort=creation_time&q=job_status%3DSuccess", e.admin, nil)
			json.Unmarshal(r.body, &list)
			if r.status != 200 || len(list) != 3 || list[2].ID != id {
				t.Errorf("sorted: %d %s", r.status, r.body)
			}
			if r := e.do("GET", "/api/v2.0/system/gc?q=nosuchkey%3D1", e.admin, nil); r.status != 400 {
				t.Errorf("unknown query key: %d", r.status)
			}
			if r := e.do("GET", fmt.Sprintf("/api/v2.0/system/gc/%d/log", id), e.gcRobot, nil); r.status != 200 ||
				!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("log as robot: %d %s", r.status, r.header.Get("Content-Type"))
			}

			// Schedules.
			const sched = "/api/v2.0/system/gc/schedule"
			get := func() api.GCHistory {
				var s api.GCHistory
				r := e.do("GET", sched, e.admin, nil)
				if r.status != 200 || json.Unmarshal(r.body, &s) != nil || s.Schedule == nil {
					t.Fatalf("get schedule: %d %s", r.status, r.body)
				}
				return s
			}
			if s := get(); s.Schedule.Type != "None" {
				t.Errorf("no schedule shows as %+v", s.Schedule)
			}
			r = e.do("POST", sched, e.admin, map[string]any{"schedule": map[string]any{"type": "Daily", "cron": "0 0 0 * * *"},
				"parameters": map[string]any{"delete_untagged": true, "workers": 4}})
			if r.status != 201 {
				t.Fatalf("create schedule: %d %s", r.status, r.body)
			}
			s := get()
			if s.Schedule.Type != "Daily" || s.Schedule.Cron != "0 0 0 * * *" || s.JobKind != "0 0 0 * * *" ||
				!strings.Contains(s.JobParameters, `"workers":4`) || !strings.Contains(s.JobParameters, `"delete_untagged":true`) ||
				s.Schedule.NextScheduledTime == "" {
				t.Errorf("daily schedule shows as %+v", s)
			}
			r = e.do("PUT", sched, e.gcRobot, map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 30 2 * * 1"},
				"parameters": map[string]any{"dry_run": true}})
			if r.status != 200 {
				t.Fatalf("update schedule: %d %s", r.status, r.body)
			}
			if s := get(); s.Schedule.Type != "Custom" || s.Schedule.Cron != "0 30 2 * * 1" || !strings.Contains(s.JobParameters, `"dry_run":true`) {
				t.Errorf("custom schedule shows as %+v", s)
			}
			if r := e.do("PUT", sched, e.admin, map[string]any{"schedule": map[string]any{"type": "None"}}); r.status != 200 {
				t.Fatalf("remove schedule: %d %s", r.status, r.body)
			}
			if s := get(); s.Schedule.Type != "None" {
				t.Errorf("removed schedule shows as %+v", s.Schedule)
			}
		})
	}
}

// TestGCScheduleFires checks that a due schedule starts a collection with
// the schedule's parameters, recorded with trigger SCHEDULE.
func TestGCScheduleFires(t *testing.T) {
	e := newGCEnv(t, "sqlite")
	ctx := context.Background()
	p := gc.DefaultParams()
	p.DryRun = true
	// Every second (Harbor's six-field cron).
	if err := e.srv.App.Jobs.SetSchedule(ctx, gc.Vendor, gc.VendorID, "* * * * * *", p); err != nil {
		t.Fatal(err)
	}
	var list []api.GCHistory
	for i := 0; i < 300 && len(list) == 0; i++ {
		json.Unmarshal(e.do("GET", "/api/v2.0/system/gc?q=job_kind%3DSCHEDULE", e.admin, nil).body, &list)
		if len(list) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(list) == 0 {
		t.Fatal("the schedule started no collection")
	}
	if list[0].Schedule == nil || list[0].Schedule.Type != "Schedule" || !strings.Contains(list[0].JobParameters, `"dry_run":true`) {
		t.Errorf("scheduled run shows as %+v", list[0])
	}
	if err := e.srv.App.DB.DeleteSchedule(ctx, gc.Vendor, gc.VendorID); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v2.0/system/gc/schedule", e.admin, nil); r.status != http.StatusOK {
		t.Errorf("schedule after removal: %d", r.status)
	}
}

// gcMXRows are the authorization matrix rows of the GC operations: Harbor
// lets a system administrator, or a system robot holding
// garbage-collection permissions, use them; nobody else.
func gcMXRows() []mxRow {
	system := "D D D D D D D D D A A"
	// One finished dry run is the fixture for the read, log and stop rows
	// (stopping a finished run is a no-op that succeeds).
	var exec int64
	at := func(format string) func(*mxEnv, mxWho) mxReq {
		return func(e *mxEnv, _ mxWho) mxReq {
			if exec == 0 {
				r := e.must("POST", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"},
					"parameters": map[string]any{"dry_run": true}})
				exec = e.createdID(r)
				deadline := time.Now().Add(30 * time.Second)
				for {
					ex, err := e.srv.App.DB.GetExecution(context.Background(), exec)
					if err == nil && (ex.Status == "Success" || ex.Status == "Error" || ex.Status == "Stopped") {
						break
					}
					if time.Now().After(deadline) {
						e.t.Fatalf("matrix fixture: the dry-run GC did not finish")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			return mxReq{path: fmt.Sprintf(format, exec)}
		}
	}
	schedule := func(typ string) func(*mxEnv, mxWho) mxReq {
		return func(*mxEnv, mxWho) mxReq {
			return mxReq{path: "/system/gc/schedule", body: map[string]any{"schedule": map[string]any{"type": typ, "cron": "0 0 3 * * *"},
				"parameters": map[string]any{"delete_untagged": true, "workers": 2, "dry_run": true}}}
		}
	}
	return []mxRow{
		{op: "getGCHistory", needs: "system garbage-collection:list", sys: mxPerms("garbage-collection:list"), want: system, req: mxAt("/system/gc")},
		{op: "getGC", needs: "system garbage-collection:read", sys: mxPerms("garbage-collection:read"), want: system, req: at("/system/gc/%d")},
		{op: "stopGC", needs: "system garbage-collection:stop", sys: mxPerms("garbage-collection:stop"), want: system, req: at("/system/gc/%d")},
		{op: "getGCLog", needs: "system garbage-collection:read", sys: mxPerms("garbage-collection:read"), want: system, req: at("/system/gc/%d/log")},
		{op: "getGCSchedule", needs: "system garbage-collection:read", sys: mxPerms("garbage-collection:read"), want: system, req: mxAt("/system/gc/schedule")},
		{op: "createGCSchedule", needs: "system garbage-collection:create", sys: mxPerms("garbage-collection:create"), want: system, req: schedule("Daily")},
		{op: "updateGCSchedule", needs: "system garbage-collection:update", sys: mxPerms("garbage-collection:update"), want: system, req: schedule("Custom")},
	}
}
