package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/store"
)

// RetentionStore is what the retention policy service reads and writes.
type RetentionStore interface {
	retention.LaunchStore
	RetentionPolicy(ctx context.Context, id int64) (*store.RetentionPolicyRow, error)
	CreateRetentionPolicy(ctx context.Context, projectID int64, policy string) (int64, error)
	UpdateRetentionPolicy(ctx context.Context, id int64, policy string) error
	DeleteRetentionPolicy(ctx context.Context, id int64) error
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
	ListExecutions(ctx context.Context, vendorType string, vendorID int64, offset, limit int) ([]store.Execution, int64, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	RetentionTaskResults(ctx context.Context, ids []int64) (map[int64]store.RetentionResult, error)
}

// Jobs is the job system retention runs and schedules go to.
type Jobs interface {
	retention.Submitter
	Stop(ctx context.Context, executionID int64) error
	SetSchedule(ctx context.Context, vendorType string, vendorID int64, cron string, params any) error
}

// Retention is the service of a project's tag retention policy (Harbor's
// RetentionPolicy, at most one per project, linked from the project's
// retention_id): tag-retention permissions in the policy's project,
// validation (retention.Policy.Normalize), the policy's schedule, its runs
// (retention.Launch) and their stop, and a tag_retention or
// tag_retention_execution event per change.
type Retention struct {
	base
	st   RetentionStore
	jobs Jobs
}

// NewRetention returns the retention policy service over st, starting runs
// and setting schedules on js (nil: what needs the job system is
// errs.Unavailable). It asks a what callers may do, publishes its changes
// and the runs' TAG_RETENTION events on events and calls changed (if set)
// after every write.
func NewRetention(st RetentionStore, js Jobs, a Auth, events Publisher, changed func()) *Retention {
	return &Retention{base: base{auth: a, events: events, changed: changed}, st: st, jobs: js}
}

// PolicyID is the ID of the retention policy a project's metadata links
// (retention_id; 0: none).
func PolicyID(metadata map[string]string) int64 {
	id, _ := strconv.ParseInt(metadata["retention_id"], 10, 64)
	return id
}

// Templates returns the rule templates a policy may use, to any signed-in
// caller.
func (s *Retention) Templates(p *auth.Principal) ([]retention.TemplateInfo, error) {
	if p.Anonymous() {
		return nil, errs.E(errs.Unauthenticated, "retention metadata", "authentication required")
	}
	return retention.Templates, nil
}

// noJobs is the refusal of what needs the job system when none runs.
func noJobs(op, what string) error {
	return errs.E(errs.Unavailable, op, "the job system is not running%s", what)
}

// policyJSON is the stored form of pol: without its ID, which the row has.
func policyJSON(pol *retention.Policy) string {
	c := *pol
	c.ID = 0
	b, _ := json.Marshal(c)
	return string(b)
}

// Create validates pol and stores it as the policy of the project its
// scope names, for p (tag-retention:create there), with its schedule, and
// links it from the project's retention_id. A project that does not
// exist, or that p may not see, is errs.Invalid (Harbor's "invalid Project
// id"), as is a project that has a policy already.
func (s *Retention) Create(ctx context.Context, p *auth.Principal, pol *retention.Policy) (int64, error) {
	const op = "create retention policy"
	if err := pol.Normalize(); err != nil {
		return 0, err
	}
	project, err := s.st.ProjectByID(ctx, pol.Scope.Ref)
	if err == nil {
		err = s.require(ctx, p, project, rbac.ResTagRetention, rbac.Create)
	}
	if errs.Is(err, errs.NotFound) {
		return 0, errs.E(errs.Invalid, "retention policy", "invalid project id %d: no such project", pol.Scope.Ref)
	}
	if err != nil {
		return 0, err
	}
	if pol.Cron() != "" && s.jobs == nil {
		return 0, noJobs(op, ": a schedule cannot be set")
	}
	id, err := s.st.CreateRetentionPolicy(ctx, project.ID, policyJSON(pol))
	if errs.Is(err, errs.Exists) {
		err = errs.E(errs.Invalid, op, "%s", errs.Message(err))
	}
	if err == nil && pol.Cron() != "" {
		if err = s.jobs.SetSchedule(ctx, retention.VendorType, id, pol.Cron(), nil); err != nil {
			s.st.DeleteRetentionPolicy(context.WithoutCancel(ctx), id)
		}
	}
	s.record(p, project.ID, "create", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, id), err)
	return id, err
}

// policy loads policy id and its project after checking that p may do act
// on the project's retention; a policy of a project p may not see is
// errs.NotFound.
func (s *Retention) policy(ctx context.Context, p *auth.Principal, id int64, act rbac.Action) (*store.Project, *retention.Policy, error) {
	row, err := s.st.RetentionPolicy(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	project, err := s.st.ProjectByID(ctx, row.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(ctx, p, project, rbac.ResTagRetention, act); err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.NotFound, "retention policy", "retention policy %d not found", id)
		}
		return nil, nil, err
	}
	pol, err := retention.Parse(row.Policy)
	if err != nil {
		return nil, nil, err
	}
	pol.ID = row.ID
	if pol.Scope == nil {
		pol.Scope = &retention.Scope{Level: retention.ScopeProject}
	}
	pol.Scope.Ref = row.ProjectID
	return project, pol, nil
}

// Get returns policy id for p (tag-retention:read in its project).
func (s *Retention) Get(ctx context.Context, p *auth.Principal, id int64) (*retention.Policy, error) {
	_, pol, err := s.policy(ctx, p, id, rbac.Read)
	return pol, err
}

// Update validates pol and makes it policy id's rules and schedule, for p
// (tag-retention:update). The policy stays in its project and keeps its ID.
func (s *Retention) Update(ctx context.Context, p *auth.Principal, id int64, pol *retention.Policy) error {
	const op = "update retention policy"
	if err := pol.Normalize(); err != nil {
		return err
	}
	project, old, err := s.policy(ctx, p, id, rbac.Update)
	if err != nil {
		return err
	}
	if pol.ID != 0 && pol.ID != old.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the policy's of the path (%d)", pol.ID, old.ID)
	}
	if pol.Scope.Ref != project.ID {
		return errs.E(errs.Invalid, op, "scope.ref is %d, but the policy belongs to project %d: a policy cannot move", pol.Scope.Ref, project.ID)
	}
	if pol.Cron() != old.Cron() && s.jobs == nil {
		return noJobs(op, ": the schedule cannot change")
	}
	pol.ID = old.ID
	err = s.st.UpdateRetentionPolicy(ctx, old.ID, policyJSON(pol))
	if err == nil {
		switch {
		case pol.Cron() == old.Cron():
		case pol.Cron() == "":
			err = s.st.DeleteSchedule(ctx, retention.VendorType, old.ID)
		default:
			err = s.jobs.SetSchedule(ctx, retention.VendorType, old.ID, pol.Cron(), nil)
		}
	}
	s.record(p, project.ID, "update", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, old.ID), err)
	return err
}

// Delete stops policy id's running executions, removes its schedule and
// the policy, and unlinks it from its project, for p
// (tag-retention:delete).
func (s *Retention) Delete(ctx context.Context, p *auth.Principal, id int64) error {
	project, pol, err := s.policy(ctx, p, id, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.stopAll(ctx, pol.ID)
	if err == nil {
		err = s.st.DeleteSchedule(ctx, retention.VendorType, pol.ID)
	}
	if err == nil {
		err = s.st.DeleteRetentionPolicy(ctx, pol.ID)
	}
	s.record(p, project.ID, "delete", "tag_retention", fmt.Sprintf("%s retention policy %d", project.Name, pol.ID), err)
	return err
}

// stopAll stops the running executions of policy policyID.
func (s *Retention) stopAll(ctx context.Context, policyID int64) error {
	active, err := s.st.ActiveExecutions(ctx, retention.VendorType, policyID)
	if err != nil || len(active) == 0 {
		return err
	}
	if s.jobs == nil {
		return noJobs("stop retention", "")
	}
	for _, id := range active {
		if err := s.jobs.Stop(ctx, id); err != nil {
			return err
		}
		retention.Settle(ctx, s.st, s.events, id)
	}
	return nil
}

// Run starts an execution of policy id now, for p (tag-retention:update),
// and returns its ID; a dry run deletes nothing.
func (s *Retention) Run(ctx context.Context, p *auth.Principal, id int64, dry bool) (int64, error) {
	project, pol, err := s.policy(ctx, p, id, rbac.Update)
	if err != nil {
		return 0, err
	}
	if s.jobs == nil {
		return 0, noJobs("trigger retention", "")
	}
	eid, _, err := retention.Launch(ctx, s.st, s.jobs, s.events, pol, jobs.Manual, dry, p.Name)
	s.record(p, project.ID, "create", "tag_retention_execution", fmt.Sprintf("%s retention policy %d execution %d", project.Name, pol.ID, eid), err)
	return eid, err
}

// execution loads execution eid, which must be one of policy pol's.
func (s *Retention) execution(ctx context.Context, pol *retention.Policy, eid int64) (*store.Execution, error) {
	ex, err := s.st.GetExecution(ctx, eid)
	if err == nil && (ex.VendorType != retention.VendorType || ex.VendorID != pol.ID) {
		err = errs.E(errs.NotFound, "retention execution", "execution %d not found", eid)
	}
	if errs.Is(err, errs.NotFound) {
		err = errs.E(errs.NotFound, "retention execution", "execution %d of retention policy %d not found", eid, pol.ID)
	}
	return ex, err
}

// Executions returns a page of policy id's executions, newest first, for p
// (tag-retention:list).
func (s *Retention) Executions(ctx context.Context, p *auth.Principal, id int64, offset, limit int) ([]store.Execution, int64, error) {
	_, pol, err := s.policy(ctx, p, id, rbac.List)
	if err != nil {
		return nil, 0, err
	}
	return s.st.ListExecutions(ctx, retention.VendorType, pol.ID, offset, limit)
}

// Stop stops execution eid of policy id for p (tag-retention:update):
// pending repositories are skipped, running ones stop between two
// deletions.
func (s *Retention) Stop(ctx context.Context, p *auth.Principal, id, eid int64) error {
	project, pol, err := s.policy(ctx, p, id, rbac.Update)
	if err != nil {
		return err
	}
	ex, err := s.execution(ctx, pol, eid)
	if err != nil {
		return err
	}
	if s.jobs == nil {
		return noJobs("operate retention execution", "")
	}
	err = s.jobs.Stop(ctx, ex.ID)
	if err == nil {
		retention.Settle(ctx, s.st, s.events, ex.ID)
	}
	s.record(p, project.ID, "stop", "tag_retention_execution", fmt.Sprintf("%s retention policy %d execution %d", project.Name, pol.ID, ex.ID), err)
	return err
}

// RetentionTask is one repository of a retention execution: the task, its
// extra attributes and what it did.
type RetentionTask struct {
	store.Task
	Extra  retention.TaskExtra
	Result store.RetentionResult
}

// Tasks returns execution eid of policy id and a page of its tasks, for p
// (tag-retention:list).
func (s *Retention) Tasks(ctx context.Context, p *auth.Principal, id, eid int64, offset, limit int) (*store.Execution, []RetentionTask, int64, error) {
	_, pol, err := s.policy(ctx, p, id, rbac.List)
	if err != nil {
		return nil, nil, 0, err
	}
	ex, err := s.execution(ctx, pol, eid)
	if err != nil {
		return nil, nil, 0, err
	}
	list, total, err := s.st.ListTasks(ctx, ex.ID, offset, limit)
	if err != nil {
		return nil, nil, 0, err
	}
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	results, err := s.st.RetentionTaskResults(ctx, ids)
	if err != nil {
		return nil, nil, 0, err
	}
	out := make([]RetentionTask, len(list))
	for i, t := range list {
		out[i] = RetentionTask{Task: t, Result: results[t.ID]}
		json.Unmarshal([]byte(t.ExtraAttrs), &out[i].Extra)
	}
	return ex, out, total, nil
}

// TaskLog returns the log of task tid of execution eid of policy id, for p
// (tag-retention:read).
func (s *Retention) TaskLog(ctx context.Context, p *auth.Principal, id, eid, tid int64) (string, error) {
	_, pol, err := s.policy(ctx, p, id, rbac.Read)
	if err != nil {
		return "", err
	}
	ex, err := s.execution(ctx, pol, eid)
	if err != nil {
		return "", err
	}
	t, err := s.st.GetTask(ctx, tid)
	if err == nil && t.ExecutionID != ex.ID {
		err = errs.E(errs.NotFound, "retention task", "task %d not found", tid)
	}
	if errs.Is(err, errs.NotFound) {
		return "", errs.E(errs.NotFound, "retention task", "task %d of execution %d not found", tid, ex.ID)
	}
	if err != nil {
		return "", err
	}
	return s.st.TaskLog(ctx, t.ID)
}
