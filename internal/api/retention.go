package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/store"
)

// retentionStore is what the tag retention handlers need from the
// metadata store, beyond the executions and tasks of jobStore.
type retentionStore interface {
	RetentionPolicy(ctx context.Context, id int64) (*store.RetentionPolicyRow, error)
	CreateRetentionPolicy(ctx context.Context, projectID int64, policy string) (int64, error)
	UpdateRetentionPolicy(ctx context.Context, id int64, policy string) error
	DeleteRetentionPolicy(ctx context.Context, id int64) error
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
	RetentionRepositories(ctx context.Context, projectID int64) ([]store.RetentionRepository, error)
	SettleRetentionExecution(ctx context.Context, id int64) (bool, error)
	RetentionSummary(ctx context.Context, id int64) (*store.RetentionSummary, error)
	RetentionTaskResults(ctx context.Context, ids []int64) (map[int64]store.RetentionResult, error)
}

func (s *Server) retentionRoutes() []route {
	const one = "/retentions/{id}"
	return []route{
		{method: "GET", path: "/retentions/metadatas", op: "getRentenitionMetadata", handle: s.retentionMetadata, resp: RetentionMetadata{}, respDef: "RetentionMetadata"},
		{method: "POST", path: "/retentions", op: "createRetention", handle: s.createRetention},
		{method: "GET", path: one, op: "getRetention", handle: s.getRetention, resp: RetentionPolicy{}, respDef: "RetentionPolicy"},
		{method: "PUT", path: one, op: "updateRetention", handle: s.updateRetention},
		{method: "DELETE", path: one, op: "deleteRetention", handle: s.deleteRetention},
		{method: "POST", path: one + "/executions", op: "triggerRetentionExecution", handle: s.triggerRetention},
		{method: "GET", path: one + "/executions", op: "listRetentionExecutions", handle: s.listRetentionExecutions, resp: []RetentionExecution{}, respDef: "[]RetentionExecution"},
		{method: "PATCH", path: one + "/executions/{eid}", op: "operateRetentionExecution", handle: s.operateRetentionExecution},
		{method: "GET", path: one + "/executions/{eid}/tasks", op: "listRetentionTasks", handle: s.listRetentionTasks, resp: []RetentionExecutionTask{}, respDef: "[]RetentionExecutionTask"},
		{method: "GET", path: one + "/executions/{eid}/tasks/{tid}", op: "getRetentionTaskLog", handle: s.retentionTaskLog, resp: "", respDef: "string"},
	}
}

// RetentionPolicy is Harbor's RetentionPolicy (with RetentionRule,
// RetentionSelector, RetentionRuleTrigger and RetentionPolicyScope).
type RetentionPolicy = retention.Policy

// RetentionMetadata is Harbor's RetentionMetadata.
type RetentionMetadata struct {
	Templates      []RetentionRuleMetadata     `json:"templates"`
	ScopeSelectors []RetentionSelectorMetadata `json:"scope_selectors"`
	TagSelectors   []RetentionSelectorMetadata `json:"tag_selectors"`
}

// RetentionRuleMetadata is Harbor's RetentionRuleMetadata.
type RetentionRuleMetadata struct {
	RuleTemplate string                       `json:"rule_template"`
	DisplayText  string                       `json:"display_text"`
	Action       string                       `json:"action"`
	Params       []RetentionRuleParamMetadata `json:"params"`
}

// RetentionRuleParamMetadata is Harbor's RetentionRuleParamMetadata.
type RetentionRuleParamMetadata struct {
	Type     string `json:"type"`
	Unit     string `json:"unit"`
	Required bool   `json:"required"`
}

// RetentionSelectorMetadata is Harbor's RetentionSelectorMetadata.
type RetentionSelectorMetadata struct {
	DisplayText string   `json:"display_text"`
	Kind        string   `json:"kind"`
	Decorations []string `json:"decorations"`
}

// RetentionExecution is Harbor's RetentionExecution.
type RetentionExecution struct {
	ID        int64  `json:"id"`
	PolicyID  int64  `json:"policy_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dry_run"`
}

// RetentionExecutionTask is Harbor's RetentionExecutionTask: one
// repository of an execution.
type RetentionExecutionTask struct {
	ID             int64  `json:"id"`
	ExecutionID    int64  `json:"execution_id"`
	Repository     string `json:"repository"`
	JobID          string `json:"job_id"`
	Status         string `json:"status"`
	StatusCode     int    `json:"status_code"`
	StatusRevision int64  `json:"status_revision"`
	StartTime      string `json:"start_time"`
	EndTime        string `json:"end_time"`
	Total          int    `json:"total"`
	Retained       int    `json:"retained"`
}

// retentionMetadata is Harbor's fixed list of templates and selectors,
// with the label selectors Berth also evaluates.
func (s *Server) retentionMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "retention metadata", "authentication required")
	}
	out := RetentionMetadata{
		ScopeSelectors: []RetentionSelectorMetadata{{DisplayText: "Repositories", Kind: retention.KindDoublestar,
			Decorations: []string{retention.DecoRepoMatches, retention.DecoRepoExcludes}}},
		TagSelectors: []RetentionSelectorMetadata{
			{DisplayText: "Tags", Kind: retention.KindDoublestar, Decorations: []string{retention.DecoMatches, retention.DecoExcludes}},
			{DisplayText: "Labels", Kind: retention.KindLabel, Decorations: []string{retention.DecoWithLabels, retention.DecoWithoutLabels}},
		},
	}
	for _, t := range retention.Templates {
		m := RetentionRuleMetadata{RuleTemplate: t.Name, DisplayText: t.DisplayText, Action: retention.ActionRetain, Params: []RetentionRuleParamMetadata{}}
		if t.Unit != "" {
			m.Params = append(m.Params, RetentionRuleParamMetadata{Type: "int", Unit: t.Unit, Required: true})
		}
		out.Templates = append(out.Templates, m)
	}
	return writeJSON(w, http.StatusOK, out)
}

// retentionProject loads the project a new policy names and checks c may
// do act on its retention. A project that does not exist, or that c may
// not see, is the same 400 (Harbor: "invalid Project id").
func (s *Server) retentionProject(ctx context.Context, c *Caller, p *retention.Policy, act rbac.Action) (*store.Project, error) {
	const op = "retention policy"
	project, err := s.st.ProjectByID(ctx, p.Scope.Ref)
	if errs.Is(err, errs.NotFound) {
		return nil, errs.E(errs.Invalid, op, "invalid project id %d: no such project", p.Scope.Ref)
	}
	if err != nil {
		return nil, err
	}
	if err := s.require(ctx, c, project, rbac.ResTagRetention, act); err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, errs.E(errs.Invalid, op, "invalid project id %d: no such project", p.Scope.Ref)
		}
		return nil, err
	}
	return project, nil
}

// decodePolicy reads and validates a policy body.
func decodePolicy(r *http.Request) (*retention.Policy, error) {
	var p retention.Policy
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	return &p, nil
}

// policyJSON is the stored form of p: without its ID, which the row has.
func policyJSON(p *retention.Policy) string {
	c := *p
	c.ID = 0
	b, _ := json.Marshal(c)
	return string(b)
}

// createRetention adds a project's policy (one per project; a second is
// 400 as in Harbor) and links it from the project's retention_id.
func (s *Server) createRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "create retention policy"
	ctx := r.Context()
	p, err := decodePolicy(r)
	if err != nil {
		return err
	}
	project, err := s.retentionProject(ctx, c, p, rbac.Create)
	if err != nil {
		return err
	}
	if p.Cron() != "" && s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, op, "the job system is not running: a schedule cannot be set")
	}
	id, err := s.st.CreateRetentionPolicy(ctx, project.ID, policyJSON(p))
	if errs.Is(err, errs.Exists) {
		err = errs.E(errs.Invalid, op, "%s", errs.Message(err))
	}
	if err == nil && p.Cron() != "" {
		if err = s.opts.Jobs.SetSchedule(ctx, retention.VendorType, id, p.Cron(), nil); err != nil {
			s.st.DeleteRetentionPolicy(context.WithoutCancel(ctx), id)
		}
	}
	s.audit(c, project.ID, "create", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, id), err)
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/retentions/"+strconv.FormatInt(id, 10))
}

// retentionPolicy loads the policy of the path and its project after
// checking c may do act on the project's retention; a policy of a project
// c may not see is 404.
func (s *Server) retentionPolicy(r *http.Request, c *Caller, act rbac.Action) (*store.Project, *retention.Policy, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, nil, err
	}
	ctx := r.Context()
	row, err := s.st.RetentionPolicy(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	project, err := s.st.ProjectByID(ctx, row.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(ctx, c, project, rbac.ResTagRetention, act); err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.NotFound, "retention policy", "retention policy %d not found", id)
		}
		return nil, nil, err
	}
	p, err := retention.Parse(row.Policy)
	if err != nil {
		return nil, nil, err
	}
	p.ID = row.ID
	if p.Scope == nil {
		p.Scope = &retention.Scope{Level: retention.ScopeProject}
	}
	p.Scope.Ref = row.ProjectID
	return project, p, nil
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, p, err := s.retentionPolicy(r, c, rbac.Read)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// updateRetention replaces a policy's rules and schedule. The policy stays
// in its project.
func (s *Server) updateRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update retention policy"
	ctx := r.Context()
	body, err := decodePolicy(r)
	if err != nil {
		return err
	}
	project, old, err := s.retentionPolicy(r, c, rbac.Update)
	if err != nil {
		return err
	}
	if body.ID != 0 && body.ID != old.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the policy's of the path (%d)", body.ID, old.ID)
	}
	if body.Scope.Ref != project.ID {
		return errs.E(errs.Invalid, op, "scope.ref is %d, but the policy belongs to project %d: a policy cannot move", body.Scope.Ref, project.ID)
	}
	if body.Cron() != old.Cron() && s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, op, "the job system is not running: the schedule cannot change")
	}
	body.ID = old.ID
	err = s.st.UpdateRetentionPolicy(ctx, old.ID, policyJSON(body))
	if err == nil {
		switch {
		case body.Cron() == old.Cron():
		case body.Cron() == "":
			err = s.st.DeleteSchedule(ctx, retention.VendorType, old.ID)
		default:
			err = s.opts.Jobs.SetSchedule(ctx, retention.VendorType, old.ID, body.Cron(), nil)
		}
	}
	s.audit(c, project.ID, "update", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, old.ID), err)
	if err != nil {
		return err
	}
	return ok(w)
}

// deleteRetention stops the policy's running executions, removes its
// schedule and the policy, and unlinks it from the project.
func (s *Server) deleteRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	ctx := r.Context()
	project, p, err := s.retentionPolicy(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.stopRetentionExecutions(ctx, p.ID)
	if err == nil {
		err = s.st.DeleteSchedule(ctx, retention.VendorType, p.ID)
	}
	if err == nil {
		err = s.st.DeleteRetentionPolicy(ctx, p.ID)
	}
	s.audit(c, project.ID, "delete", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, p.ID), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) stopRetentionExecutions(ctx context.Context, policyID int64) error {
	active, err := s.st.ActiveExecutions(ctx, retention.VendorType, policyID)
	if err != nil || len(active) == 0 {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, "stop retention", "the job system is not running")
	}
	for _, id := range active {
		if err := s.opts.Jobs.Stop(ctx, id); err != nil {
			return err
		}
		retention.Settle(ctx, s.st, s.opts.Events, id)
	}
	return nil
}

// triggerRetention starts an execution now ({"dry_run": true} deletes
// nothing) and answers 201 with its location.
func (s *Server) triggerRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "trigger retention"
	var body struct {
		DryRun *bool `json:"dry_run"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	project, p, err := s.retentionPolicy(r, c, rbac.Update)
	if err != nil {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, op, "the job system is not running")
	}
	dry := body.DryRun != nil && *body.DryRun
	eid, _, err := retention.Launch(ctx, s.st, s.opts.Jobs, s.opts.Events, p, jobs.Manual, dry, c.Name)
	s.audit(c, project.ID, "create", "tag_retention_execution", fmt.Sprintf("%s retention policy %d execution %d", project.Name, p.ID, eid), err)
	if err != nil {
		return err
	}
	return created(w, r, fmt.Sprintf("%s/retentions/%d/executions/%d", Prefix, p.ID, eid))
}

// retentionExecution loads the execution of the path, which must be one of
// policy p's.
func (s *Server) retentionExecution(r *http.Request, p *retention.Policy) (*store.Execution, error) {
	eid, err := pathID(r, "eid")
	if err != nil {
		return nil, err
	}
	ex, err := s.st.GetExecution(r.Context(), eid)
	if err == nil && (ex.VendorType != retention.VendorType || ex.VendorID != p.ID) {
		err = errs.E(errs.NotFound, "retention execution", "execution %d not found", eid)
	}
	if errs.Is(err, errs.NotFound) {
		err = errs.E(errs.NotFound, "retention execution", "execution %d of retention policy %d not found", eid, p.ID)
	}
	return ex, err
}

func retentionExecutionOf(e *store.Execution) RetentionExecution {
	var extra retention.ExecutionExtra
	json.Unmarshal([]byte(e.ExtraAttrs), &extra)
	return RetentionExecution{ID: e.ID, PolicyID: e.VendorID, StartTime: Timestamp(e.StartTime), EndTime: Timestamp(e.EndTime),
		Status: e.Status, Trigger: e.Trigger, DryRun: extra.DryRun}
}

func (s *Server) listRetentionExecutions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if err := noQuery(pg); err != nil {
		return err
	}
	_, p, err := s.retentionPolicy(r, c, rbac.List)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListExecutions(r.Context(), retention.VendorType, p.ID, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]RetentionExecution, 0, len(list))
	for i := range list {
		out = append(out, retentionExecutionOf(&list[i]))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// noQuery refuses q and sort on listings that take only paging (Harbor's
// execution and task listings).
func noQuery(pg Page) error {
	if pg.Query != nil && (len(pg.Query.Conds) > 0 || len(pg.Query.Sort) > 0) {
		return errs.E(errs.Invalid, "paging", "this listing takes page and page_size only, not q or sort")
	}
	return nil
}

// operateRetentionExecution stops an execution ({"action": "stop"}, the
// only action): pending repositories are skipped, running ones stop
// between two deletions.
func (s *Server) operateRetentionExecution(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "operate retention execution"
	var body struct {
		Action string `json:"action"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Action != "stop" {
		return errs.E(errs.Invalid, op, "action must be \"stop\", not %q", body.Action)
	}
	ctx := r.Context()
	project, p, err := s.retentionPolicy(r, c, rbac.Update)
	if err != nil {
		return err
	}
	ex, err := s.retentionExecution(r, p)
	if err != nil {
		return err
	}
	if s.opts.Jobs == nil {
		return errs.E(errs.Unavailable, op, "the job system is not running")
	}
	err = s.opts.Jobs.Stop(ctx, ex.ID)
	if err == nil {
		retention.Settle(ctx, s.st, s.opts.Events, ex.ID)
	}
	s.audit(c, project.ID, "stop", "tag_retention_execution", fmt.Sprintf("%s retention policy %d execution %d", project.Name, p.ID, ex.ID), err)
	if err != nil {
		return err
	}
	return ok(w)
}

// jobStatusCode is Harbor's code of a job status.
func jobStatusCode(status string) int {
	switch status {
	case store.JobPending:
		return 0
	case store.JobRunning:
		return 2
	case store.JobStopped, store.JobError, store.JobSuccess:
		return 3
	}
	return -1
}

func (s *Server) listRetentionTasks(w http.ResponseWriter, r *http.Request, c *Caller) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if err := noQuery(pg); err != nil {
		return err
	}
	_, p, err := s.retentionPolicy(r, c, rbac.List)
	if err != nil {
		return err
	}
	ex, err := s.retentionExecution(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	list, total, err := s.st.ListTasks(ctx, ex.ID, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	results, err := s.st.RetentionTaskResults(ctx, ids)
	if err != nil {
		return err
	}
	out := make([]RetentionExecutionTask, 0, len(list))
	for _, t := range list {
		var extra retention.TaskExtra
		json.Unmarshal([]byte(t.ExtraAttrs), &extra)
		res := results[t.ID]
		out = append(out, RetentionExecutionTask{ID: t.ID, ExecutionID: t.ExecutionID, Repository: extra.Repository,
			JobID: strconv.FormatInt(t.ID, 10), Status: t.Status, StatusCode: jobStatusCode(t.Status), StatusRevision: t.UpdateTime,
			StartTime: Timestamp(t.StartTime), EndTime: Timestamp(t.EndTime), Total: res.Total, Retained: res.Retained})
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) retentionTaskLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	_, p, err := s.retentionPolicy(r, c, rbac.Read)
	if err != nil {
		return err
	}
	ex, err := s.retentionExecution(r, p)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "tid")
	if err != nil {
		return err
	}
	t, err := s.st.GetTask(r.Context(), tid)
	if err == nil && t.ExecutionID != ex.ID {
		err = errs.E(errs.NotFound, "retention task", "task %d not found", tid)
	}
	if errs.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "retention task", "task %d of execution %d not found", tid, ex.ID)
	}
	if err != nil {
		return err
	}
	return writeLog(w, r, s.st, t.ID)
}
