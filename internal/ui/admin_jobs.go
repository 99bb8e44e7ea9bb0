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
	"github.com/berth-dev/berth/internal/query"
)

// Administration pages about system jobs: the audit log and its purge,
// garbage collection, and the job queues.

// run is one execution of a system job (GC or purge) as its history shows it.
type run struct {
	api.GCHistory
	DryRun  bool
	Summary string // what it did, once done
	Link    string // its log
}

// runsOf reads a history of system job runs (GCHistory and ExecHistory
// have the same fields).
func runsOf(list []api.GCHistory, logBase string) []run {
	out := make([]run, 0, len(list))
	for _, h := range list {
		rn := run{GCHistory: h, Link: fmt.Sprintf("%s/%d/log", logBase, h.ID)}
		var params map[string]any
		if json.Unmarshal([]byte(h.JobParameters), &params) == nil {
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

// jobSchedule reads a system job's schedule (GET …/schedule): the
// schedule and its stored parameters.
func jobSchedule(v *view, path string) (schedule, map[string]any, error) {
	var h api.GCHistory
	if _, err := v.api.get(path, &h); err != nil {
		return schedule{}, nil, err
	}
	s := schedule{Type: "None"}
	if h.Schedule != nil && h.Schedule.Type != "" && h.Schedule.Type != "None" {
		s = scheduleOf(h.Schedule.Cron)
		s.Next = h.Schedule.NextScheduledTime
	}
	params := map[string]any{}
	json.Unmarshal([]byte(h.JobParameters), &params)
	return s, params, nil
}

// setJobSchedule posts the schedule form of a system job to path
// (…/schedule): do=save sets the schedule, do=run and do=dry run it now
// (a dry run with dry_run set). It returns the message to show.
func setJobSchedule(v *view, path string, f url.Values, params map[string]any) (string, error) {
	switch f.Get("do") {
	case "run", "dry":
		p := map[string]any{}
		for k, x := range params {
			p[k] = x
		}
		p["dry_run"] = f.Get("do") == "dry"
		_, err := v.api.call(http.MethodPost, path, map[string]any{"schedule": map[string]string{"type": "Manual"}, "parameters": p}, nil)
		if f.Get("do") == "dry" {
			return "Dry run started: nothing will be deleted.", err
		}
		return "Started.", err
	}
	typ, cron := readSchedule(f)
	if typ == "Custom" && cron == "" {
		return "", &apiError{Status: http.StatusBadRequest, Message: "Enter a cron expression for a custom schedule."}
	}
	sched := map[string]string{"type": typ}
	if typ != "None" {
		sched = map[string]string{"type": "Custom", "cron": cron}
	}
	params["dry_run"] = false
	_, err := v.api.call(http.MethodPut, path, map[string]any{"schedule": sched, "parameters": params}, nil)
	if typ == "None" {
		return "Schedule removed.", err
	}
	return "Schedule saved.", err
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
				return "", &apiError{Status: http.StatusBadRequest, Message: "The start date must be YYYY-MM-DD."}
			}
			from = t.UTC().Format(time.RFC3339)
		}
		if f.To != "" {
			t, err := time.Parse("2006-01-02", f.To)
			if err != nil {
				return "", &apiError{Status: http.StatusBadRequest, Message: "The end date must be YYYY-MM-DD."}
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
	sched, params, err := jobSchedule(v, "/system/purgeaudit/schedule")
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
			var ae *apiError
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
	var hist []api.GCHistory
	if resp, err := v.api.get("/system/purgeaudit?"+rp.pageQuery(), &hist); err == nil {
		t.Runs = runsOf(hist, "/admin/audit/purge")
		t.RunPager = pagerFor(r, "rpage", rp, resp.total())
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
		err = &apiError{Status: http.StatusBadRequest, Message: "Keep entries for a whole number of hours."}
	} else {
		params := map[string]any{"audit_retention_hour": hours, "include_event_types": strings.Join(f["event_type"], ",")}
		msg, err = setJobSchedule(v, "/system/purgeaudit/schedule", f, params)
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
	return c.showLog(w, v, "/system/purgeaudit/"+pathEscape(id)+"/log", logData{
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
	sched, params, err := jobSchedule(v, "/system/gc/schedule")
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
	var hist []api.GCHistory
	resp, err := v.api.get("/system/gc?"+lp.pageQuery(), &hist)
	if err != nil {
		return err
	}
	t.Runs = runsOf(hist, "/admin/gc")
	for _, rn := range t.Runs {
		t.Running = t.Running || rn.JobStatus == "Running" || rn.JobStatus == "Pending"
	}
	c.renderAdmin(w, v, "gc", "Garbage collection", adminData{Pager: makePager(r, lp, resp.total()), Tab: t})
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
		err = &apiError{Status: http.StatusBadRequest, Message: "Workers must be a whole number from 1 to 5."}
	} else {
		msg, err = setJobSchedule(v, "/system/gc/schedule", f, map[string]any{"delete_untagged": f.Get("delete_untagged") == "on", "workers": workers})
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
	if _, err := v.api.call(http.MethodPut, "/system/gc/"+pathEscape(id), nil, nil); err != nil {
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
	return c.showLog(w, v, "/system/gc/"+pathEscape(id)+"/log", logData{
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
	if _, err := v.api.get("/jobservice/queues", &t.Queues); err != nil {
		return err
	}
	v.api.get("/jobservice/pools", &t.Pools)
	v.api.get("/jobservice/pools/all/workers", &t.Workers)
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
		return &apiError{Status: http.StatusNotFound, Message: "No such queue action."}
	}
	if _, err := v.api.call(http.MethodPut, "/jobservice/queues/"+pathEscape(kind), map[string]string{"action": act}, nil); err != nil {
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
