package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/webhook"
)

// The Webhooks tab of a project: policies (create, edit, enable, disable,
// test, delete), each with its delivery history (executions, their tasks
// with the response codes and logs) and a re-send of a delivery. A policy's
// signing secret is in the answer to its creation only (the
// X-Berth-Webhook-Secret header); the console shows it once, like a
// robot's. Every page calls the webhook policy service (webhook.Policies)
// with the session's principal.

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

// hookPathID is the webhook page's path value param, a positive integer,
// refused (errs.Invalid) as the API refuses its path value name.
func hookPathID(r *http.Request, param, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(param), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.Invalid, "path", "%s must be a positive integer, not %q", name, r.PathValue(param))
	}
	return id, nil
}

// hookChoices reads the event types, notify types and formats policies
// may choose from (empty lists when the caller may not read them).
func (c *Console) hookChoices(r *http.Request, v *view, pc *projectCtx, f *hookForm) {
	sup, err := c.svc.Webhooks.Supported(r.Context(), v.p, &pc.view.Info.Project)
	if err != nil {
		return
	}
	checked := map[string]bool{}
	for _, e := range f.Events {
		checked[e.Type] = e.Checked
	}
	f.Events = nil
	for _, t := range sup.EventTypes {
		f.Events = append(f.Events, hookEvent{Type: t, Checked: checked[t]})
	}
	f.NotifyTypes = sup.NotifyTypes
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

// hookChange is the policy the posted form describes; targets beyond the
// first of policy old (nil for a new one) are kept.
func hookChange(fv url.Values, old *api.WebhookPolicy) webhook.Change {
	t := webhook.Target{Type: fv.Get("notify_type"), Address: strings.TrimSpace(fv.Get("address")),
		AuthHeader: fv.Get("auth_header"), SkipCertVerify: fv.Get("skip_cert_verify") == "on"}
	if t.Type == "http" {
		t.PayloadFormat = fv.Get("payload_format")
	}
	targets := []webhook.Target{t}
	if old != nil && len(old.Targets) > 1 {
		for _, t := range old.Targets[1:] {
			targets = append(targets, webhook.Target(t))
		}
	}
	name, desc, enabled := strings.TrimSpace(fv.Get("name")), fv.Get("description"), fv.Get("enabled") == "on"
	events := fv["event_type"]
	return webhook.Change{Name: &name, Description: &desc, Targets: &targets, EventTypes: &events, Enabled: &enabled}
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	q, err := query.Parse(lp.query("name").Get("q"), "")
	if err != nil {
		return serviceError(err)
	}
	list, total, err := c.svc.Webhooks.List(r.Context(), v.p, &pc.view.Info.Project, q, offset, lp.Size)
	if err = serviceError(err); err != nil && !isDenied(err) {
		return err
	}
	d := tabData{Q: lp.Q}
	if err != nil {
		if v.Error == "" { // a failed post's message comes first
			v.Error, v.Status = err.Error(), http.StatusForbidden
		}
	} else {
		d.Pager = makePager(r, lp, total)
	}
	t := hooksTab{}
	for i := range list {
		p := api.WebhookPolicyOf(&list[i])
		t.List = append(t.List, hookRow{WebhookPolicy: p, Link: pc.Base() + "/webhooks/" + strconv.FormatInt(p.ID, 10)})
	}
	if pc.Perms.Can("notification-policy", "create") {
		t.Form = hookForm{Action: pc.Base() + "/webhooks", Button: "Add webhook", Type: "http", Format: "Default", Enabled: true,
			Events: []hookEvent{{Type: "PUSH_ARTIFACT", Checked: true}}}
		if v.FormID == "webhook" {
			t.Form = hookFormPosted(v.Form, t.Form)
		}
		c.hookChoices(r, v, pc, &t.Form)
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
	ch := hookChange(r.PostForm, nil)
	var id int64
	var secret string
	err = v.write("create webhook policy", func() error {
		pol, err := c.svc.Webhooks.Create(r.Context(), v.p, &pc.view.Info.Project, ch)
		if err == nil {
			id, secret = pol.ID, pol.Secret
		}
		return err
	})
	if err != nil {
		if err := v.fail("webhook", err); err != nil {
			return err
		}
		return c.webhooksPage(w, r, v)
	}
	v.Title = "Webhook created · " + pc.Project.Name
	v.Nav = "projects"
	v.Data = hookSecretData{P: pc, Name: *ch.Name, Secret: secret, Link: pc.Base() + "/webhooks/" + strconv.FormatInt(id, 10)}
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
	id, err := hookPathID(r, "id", "webhook_policy_id")
	if err != nil {
		return nil, nil, serviceError(err)
	}
	pol, err := c.svc.Webhooks.Get(r.Context(), v.p, &pc.view.Info.Project, id)
	if err != nil {
		return nil, nil, serviceError(err)
	}
	p := api.WebhookPolicyOf(pol)
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
	c.hookChoices(r, v, pc, &d.Form)
	lp := readList(r, 15)
	var list []webhook.Execution
	offset, err := lp.offset()
	if err == nil {
		var total int64
		if list, total, err = c.svc.Webhooks.Executions(r.Context(), v.p, &pc.view.Info.Project, p.ID, nil, offset, lp.Size); err == nil {
			d.Pager = makePager(r, lp, total)
		} else {
			_, _, msg, _ := api.Answer(err) // a 5xx without its cause
			err = errors.New(msg)
		}
	}
	if err != nil {
		d.ExecErr = err.Error()
	}
	for _, x := range list {
		e := api.WebhookExecutionOf(x)
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
	err = v.write("update webhook policy", func() error {
		return c.svc.Webhooks.Update(r.Context(), v.p, &pc.view.Info.Project, p.ID, hookChange(r.PostForm, p))
	})
	if err != nil {
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
	proj := &pc.view.Info.Project
	// A bad ID in the path is refused after read-only mode, as the API
	// refuses a write in read-only mode before it reads the path.
	id, idErr := hookPathID(r, "id", "webhook_policy_id")
	name := r.PostForm.Get("name")
	back := pc.Base() + "/webhooks"
	var msg string
	switch act := r.PathValue("action"); act {
	case "enable", "disable":
		on := act == "enable"
		err = v.write("update webhook policy", func() error {
			if idErr != nil {
				return idErr
			}
			return c.svc.Webhooks.Update(r.Context(), v.p, proj, id, webhook.Change{Enabled: &on})
		})
		msg = "Webhook " + name + " " + act + "d."
	case "test":
		var res *webhook.TestResult
		err = v.write("test webhook policy", func() (err error) {
			if idErr != nil {
				return idErr
			}
			res, err = c.svc.Webhooks.Test(r.Context(), v.p, proj, id)
			return err
		})
		if err == nil {
			msg = hookTestSummary(name, res)
			back += "/" + url.PathEscape(r.PathValue("id"))
		}
	case "delete":
		if !c.confirmed(w, r, v, "Delete webhook "+name+"? Its delivery history goes with it.", r.URL.Path, back) {
			return nil
		}
		err = v.write("delete webhook policy", func() error {
			if idErr != nil {
				return idErr
			}
			return c.svc.Webhooks.Delete(r.Context(), v.p, proj, id)
		})
		msg = "Webhook " + name + " deleted."
	default:
		return &pageError{Status: http.StatusNotFound, Message: "No such webhook action."}
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
func hookTestSummary(name string, res *webhook.TestResult) string {
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
	eid, err := hookPathID(r, "eid", "execution_id")
	if err != nil {
		return serviceError(err)
	}
	polLink := fmt.Sprintf("%s/webhooks/%d", pc.Base(), p.ID)
	d := hookExecData{P: pc, Policy: *p, PolLink: polLink, Base: polLink + "/executions/" + url.PathEscape(r.PathValue("eid"))}
	ex, tasks, _, err := c.svc.Webhooks.Tasks(r.Context(), v.p, &pc.view.Info.Project, p.ID, eid, nil, 0, 100)
	if err != nil {
		return serviceError(err)
	}
	for _, st := range tasks {
		t := api.WebhookTaskOf(st)
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
	e := api.WebhookExecutionOf(webhook.Execution{Execution: *ex})
	ev, _ := e.ExtraAttrs["event_type"].(string)
	d.Exec = hookExec{WebhookExecution: e, Event: ev}
	if pl, ok := e.ExtraAttrs["payload"].(string); ok {
		d.Payload = pl
		var x any
		if json.Unmarshal([]byte(pl), &x) == nil {
			d.Payload = prettyJSON(x)
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
	var nid int64
	err = v.write("retry webhook execution", func() error {
		id, err := hookPathID(r, "id", "webhook_policy_id")
		if err != nil {
			return err
		}
		eid, err := hookPathID(r, "eid", "execution_id")
		if err != nil {
			return err
		}
		nid, err = c.svc.Webhooks.Retry(r.Context(), v.p, &pc.view.Info.Project, id, eid)
		return err
	})
	if err != nil {
		return err
	}
	target := pc.Base() + "/webhooks/" + url.PathEscape(r.PathValue("id")) + "/executions/" + strconv.FormatInt(nid, 10)
	return redirect(w, r, target, "The delivery is sent again as a new delivery.")
}

func (c *Console) webhookLog(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "webhooks")
	if err != nil {
		return err
	}
	var ids [3]int64
	for i, param := range [...][2]string{{"id", "webhook_policy_id"}, {"eid", "execution_id"}, {"tid", "task_id"}} {
		if ids[i], err = hookPathID(r, param[0], param[1]); err != nil {
			return serviceError(err)
		}
	}
	text, err := c.svc.Webhooks.TaskLog(r.Context(), v.p, &pc.view.Info.Project, ids[0], ids[1], ids[2])
	if err != nil {
		return serviceError(err)
	}
	id, eid, tid := r.PathValue("id"), r.PathValue("eid"), r.PathValue("tid")
	polLink := pc.Base() + "/webhooks/" + url.PathEscape(id)
	execLink := polLink + "/executions/" + url.PathEscape(eid)
	return c.renderLog(w, v, text, logData{
		Crumbs:  []crumb{{"/projects", "Projects"}, {pc.Base() + "/repositories", pc.Project.Name}, {pc.Base() + "/webhooks", "Webhooks"}, {polLink, "Webhook " + id}, {execLink, "Delivery " + eid}},
		Heading: "Delivery log: delivery " + eid + ", task " + tid,
		Back:    crumb{execLink, "Back to the delivery"},
	})
}
