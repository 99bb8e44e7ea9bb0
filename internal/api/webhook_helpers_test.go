package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/testserver"
)

// Helpers of the webhook tests (prefix wh).

// whReceiver is a real HTTP endpoint that records what it is sent and
// answers with the queued statuses, then 200.
type whReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []whRequest
	status []int
	seen   chan struct{}
}

type whRequest struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newWHReceiver(t *testing.T, tls bool, statuses ...int) *whReceiver {
	t.Helper()
	h := &whReceiver{status: statuses, seen: make(chan struct{}, 1000)}
	fn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, whRequest{header: r.Header.Clone(), body: b, at: time.Now()})
		code := http.StatusOK
		if len(h.status) > 0 {
			code, h.status = h.status[0], h.status[1:]
		}
		h.mu.Unlock()
		h.seen <- struct{}{}
		w.WriteHeader(code)
		io.WriteString(w, "receiver says: secret-internal-detail")
	})
	h.Server = httptest.NewUnstartedServer(fn)
	h.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tls {
		h.StartTLS()
	} else {
		h.Start()
	}
	t.Cleanup(h.Close)
	return h
}

// wait returns the first n requests, failing after a while.
func (h *whReceiver) wait(t *testing.T, n int) []whRequest {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		h.mu.Lock()
		if len(h.got) >= n {
			out := append([]whRequest(nil), h.got[:n]...)
			h.mu.Unlock()
			return out
		}
		h.mu.Unlock()
		select {
		case <-h.seen:
		case <-deadline:
			t.Fatalf("receiver %s: %d requests, want %d", h.URL, h.count(), n)
		}
	}
}

func (h *whReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// whTarget is a target of a policy body.
func whTarget(typ, address, format string) map[string]any {
	t := map[string]any{"type": typ, "address": address}
	if format != "" {
		t["payload_format"] = format
	}
	return t
}

// whPolicy is a policy body.
func whPolicy(name string, events []string, targets ...map[string]any) map[string]any {
	if targets == nil {
		targets = []map[string]any{}
	}
	return map[string]any{"name": name, "description": "test policy " + name, "enabled": true, "event_types": events, "targets": targets}
}

// whCreated is a policy created through the API: its ID and secret.
type whCreated struct {
	id     int64
	secret string
}

// createPolicy creates a policy in project as admin.
func (e *artEnv) createPolicy(project string, body map[string]any) whCreated {
	e.t.Helper()
	r := e.call("POST", "/api/v2.0/projects/"+project+"/webhook/policies", artAdmin, body)
	e.expect("create webhook policy", r, http.StatusCreated, "")
	loc := r.header.Get("Location")
	var id int64
	fmt.Sscan(loc[strings.LastIndex(loc, "/")+1:], &id)
	secret := r.header.Get(api.WebhookSecretHeader)
	if id == 0 || len(secret) < 32 {
		e.t.Fatalf("create webhook policy: Location %q, secret %q", loc, secret)
	}
	return whCreated{id: id, secret: secret}
}

// executions lists a policy's executions as admin.
func (e *artEnv) executions(project string, policy int64, params string) []api.WebhookExecution {
	e.t.Helper()
	var out []api.WebhookExecution
	e.get(fmt.Sprintf("/api/v2.0/projects/%s/webhook/policies/%d/executions%s", project, policy, params), artAdmin, &out)
	return out
}

// tasks lists an execution's tasks as admin.
func (e *artEnv) tasks(project string, policy, exec int64) []api.WebhookTask {
	e.t.Helper()
	var out []api.WebhookTask
	e.get(fmt.Sprintf("/api/v2.0/projects/%s/webhook/policies/%d/executions/%d/tasks", project, policy, exec), artAdmin, &out)
	return out
}

// settled waits until policy has n executions, all finished, and returns
// them (newest first).
func (e *artEnv) settled(project string, policy int64, n int) []api.WebhookExecution {
	e.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		list := e.executions(project, policy, "?page_size=100")
		done := len(list) == n
		for _, x := range list {
			done = done && (x.Status == "Success" || x.Status == "Error" || x.Status == "Stopped")
		}
		if done {
			return list
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("policy %d: executions %+v, want %d finished", policy, list, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// taskLog reads a delivery task's log as admin.
func (e *artEnv) taskLog(project string, policy, exec, task int64) string {
	e.t.Helper()
	r := e.call("GET", fmt.Sprintf("/api/v2.0/projects/%s/webhook/policies/%d/executions/%d/tasks/%d/log", project, policy, exec, task), artAdmin, nil)
	e.expect("task log", r, http.StatusOK, "")
	return string(r.body)
}

// codes is a task's response_codes.
func whCodes(t api.WebhookTask) []int {
	var out []int
	list, _ := t.ExtraAttrs["response_codes"].([]any)
	for _, v := range list {
		f, _ := v.(float64)
		out = append(out, int(f))
	}
	return out
}

// whDefault is Harbor's default payload as a receiver reads it.
type whDefault struct {
	Type      string `json:"type"`
	OccurAt   int64  `json:"occur_at"`
	Operator  string `json:"operator"`
	EventData struct {
		Resources []struct {
			Digest      string `json:"digest"`
			Tag         string `json:"tag"`
			ResourceURL string `json:"resource_url"`
		} `json:"resources"`
		Repository struct {
			Name         string `json:"name"`
			Namespace    string `json:"namespace"`
			RepoFullName string `json:"repo_full_name"`
			RepoType     string `json:"repo_type"`
		} `json:"repository"`
		Retention *struct {
			Total             int    `json:"total"`
			Retained          int    `json:"retained"`
			ProjectName       string `json:"project_name"`
			RetentionPolicyID int64  `json:"retention_policy_id"`
			Status            string `json:"result"`
			DeletedArtifact   []struct {
				Type       string `json:"type"`
				Status     string `json:"status"`
				NameAndTag string `json:"name_tag"`
			} `json:"deleted_artifact"`
		} `json:"retention"`
		Custom map[string]string `json:"custom_attributes"`
	} `json:"event_data"`
}

func whDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
}

// Authorization matrix rows of the webhook operations, appended to
// mxRows by TestAuthorizationMatrix. notification-policy is CRUDL for
// projectAdmin and RL for maintainer (Harbor ebc340a8); reads of the
// history, the last triggers and the event types check read, listings
// list (src/server/v2.0/handler/webhook.go).
func webhookMXRows() []mxRow {
	maintainerUp := "D A A D D D D A D A A"
	projectAdmin := "D A D D D D D A D A A"
	const base = "/projects/matrix/webhook"
	// One policy with one finished delivery, made on first use.
	var policy, exec, task int64
	fixture := func(e *mxEnv) {
		if policy != 0 {
			return
		}
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		e.t.Cleanup(recv.Close)
		// TAG_RETENTION: no other row's push or pull adds deliveries.
		policy = e.createdID(e.must("POST", base+"/policies", whPolicy("mxhook", []string{"TAG_RETENTION"},
			whTarget("http", recv.URL, ""))))
		publish := func() {
			e.srv.App.Events.Publish(event.Event{Type: event.TagRetention, Operator: "admin", ProjectID: e.matrixID, Project: mxProject})
		}
		publish()
		deadline := time.Now().Add(30 * time.Second)
		republish := time.Now().Add(5 * time.Second)
		for exec == 0 || task == 0 {
			// The bus drops events for a subscriber whose queue is full (by
			// design, under load); this fixture only needs one delivery.
			if time.Now().After(republish) && exec == 0 {
				var none []api.WebhookExecution
				json.Unmarshal(e.must("GET", fmt.Sprintf(base+"/policies/%d/executions", policy), nil).body, &none)
				if len(none) == 0 {
					publish()
				}
				republish = time.Now().Add(5 * time.Second)
			}
			var execs []api.WebhookExecution
			json.Unmarshal(e.must("GET", fmt.Sprintf(base+"/policies/%d/executions", policy), nil).body, &execs)
			if len(execs) >= 1 && execs[len(execs)-1].Status == "Success" {
				exec = execs[len(execs)-1].ID
				var tasks []api.WebhookTask
				json.Unmarshal(e.must("GET", fmt.Sprintf(base+"/policies/%d/executions/%d/tasks", policy, exec), nil).body, &tasks)
				if len(tasks) == 1 {
					task = tasks[0].ID
				}
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("webhook matrix fixture: no finished delivery: %+v", execs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	at := func(format string, ids func() []any) func(*mxEnv, mxWho) mxReq {
		return func(e *mxEnv, _ mxWho) mxReq {
			fixture(e)
			return mxReq{path: fmt.Sprintf(format, ids()...), project: mxProject}
		}
	}
	pol := func() []any { return []any{policy} }
	ex := func() []any { return []any{policy, exec} }
	tk := func() []any { return []any{policy, exec, task} }
	newPolicy := func(e *mxEnv) int64 {
		return e.createdID(e.must("POST", base+"/policies", whPolicy(e.uniq("mxdel"), []string{"QUOTA_WARNING"},
			whTarget("http", "http://127.0.0.1:9/hook", ""))))
	}
	var pending int64
	return []mxRow{
		{op: "ListWebhookPoliciesOfProject", needs: "notification-policy:list", proj: mxPerms("notification-policy:list"), want: maintainerUp,
			req: mxIn(base+"/policies", nil)},
		{op: "CreateWebhookPolicyOfProject", needs: "notification-policy:create", proj: mxPerms("notification-policy:create"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: base + "/policies", project: mxProject, body: whPolicy(e.uniq("mxnew"), []string{"QUOTA_WARNING"},
					whTarget("http", "http://127.0.0.1:9/hook", ""))}
			},
			after: func(e *mxEnv, _ mxWho, r mxResp) {
				if r.status == 201 {
					e.must("DELETE", fmt.Sprintf(base+"/policies/%d", e.createdID(r)), nil)
				}
			}},
		{op: "GetWebhookPolicyOfProject", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: at(base+"/policies/%d", pol)},
		{op: "UpdateWebhookPolicyOfProject", needs: "notification-policy:update", proj: mxPerms("notification-policy:update"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				fixture(e)
				return mxReq{path: fmt.Sprintf(base+"/policies/%d", policy), project: mxProject, body: map[string]string{"description": e.uniq("d")}}
			}},
		{op: "DeleteWebhookPolicyOfProject", needs: "notification-policy:delete", proj: mxPerms("notification-policy:delete"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				pending = newPolicy(e)
				return mxReq{path: fmt.Sprintf(base+"/policies/%d", pending), project: mxProject}
			},
			after: func(e *mxEnv, _ mxWho, r mxResp) {
				if r.status >= 300 {
					e.must("DELETE", fmt.Sprintf(base+"/policies/%d", pending), nil)
				}
			}},
		{op: "ListExecutionsOfWebhookPolicy", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: at(base+"/policies/%d/executions", pol)},
		{op: "ListTasksOfWebhookExecution", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: at(base+"/policies/%d/executions/%d/tasks", ex)},
		{op: "GetLogsOfWebhookTask", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: at(base+"/policies/%d/executions/%d/tasks/%d/log", tk)},
		// Berth's own re-send: it acts on the policy, so update.
		{op: "RetryWebhookExecution", needs: "notification-policy:update (Berth)", proj: mxPerms("notification-policy:update"), want: projectAdmin,
			req: at(base+"/policies/%d/executions/%d/retry", ex)},
		// Berth's own test delivery (Harbor 1.x's policies/test): like the
		// re-send, it acts on the policy, so update.
		{op: "TestWebhookPolicyOfProject", needs: "notification-policy:update (Berth)", proj: mxPerms("notification-policy:update"), want: projectAdmin,
			req: at(base+"/policies/%d/test", pol)},
		{op: "LastTrigger", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: mxIn(base+"/lasttrigger", nil)},
		{op: "ListWebhookJobs", needs: "notification-policy:list", proj: mxPerms("notification-policy:list"), want: maintainerUp,
			req: at(base+"/jobs?policy_id=%d", pol)},
		{op: "GetSupportedEventTypes", needs: "notification-policy:read", proj: mxPerms("notification-policy:read"), want: maintainerUp,
			req: mxIn(base+"/events", nil)},
	}
}

// whWaitFor polls fn until it holds.
func whWaitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fixtureWebhook creates a webhook policy in project "fixture" for the
// bad-input test and returns its ID.
func fixtureWebhook(t *testing.T, srv *testserver.InProcess) int64 {
	t.Helper()
	e := &artEnv{t: t, srv: srv}
	return e.createPolicy("fixture", whPolicy("fixture", []string{"PUSH_ARTIFACT"}, whTarget("http", "http://127.0.0.1:9/hook", ""))).id
}
