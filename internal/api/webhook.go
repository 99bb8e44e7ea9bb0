package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/webhook"
)

// webhookStore is what the webhook policy service needs from the
// metadata store.
type webhookStore interface {
	webhook.PolicyStore
}

// WebhookSecretHeader carries a new policy's signing secret in the answer
// to its creation, the one time Berth shows it (Harbor's WebhookPolicy has
// no field for it).
const WebhookSecretHeader = "X-Berth-Webhook-Secret"

func (s *Server) webhookRoutes() []route {
	const (
		base   = "/projects/{project_name_or_id}/webhook"
		policy = base + "/policies/{webhook_policy_id}"
		exec   = policy + "/executions/{execution_id}"
	)
	return []route{
		{method: "GET", path: base + "/policies", op: "ListWebhookPoliciesOfProject", handle: s.listWebhookPolicies, resp: []WebhookPolicy{}, respDef: "[]WebhookPolicy"},
		{method: "POST", path: base + "/policies", op: "CreateWebhookPolicyOfProject", handle: s.createWebhookPolicy},
		{method: "GET", path: policy, op: "GetWebhookPolicyOfProject", handle: s.getWebhookPolicy, resp: WebhookPolicy{}, respDef: "WebhookPolicy"},
		{method: "PUT", path: policy, op: "UpdateWebhookPolicyOfProject", handle: s.updateWebhookPolicy},
		{method: "DELETE", path: policy, op: "DeleteWebhookPolicyOfProject", handle: s.deleteWebhookPolicy},
		{method: "GET", path: policy + "/executions", op: "ListExecutionsOfWebhookPolicy", handle: s.listWebhookExecutions, resp: []WebhookExecution{}, respDef: "[]Execution"},
		{method: "GET", path: exec + "/tasks", op: "ListTasksOfWebhookExecution", handle: s.listWebhookTasks, resp: []WebhookTask{}, respDef: "[]Task"},
		{method: "GET", path: exec + "/tasks/{task_id}/log", op: "GetLogsOfWebhookTask", handle: s.webhookTaskLog, resp: "", respDef: "string"},
		{method: "POST", path: exec + "/retry", op: "RetryWebhookExecution", handle: s.retryWebhookExecution},
		{method: "POST", path: policy + "/test", op: "TestWebhookPolicyOfProject", handle: s.testWebhookPolicy, resp: WebhookTestResult{}},
		{method: "GET", path: base + "/lasttrigger", op: "LastTrigger", handle: s.webhookLastTrigger, resp: []WebhookLastTrigger{}, respDef: "[]WebhookLastTrigger"},
		{method: "GET", path: base + "/jobs", op: "ListWebhookJobs", handle: s.listWebhookJobs, resp: []WebhookJob{}, respDef: "[]WebhookJob"},
		{method: "GET", path: base + "/events", op: "GetSupportedEventTypes", handle: s.webhookEventTypes, resp: SupportedWebhookEventTypes{}, respDef: "SupportedWebhookEventTypes"},
	}
}

// WebhookPolicy is Harbor's WebhookPolicy. The signing secret is not part
// of it: it is shown once, in WebhookSecretHeader of the creation answer.
type WebhookPolicy struct {
	ID           int64           `json:"id"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	ProjectID    int64           `json:"project_id"`
	Targets      []WebhookTarget `json:"targets"`
	EventTypes   []string        `json:"event_types"`
	Creator      string          `json:"creator"`
	CreationTime string          `json:"creation_time"`
	UpdateTime   string          `json:"update_time"`
	Enabled      bool            `json:"enabled"`
}

// WebhookTarget is Harbor's WebhookTargetObject.
type WebhookTarget struct {
	Type           string `json:"type"`
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"`
}

// WebhookExecution is Harbor's Execution of a webhook policy (a delivery
// of one event to the policy's targets of one notify type).
type WebhookExecution struct {
	ID            int64           `json:"id"`
	VendorType    string          `json:"vendor_type"`
	VendorID      int64           `json:"vendor_id"`
	Status        string          `json:"status"`
	StatusMessage string          `json:"status_message"`
	Metrics       *WebhookMetrics `json:"metrics"`
	Trigger       string          `json:"trigger"`
	ExtraAttrs    map[string]any  `json:"extra_attrs"`
	StartTime     string          `json:"start_time"`
	EndTime       string          `json:"end_time"`
}

// WebhookMetrics is Harbor's Metrics: an execution's tasks by status.
type WebhookMetrics struct {
	TaskCount          int `json:"task_count"`
	SuccessTaskCount   int `json:"success_task_count"`
	ErrorTaskCount     int `json:"error_task_count"`
	PendingTaskCount   int `json:"pending_task_count"`
	RunningTaskCount   int `json:"running_task_count"`
	ScheduledTaskCount int `json:"scheduled_task_count"`
	StoppedTaskCount   int `json:"stopped_task_count"`
}

// WebhookTask is Harbor's Task of a webhook execution: the delivery to one
// target. extra_attrs has notify_type, address, payload_format and, once
// attempted, response_code and response_codes (one per attempt, 0 when no
// response came).
type WebhookTask struct {
	ID            int64          `json:"id"`
	ExecutionID   int64          `json:"execution_id"`
	Status        string         `json:"status"`
	StatusMessage string         `json:"status_message"`
	RunCount      int            `json:"run_count"`
	ExtraAttrs    map[string]any `json:"extra_attrs"`
	CreationTime  string         `json:"creation_time"`
	UpdateTime    string         `json:"update_time"`
	StartTime     string         `json:"start_time"`
	EndTime       string         `json:"end_time"`
}

// WebhookTestResult is the answer to a test delivery (Berth's own
// operation): the test event's type and what each target made of it.
type WebhookTestResult struct {
	EventType string              `json:"event_type"`
	Targets   []WebhookTestTarget `json:"targets"`
}

// WebhookTestTarget is the test delivery to one target, as recorded in the
// task that made it.
type WebhookTestTarget struct {
	ExecutionID   int64  `json:"execution_id"`
	TaskID        int64  `json:"task_id"`
	Type          string `json:"type"`    // http or slack
	Address       string `json:"address"` // scheme, host and path only
	PayloadFormat string `json:"payload_format,omitempty"`
	Status        string `json:"status"`        // Success or Error
	ResponseCode  int    `json:"response_code"` // 0 when no response came
	Error         string `json:"error,omitempty"`
	DurationMS    int64  `json:"duration_ms"`
}

// WebhookLastTrigger is Harbor's WebhookLastTrigger.
type WebhookLastTrigger struct {
	PolicyName      string `json:"policy_name"`
	EventType       string `json:"event_type"`
	Enabled         bool   `json:"enabled"`
	CreationTime    string `json:"creation_time"`
	LastTriggerTime string `json:"last_trigger_time"`
}

// WebhookJob is Harbor's legacy WebhookJob: a delivery task.
type WebhookJob struct {
	ID           int64  `json:"id"`
	PolicyID     int64  `json:"policy_id"`
	EventType    string `json:"event_type"`
	NotifyType   string `json:"notify_type"`
	Status       string `json:"status"`
	JobDetail    string `json:"job_detail"`
	CreationTime string `json:"creation_time"`
	UpdateTime   string `json:"update_time"`
}

// SupportedWebhookEventTypes is Harbor's SupportedWebhookEventTypes.
type SupportedWebhookEventTypes struct {
	EventType      []string               `json:"event_type"`
	NotifyType     []string               `json:"notify_type"`
	PayloadFormats []WebhookPayloadFormat `json:"payload_formats"`
}

// WebhookPayloadFormat is Harbor's PayloadFormat.
type WebhookPayloadFormat struct {
	NotifyType string   `json:"notify_type"`
	Formats    []string `json:"formats"`
}

// newWebhookPolicies is the webhook policy service the handlers and the
// console call: permissions asked of auth, the system setting
// webhook_block_internal_targets read at each create and update, test
// deliveries run by the job system when it can (RunNow).
func (s *Server) newWebhookPolicies() *webhook.Policies {
	run, _ := s.opts.Jobs.(webhook.Runner)
	return webhook.NewPolicies(s.st, s.auth, webhook.PolicyOptions{
		Events: s.opts.Events, Changed: s.opts.Changed, Jobs: s.opts.Jobs, Runner: run, ExternalURL: s.opts.ExternalURL,
		BlockInternal: func() bool { return s.opts.Settings.Get().WebhookBlockInternalTargets },
	})
}

// WebhookPolicyOf is policy p as Harbor shows it.
func WebhookPolicyOf(p *store.WebhookPolicy) WebhookPolicy {
	v := WebhookPolicy{
		ID: p.ID, Name: p.Name, Description: p.Description, ProjectID: p.ProjectID, Targets: []WebhookTarget{},
		EventTypes: p.EventTypes, Creator: p.Creator, CreationTime: Timestamp(p.CreatedAt), UpdateTime: Timestamp(p.UpdatedAt),
		Enabled: p.Enabled,
	}
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	for _, t := range p.Targets {
		v.Targets = append(v.Targets, WebhookTarget(t))
	}
	return v
}

// WebhookExecutionOf is delivery e as Harbor shows it.
func WebhookExecutionOf(e webhook.Execution) WebhookExecution {
	n := e.TaskCounts
	m := &WebhookMetrics{
		SuccessTaskCount: n[store.JobSuccess], ErrorTaskCount: n[store.JobError], PendingTaskCount: n[store.JobPending],
		RunningTaskCount: n[store.JobRunning], StoppedTaskCount: n[store.JobStopped],
	}
	for _, k := range n {
		m.TaskCount += k
	}
	return WebhookExecution{
		ID: e.ID, VendorType: e.VendorType, VendorID: e.VendorID, Status: e.Status, StatusMessage: e.StatusMessage,
		Metrics: m, Trigger: e.Trigger, ExtraAttrs: jsonObject(e.ExtraAttrs), StartTime: Timestamp(e.StartTime), EndTime: Timestamp(e.EndTime),
	}
}

// WebhookTaskOf is delivery task t as Harbor shows it.
func WebhookTaskOf(t store.Task) WebhookTask {
	return WebhookTask{
		ID: t.ID, ExecutionID: t.ExecutionID, Status: t.Status, StatusMessage: t.StatusMessage, RunCount: t.Attempts,
		ExtraAttrs: jsonObject(t.ExtraAttrs), CreationTime: Timestamp(t.CreationTime), UpdateTime: Timestamp(t.UpdateTime),
		StartTime: Timestamp(t.StartTime), EndTime: Timestamp(t.EndTime),
	}
}

// WebhookTestResultOf is the answer to a test delivery.
func WebhookTestResultOf(res *webhook.TestResult) WebhookTestResult {
	out := WebhookTestResult{EventType: res.EventType, Targets: make([]WebhookTestTarget, 0, len(res.Targets))}
	for _, t := range res.Targets {
		out.Targets = append(out.Targets, WebhookTestTarget(t))
	}
	return out
}

// webhookPolicyBody is a WebhookPolicy in a request. Every field is
// optional, so an update changes only what it carries (enabled alone, to
// switch a policy off); the read-only fields are accepted and ignored.
type webhookPolicyBody struct {
	ID           *int64           `json:"id"`
	Name         *string          `json:"name"`
	Description  *string          `json:"description"`
	ProjectID    *int64           `json:"project_id"`
	Targets      *[]WebhookTarget `json:"targets"`
	EventTypes   *[]string        `json:"event_types"`
	Creator      *string          `json:"creator"`
	CreationTime *string          `json:"creation_time"`
	UpdateTime   *string          `json:"update_time"`
	Enabled      *bool            `json:"enabled"`
}

// change is the policy change b asks for.
func (b *webhookPolicyBody) change() webhook.Change {
	ch := webhook.Change{ID: b.ID, ProjectID: b.ProjectID, Name: b.Name, Description: b.Description, Enabled: b.Enabled, EventTypes: b.EventTypes}
	if b.Targets != nil {
		targets := make([]webhook.Target, 0, len(*b.Targets))
		for _, t := range *b.Targets {
			targets = append(targets, webhook.Target(t))
		}
		ch.Targets = &targets
	}
	return ch
}

func jsonObject(s string) map[string]any {
	m := map[string]any{}
	json.Unmarshal([]byte(s), &m)
	return m
}

func (s *Server) listWebhookPolicies(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.webhooks.List(r.Context(), c.Principal, p, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookPolicy, 0, len(list))
	for i := range list {
		out = append(out, WebhookPolicyOf(&list[i]))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createWebhookPolicy adds a policy with a fresh signing secret, sent back
// once in WebhookSecretHeader.
func (s *Server) createWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	var b webhookPolicyBody
	if err := decode(r, &b); err != nil {
		return err
	}
	pol, err := s.webhooks.Create(r.Context(), c.Principal, p, b.change())
	if err != nil {
		return err
	}
	w.Header().Set(WebhookSecretHeader, pol.Secret)
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(pol.ID, 10))
}

// webhookPath is the project and the policy ID of the path.
func (s *Server) webhookPath(r *http.Request) (*store.Project, int64, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(r, "webhook_policy_id")
	if err != nil {
		return nil, 0, err
	}
	return p, id, nil
}

// webhookExecPath is the project, the policy ID and the execution ID of
// the path.
func (s *Server) webhookExecPath(r *http.Request) (*store.Project, int64, int64, error) {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return nil, 0, 0, err
	}
	eid, err := pathID(r, "execution_id")
	if err != nil {
		return nil, 0, 0, err
	}
	return p, id, eid, nil
}

func (s *Server) getWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return err
	}
	pol, err := s.webhooks.Get(r.Context(), c.Principal, p, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, WebhookPolicyOf(pol))
}

func (s *Server) updateWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return err
	}
	var b webhookPolicyBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := s.webhooks.Update(r.Context(), c.Principal, p, id, b.change()); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return err
	}
	if err := s.webhooks.Delete(r.Context(), c.Principal, p, id); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) listWebhookExecutions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.webhooks.Executions(r.Context(), c.Principal, p, id, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookExecution, 0, len(list))
	for _, e := range list {
		out = append(out, WebhookExecutionOf(e))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listWebhookTasks(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, eid, err := s.webhookExecPath(r)
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	_, list, total, err := s.webhooks.Tasks(r.Context(), c.Principal, p, id, eid, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookTask, 0, len(list))
	for _, t := range list {
		out = append(out, WebhookTaskOf(t))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) webhookTaskLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, eid, err := s.webhookExecPath(r)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	text, err := s.webhooks.TaskLog(r.Context(), c.Principal, p, id, eid, tid)
	if err != nil {
		return err
	}
	return writeLogText(w, text)
}

// retryWebhookExecution (Berth's own operation) delivers an execution's
// payloads again, to the same targets, as a new execution with trigger
// MANUAL: the bodies and signatures are the stored ones, byte for byte.
// It answers 201 with the new execution's Location.
func (s *Server) retryWebhookExecution(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, eid, err := s.webhookExecPath(r)
	if err != nil {
		return err
	}
	nid, err := s.webhooks.Retry(r.Context(), c.Principal, p, id, eid)
	if err != nil {
		return err
	}
	path := strings.TrimSuffix(r.URL.EscapedPath(), "/")
	path = strings.TrimSuffix(path, "/retry")
	path = path[:strings.LastIndex(path, "/")+1] + strconv.FormatInt(nid, 10)
	return created(w, r, path)
}

// testWebhookPolicy (Berth's own operation; Harbor 1.x had policies/test)
// sends a test event to every target of the policy now, enabled or not,
// with the payload, signature and headers of a real delivery, one attempt
// each, and answers 200 with each target's response code or error once
// all have answered (or timed out). The deliveries are recorded in the
// policy's history as executions with trigger TEST. It needs the
// permission to update the policy.
func (s *Server) testWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.webhookPath(r)
	if err != nil {
		return err
	}
	res, err := s.webhooks.Test(r.Context(), c.Principal, p, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, WebhookTestResultOf(res))
}

func (s *Server) webhookLastTrigger(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	list, err := s.webhooks.LastTriggers(r.Context(), c.Principal, p)
	if err != nil {
		return err
	}
	out := make([]WebhookLastTrigger, 0, len(list))
	for _, t := range list {
		out = append(out, WebhookLastTrigger{PolicyName: t.PolicyName, EventType: t.EventType, Enabled: t.Enabled,
			CreationTime: Timestamp(t.CreationTime), LastTriggerTime: Timestamp(t.LastTrigger)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listWebhookJobs(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	v := r.URL.Query().Get("policy_id")
	policyID, ok := parseID(v)
	if !ok {
		return errs.E(errs.Invalid, "list webhook jobs", "policy_id must be a positive integer, not %q", v)
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.webhooks.Jobs(r.Context(), c.Principal, p, policyID, r.URL.Query()["status"], pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookJob, 0, len(list))
	for _, j := range list {
		out = append(out, WebhookJob{
			ID: j.ID, PolicyID: j.PolicyID, EventType: j.EventType, NotifyType: j.NotifyType, Status: j.Status,
			JobDetail: j.Body, CreationTime: Timestamp(j.CreationTime), UpdateTime: Timestamp(j.UpdateTime),
		})
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) webhookEventTypes(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	sup, err := s.webhooks.Supported(r.Context(), c.Principal, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, SupportedWebhookEventTypesOf(sup))
}

// SupportedWebhookEventTypesOf is what policies may choose from, as Harbor
// shows it.
func SupportedWebhookEventTypesOf(sup *webhook.Supported) SupportedWebhookEventTypes {
	out := SupportedWebhookEventTypes{EventType: sup.EventTypes, NotifyType: sup.NotifyTypes, PayloadFormats: []WebhookPayloadFormat{}}
	for _, f := range sup.PayloadFormats {
		out.PayloadFormats = append(out.PayloadFormats, WebhookPayloadFormat(f))
	}
	return out
}
