package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Pieces shared by the pages that show jobs: schedules (tag retention,
// garbage collection, audit log purge), several listings on one page,
// and the log of one task.

// schedule is a schedule as a form shows it: Harbor's types and a cron.
type schedule struct {
	Type string // None, Hourly, Daily, Weekly, Custom
	Cron string
	Next string // next run (API timestamp), when known
}

// scheduleTypes are the choices of a schedule form.
var scheduleTypes = []string{"None", "Hourly", "Daily", "Weekly", "Custom"}

// scheduleCrons are Harbor's fixed schedules in its six-field cron.
var scheduleCrons = map[string]string{
	"Hourly": "0 0 * * * *",
	"Daily":  "0 0 0 * * *",
	"Weekly": "0 0 0 * * 0",
}

// scheduleOf names a cron ("" for none) as the form shows it.
func scheduleOf(cron string) schedule {
	cron = strings.TrimSpace(cron)
	if cron == "" {
		return schedule{Type: "None"}
	}
	for t, c := range scheduleCrons {
		if c == cron {
			return schedule{Type: t, Cron: cron}
		}
	}
	return schedule{Type: "Custom", Cron: cron}
}

// readSchedule reads the schedule fields of a form (prefix "schedule" and
// "cron" by default) and returns the cron it means ("" for none).
func readSchedule(f url.Values) (typ, cron string) {
	typ = f.Get("schedule")
	switch typ {
	case "Hourly", "Daily", "Weekly":
		return typ, scheduleCrons[typ]
	case "Custom":
		return typ, strings.TrimSpace(f.Get("cron"))
	}
	return "None", ""
}

// Label is how a schedule reads in a sentence.
func (s schedule) Label() string {
	switch s.Type {
	case "None", "":
		return "not scheduled"
	case "Custom":
		return "on cron " + s.Cron
	}
	return strings.ToLower(s.Type) + " (" + s.Cron + ")"
}

// readPage reads a page number from query parameter name.
func readPage(r *http.Request, name string, size int) listParams {
	p := listParams{Page: 1, Size: size}
	if n, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && n > 0 {
		p.Page = n
	}
	return p
}

// pagerFor is makePager for a listing paged by query parameter name (a
// page with several listings pages each on its own parameter).
func pagerFor(r *http.Request, name string, p listParams, total int64) pager {
	pg := pager{Page: p.Page, Total: total, Pages: int((total + int64(p.Size) - 1) / int64(p.Size))}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set(name, strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		pg.Prev = link(p.Page - 1)
	}
	if int64(p.Page*p.Size) < total {
		pg.Next = link(p.Page + 1)
	}
	return pg
}

// pageQuery is page and page_size for an API listing.
func (p listParams) pageQuery() string {
	return "page=" + strconv.Itoa(p.Page) + "&page_size=" + strconv.Itoa(p.Size)
}

// crumb is one step of a breadcrumb trail.
type crumb struct{ Link, Text string }

// logData is the page of one task's log.
type logData struct {
	Crumbs  []crumb
	Heading string
	Text    string
	Back    crumb
}

// renderLog renders a task's log text on its page.
func (c *Console) renderLog(w http.ResponseWriter, v *view, text string, d logData) error {
	d.Text = text
	v.Title = d.Heading
	v.Data = d
	c.render(w, v, "log")
	return nil
}

// statusClass is the badge class of a job status.
func statusClass(s string) string {
	switch strings.ToLower(s) {
	case "success", "succeed", "finished":
		return "public"
	case "error", "failed", "stopped":
		return "bad"
	case "running", "pending", "scheduled":
		return "busy"
	}
	return "private"
}
