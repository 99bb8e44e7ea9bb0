package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
)

// The Webhooks tab of a project: policies (create, edit, enable, disable,
// test, delete), each with its delivery history (executions, their tasks
// with the response codes and logs) and a re-send of a delivery. A policy's
// signing secret is in the answer to its creation only (the
// X-Berth-Webhook-Secret header); the console shows it once, like a
// robot's.

// hookForm is the webhook policy form.
type hookForm struct {
	Action, Button                    string
	Name, Description                 string
	Type, Address, AuthHeader, Format string
	SkipVerify, Enabled               bool
	Events                            []hookEvent
	NotifyTypes, Formats              []string
	Extra                             int // targets beyond the first, kept as they are
}

type hookEvent struct {
	Type    string
	Checked bool
}

type hookRow struct {
	api.WebhookPolicy
	Link string
}

type hooksTab struct {
	List []hookRow
	Form hookForm
}

func hooksPath(pc *projectCtx) string {
	return "/projects/" + pathEscape(pc.Project.Name) + "/webhook"
}

// hookChoices reads the event types, notify types and formats the API
// supports (empty lists when the caller may not read them).
func hookChoices(v *view, pc *projectCtx, f *hookForm) {
	var sup api.SupportedWebhookEventTypes
	if _, err := v.api.get(hooksPath(pc)+"/events", &sup); err != nil {
		return
	}
	checked := map[string]bool{}
	for _, e := range f.Events {
		checked[e.Type] = e.Checked
	}
	f.Events = nil
	for _, t := range sup.EventType {
		f.Events = append(f.Events, hookEvent{Type: t, Checked: checked[t]})
	}
	f.NotifyTypes = sup.NotifyType
	for _, pf := range sup.PayloadFormats {
		if pf.NotifyType == "http" {
			f.Formats = pf.Formats
		}
	}
}

// hookFormOf is the form showing policy p.
func hookFormOf(p api.WebhookPolicy) hookForm {
	f := hookForm{Name: p.Name, Description: p.Description, Enabled: p.Enabled, Type: "http", Format: "Default"}
	if len(p.Targets) > 0 {
		t := p.Targets[0]
		f.Type, f.Address, f.AuthHeader, f.SkipVerify, f.Format = t.Type, t.Address, t.AuthHeader, t.SkipCertVerify, t.PayloadFormat
		f.Extra = len(p.Targets) - 1
	}
	for _, e := range p.EventTypes {
		f.Events = append(f.Events, hookEvent{Type: e, Checked: true})
	}
	return f
}

// hookFormPosted is the form with the posted values kept.
func hookFormPosted(fv url.Values, f hookForm) hookForm {
	f.Name, f.Description = fv.Get("name"), fv.Get("description")
	f.Type, f.Address, f.AuthHeader, f.Format = fv.Get("notify_type"), fv.Get("address"), fv.Get("auth_header"), fv.Get("payload_format")
	f.SkipVerify, f.Enabled = fv.Get("skip_cert_verify") == "on", fv.Get("enabled") == "on"
	f.Events = nil
	for _, e := range fv["event_type"] {
		f.Events = append(f.Events, hookEvent{Type: e, Checked: true})
	}
	return f
}

// hookBody is the API body of the posted form; targets beyond the first
// of policy old (nil for a new one) are kept.
func hookBody(fv url.Values, old *api.WebhookPolicy) map[string]any {
	t := api.WebhookTarget{Type: fv.Get("notify_type"), Address: strings.TrimSpace(fv.Get("address")),
		AuthHeader: fv.Get("auth_header"), SkipCertVerify: fv.Get("skip_cert_verify") == "on"}
	if t.Type == "http" {
		t.PayloadFormat = fv.Get("payload_format")
	}
	targets := []api.WebhookTarget{t}
	if old != nil && len(old.Targets) > 1 {
		targets = append(targets, old.Targets[1:]...)
	}
	events := fv["event_type"]
	if events == nil {
		events = []string{}
	}
	return map[string]any{"name": strings.TrimSpace(fv.Get("name")), "description": fv.Get("description"),
		"targets": targets, "event_types": events, "enabled": fv.Get("enabled") == "on"}
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	q := lp.query("name")
	var list []api.WebhookPolicy
	resp, err := v.api.get(hooksPath(pc)+"/policies?"+q.Encode(), &list)
	if err != nil && !isDenied(err) {
		return err
	}
	d := tabData{Q: lp.Q}
	if err != nil {
		if v.Error == "" { // a failed post's message comes first
			v.Error, v.Status = err.Error(), http.StatusForbidden
		}
	} else {
		d.Pager = makePager(r, lp, resp.total())
	}
	t := hooksTab{}
	for _, p := range list {
		t.List = append(t.List, hookRow{WebhookPolicy: p, Link: pc.Base() + "/webhooks/" + strconv.FormatInt(p.ID, 10)})
	}
	if pc.Perms.Can("notification-policy", "create") {
		t.Form = hookForm{Action: pc.Base() + "/webhooks", Button: "Add webhook", Type: "http", Format: "Default", Enabled: true,
			Events: []hookEvent{{Type: "PUSH_ARTIFACT", Checked: true}}}
		if v.FormID == "webhook" {
			t.Form = hookFormPosted(v.Form, t.Form)
		}
		hookChoices(v, pc, &t.Form)
	}
	d.Tab = t
	c.renderTab(w, v, pc, "webhooks", "Webhooks", d)
	return nil
}

// hookSecretData is the page that shows a new policy's signing secret.
type hookSecretData struct {
	P      *projectCtx
	Name   string
	Secret string
	Link   string
}

func (c *Console) createWebhook(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	body := hookBody(r.PostForm, nil)
	resp, err := v.api.call(http.MethodPost, hooksPath(pc)+"/policies", body, nil)
	if err != nil {
		if err := v.fail("webhook", err); err != nil {
			return err
		}
		return c.webhooksPage(w, r, v)
	}
	link := pc.Base() + "/webhooks"
	if loc := resp.Header.Get("Location"); loc != "" {
		link += "/" + loc[strings.LastIndex(loc, "/")+1:]
	}
	v.Title = "Webhook created · " + pc.Project.Name
	v.Nav = "projects"
	v.Data = hookSecretData{P: pc, Name: body["name"].(string), Secret: resp.Header.Get(api.WebhookSecretHeader), Link: link}
	c.render(w, v, "webhook_secret")
	return nil
}

// hookData is the page of one policy: its form and delivery history.
type hookData struct {
	P       *projectCtx
	Policy  api.WebhookPolicy
	Base    string
	Form    hookForm
	Execs   []hookExec
	Pager   pager
	ExecErr string
}

type hookExec struct {
	api.WebhookExecution
	Event string
	Link  string
}

// webhookPolicy reads the policy of the path.
func (c *Console) webhookPolicy(r *http.Request, v *view) (*projectCtx, *api.WebhookPolicy, error) {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return nil, nil, err
	}
	var p api.WebhookPolicy
	if _, err := v.api.get(hooksPath(pc)+"/policies/"+pathEscape(r.PathValue("id")), &p); err != nil {
		return nil, nil, err
	}
	return pc, &p, nil
}

func (c *Console) webhookPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, p, err := c.webhookPolicy(r, v)
	if err != nil {
		return err
	}
	d := hookData{P: pc, Policy: *p, Base: pc.Base() + "/webhooks/" + strconv.FormatInt(p.ID, 10)}
	d.Form = hookFormOf(*p)
	d.Form.Action, d.Form.Button = d.Base, "Save webhook"
	if v.FormID == "webhook" {
		d.Form = hookFormPosted(v.Form, d.Form)
	}
	hookChoices(v, pc, &d.Form)
	lp := readList(r, 15)
	var list []api.WebhookExecution
	resp, err := v.api.get(fmt.Sprintf("%s/policies/%d/executions?%s", hooksPath(pc), p.ID, lp.pageQuery()), &list)
	if err != nil {
		d.ExecErr = err.Error()
	} else {
		d.Pager = makePager(r, lp, resp.total())
	}
	for _, e := range list {
		ev, _ := e.ExtraAttrs["event_type"].(string)
		d.Execs = append(d.Execs, hookExec{WebhookExecution: e, Event: ev, Link: d.Base + "/executions/" + strconv.FormatInt(e.ID, 10)})
	}
	v.Title = "Webhook " + p.Name + " · " + pc.Project.Name
	v.Nav = "projects"
	v.Data = d
	c.render(w, v, "webhook")
	return nil
}

func (c *Console) saveWebhook(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, p, err := c.webhookPolicy(r, v)
	if err != nil {
		return err
	}
	if _, err := v.api.call(http.MethodPut, fmt.Sprintf("%s/policies/%d", hooksPath(pc), p.ID), hookBody(r.PostForm, p), nil); err != nil {
		if err := v.fail("webhook", err); err != nil {
			return err
		}
		return c.webhookPage(w, r, v)
	}
	return redirect(w, r, fmt.Sprintf("%s/webhooks/%d", pc.Base(), p.ID), "Webhook "+p.Name+" saved.")
}

// webhookAction enables, disables, tests or deletes a policy. A test
// (the API's test delivery) comes back to the policy's page with each
// target's answer in the flash message; the history lists it.
func (c *Console) webhookAction(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	path := hooksPath(pc) + "/policies/" + pathEscape(r.PathValue("id"))
	name := r.PostForm.Get("name")
	back := pc.Base() + "/webhooks"
	var msg string
	switch act := r.PathValue("action"); act {
	case "enable", "disable":
		_, err = v.api.call(http.MethodPut, path, map[string]bool{"enabled": act == "enable"}, nil)
		msg = "Webhook " + name + " " + act + "d."
	case "test":
		var res api.WebhookTestResult
		if _, err = v.api.call(http.MethodPost, path+"/test", nil, &res); err == nil {
			msg = hookTestSummary(name, res)
			back += "/" + url.PathEscape(r.PathValue("id"))
		}
	case "delete":
		if !c.confirmed(w, r, v, "Delete webhook "+name+"? Its delivery history goes with it.", r.URL.Path, back) {
			return nil
		}
		_, err = v.api.call(http.MethodDelete, path, nil, nil)
		msg = "Webhook " + name + " deleted."
	default:
		return &apiError{Status: http.StatusNotFound, Message: "No such webhook action."}
	}
	if err != nil {
		if err := v.fail("webhooks", err); err != nil {
			return err
		}
		return c.webhooksPage(w, r, v)
	}
	return redirect(w, r, back, msg)
}

// hookTestSummary tells what each target of policy name made of a test
// event, short enough for the flash cookie.
func hookTestSummary(name string, res api.WebhookTestResult) string {
	const maxErr, maxMsg = 160, 1800
	var parts []string
	for _, t := range res.Targets {
		part := fmt.Sprintf("%s answered %d", t.Address, t.ResponseCode)
		if t.Status != "Success" {
			e := t.Error
			if r := []rune(e); len(r) > maxErr {
				e = string(r[:maxErr]) + "…"
			}
			part = t.Address + " failed: " + e
		}
		parts = append(parts, fmt.Sprintf("%s (%d ms)", part, t.DurationMS))
	}
	msg := fmt.Sprintf("Test event %s sent to webhook %s: %s.", res.EventType, name, strings.Join(parts, "; "))
	if len(parts) == 0 {
		msg = fmt.Sprintf("Test event %s of webhook %s: no targets.", res.EventType, name)
	}
	if r := []rune(msg); len(r) > maxMsg {
		msg = string(r[:maxMsg]) + "…"
	}
	return msg
}

// hookExecData is the page of one delivery.
type hookExecData struct {
	P       *projectCtx
	Policy  api.WebhookPolicy
	Exec    hookExec
	Payload string
	Tasks   []hookTask
	Base    string
	PolLink string
}

type hookTask struct {
	api.WebhookTask
	Address, Notify, Codes string
}

func (c *Console) webhookExecPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, p, err := c.webhookPolicy(r, v)
	if err != nil {
		return err
	}
	eid, _ := strconv.ParseInt(r.PathValue("eid"), 10, 64)
	polLink := fmt.Sprintf("%s/webhooks/%d", pc.Base(), p.ID)
	d := hookExecData{P: pc, Policy: *p, PolLink: polLink, Base: polLink + "/executions/" + url.PathEscape(r.PathValue("eid"))}
	var tasks []api.WebhookTask
	if _, err := v.api.get(fmt.Sprintf("%s/policies/%d/executions/%s/tasks?page_size=100", hooksPath(pc), p.ID, pathEscape(r.PathValue("eid"))), &tasks); err != nil {
		return err
	}
	for _, t := range tasks {
		ht := hookTask{WebhookTask: t}
		ht.Address, _ = t.ExtraAttrs["address"].(string)
		ht.Notify, _ = t.ExtraAttrs["notify_type"].(string)
		if codes, ok := t.ExtraAttrs["response_codes"].([]any); ok {
			var s []string
			for _, c := range codes {
				s = append(s, fmt.Sprint(c))
			}
			ht.Codes = strings.Join(s, ", ")
		}
		d.Tasks = append(d.Tasks, ht)
	}
	// The execution: the API lists a policy's executions, newest first.
	d.Exec.ID = eid
	var list []api.WebhookExecution
	if _, err := v.api.get(fmt.Sprintf("%s/policies/%d/executions?q=id=%d", hooksPath(pc), p.ID, eid), &list); err == nil && len(list) == 1 {
		ev, _ := list[0].ExtraAttrs["event_type"].(string)
		d.Exec = hookExec{WebhookExecution: list[0], Event: ev}
		if pl, ok := list[0].ExtraAttrs["payload"].(string); ok {
			d.Payload = pl
			var x any
			if json.Unmarshal([]byte(pl), &x) == nil {
				d.Payload = prettyJSON(x)
			}
		}
	}
	v.Title = fmt.Sprintf("Delivery %d · %s", eid, p.Name)
	v.Nav = "projects"
	v.Data = d
	c.render(w, v, "webhook_exec")
	return nil
}

func (c *Console) retryWebhook(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	path := fmt.Sprintf("%s/policies/%s/executions/%s/retry", hooksPath(pc), pathEscape(r.PathValue("id")), pathEscape(r.PathValue("eid")))
	resp, err := v.api.call(http.MethodPost, path, nil, nil)
	if err != nil {
		return err
	}
	target := pc.Base() + "/webhooks/" + url.PathEscape(r.PathValue("id"))
	if loc := resp.Header.Get("Location"); loc != "" {
		target += "/executions/" + loc[strings.LastIndex(loc, "/")+1:]
	}
	return redirect(w, r, target, "The delivery is sent again as a new delivery.")
}

func (c *Console) webhookLog(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	id, eid, tid := r.PathValue("id"), r.PathValue("eid"), r.PathValue("tid")
	polLink := pc.Base() + "/webhooks/" + url.PathEscape(id)
	execLink := polLink + "/executions/" + url.PathEscape(eid)
	return c.showLog(w, v, fmt.Sprintf("%s/policies/%s/executions/%s/tasks/%s/log", hooksPath(pc), pathEscape(id), pathEscape(eid), pathEscape(tid)), logData{
		Crumbs:  []crumb{{"/projects", "Projects"}, {pc.Base() + "/repositories", pc.Project.Name}, {pc.Base() + "/webhooks", "Webhooks"}, {polLink, "Webhook " + id}, {execLink, "Delivery " + eid}},
		Heading: "Delivery log: delivery " + eid + ", task " + tid,
		Back:    crumb{execLink, "Back to the delivery"},
	})
}
