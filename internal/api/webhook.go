package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/webhook"
)

// webhookStore is what the webhook handlers need from the metadata store
// (besides the executions, tasks and logs of jobStore).
type webhookStore interface {
	CreateWebhookPolicy(ctx context.Context, p store.WebhookPolicy) (int64, error)
	WebhookPolicy(ctx context.Context, projectID, id int64) (*store.WebhookPolicy, error)
	ListWebhookPolicies(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]store.WebhookPolicy, int64, error)
	UpdateWebhookPolicy(ctx context.Context, p store.WebhookPolicy) error
	DeleteWebhookPolicy(ctx context.Context, projectID, id int64) error
	WebhookLastTriggers(ctx context.Context, projectID int64) (map[int64]map[string]int64, error)
	ListWebhookExecutions(ctx context.Context, policyID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	ExecutionTaskCounts(ctx context.Context, ids []int64) (map[int64]map[string]int, error)
	QueryTasks(ctx context.Context, executionID int64, q *query.Query, offset, limit int) ([]store.Task, int64, error)
	ListWebhookJobs(ctx context.Context, policyID int64, statuses []string, q *query.Query, offset, limit int) ([]store.WebhookJob, int64, error)
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

func webhookPolicyOf(p *store.WebhookPolicy) WebhookPolicy {
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

// apply sets the fields b carries on p and validates the result.
func (b *webhookPolicyBody) apply(p *store.WebhookPolicy) error {
	const op = "webhook policy"
	if b.ProjectID != nil && *b.ProjectID != 0 && *b.ProjectID != p.ProjectID {
		return errs.E(errs.Invalid, op, "project_id %d in the body is not the project of the path (%d)", *b.ProjectID, p.ProjectID)
	}
	if b.Name != nil {
		p.Name = *b.Name
	}
	if b.Description != nil {
		p.Description = *b.Description
	}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	if b.EventTypes != nil {
		p.EventTypes = *b.EventTypes
	}
	if b.Targets != nil {
		p.Targets = nil
		for _, t := range *b.Targets {
			p.Targets = append(p.Targets, store.WebhookTarget(t))
		}
	}
	if len(p.Description) > 1024 {
		return errs.E(errs.Invalid, op, "description is longer than 1024 characters")
	}
	return webhook.Validate(p)
}

// checkTargets refuses internal target addresses while the system setting
// webhook_block_internal_targets is on (deliveries check again at dial
// time).
func (s *Server) checkTargets(ctx context.Context, p *store.WebhookPolicy) error {
	if !s.opts.Settings.Get().WebhookBlockInternalTargets {
		return nil
	}
	for _, t := range p.Targets {
		if err := webhook.CheckTarget(ctx, t.Address); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) listWebhookPolicies(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResNotification, rbac.List); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListWebhookPolicies(r.Context(), p.ID, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookPolicy, 0, len(list))
	for i := range list {
		out = append(out, webhookPolicyOf(&list[i]))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createWebhookPolicy adds a policy with a fresh signing secret, sent back
// once in WebhookSecretHeader. Policies are enabled unless the body says
// otherwise.
func (s *Server) createWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResNotification, rbac.Create); err != nil {
		return err
	}
	var b webhookPolicyBody
	if err := decode(r, &b); err != nil {
		return err
	}
	pol := store.WebhookPolicy{ProjectID: p.ID, Enabled: true, Creator: c.Name, Secret: auth.RandomSecret(32)}
	if err := b.apply(&pol); err != nil {
		return err
	}
	if err := s.checkTargets(r.Context(), &pol); err != nil {
		return err
	}
	pol.ID, err = s.st.CreateWebhookPolicy(r.Context(), pol)
	s.audit(c, p.ID, "create", "webhook_policy", p.Name+"/"+pol.Name, err)
	if err != nil {
		return err
	}
	w.Header().Set(WebhookSecretHeader, pol.Secret)
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(pol.ID, 10))
}

// webhookPolicy loads the project and the policy of the path after
// checking that c may do act on the project's policies.
func (s *Server) webhookPolicy(r *http.Request, c *Caller, act rbac.Action) (*store.Project, *store.WebhookPolicy, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(r.Context(), c, p, rbac.ResNotification, act); err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "webhook_policy_id")
	if err != nil {
		return nil, nil, err
	}
	pol, err := s.st.WebhookPolicy(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, pol, nil
}

func (s *Server) getWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, pol, err := s.webhookPolicy(r, c, rbac.Read)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookPolicyOf(pol))
}

func (s *Server) updateWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update webhook policy"
	p, pol, err := s.webhookPolicy(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var b webhookPolicyBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.ID != nil && *b.ID != 0 && *b.ID != pol.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the policy's of the path (%d)", *b.ID, pol.ID)
	}
	if err := b.apply(pol); err != nil {
		return err
	}
	if b.Targets != nil {
		// Targets kept as they were are not checked again (their
		// deliveries are, at dial time).
		if err := s.checkTargets(r.Context(), pol); err != nil {
			return err
		}
	}
	err = s.st.UpdateWebhookPolicy(r.Context(), *pol)
	s.audit(c, p.ID, "update", "webhook_policy", p.Name+"/"+pol.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteWebhookPolicy(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, pol, err := s.webhookPolicy(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteWebhookPolicy(r.Context(), p.ID, pol.ID)
	s.audit(c, p.ID, "delete", "webhook_policy", p.Name+"/"+pol.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

// webhookExecution loads the policy and the execution of the path, which
// must be one of the policy's deliveries.
func (s *Server) webhookExecution(r *http.Request, c *Caller, act rbac.Action) (*store.Project, *store.WebhookPolicy, *store.Execution, error) {
	p, pol, err := s.webhookPolicy(r, c, act)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := pathID(r, "execution_id")
	if err != nil {
		return nil, nil, nil, err
	}
	ex, err := s.st.GetExecution(r.Context(), id)
	if err == nil && (ex.VendorID != pol.ID || (ex.VendorType != store.WebhookVendor && ex.VendorType != store.SlackVendor)) {
		err = errs.E(errs.NotFound, "webhook execution", "execution %d not found in webhook policy %d", id, pol.ID)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return p, pol, ex, nil
}

func jsonObject(s string) map[string]any {
	m := map[string]any{}
	json.Unmarshal([]byte(s), &m)
	return m
}

func (s *Server) listWebhookExecutions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, pol, err := s.webhookPolicy(r, c, rbac.Read)
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListWebhookExecutions(r.Context(), pol.ID, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(list))
	for _, e := range list {
		ids = append(ids, e.ID)
	}
	counts, err := s.st.ExecutionTaskCounts(r.Context(), ids)
	if err != nil {
		return err
	}
	out := make([]WebhookExecution, 0, len(list))
	for _, e := range list {
		n := counts[e.ID]
		m := &WebhookMetrics{
			SuccessTaskCount: n[store.JobSuccess], ErrorTaskCount: n[store.JobError], PendingTaskCount: n[store.JobPending],
			RunningTaskCount: n[store.JobRunning], StoppedTaskCount: n[store.JobStopped],
		}
		for _, k := range n {
			m.TaskCount += k
		}
		out = append(out, WebhookExecution{
			ID: e.ID, VendorType: e.VendorType, VendorID: e.VendorID, Status: e.Status, StatusMessage: e.StatusMessage,
			Metrics: m, Trigger: e.Trigger, ExtraAttrs: jsonObject(e.ExtraAttrs), StartTime: Timestamp(e.StartTime), EndTime: Timestamp(e.EndTime),
		})
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listWebhookTasks(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, _, ex, err := s.webhookExecution(r, c, rbac.Read)
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.QueryTasks(r.Context(), ex.ID, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookTask, 0, len(list))
	for _, t := range list {
		out = append(out, WebhookTask{
			ID: t.ID, ExecutionID: t.ExecutionID, Status: t.Status, StatusMessage: t.StatusMessage, RunCount: t.Attempts,
			ExtraAttrs: jsonObject(t.ExtraAttrs), CreationTime: Timestamp(t.CreationTime), UpdateTime: Timestamp(t.UpdateTime),
			StartTime: Timestamp(t.StartTime), EndTime: Timestamp(t.EndTime),
		})
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) webhookTaskLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, _, ex, err := s.webhookExecution(r, c, rbac.Read)
	if err != nil {
		return err
	}
	id, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	t, err := s.st.GetTask(r.Context(), id)
	if err == nil && t.ExecutionID != ex.ID {
		err = errs.E(errs.NotFound, "webhook task log", "task %d not found in execution %d", id, ex.ID)
	}
	if err != nil {
		return err
	}
	return writeLog(w, r, s.st, id)
}

// retryWebhookExecution (Berth's own operation) delivers an execution's
// payloads again, to the same targets, as a new execution with trigger
// MANUAL: the bodies and signatures are the stored ones, byte for byte.
// It answers 201 with the new execution's Location.
func (s *Server) retryWebhookExecution(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, pol, ex, err := s.webhookExecution(r, c, rbac.Update)
	if err != nil {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "retry webhook execution", "the job system is not running")
	}
	tasks, _, err := s.st.ListTasks(r.Context(), ex.ID, 0, 1000)
	if err != nil {
		return err
	}
	specs := make([]jobs.TaskOf, 0, len(tasks))
	for _, t := range tasks {
		extra := jsonObject(t.ExtraAttrs)
		delete(extra, "response_code")
		delete(extra, "response_codes")
		specs = append(specs, jobs.TaskOf{Kind: t.Kind, Params: json.RawMessage(t.Params), Extra: extra})
	}
	extra := jsonObject(ex.ExtraAttrs)
	extra["retry_of"] = ex.ID
	id, err := s.opts.Jobs.Submit(r.Context(), ex.VendorType, pol.ID, jobs.Manual, extra, specs...)
	s.audit(c, p.ID, "create", "webhook_execution", p.Name+"/"+pol.Name+" retry of "+strconv.FormatInt(ex.ID, 10), err)
	if err != nil {
		return err
	}
	path := strings.TrimSuffix(r.URL.EscapedPath(), "/")
	path = strings.TrimSuffix(path, "/retry")
	path = path[:strings.LastIndex(path, "/")+1] + strconv.FormatInt(id, 10)
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
	const op = "test webhook policy"
	p, pol, err := s.webhookPolicy(r, c, rbac.Update)
	if err != nil {
		return err
	}
	run, ok := s.opts.Jobs.(webhook.Runner)
	if !ok {
		return errs.E(errs.Unavailable, op, "the job system is not running")
	}
	ids, err := webhook.Test(r.Context(), run, p, pol, c.Name, s.opts.ExternalURL)
	s.audit(c, p.ID, "create", "webhook_execution", p.Name+"/"+pol.Name+" test", err)
	if err != nil {
		return err
	}
	out := WebhookTestResult{Targets: []WebhookTestTarget{}}
	if len(pol.EventTypes) > 0 {
		out.EventType = pol.EventTypes[0]
	}
	for _, id := range ids {
		tasks, _, err := s.st.ListTasks(r.Context(), id, 0, 1000)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			x := jsonObject(t.ExtraAttrs)
			res := WebhookTestTarget{ExecutionID: id, TaskID: t.ID, Status: t.Status, DurationMS: max(t.EndTime-t.StartTime, 0)}
			res.Type, _ = x["notify_type"].(string)
			res.Address, _ = x["address"].(string)
			res.PayloadFormat, _ = x["payload_format"].(string)
			if code, ok := x["response_code"].(float64); ok {
				res.ResponseCode = int(code)
			}
			if t.Status != store.JobSuccess {
				// Never the connection's details (refused, timed out, TLS,
				// the address it reached), nor how long it took to fail:
				// the test would be a port scanner.
				res.Error = "no HTTP response from the target"
				if res.ResponseCode != 0 {
					res.Error = fmt.Sprintf("abnormal response code: %d", res.ResponseCode)
				} else {
					res.DurationMS = 0
				}
			}
			out.Targets = append(out.Targets, res)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) webhookLastTrigger(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResNotification, rbac.Read); err != nil {
		return err
	}
	policies, _, err := s.st.ListWebhookPolicies(r.Context(), p.ID, nil, 0, 10000)
	if err != nil {
		return err
	}
	last, err := s.st.WebhookLastTriggers(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []WebhookLastTrigger{}
	for _, pol := range policies {
		for _, t := range pol.EventTypes {
			out = append(out, WebhookLastTrigger{
				PolicyName: pol.Name, EventType: t, Enabled: pol.Enabled, CreationTime: Timestamp(pol.CreatedAt),
				LastTriggerTime: Timestamp(last[pol.ID][t]),
			})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// webhookJobStatuses maps the statuses the legacy job listing filters by
// (any case; Harbor's older names too) to task statuses.
var webhookJobStatuses = map[string]string{
	"pending": store.JobPending, "scheduled": store.JobPending, "running": store.JobRunning,
	"success": store.JobSuccess, "finished": store.JobSuccess, "error": store.JobError,
	"stopped": store.JobStopped,
}

func (s *Server) listWebhookJobs(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list webhook jobs"
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResNotification, rbac.List); err != nil {
		return err
	}
	v := r.URL.Query().Get("policy_id")
	policyID, ok := parseID(v)
	if !ok {
		return errs.E(errs.Invalid, op, "policy_id must be a positive integer, not %q", v)
	}
	if _, err := s.st.WebhookPolicy(r.Context(), p.ID, policyID); err != nil {
		return err
	}
	var statuses []string
	for _, list := range r.URL.Query()["status"] {
		for _, st := range strings.Split(list, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			mapped, ok := webhookJobStatuses[strings.ToLower(st)]
			if !ok {
				return errs.E(errs.Invalid, op, "unknown status %q", st)
			}
			statuses = append(statuses, mapped)
		}
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListWebhookJobs(r.Context(), policyID, statuses, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]WebhookJob, 0, len(list))
	for _, j := range list {
		x := jsonObject(j.ExecutionExtra)
		event, _ := x["event_type"].(string)
		detail, _ := x["payload"].(string)
		out = append(out, WebhookJob{
			ID: j.ID, PolicyID: j.PolicyID, EventType: event, NotifyType: webhook.NotifyType(j.VendorType), Status: j.Status,
			JobDetail: detail, CreationTime: Timestamp(j.CreationTime), UpdateTime: Timestamp(j.UpdateTime),
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
	if err := s.require(r.Context(), c, p, rbac.ResNotification, rbac.Read); err != nil {
		return err
	}
	out := SupportedWebhookEventTypes{EventType: webhook.EventTypes, NotifyType: webhook.NotifyTypes, PayloadFormats: []WebhookPayloadFormat{}}
	for _, n := range webhook.NotifyTypes {
		if f, ok := webhook.PayloadFormats[n]; ok {
			out.PayloadFormats = append(out.PayloadFormats, WebhookPayloadFormat{NotifyType: n, Formats: f})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
