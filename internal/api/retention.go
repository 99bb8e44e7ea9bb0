package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/policy"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/store"
)

// retentionStore is what the retention policy service needs from the
// metadata store.
type retentionStore interface{ policy.RetentionStore }

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

// RetentionMetadataOf is Harbor's RetentionMetadata of templates, with
// the selectors Berth evaluates (Harbor's and its label selectors).
func RetentionMetadataOf(templates []retention.TemplateInfo) RetentionMetadata {
	out := RetentionMetadata{
		ScopeSelectors: []RetentionSelectorMetadata{{DisplayText: "Repositories", Kind: retention.KindDoublestar,
			Decorations: []string{retention.DecoRepoMatches, retention.DecoRepoExcludes}}},
		TagSelectors: []RetentionSelectorMetadata{
			{DisplayText: "Tags", Kind: retention.KindDoublestar, Decorations: []string{retention.DecoMatches, retention.DecoExcludes}},
			{DisplayText: "Labels", Kind: retention.KindLabel, Decorations: []string{retention.DecoWithLabels, retention.DecoWithoutLabels}},
		},
	}
	for _, t := range templates {
		m := RetentionRuleMetadata{RuleTemplate: t.Name, DisplayText: t.DisplayText, Action: retention.ActionRetain, Params: []RetentionRuleParamMetadata{}}
		if t.Unit != "" {
			m.Params = append(m.Params, RetentionRuleParamMetadata{Type: "int", Unit: t.Unit, Required: true})
		}
		out.Templates = append(out.Templates, m)
	}
	return out
}

// retentionMetadata is Harbor's fixed list of templates and selectors.
func (s *Server) retentionMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	templates, err := s.retention.Templates(c.Principal)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, RetentionMetadataOf(templates))
}

// createRetention adds a project's policy (one per project; a second is
// 400 as in Harbor) and links it from the project's retention_id.
func (s *Server) createRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var p retention.Policy
	if err := decode(r, &p); err != nil {
		return err
	}
	id, err := s.retention.Create(r.Context(), c.Principal, &p)
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/retentions/"+strconv.FormatInt(id, 10))
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.retention.Get(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// updateRetention replaces a policy's rules and schedule. The policy stays
// in its project.
func (s *Server) updateRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var body retention.Policy
	if err := decode(r, &body); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.retention.Update(r.Context(), c.Principal, id, &body); err != nil {
		return err
	}
	return ok(w)
}

// deleteRetention stops the policy's running executions, removes its
// schedule and the policy, and unlinks it from the project.
func (s *Server) deleteRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.retention.Delete(r.Context(), c.Principal, id); err != nil {
		return err
	}
	return ok(w)
}

// triggerRetention starts an execution now ({"dry_run": true} deletes
// nothing) and answers 201 with its location.
func (s *Server) triggerRetention(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var body struct {
		DryRun *bool `json:"dry_run"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	eid, err := s.retention.Run(r.Context(), c.Principal, id, body.DryRun != nil && *body.DryRun)
	if err != nil {
		return err
	}
	return created(w, r, fmt.Sprintf("%s/retentions/%d/executions/%d", Prefix, id, eid))
}

// RetentionExecutionOf is execution e of a retention policy as Harbor
// shows it.
func RetentionExecutionOf(e *store.Execution) RetentionExecution {
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
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, total, err := s.retention.Executions(r.Context(), c.Principal, id, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]RetentionExecution, 0, len(list))
	for i := range list {
		out = append(out, RetentionExecutionOf(&list[i]))
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
	var body struct {
		Action string `json:"action"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Action != "stop" {
		return errs.E(errs.Invalid, "operate retention execution", "action must be \"stop\", not %q", body.Action)
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	eid, err := pathID(r, "eid")
	if err != nil {
		return err
	}
	if err := s.retention.Stop(r.Context(), c.Principal, id, eid); err != nil {
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

// RetentionTaskOf is task t of a retention execution as Harbor shows it.
func RetentionTaskOf(t *policy.RetentionTask) RetentionExecutionTask {
	return RetentionExecutionTask{ID: t.ID, ExecutionID: t.ExecutionID, Repository: t.Extra.Repository,
		JobID: strconv.FormatInt(t.ID, 10), Status: t.Status, StatusCode: jobStatusCode(t.Status), StatusRevision: t.UpdateTime,
		StartTime: Timestamp(t.StartTime), EndTime: Timestamp(t.EndTime), Total: t.Result.Total, Retained: t.Result.Retained}
}

func (s *Server) listRetentionTasks(w http.ResponseWriter, r *http.Request, c *Caller) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if err := noQuery(pg); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	eid, err := pathID(r, "eid")
	if err != nil {
		return err
	}
	_, list, total, err := s.retention.Tasks(r.Context(), c.Principal, id, eid, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]RetentionExecutionTask, 0, len(list))
	for i := range list {
		out = append(out, RetentionTaskOf(&list[i]))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) retentionTaskLog(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var ids [3]int64
	for i, name := range []string{"id", "eid", "tid"} {
		var err error
		if ids[i], err = pathID(r, name); err != nil {
			return err
		}
	}
	return writeLog(w, r, taskLogOf(func(ctx context.Context, tid int64) (string, error) {
		return s.retention.TaskLog(ctx, c.Principal, ids[0], ids[1], tid)
	}), ids[2])
}

// taskLogOf reads a task's log through a service, for writeLog.
type taskLogOf func(ctx context.Context, taskID int64) (string, error)

// TaskLog is f.
func (f taskLogOf) TaskLog(ctx context.Context, taskID int64) (string, error) { return f(ctx, taskID) }
