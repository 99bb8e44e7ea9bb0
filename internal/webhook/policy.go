package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Policies is the domain service of a project's webhook policies: the
// rules on a policy (Validate, the description's length, the
// webhook_block_internal_targets setting at create and update), who may
// read and change them (asked of auth: the project's notification-policy
// permissions, never worked out here), the audit event of every change,
// and the reads of a policy's delivery history (executions, tasks, logs,
// last triggers, legacy jobs) and its test delivery. The REST API decodes
// requests and encodes answers; the console calls the same methods with
// the session's principal.
type Policies struct {
	st   PolicyStore
	auth Auth
	opts PolicyOptions
}

// PolicyStore is what the policy service reads and writes.
type PolicyStore interface {
	CreateWebhookPolicy(ctx context.Context, p store.WebhookPolicy) (int64, error)
	WebhookPolicy(ctx context.Context, projectID, id int64) (*store.WebhookPolicy, error)
	ListWebhookPolicies(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]store.WebhookPolicy, int64, error)
	UpdateWebhookPolicy(ctx context.Context, p store.WebhookPolicy) error
	DeleteWebhookPolicy(ctx context.Context, projectID, id int64) error
	WebhookLastTriggers(ctx context.Context, projectID int64) (map[int64]map[string]int64, error)
	ListWebhookExecutions(ctx context.Context, policyID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	ListWebhookJobs(ctx context.Context, policyID int64, statuses []string, q *query.Query, offset, limit int) ([]store.WebhookJob, int64, error)
	ExecutionTaskCounts(ctx context.Context, ids []int64) (map[int64]map[string]int, error)
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	QueryTasks(ctx context.Context, executionID int64, q *query.Query, offset, limit int) ([]store.Task, int64, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
}

// Auth answers what a caller may do in a project.
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
}

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Submitter submits an execution to the job system (jobs.Service.Submit).
type Submitter interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
}

// PolicyOptions configure the policy service.
type PolicyOptions struct {
	// Events receives the audit events of changes (nil: none).
	Events Publisher
	// Changed, if set, is called after every write, so caches elsewhere
	// (the delivery service's policies) drop what they hold.
	Changed func()
	// Jobs submits re-sent deliveries (nil: Retry is errs.Unavailable).
	Jobs Submitter
	// Runner runs test deliveries now (nil: Test is errs.Unavailable).
	Runner Runner
	// BlockInternal, if set, reports whether the system setting
	// webhook_block_internal_targets is on: new target addresses are then
	// checked with CheckTarget.
	BlockInternal func() bool
	// ExternalURL is the registry's public URL (test payloads).
	ExternalURL string
}

// NewPolicies returns the policy service over st that asks a what callers
// may do.
func NewPolicies(st PolicyStore, a Auth, opts PolicyOptions) *Policies {
	if opts.Events == nil {
		opts.Events = discard{}
	}
	return &Policies{st: st, auth: a, opts: opts}
}

// maxDescription is the longest description of a policy.
const maxDescription = 1024

// require checks that p may do act on project's webhook policies
// (auth.Decide: a caller holding nothing there gets the hidden project's
// NotFound).
func (s *Policies) require(ctx context.Context, p *auth.Principal, project *store.Project, act rbac.Action) error {
	return auth.Require(ctx, s.auth, p, project, rbac.ResNotification, act)
}

// record publishes the audit event of a change by p and tells caches.
func (s *Policies) record(p *auth.Principal, projectID int64, operation, resourceType, resource string, err error) {
	event.Record(s.opts.Events, s.opts.Changed, p.Name, projectID, operation, resourceType, resource, err)
}

// policy returns policy id of project after checking that p may do act on
// the project's policies.
func (s *Policies) policy(ctx context.Context, p *auth.Principal, project *store.Project, id int64, act rbac.Action) (*store.WebhookPolicy, error) {
	if err := s.require(ctx, p, project, act); err != nil {
		return nil, err
	}
	return s.st.WebhookPolicy(ctx, project.ID, id)
}

// List returns a page of project's policies that q selects, for p
// (notification-policy:list), and how many match in all.
func (s *Policies) List(ctx context.Context, p *auth.Principal, project *store.Project, q *query.Query, offset, limit int) ([]store.WebhookPolicy, int64, error) {
	if err := s.require(ctx, p, project, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListWebhookPolicies(ctx, project.ID, q, offset, limit)
}

// Get returns policy id of project for p (notification-policy:read).
func (s *Policies) Get(ctx context.Context, p *auth.Principal, project *store.Project, id int64) (*store.WebhookPolicy, error) {
	return s.policy(ctx, p, project, id, rbac.Read)
}

// Change is a policy as a request sends it: every field is optional, so an
// update changes only what it carries (Enabled alone, to switch a policy
// off). ID and ProjectID, when set and not 0, must be the policy's.
type Change struct {
	ID, ProjectID     *int64
	Name, Description *string
	Enabled           *bool
	EventTypes        *[]string
	Targets           *[]Target
}

// Target is a target of a policy as a request sends it.
type Target store.WebhookTarget

// apply sets the fields ch carries on pol and validates the result.
func (ch *Change) apply(pol *store.WebhookPolicy) error {
	const op = "webhook policy"
	if ch.ProjectID != nil && *ch.ProjectID != 0 && *ch.ProjectID != pol.ProjectID {
		return errs.E(errs.Invalid, op, "project_id %d in the body is not the project of the path (%d)", *ch.ProjectID, pol.ProjectID)
	}
	if ch.Name != nil {
		pol.Name = *ch.Name
	}
	if ch.Description != nil {
		pol.Description = *ch.Description
	}
	if ch.Enabled != nil {
		pol.Enabled = *ch.Enabled
	}
	if ch.EventTypes != nil {
		pol.EventTypes = *ch.EventTypes
	}
	if ch.Targets != nil {
		pol.Targets = nil
		for _, t := range *ch.Targets {
			pol.Targets = append(pol.Targets, store.WebhookTarget(t))
		}
	}
	if len(pol.Description) > maxDescription {
		return errs.E(errs.Invalid, op, "description is longer than %d characters", maxDescription)
	}
	return Validate(pol)
}

// checkTargets refuses internal target addresses while the system setting
// webhook_block_internal_targets is on (deliveries check again at dial
// time).
func (s *Policies) checkTargets(ctx context.Context, pol *store.WebhookPolicy) error {
	if s.opts.BlockInternal == nil || !s.opts.BlockInternal() {
		return nil
	}
	for _, t := range pol.Targets {
		if err := CheckTarget(ctx, t.Address); err != nil {
			return err
		}
	}
	return nil
}

// Create adds the policy ch describes to project for p
// (notification-policy:create), created by p, with a fresh signing secret,
// and returns it: its ID and secret are shown to the caller this once.
// Policies are enabled unless ch says otherwise.
func (s *Policies) Create(ctx context.Context, p *auth.Principal, project *store.Project, ch Change) (*store.WebhookPolicy, error) {
	if err := s.require(ctx, p, project, rbac.Create); err != nil {
		return nil, err
	}
	pol := &store.WebhookPolicy{ProjectID: project.ID, Enabled: true, Creator: p.Name, Secret: auth.RandomSecret(32)}
	if err := ch.apply(pol); err != nil {
		return nil, err
	}
	if err := s.checkTargets(ctx, pol); err != nil {
		return nil, err
	}
	var err error
	pol.ID, err = s.st.CreateWebhookPolicy(ctx, *pol)
	s.record(p, project.ID, "create", "webhook_policy", project.Name+"/"+pol.Name, err)
	if err != nil {
		return nil, err
	}
	return pol, nil
}

// Update changes policy id of project as ch says, for p
// (notification-policy:update). Targets are checked against
// webhook_block_internal_targets only when ch sets them (the deliveries of
// targets kept as they were are checked at dial time).
func (s *Policies) Update(ctx context.Context, p *auth.Principal, project *store.Project, id int64, ch Change) error {
	const op = "update webhook policy"
	pol, err := s.policy(ctx, p, project, id, rbac.Update)
	if err != nil {
		return err
	}
	if ch.ID != nil && *ch.ID != 0 && *ch.ID != pol.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the policy's of the path (%d)", *ch.ID, pol.ID)
	}
	if err := ch.apply(pol); err != nil {
		return err
	}
	if ch.Targets != nil {
		if err := s.checkTargets(ctx, pol); err != nil {
			return err
		}
	}
	err = s.st.UpdateWebhookPolicy(ctx, *pol)
	s.record(p, project.ID, "update", "webhook_policy", project.Name+"/"+pol.Name, err)
	return err
}

// Delete removes policy id of project, with its delivery history, for p
// (notification-policy:delete).
func (s *Policies) Delete(ctx context.Context, p *auth.Principal, project *store.Project, id int64) error {
	pol, err := s.policy(ctx, p, project, id, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteWebhookPolicy(ctx, project.ID, pol.ID)
	s.record(p, project.ID, "delete", "webhook_policy", project.Name+"/"+pol.Name, err)
	return err
}

// Execution is a delivery of a policy (an execution of vendor type WEBHOOK
// or SLACK) with the number of its tasks by status.
type Execution struct {
	store.Execution
	TaskCounts map[string]int
}

// Executions returns a page of the deliveries of policy policyID of
// project that q selects, newest first unless q sorts, for p
// (notification-policy:read), and how many match in all.
func (s *Policies) Executions(ctx context.Context, p *auth.Principal, project *store.Project, policyID int64, q *query.Query, offset, limit int) ([]Execution, int64, error) {
	pol, err := s.policy(ctx, p, project, policyID, rbac.Read)
	if err != nil {
		return nil, 0, err
	}
	list, total, err := s.st.ListWebhookExecutions(ctx, pol.ID, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]int64, 0, len(list))
	for _, e := range list {
		ids = append(ids, e.ID)
	}
	counts, err := s.st.ExecutionTaskCounts(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Execution, 0, len(list))
	for _, e := range list {
		out = append(out, Execution{Execution: e, TaskCounts: counts[e.ID]})
	}
	return out, total, nil
}

// execution returns policy policyID of project and its delivery execID,
// after checking that p may do act on the project's policies.
func (s *Policies) execution(ctx context.Context, p *auth.Principal, project *store.Project, policyID, execID int64, act rbac.Action) (*store.WebhookPolicy, *store.Execution, error) {
	pol, err := s.policy(ctx, p, project, policyID, act)
	if err != nil {
		return nil, nil, err
	}
	ex, err := s.st.GetExecution(ctx, execID)
	if err == nil && (ex.VendorID != pol.ID || (ex.VendorType != store.WebhookVendor && ex.VendorType != store.SlackVendor)) {
		err = errs.E(errs.NotFound, "webhook execution", "execution %d not found in webhook policy %d", execID, pol.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	return pol, ex, nil
}

// Tasks returns delivery execID of policy policyID of project and a page
// of its tasks (one per target) that q selects, for p
// (notification-policy:read), and how many match in all.
func (s *Policies) Tasks(ctx context.Context, p *auth.Principal, project *store.Project, policyID, execID int64, q *query.Query, offset, limit int) (*store.Execution, []store.Task, int64, error) {
	_, ex, err := s.execution(ctx, p, project, policyID, execID, rbac.Read)
	if err != nil {
		return nil, nil, 0, err
	}
	list, total, err := s.st.QueryTasks(ctx, ex.ID, q, offset, limit)
	if err != nil {
		return nil, nil, 0, err
	}
	return ex, list, total, nil
}

// TaskLog returns the log of task taskID of delivery execID of policy
// policyID of project, for p (notification-policy:read).
func (s *Policies) TaskLog(ctx context.Context, p *auth.Principal, project *store.Project, policyID, execID, taskID int64) (string, error) {
	_, ex, err := s.execution(ctx, p, project, policyID, execID, rbac.Read)
	if err != nil {
		return "", err
	}
	t, err := s.st.GetTask(ctx, taskID)
	if err == nil && t.ExecutionID != ex.ID {
		err = errs.E(errs.NotFound, "webhook task log", "task %d not found in execution %d", taskID, ex.ID)
	}
	if err != nil {
		return "", err
	}
	return s.st.TaskLog(ctx, taskID)
}

// extraOf decodes an execution's or task's extra attributes (an empty map
// when there are none).
func extraOf(s string) map[string]any {
	m := map[string]any{}
	json.Unmarshal([]byte(s), &m)
	return m
}

// Retry delivers delivery execID of policy policyID of project again, for
// p (notification-policy:update): to the same targets, as a new execution
// with trigger MANUAL and the stored bodies and signatures, byte for byte.
// It returns the new execution's ID.
func (s *Policies) Retry(ctx context.Context, p *auth.Principal, project *store.Project, policyID, execID int64) (int64, error) {
	pol, ex, err := s.execution(ctx, p, project, policyID, execID, rbac.Update)
	if err != nil {
		return 0, err
	}
	if s.opts.Jobs == nil {
		return 0, errs.E(errs.Unavailable, "retry webhook execution", "the job system is not running")
	}
	tasks, _, err := s.st.ListTasks(ctx, ex.ID, 0, 1000)
	if err != nil {
		return 0, err
	}
	specs := make([]jobs.TaskOf, 0, len(tasks))
	for _, t := range tasks {
		extra := extraOf(t.ExtraAttrs)
		delete(extra, "response_code")
		delete(extra, "response_codes")
		specs = append(specs, jobs.TaskOf{Kind: t.Kind, Params: json.RawMessage(t.Params), Extra: extra})
	}
	extra := extraOf(ex.ExtraAttrs)
	extra["retry_of"] = ex.ID
	id, err := s.opts.Jobs.Submit(ctx, ex.VendorType, pol.ID, jobs.Manual, extra, specs...)
	s.record(p, project.ID, "create", "webhook_execution", project.Name+"/"+pol.Name+" retry of "+strconv.FormatInt(ex.ID, 10), err)
	if err != nil {
		return 0, err
	}
	return id, nil
}

// TestResult is what a test delivery made of a policy's test event: the
// event's type and the answer of each target.
type TestResult struct {
	EventType string
	Targets   []TestTarget
}

// TestTarget is the test delivery to one target, as recorded in the task
// that made it.
type TestTarget struct {
	ExecutionID   int64
	TaskID        int64
	Type          string // http or slack
	Address       string // scheme, host and path only
	PayloadFormat string
	Status        string // Success or Error
	ResponseCode  int    // 0 when no response came
	Error         string
	DurationMS    int64
}

// Test sends a test event of policy policyID of project to each of its
// targets now, enabled or not, for p (notification-policy:update), and
// returns what each target answered once all have (Test, the function,
// tells how). A failure says only whether a response came and its code:
// never the connection's details nor how long it took to fail, or the
// test would be a port scanner.
func (s *Policies) Test(ctx context.Context, p *auth.Principal, project *store.Project, policyID int64) (*TestResult, error) {
	const op = "test webhook policy"
	pol, err := s.policy(ctx, p, project, policyID, rbac.Update)
	if err != nil {
		return nil, err
	}
	if s.opts.Runner == nil {
		return nil, errs.E(errs.Unavailable, op, "the job system is not running")
	}
	ids, err := Test(ctx, s.opts.Runner, project, pol, p.Name, s.opts.ExternalURL)
	s.record(p, project.ID, "create", "webhook_execution", project.Name+"/"+pol.Name+" test", err)
	if err != nil {
		return nil, err
	}
	out := &TestResult{Targets: []TestTarget{}}
	if len(pol.EventTypes) > 0 {
		out.EventType = pol.EventTypes[0]
	}
	for _, id := range ids {
		tasks, _, err := s.st.ListTasks(ctx, id, 0, 1000)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			x := extraOf(t.ExtraAttrs)
			res := TestTarget{ExecutionID: id, TaskID: t.ID, Status: t.Status, DurationMS: max(t.EndTime-t.StartTime, 0)}
			res.Type, _ = x["notify_type"].(string)
			res.Address, _ = x["address"].(string)
			res.PayloadFormat, _ = x["payload_format"].(string)
			if code, ok := x["response_code"].(float64); ok {
				res.ResponseCode = int(code)
			}
			if t.Status != store.JobSuccess {
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
	return out, nil
}

// LastTrigger is when a policy last delivered an event type it listens to
// (Unix milliseconds, 0 for never).
type LastTrigger struct {
	PolicyName   string
	EventType    string
	Enabled      bool
	CreationTime int64
	LastTrigger  int64
}

// LastTriggers returns, for each policy of project and each event type it
// listens to, when it last delivered one, for p (notification-policy:read).
func (s *Policies) LastTriggers(ctx context.Context, p *auth.Principal, project *store.Project) ([]LastTrigger, error) {
	if err := s.require(ctx, p, project, rbac.Read); err != nil {
		return nil, err
	}
	policies, _, err := s.st.ListWebhookPolicies(ctx, project.ID, nil, 0, 10000)
	if err != nil {
		return nil, err
	}
	last, err := s.st.WebhookLastTriggers(ctx, project.ID)
	if err != nil {
		return nil, err
	}
	out := []LastTrigger{}
	for _, pol := range policies {
		for _, t := range pol.EventTypes {
			out = append(out, LastTrigger{PolicyName: pol.Name, EventType: t, Enabled: pol.Enabled, CreationTime: pol.CreatedAt, LastTrigger: last[pol.ID][t]})
		}
	}
	return out, nil
}

// jobStatuses maps the statuses the legacy job listing filters by (any
// case; Harbor's older names too) to task statuses.
var jobStatuses = map[string]string{
	"pending": store.JobPending, "scheduled": store.JobPending, "running": store.JobRunning,
	"success": store.JobSuccess, "finished": store.JobSuccess, "error": store.JobError,
	"stopped": store.JobStopped,
}

// Job is Harbor's legacy view of a delivery task.
type Job struct {
	ID, PolicyID                        int64
	EventType, NotifyType, Status, Body string
	CreationTime, UpdateTime            int64
}

// Jobs returns a page of the delivery tasks of policy policyID of project
// (Harbor's legacy webhook jobs) that q selects, only those in the
// statuses named (each a comma-separated list of Harbor's status names,
// any case) when there are any, for p (notification-policy:list), and how
// many match in all.
func (s *Policies) Jobs(ctx context.Context, p *auth.Principal, project *store.Project, policyID int64, statuses []string, q *query.Query, offset, limit int) ([]Job, int64, error) {
	const op = "list webhook jobs"
	if err := s.require(ctx, p, project, rbac.List); err != nil {
		return nil, 0, err
	}
	if _, err := s.st.WebhookPolicy(ctx, project.ID, policyID); err != nil {
		return nil, 0, err
	}
	var mapped []string
	for _, list := range statuses {
		for _, st := range strings.Split(list, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			m, ok := jobStatuses[strings.ToLower(st)]
			if !ok {
				return nil, 0, errs.E(errs.Invalid, op, "unknown status %q", st)
			}
			mapped = append(mapped, m)
		}
	}
	list, total, err := s.st.ListWebhookJobs(ctx, policyID, mapped, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Job, 0, len(list))
	for _, j := range list {
		x := extraOf(j.ExecutionExtra)
		ev, _ := x["event_type"].(string)
		body, _ := x["payload"].(string)
		out = append(out, Job{ID: j.ID, PolicyID: j.PolicyID, EventType: ev, NotifyType: NotifyType(j.VendorType), Status: j.Status,
			Body: body, CreationTime: j.CreationTime, UpdateTime: j.UpdateTime})
	}
	return out, total, nil
}

// PayloadFormat is the payload formats of a notify type.
type PayloadFormat struct {
	NotifyType string
	Formats    []string
}

// Supported is what policies may choose from: event types, notify types
// and the payload formats of each notify type that has a choice.
type Supported struct {
	EventTypes, NotifyTypes []string
	PayloadFormats          []PayloadFormat
}

// Supported returns what project's policies may choose from, for p
// (notification-policy:read).
func (s *Policies) Supported(ctx context.Context, p *auth.Principal, project *store.Project) (*Supported, error) {
	if err := s.require(ctx, p, project, rbac.Read); err != nil {
		return nil, err
	}
	out := &Supported{EventTypes: EventTypes, NotifyTypes: NotifyTypes, PayloadFormats: []PayloadFormat{}}
	for _, n := range NotifyTypes {
		if f, ok := PayloadFormats[n]; ok {
			out.PayloadFormats = append(out.PayloadFormats, PayloadFormat{NotifyType: n, Formats: f})
		}
	}
	return out, nil
}
