package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// receiver is a webhook endpoint that records what it gets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

// waitDeliveries waits until policy id of project has n finished executions.
func waitDeliveries(t *testing.T, srv *testserver.InProcess, project string, id int64, n int) []api.WebhookExecution {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list []api.WebhookExecution
		apiGet(t, srv, "/projects/"+project+"/webhook/policies/"+strconv.FormatInt(id, 10)+"/executions", &list)
		done := 0
		for _, e := range list {
			if e.Status == "Success" || e.Status == "Error" || e.Status == "Stopped" {
				done++
			}
		}
		if done >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook policy %d: %d finished deliveries, want %d: %+v", id, done, n, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhooks drives the Webhooks tab: create (the signing secret shown
// once, a refusal keeping the input), list, edit, disable and enable,
// delivery history with response codes and logs, re-send, delete.
func TestWebhooks(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { testWebhooks(t, backend) })
	}
}

func testWebhooks(t *testing.T, backend string) {
	srv := testserver.NewInProcess(t, backend)
	rc := newReceiver(t)
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)
	b.post("/projects", url.Values{"name": {"hooks"}}).expect("create project", 303)

	p := b.get("/projects/hooks/webhooks").expect("no webhooks", 200, "Webhooks", "No webhooks yet", "New webhook", "PUSH_ARTIFACT", "DELETE_ARTIFACT", "CloudEvents", "slack")
	p.accessible("no webhooks")
	form := url.Values{"name": {"ci"}, "description": {"tell CI"}, "notify_type": {"http"}, "address": {"ftp://nope"}, "payload_format": {"Default"},
		"auth_header": {"Bearer t0k"}, "event_type": {"PUSH_ARTIFACT", "DELETE_ARTIFACT"}, "enabled": {"on"}}
	p = b.post("/projects/hooks/webhooks", cloneForm(form))
	p.expect("bad address", 400, "must be an absolute http or https URL")
	if p.inputValue("hook-name") != "ci" || p.inputValue("hook-address") != "ftp://nope" || !strings.Contains(p.body, `value="DELETE_ARTIFACT" checked`) {
		t.Error("bad address: the input is not kept")
	}
	noEvents := cloneForm(form)
	noEvents.Del("event_type")
	noEvents.Set("address", rc.URL)
	b.post("/projects/hooks/webhooks", noEvents).expect("no events", 400, "event_types is empty")

	form.Set("address", rc.URL+"/hook")
	p = b.post("/projects/hooks/webhooks", cloneForm(form))
	p.expect("create webhook", 200, "Webhook created", "Signing secret", "shown only this once", "Go to webhook ci")
	p.accessible("webhook secret")
	secret := p.inputValue("hook-secret")
	if len(secret) < 16 {
		t.Fatalf("webhook secret %q", secret)
	}
	var list []api.WebhookPolicy
	apiGet(t, srv, "/projects/hooks/webhook/policies", &list)
	if len(list) != 1 || list[0].Name != "ci" || !list[0].Enabled || len(list[0].EventTypes) != 2 || list[0].Targets[0].AuthHeader != "Bearer t0k" {
		t.Fatalf("policies: %+v", list)
	}
	id := list[0].ID
	hook := "/projects/hooks/webhooks/" + strconv.FormatInt(id, 10)
	b.get("/projects/hooks/webhooks").expect("listed", 200, "ci", "tell CI", "PUSH_ARTIFACT, DELETE_ARTIFACT", rc.URL+"/hook", "enabled").lacks("listed", secret)
	p = b.get(hook).expect("webhook page", 200, "Webhook ci", "Save webhook", "Nothing delivered yet")
	p.accessible("webhook page")
	p.lacks("webhook page", secret)

	// Edit, keeping the input of a refusal.
	form.Set("name", "ci build")
	form.Set("description", "")
	form.Set("payload_format", "CloudEvents")
	form.Set("event_type", "PUSH_ARTIFACT")
	bad := cloneForm(form)
	bad.Set("payload_format", "XML")
	b.post(hook, bad).expect("bad format", 400, "unsupported payload format")
	b.post(hook, cloneForm(form)).expect("save webhook", 303)
	apiGet(t, srv, "/projects/hooks/webhook/policies", &list)
	if list[0].Name != "ci build" || list[0].Targets[0].PayloadFormat != "CloudEvents" || len(list[0].EventTypes) != 1 {
		t.Errorf("policy after edit: %+v", list[0])
	}
	b.post(hook+"/disable", url.Values{"name": {"ci build"}}).expect("disable", 303)
	apiGet(t, srv, "/projects/hooks/webhook/policies", &list)
	if list[0].Enabled {
		t.Error("policy not disabled")
	}
	b.get("/projects/hooks/webhooks").expect("disabled", 200, "disabled", "Enable ci build")
	b.post(hook+"/enable", url.Values{"name": {"ci build"}}).expect("enable", 303)

	// A push is delivered; the history shows it with its response code and log.
	pusher{t, srv}.image("hooks/app:v1", "amd64")
	execs := waitDeliveries(t, srv, "hooks", id, 1)
	if rc.count() != 1 {
		t.Fatalf("the receiver got %d requests", rc.count())
	}
	eid := strconv.FormatInt(execs[0].ID, 10)
	b.get(hook).expect("history", 200, "Delivery "+eid, "PUSH_ARTIFACT", "Success", "1 of 1 delivered")
	p = b.get(hook+"/executions/"+eid).expect("delivery", 200, "Delivery "+eid, "PUSH_ARTIFACT", rc.URL+"/hook", "200", "Re-send", "Payload", "PUSH_ARTIFACT")
	p.accessible("delivery")
	var tasks []api.WebhookTask
	apiGet(t, srv, "/projects/hooks/webhook/policies/"+strconv.FormatInt(id, 10)+"/executions/"+eid+"/tasks", &tasks)
	if len(tasks) != 1 {
		t.Fatalf("tasks: %+v", tasks)
	}
	b.get(hook+"/executions/"+eid+"/tasks/"+strconv.FormatInt(tasks[0].ID, 10)).expect("delivery log", 200, "Delivery log", "200").accessible("delivery log")

	// Re-send: a new delivery of the same payload.
	p = b.post(hook+"/executions/"+eid+"/retry", nil)
	if p.status != 303 || !strings.HasPrefix(p.location, hook+"/executions/") || p.location == hook+"/executions/"+eid {
		t.Fatalf("re-send: %d %s", p.status, p.location)
	}
	waitDeliveries(t, srv, "hooks", id, 2)
	if rc.count() != 2 {
		t.Errorf("after re-send the receiver got %d requests", rc.count())
	}
	rc.mu.Lock()
	same := rc.bodies[0] == rc.bodies[1]
	rc.mu.Unlock()
	if !same {
		t.Error("the re-sent payload differs")
	}
	b.get(p.location).expect("re-sent delivery", 200, "MANUAL")
	b.get(hook+"/executions/99999").expect("unknown delivery", 404)

	// Delete.
	b.post(hook+"/delete", url.Values{"name": {"ci build"}}).expect("delete asks", 200, "Delete webhook ci build?")
	b.post(hook+"/delete", url.Values{"name": {"ci build"}, "confirm": {"yes"}}).expect("delete", 303)
	apiGet(t, srv, "/projects/hooks/webhook/policies", &list)
	if len(list) != 0 {
		t.Errorf("policies after delete: %+v", list)
	}
	b.get(hook).expect("deleted webhook", 404)
}

// TestWebhookPermissions checks that a maintainer (who may read webhooks)
// and a guest (who may not) see no edit controls, that forged posts are
// refused with the API's message, and that the token is needed.
func TestWebhookPermissions(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	rc := newReceiver(t)
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	admin.post("/projects", url.Values{"name": {"team"}}).expect("create project", 303)
	admin.post("/projects/team/webhooks", url.Values{"name": {"ci"}, "notify_type": {"http"}, "address": {rc.URL}, "payload_format": {"Default"},
		"event_type": {"PUSH_ARTIFACT"}, "enabled": {"on"}}).expect("create webhook", 200)
	var list []api.WebhookPolicy
	apiGet(t, srv, "/projects/team/webhook/policies", &list)
	id := strconv.FormatInt(list[0].ID, 10)
	pusher{t, srv}.image("team/app:v1", "amd64")
	execs := waitDeliveries(t, srv, "team", list[0].ID, 1)
	eid := strconv.FormatInt(execs[0].ID, 10)
	pid := projectID(t, srv, "team")
	member(t, srv, pid, user(t, srv, "maint"), rbac.Maintainer)
	member(t, srv, pid, user(t, srv, "guest1"), rbac.Guest)

	maint := newBrowser(t, srv)
	maint.login("maint", userPassword)
	maint.get("/projects/team/repositories").expect("maintainer tabs", 200, ">Webhooks<")
	for _, path := range []string{"/projects/team/webhooks", "/projects/team/webhooks/" + id, "/projects/team/webhooks/" + id + "/executions/" + eid} {
		p := maint.get(path).expect("maintainer "+path, 200)
		p.accessible("maintainer " + path)
		p.lacks("maintainer "+path, "New webhook", "Save webhook", "Re-send", "Delete webhook", "Disable ci")
		if acts := p.formActions(); len(acts) > 2 {
			t.Errorf("maintainer sees forms on %s: %v", path, acts)
		}
	}
	maint.get("/projects/team/webhooks/"+id).expect("maintainer details", 200, "PUSH_ARTIFACT", rc.URL, "Delivery "+eid)

	guest := newBrowser(t, srv)
	guest.login("guest1", userPassword)
	guest.get("/projects/team/repositories").expect("guest tabs", 200).lacks("guest tabs", ">Webhooks<")
	guest.get("/projects/team/webhooks").expect("guest webhooks", 403, "may not list notification-policy")
	guest.get("/projects/team/webhooks/"+id).expect("guest webhook", 403, "may not read notification-policy")

	hookForm := url.Values{"name": {"evil"}, "notify_type": {"http"}, "address": {"http://evil.example/"}, "event_type": {"PUSH_ARTIFACT"}, "enabled": {"on"}}
	for _, b := range []*browser{maint, guest} {
		for _, tc := range []struct {
			path string
			form url.Values
			want string
		}{
			{"/projects/team/webhooks", hookForm, "may not create notification-policy"},
			{"/projects/team/webhooks/" + id, hookForm, "may not"},
			{"/projects/team/webhooks/" + id + "/disable", nil, "may not update notification-policy"},
			{"/projects/team/webhooks/" + id + "/delete", url.Values{"confirm": {"yes"}}, "may not delete notification-policy"},
			{"/projects/team/webhooks/" + id + "/executions/" + eid + "/retry", nil, "may not update notification-policy"},
		} {
			b.post(tc.path, cloneForm(tc.form)).expect("forged "+tc.path, 403, tc.want)
		}
	}
	apiGet(t, srv, "/projects/team/webhook/policies", &list)
	if len(list) != 1 || list[0].Name != "ci" || !list[0].Enabled {
		t.Errorf("policies after forged posts: %+v", list)
	}
	if n := len(waitDeliveries(t, srv, "team", list[0].ID, 1)); n != 1 {
		t.Errorf("a forged re-send delivered: %d executions", n)
	}

	admin.post("/projects/team/webhooks/"+id+"/delete", url.Values{"csrf": {"forged"}, "confirm": {"yes"}}).expect("no token", 403, "CSRF")
	admin.post("/projects/team/webhooks/"+id+"/executions/"+eid+"/retry", url.Values{"csrf": {""}}).expect("empty token", 403, "CSRF")
	p := admin.get("/projects/team/webhooks/" + id)
	for _, f := range p.elements("form") {
		if strings.EqualFold(attr(f, "method"), "post") && !strings.Contains(renderNode(f), `name="csrf" value="`+admin.cookie("__csrf")+`"`) {
			t.Errorf("form %s has no CSRF field", attr(f, "action"))
		}
	}
	apiGet(t, srv, "/projects/team/webhook/policies", &list)
	if len(list) != 1 {
		t.Error("a post without the token deleted the webhook")
	}
}

// TestWebhookTestButton checks the "Send test event" button of a policy's
// page: shown to a project admin (in a form with the CSRF token), not to a
// maintainer nor a guest; a post without the token or by someone who may
// not update the policy sends nothing; the admin's post delivers to the
// receivers before the answer and comes back to the policy's page with each
// target's response code, and the history lists the test delivery.
func TestWebhookTestButton(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { testWebhookTestButton(t, backend) })
	}
}

func testWebhookTestButton(t *testing.T, backend string) {
	srv := testserver.NewInProcess(t, backend)
	rc := newReceiver(t)
	var failed sync.Mutex
	fails := 0
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failed.Lock()
		fails++
		failed.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	admin.post("/projects", url.Values{"name": {"tested"}}).expect("create project", 303)
	if st := apiCall(t, srv, "POST", "/projects/tested/webhook/policies", map[string]any{"name": "ci", "enabled": false,
		"event_types": []string{"PUSH_ARTIFACT"}, "targets": []map[string]any{
			{"type": "http", "address": rc.URL + "/ok"}, {"type": "http", "address": failing.URL + "/broken"}}}); st != http.StatusCreated {
		t.Fatalf("create webhook policy: %d", st)
	}
	var list []api.WebhookPolicy
	apiGet(t, srv, "/projects/tested/webhook/policies", &list)
	id := strconv.FormatInt(list[0].ID, 10)
	hook := "/projects/tested/webhooks/" + id
	pid := projectID(t, srv, "tested")
	member(t, srv, pid, user(t, srv, "tmaint"), rbac.Maintainer)
	member(t, srv, pid, user(t, srv, "tguest"), rbac.Guest)

	p := admin.get(hook).expect("admin's webhook page", 200, "Send test event", "X-Berth-Test", "Nothing delivered yet")
	p.accessible("webhook page with the test button")
	if !slices.Contains(p.formActions(), hook+"/test") {
		t.Errorf("no test form: %v", p.formActions())
	}
	for _, f := range p.elements("form") {
		if attr(f, "action") == hook+"/test" && !strings.Contains(renderNode(f), `name="csrf" value="`+admin.cookie("__csrf")+`"`) {
			t.Error("the test form has no CSRF field")
		}
	}

	maint := newBrowser(t, srv)
	maint.login("tmaint", userPassword)
	maint.get(hook).expect("maintainer's webhook page", 200, "Webhook ci").lacks("maintainer's webhook page", "Send test event")
	guest := newBrowser(t, srv)
	guest.login("tguest", userPassword)
	guest.get(hook).expect("guest's webhook page", 403).lacks("guest's webhook page", "Send test event")

	// Refused posts send nothing.
	admin.post(hook+"/test", url.Values{"csrf": {"forged"}, "name": {"ci"}}).expect("test without the token", 403, "CSRF")
	admin.post(hook+"/test", url.Values{"csrf": {""}, "name": {"ci"}}).expect("test with an empty token", 403, "CSRF")
	for _, b := range []*browser{maint, guest} {
		b.post(hook+"/test", url.Values{"name": {"ci"}}).expect("forged test", 403, "may not update notification-policy")
	}
	if rc.count() != 0 {
		t.Fatalf("refused tests delivered %d requests", rc.count())
	}

	// The admin's test: delivered before the answer, the codes shown.
	p = admin.post(hook+"/test", url.Values{"name": {"ci"}})
	if p.status != http.StatusSeeOther || p.location != hook {
		t.Fatalf("test: %d %s %s", p.status, p.location, p.text())
	}
	failed.Lock()
	n := fails
	failed.Unlock()
	if rc.count() != 1 || n != 1 {
		t.Errorf("when the answer came: %d and %d requests, want 1 and 1", rc.count(), n)
	}
	p = admin.get(p.location).expect("after the test", 200, "Test event PUSH_ARTIFACT sent to webhook ci", rc.URL+"/ok answered 200",
		failing.URL+"/broken failed: abnormal response code: 500", "1 of 2 delivered, 1 failed")
	p.accessible("webhook page after a test")
	if !strings.Contains(p.body, "<td>TEST</td>") {
		t.Error("the history does not list the test delivery with trigger TEST")
	}
	admin.get(hook).lacks("flash shown once", "answered 200")
	var execs []api.WebhookExecution
	apiGet(t, srv, "/projects/tested/webhook/policies/"+id+"/executions", &execs)
	if len(execs) != 1 || execs[0].Trigger != "TEST" || execs[0].Status != "Error" {
		t.Errorf("executions after the test: %+v", execs)
	}
	apiGet(t, srv, "/projects/tested/webhook/policies", &list)
	if list[0].Enabled {
		t.Error("the test enabled the webhook")
	}
}
