package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/system"
)

// Administration pages about system jobs: the audit log and its purge,
// garbage collection, and the job queues.

// run is one execution of a system job (GC or purge) as its history shows it.
type run struct {
	ID                       int64
	JobStatus, JobKind       string // its status and trigger
	CreationTime, UpdateTime string // API timestamps
	DryRun                   bool
	Summary                  string // what it did, once done
	Link                     string // its log
}

// runsOf reads a history of system job runs.
func runsOf(list []system.Run, logBase string) []run {
	out := make([]run, 0, len(list))
	for _, e := range list {
		rn := run{ID: e.ID, JobStatus: e.Status, JobKind: e.Trigger, CreationTime: api.Timestamp(e.Start), UpdateTime: api.Timestamp(e.Update),
			Link: fmt.Sprintf("%s/%d/log", logBase, e.ID)}
		var params map[string]any
		if json.Unmarshal([]byte(e.Params), &params) == nil {
			rn.DryRun, _ = params["dry_run"].(bool)
			rn.Summary = summary(params)
		}
		out = append(out, rn)
	}
	return out
}

// summary puts a run's numeric results in words ("deleted_blobs: 3, …").
func summary(params map[string]any) string {
	var parts []string
	for _, k := range []string{"deleted_artifacts", "deleted_blobs", "deleted_orphans", "dropped_links", "purged_uploads", "freed_space", "purged", "deleted"} {
		n, ok := params[k].(float64)
		if !ok {
			continue
		}
		if k == "freed_space" {
			parts = append(parts, humanBytes(int64(n))+" freed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", strings.ReplaceAll(k, "_", " "), int64(n)))
	}
	return strings.Join(parts, ", ")
}

// jobSchedule reads system job j's schedule and its stored parameters.
func (c *Console) jobSchedule(v *view, j *system.Job) (schedule, map[string]any, error) {
	sc, err := c.svc.System.Schedule(v.r.Context(), v.p, j)
	if err != nil {
		return schedule{}, nil, serviceError(err)
	}
	s, params := schedule{Type: "None"}, map[string]any{}
	if sc != nil {
		s = scheduleOf(sc.Cron)
		s.Next = api.Timestamp(sc.NextRun)
		json.Unmarshal([]byte(sc.Params), &params)
	}
	return s, params, nil
}

// setJobSchedule handles the schedule form of system job j: do=save sets
// the schedule (or removes it), do=run and do=dry run the job now (a dry
// run with dryRun set), each through set, which calls the service with the
// job's parameters. It returns the message to show.
func (c *Console) setJobSchedule(v *view, j *system.Job, f url.Values, set func(create bool, w system.When, dryRun bool) error) (string, error) {
	switch f.Get("do") {
	case "run", "dry":
		dry := f.Get("do") == "dry"
		err := v.write("run "+j.Name, func() error { return set(true, system.When{Manual: true}, dry) })
		if dry {
			return "Dry run started: nothing will be deleted.", err
		}
		return "Started.", err
	}
	typ, cron := readSchedule(f)
	if typ == "Custom" && cron == "" {
		return "", &pageError{Status: http.StatusBadRequest, Message: "Enter a cron expression for a custom schedule."}
	}
	if typ != "None" {
		typ = "Custom" // with the cron of Hourly, Daily and Weekly
	}
	err := v.write("schedule "+j.Name, func() error {
		when, err := system.ScheduleOf(typ, cron)
		if err != nil {
			return err
		}
		return set(false, when, false)
	})
	if typ == "None" {
		return "Schedule removed.", err
	}
	return "Schedule saved.", err
}

// runID is the run of a system job the path names (the API names it
// param).
func runID(r *http.Request, param string) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: param + " must be a positive integer, not " + strconv.Quote(s)}
	}
	return id, nil
}

// runLog is the log of the run of system job j the path names.
func (c *Console) runLog(v *view, j *system.Job, param string) (string, error) {
	id, err := runID(v.r, param)
	if err != nil {
		return "", err
	}
	text, err := c.svc.System.RunLog(v.r.Context(), v.p, j, id)
	return text, serviceError(err)
}

// --- audit log and purge ---

type auditFilter struct {
	User, Operation, Type, From, To string
}

type auditTab struct {
	F          auditFilter
	List       []api.AuditLog
	Operations []string
	Events     []hookEvent // event types the purge may include
	Schedule   schedule
	Hours      string
	Runs       []run
	RunPager   pager
}

var auditOperations = []string{"create", "update", "delete", "pull", "stop", "login", "logout"}

// auditQuery turns the filters into the API's q; a malformed date is an
// error naming it.
func auditQuery(f auditFilter) (string, error) {
	var conds []string
	if f.User != "" {
		conds = append(conds, `username=~"`+queryText(f.User)+`"`)
	}
	if f.Operation != "" {
		conds = append(conds, "operation="+queryText(f.Operation))
	}
	if f.Type != "" {
		conds = append(conds, "resource_type="+queryText(f.Type))
	}
	if f.From != "" || f.To != "" {
		from, to := "", ""
		if f.From != "" {
			t, err := time.Parse("2006-01-02", f.From)
			if err != nil {
				return "", &pageError{Status: http.StatusBadRequest, Message: "The start date must be YYYY-MM-DD."}
			}
			from = t.UTC().Format(time.RFC3339)
		}
		if f.To != "" {
			t, err := time.Parse("2006-01-02", f.To)
			if err != nil {
				return "", &pageError{Status: http.StatusBadRequest, Message: "The end date must be YYYY-MM-DD."}
			}
			to = t.Add(24*time.Hour - time.Second).UTC().Format(time.RFC3339)
		}
		conds = append(conds, "op_time=["+from+"~"+to+"]")
	}
	return strings.Join(conds, ","), nil
}

// auditEntries is the page lp of the audit log that q (Harbor's query
// language) selects, as the audit log's reader answers it to the caller.
func (c *Console) auditEntries(r *http.Request, v *view, q string, lp listParams) ([]api.AuditLog, int64, error) {
	offset, err := lp.offset()
	if err != nil {
		return nil, 0, err
	}
	parsed, err := query.Parse(q, "")
	if err != nil {
		return nil, 0, serviceError(err)
	}
	entries, total, err := c.svc.AuditLog.List(r.Context(), v.p, parsed, offset, lp.Size)
	if err != nil {
		return nil, 0, serviceError(err)
	}
	return api.AuditLogsOf(entries), total, nil
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, v *view) error {
	// The purge settings are the administrators' alone: their refusal is
	// the page's.
	sched, params, err := c.jobSchedule(v, system.Purge)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	t := auditTab{Operations: auditOperations, Schedule: sched,
		F: auditFilter{User: strings.TrimSpace(qv.Get("user")), Operation: qv.Get("operation"), Type: strings.TrimSpace(qv.Get("type")),
			From: qv.Get("from"), To: qv.Get("to")}}
	lp := readList(r, 25)
	q, qerr := auditQuery(t.F)
	d := adminData{}
	if qerr != nil {
		v.Error, v.Status = qerr.Error(), http.StatusBadRequest
	} else {
		list, total, err := c.auditEntries(r, v, q, lp)
		if err != nil {
			var ae *pageError
			if !errors.As(err, &ae) {
				return err
			}
			v.Error, v.Status = ae.Message, ae.Status
		} else {
			t.List = list
			d.Pager = makePager(r, lp, total)
		}
	}

	// Purge settings and history.
	t.Hours = "720"
	if h, ok := params["audit_retention_hour"].(float64); ok {
		t.Hours = strconv.Itoa(int(h))
	}
	included := map[string]bool{}
	if s, ok := params["include_event_types"].(string); ok {
		for _, e := range strings.Split(s, ",") {
			included[strings.TrimSpace(e)] = true
		}
	} else {
		included["pull_artifact"] = true
	}
	if v.FormID == "purge" {
		t.Schedule.Type, t.Schedule.Cron, t.Hours = v.Form.Get("schedule"), v.Form.Get("cron"), v.Form.Get("hours")
		included = map[string]bool{}
		for _, e := range v.Form["event_type"] {
			included[e] = true
		}
	}
	if types, err := c.svc.AuditLog.ListEventTypes(v.p); err == nil {
		for _, e := range types {
			t.Events = append(t.Events, hookEvent{Type: e, Checked: included[e]})
		}
	}
	rp := readPage(r, "rpage", 10)
	if offset, err := rp.offset(); err == nil {
		if hist, total, err := c.svc.System.Runs(r.Context(), v.p, system.Purge, nil, offset, rp.Size); err == nil {
			t.Runs = runsOf(hist, "/admin/audit/purge")
			t.RunPager = pagerFor(r, "rpage", rp, total)
		}
	}
	d.Tab = t
	c.renderAdmin(w, v, "audit", "Audit log", d)
	return nil
}

func (c *Console) purgePost(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	if f.Get("do") == "run" && !c.confirmed(w, r, v, "Purge the audit log now? Entries older than the retention and of the chosen event types are deleted.", r.URL.Path, "/admin/audit#purge") {
		return nil
	}
	hours, err := strconv.Atoi(strings.TrimSpace(f.Get("hours")))
	var msg string
	if err != nil {
		err = &pageError{Status: http.StatusBadRequest, Message: "Keep entries for a whole number of hours."}
	} else {
		types := strings.Join(f["event_type"], ",")
		msg, err = c.setJobSchedule(v, system.Purge, f, func(create bool, when system.When, dry bool) error {
			var p audit.PurgeParams
			if !when.None {
				var err error
				if p, err = c.svc.System.PurgeParams(&system.PurgeParameters{AuditRetentionHour: &hours, IncludeEventTypes: &types, DryRun: &dry}); err != nil {
					return err
				}
			}
			_, err := c.svc.System.SetPurgeSchedule(r.Context(), v.p, create, when, p)
			return err
		})
	}
	if err != nil {
		if err := v.fail("purge", err); err != nil {
			return err
		}
		return c.auditPage(w, r, v)
	}
	if f.Get("do") == "run" || f.Get("do") == "dry" {
		msg = "Audit log purge: " + strings.ToLower(msg[:1]) + msg[1:]
	}
	return redirect(w, r, "/admin/audit#purge", msg)
}

func (c *Console) purgeLog(w http.ResponseWriter, r *http.Request, v *view) error {
	id := r.PathValue("id")
	v.Nav = "admin"
	text, err := c.runLog(v, system.Purge, "purge_id")
	if err != nil {
		return err
	}
	return c.renderLog(w, v, text, logData{
		Crumbs:  []crumb{{"/admin", "Administration"}, {"/admin/audit#purge", "Audit log purge"}},
		Heading: "Audit log purge " + id + ": log",
		Back:    crumb{"/admin/audit#purge", "Back to the audit log"},
	})
}

// --- garbage collection ---

type gcTab struct {
	Schedule       schedule
	DeleteUntagged bool
	Workers        string
	Runs           []run
	Running        bool
}

func (c *Console) gcPage(w http.ResponseWriter, r *http.Request, v *view) error {
	sched, params, err := c.jobSchedule(v, system.GC)
	if err != nil {
		return err
	}
	t := gcTab{Schedule: sched, Workers: "1"}
	t.DeleteUntagged, _ = params["delete_untagged"].(bool)
	if n, ok := params["workers"].(float64); ok && n > 0 {
		t.Workers = strconv.Itoa(int(n))
	}
	if v.FormID == "gc" {
		t.Schedule.Type, t.Schedule.Cron = v.Form.Get("schedule"), v.Form.Get("cron")
		t.DeleteUntagged, t.Workers = v.Form.Get("delete_untagged") == "on", v.Form.Get("workers")
	}
	lp := readList(r, 15)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	hist, total, err := c.svc.System.Runs(r.Context(), v.p, system.GC, nil, offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	t.Runs = runsOf(hist, "/admin/gc")
	for _, rn := range t.Runs {
		t.Running = t.Running || rn.JobStatus == "Running" || rn.JobStatus == "Pending"
	}
	c.renderAdmin(w, v, "gc", "Garbage collection", adminData{Pager: makePager(r, lp, total), Tab: t})
	return nil
}

func (c *Console) gcPost(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	if f.Get("do") == "run" && !c.confirmed(w, r, v, "Collect garbage now? Blobs no artifact uses are deleted"+map[bool]string{true: ", and untagged artifacts with them.", false: "."}[f.Get("delete_untagged") == "on"], r.URL.Path, "/admin/gc") {
		return nil
	}
	workers, err := strconv.Atoi(strings.TrimSpace(f.Get("workers")))
	var msg string
	if err != nil {
		err = &pageError{Status: http.StatusBadRequest, Message: "Workers must be a whole number from 1 to 5."}
	} else {
		msg, err = c.setJobSchedule(v, system.GC, f, func(create bool, when system.When, dry bool) error {
			p := gc.DefaultParams()
			p.DeleteUntagged, p.Workers, p.DryRun = f.Get("delete_untagged") == "on", workers, dry
			_, err := c.svc.System.SetGCSchedule(r.Context(), v.p, create, when, p)
			return err
		})
	}
	if err != nil {
		if err := v.fail("gc", err); err != nil {
			return err
		}
		return c.gcPage(w, r, v)
	}
	if f.Get("do") == "run" || f.Get("do") == "dry" {
		msg = "Garbage collection: " + strings.ToLower(msg[:1]) + msg[1:]
	}
	return redirect(w, r, "/admin/gc", msg)
}

func (c *Console) stopGC(w http.ResponseWriter, r *http.Request, v *view) error {
	id := r.PathValue("id")
	if !c.confirmed(w, r, v, "Stop garbage collection "+id+"? What it deleted stays deleted.", r.URL.Path, "/admin/gc") {
		return nil
	}
	rid, err := runID(r, "gc_id")
	if err == nil {
		err = v.write("stop garbage collection", func() error { return c.svc.System.StopRun(r.Context(), v.p, system.GC, rid) })
	}
	if err != nil {
		if err := v.fail("gc-stop", err); err != nil {
			return err
		}
		return c.gcPage(w, r, v)
	}
	return redirect(w, r, "/admin/gc", "Garbage collection "+id+" stopped.")
}

func (c *Console) gcLog(w http.ResponseWriter, r *http.Request, v *view) error {
	id := r.PathValue("id")
	v.Nav = "admin"
	text, err := c.runLog(v, system.GC, "gc_id")
	if err != nil {
		return err
	}
	return c.renderLog(w, v, text, logData{
		Crumbs:  []crumb{{"/admin", "Administration"}, {"/admin/gc", "Garbage collection"}},
		Heading: "Garbage collection " + id + ": log",
		Back:    crumb{"/admin/gc", "Back to garbage collection"},
	})
}

// --- job queues ---

type jobsTab struct {
	Queues  []api.JobQueue
	Pools   []api.WorkerPool
	Workers []api.Worker
}

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	var t jobsTab
	queues, err := c.svc.System.Queues(r.Context(), v.p)
	if err != nil {
		return serviceError(err)
	}
	for _, q := range queues {
		t.Queues = append(t.Queues, api.JobQueueOf(q))
	}
	pools, _ := c.svc.System.Pools(v.p)
	for _, p := range pools {
		t.Pools = append(t.Pools, api.WorkerPoolOf(p))
	}
	workers, _ := c.svc.System.Workers(v.p, "all")
	for _, wk := range workers {
		t.Workers = append(t.Workers, api.WorkerOf(wk))
	}
	c.renderAdmin(w, v, "jobs", "Job queues", adminData{Tab: t})
	return nil
}

func (c *Console) queueAction(w http.ResponseWriter, r *http.Request, v *view) error {
	kind, act := r.PathValue("type"), r.PathValue("action")
	what := "the " + kind + " queue"
	if kind == "all" {
		what = "every queue"
	}
	switch act {
	case "pause", "resume":
	case "stop":
		if !c.confirmed(w, r, v, "Stop the pending jobs of "+what+"? They will not run.", r.URL.Path, "/admin/jobs") {
			return nil
		}
	default:
		return &pageError{Status: http.StatusNotFound, Message: "No such queue action."}
	}
	if err := v.write("queue action", func() error { return c.svc.System.QueueAction(r.Context(), v.p, kind, act) }); err != nil {
		if err := v.fail("queues", err); err != nil {
			return err
		}
		return c.jobsPage(w, r, v)
	}
	done := map[string]string{"pause": "paused", "resume": "resumed", "stop": "stopped: its pending jobs will not run"}[act]
	if kind == "all" {
		done = map[string]string{"pause": "paused", "resume": "resumed", "stop": "stopped: their pending jobs will not run"}[act]
		return redirect(w, r, "/admin/jobs", "Every queue "+done+".")
	}
	return redirect(w, r, "/admin/jobs", "Queue "+kind+" "+done+".")
}
