package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/selector"
	"github.com/berth-dev/berth/internal/store"
)

// LaunchStore is what starting a run needs from the metadata store.
type LaunchStore interface {
	ProjectByID(ctx context.Context, id int64) (*store.Project, error)
	RetentionRepositories(ctx context.Context, projectID int64) ([]store.RetentionRepository, error)
	// For announcing the end of a run.
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	SettleRetentionExecution(ctx context.Context, id int64) (bool, error)
	RetentionSummary(ctx context.Context, id int64) (*store.RetentionSummary, error)
}

// Store is what runs need from the metadata store.
type Store interface {
	LaunchStore
	artifact.Store
	RetentionPolicy(ctx context.Context, id int64) (*store.RetentionPolicyRow, error)
	RetentionCandidates(ctx context.Context, repositoryID int64) ([]store.RetentionArtifact, error)
	SettleRetentionTask(ctx context.Context, res store.RetentionResult) (bool, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
}

// Submitter starts executions (the job service).
type Submitter interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
}

// Publisher takes events.
type Publisher interface{ Publish(event.Event) }

// Options configure the runs of Register.
type Options struct {
	Events  Publisher // TAG_RETENTION events (nil: none)
	Changed func()    // with Events, what a service built for Artifacts gets
	// Artifacts deletes artifacts (its DELETE_ARTIFACT events, its
	// immutability guard; nil: one over st publishing to Events and
	// calling Changed after each deletion).
	Artifacts *artifact.Service
	Logger    *slog.Logger // nil: slog.Default()
	// Now is the clock of the day templates (nil: time.Now).
	Now func() time.Time
}

// ExecutionExtra is an execution's extra attributes.
type ExecutionExtra struct {
	DryRun    bool   `json:"dry_run"`
	Operator  string `json:"operator,omitempty"`
	ProjectID int64  `json:"project_id"`
	Project   string `json:"project"`
}

// TaskExtra is a task's extra attributes (Harbor's: the repository
// without its project, and whether it is a dry run).
type TaskExtra struct {
	Repository string `json:"repository"`
	DryRun     bool   `json:"dry_run"`
}

// taskParams are what a task runs: the rules that apply to its repository
// as they were at launch.
type taskParams struct {
	PolicyID     int64  `json:"policy_id"`
	ProjectID    int64  `json:"project_id"`
	Project      string `json:"project"`
	RepositoryID int64  `json:"repository_id"`
	Repository   string `json:"repository"` // full name
	Rules        []Rule `json:"rules"`
	DryRun       bool   `json:"dry_run"`
	Operator     string `json:"operator,omitempty"`
}

// Launch starts an execution of policy p (normalized, with its ID): one
// task per repository of its project that an enabled rule selects. An
// execution without tasks is over at once and announced here. It returns
// the execution ID and how many tasks it has.
func Launch(ctx context.Context, st LaunchStore, js Submitter, pub Publisher, p *Policy, trigger string, dryRun bool, operator string) (int64, int, error) {
	if p.Scope == nil {
		return 0, 0, errs.E(errs.Invalid, "launch retention", "the policy has no scope")
	}
	project, err := st.ProjectByID(ctx, p.Scope.Ref)
	if err != nil {
		return 0, 0, err
	}
	repos, err := st.RetentionRepositories(ctx, project.ID)
	if err != nil {
		return 0, 0, err
	}
	var tasks []jobs.TaskOf
	for _, repo := range repos {
		rules := rulesFor(p.Rules, repo.Name)
		if len(rules) == 0 {
			continue
		}
		tasks = append(tasks, jobs.TaskOf{
			Kind: TaskKind,
			Params: taskParams{PolicyID: p.ID, ProjectID: project.ID, Project: project.Name, RepositoryID: repo.ID,
				Repository: repo.Name, Rules: rules, DryRun: dryRun, Operator: operator},
			Extra: TaskExtra{Repository: selector.InProject(repo.Name), DryRun: dryRun},
		})
	}
	extra := ExecutionExtra{DryRun: dryRun, Operator: operator, ProjectID: project.ID, Project: project.Name}
	id, err := js.Submit(ctx, VendorType, p.ID, trigger, extra, tasks...)
	if err != nil {
		return 0, 0, err
	}
	if len(tasks) == 0 {
		Settle(ctx, st, pub, id)
	}
	return id, len(tasks), nil
}

// Settle announces execution id if it is over and not announced yet; for
// a stop, which ends pending tasks without running them. Errors are
// ignored: the announcement is best effort.
func Settle(ctx context.Context, st LaunchStore, pub Publisher, id int64) {
	if last, err := st.SettleRetentionExecution(ctx, id); err == nil && last {
		announce(ctx, st, pub, id)
	}
}

// maxEventArtifacts bounds the deleted artifacts listed in an event.
const maxEventArtifacts = 1000

// announce publishes the TAG_RETENTION event of execution id.
func announce(ctx context.Context, st LaunchStore, pub Publisher, id int64) {
	if pub == nil {
		return
	}
	ex, err := st.GetExecution(ctx, id)
	if err != nil {
		return
	}
	sum, err := st.RetentionSummary(ctx, id)
	if err != nil {
		return
	}
	var extra ExecutionExtra
	json.Unmarshal([]byte(ex.ExtraAttrs), &extra)
	r := &event.Retention{PolicyID: ex.VendorID, Status: sum.Status, Deleted: []event.RetentionArtifact{}}
	for _, res := range sum.Results {
		r.Total += res.Total
		r.Retained += res.Retained
		var del []event.RetentionArtifact
		json.Unmarshal([]byte(res.Deleted), &del)
		for _, d := range del {
			if len(r.Deleted) < maxEventArtifacts {
				r.Deleted = append(r.Deleted, d)
			}
		}
	}
	desc := fmt.Sprintf("tag retention execution %d of policy %d: %s, %d of %d artifacts retained", id, ex.VendorID, sum.Status, r.Retained, r.Total)
	if extra.DryRun {
		desc += " (dry run)"
	}
	pub.Publish(event.Event{
		Type: event.TagRetention, Operator: extra.Operator, ProjectID: extra.ProjectID, Project: extra.Project,
		Description: desc, Success: sum.Status == store.JobSuccess, Retention: r,
	})
}

// Register adds the retention task kind and the schedule callback to js.
func Register(js *jobs.Service, st Store, o Options) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	arts := o.Artifacts
	if arts == nil {
		arts = artifact.New(st, nil, artifact.Options{Events: o.Events, Changed: o.Changed})
	}
	r := &runner{st: st, arts: arts, o: o}
	// Harbor's retention job: three attempts.
	js.Register(jobs.Kind{Name: TaskKind, Run: r.run, MaxAttempts: 3, Timeout: 6 * time.Hour})
	js.OnSchedule(VendorType, func(ctx context.Context, policyID int64, _ string) error {
		row, err := st.RetentionPolicy(ctx, policyID)
		if errs.Is(err, errs.NotFound) {
			// The policy (or its project) is gone; so is its schedule.
			return st.DeleteSchedule(ctx, VendorType, policyID)
		}
		if err != nil {
			return err
		}
		p, err := Parse(row.Policy)
		if err != nil {
			return err
		}
		p.ID = row.ID
		_, _, err = Launch(ctx, st, js, o.Events, p, jobs.Schedule, false, "")
		return err
	})
}

type runner struct {
	st   Store
	arts *artifact.Service
	o    Options
}

// outcome is what a task did so far.
type outcome struct {
	total, retained int
	deleted         []event.RetentionArtifact
}

// run is a task: apply the rules to one repository, then settle (record
// the outcome, and announce the execution if this was its last task).
// A task interrupted by a shutdown or a lost lease does not settle: it
// runs again. Neither does a failed attempt that will be retried.
func (r *runner) run(ctx context.Context, t *jobs.Task) error {
	var p taskParams
	out := &outcome{}
	err := t.ParamsInto(&p)
	if err == nil {
		err = r.apply(ctx, t, &p, out)
	}
	status := store.JobSuccess
	switch {
	case err == nil:
	case ctx.Err() != nil && r.stopRequested(t.ID):
		status = store.JobStopped
	case errors.Is(ctx.Err(), context.Canceled):
		return err
	case t.Attempts < t.MaxAttempts:
		return err
	default:
		status = store.JobError
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	deleted, _ := json.Marshal(out.deleted)
	last, serr := r.st.SettleRetentionTask(sctx, store.RetentionResult{TaskID: t.ID, ExecutionID: t.ExecutionID, Status: status,
		Total: out.total, Retained: out.retained, Deleted: string(deleted)})
	if serr != nil {
		if err == nil {
			err = serr
		}
		return err
	}
	if last {
		announce(sctx, r.st, r.o.Events, t.ExecutionID)
	}
	return err
}

func (r *runner) stopRequested(taskID int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err := r.st.GetTask(ctx, taskID)
	return err == nil && t.StopRequested
}

// candidateOf turns a stored artifact into a candidate: its push and pull
// times are its tags' newest (Harbor's retention client), none when it has
// no tag.
func candidateOf(a *store.RetentionArtifact) Candidate {
	c := Candidate{ID: a.ID, Digest: a.Digest, Labels: a.Labels, CreationTime: a.PushTime}
	for _, t := range a.Tags {
		c.Tags = append(c.Tags, t.Name)
		c.PushedTime = max(c.PushedTime, t.PushTime)
		c.PulledTime = max(c.PulledTime, t.PullTime)
	}
	return c
}

// refs names an artifact as tag@digest for each of its tags.
func refs(tags []string, digest string) string {
	if len(tags) == 0 {
		return "<untagged>@" + digest
	}
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t + "@" + digest
	}
	return strings.Join(parts, " ")
}

func ruleList(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// apply evaluates the rules over the repository and deletes what they do
// not retain, one artifact per transaction, checking for a stop between
// deletions.
func (r *runner) apply(ctx context.Context, t *jobs.Task, p *taskParams, out *outcome) error {
	mode := "delete"
	if p.DryRun {
		mode = "dry run: nothing is deleted"
	}
	t.Logf("retention of %s (policy %d, %d rules apply; %s)", p.Repository, p.PolicyID, len(p.Rules), mode)
	arts, err := r.st.RetentionCandidates(ctx, p.RepositoryID)
	if err != nil {
		return err
	}
	cands := make([]Candidate, len(arts))
	kinds := make(map[int64]string, len(arts))
	for i := range arts {
		cands[i] = candidateOf(&arts[i])
		kinds[arts[i].ID] = arts[i].Kind
	}
	imm, err := r.arts.Rules(ctx, r.target(p))
	if err != nil {
		return err
	}
	decisions := Evaluate(p.Rules, p.Repository, cands, r.o.Now())
	out.total = len(decisions)
	out.retained = 0
	out.deleted = out.deleted[:0]
	deleted := 0
	for i := range decisions {
		d := &decisions[i]
		name := refs(d.Tags, d.Digest)
		if d.Retain {
			out.retained++
			t.Logf("RETAIN %s (rule %s)", name, ruleList(d.Rules))
			continue
		}
		// The artifact service's guard decides, for a dry run as for the
		// delete that follows in a real one.
		if err := r.arts.GuardDelete(ctx, r.target(p), imm, d.ID); errs.Is(err, errs.Denied) {
			out.retained++
			t.Logf("IMMUTABLE %s: kept (%s)", name, errs.Message(err))
			continue
		} else if err != nil {
			out.retained += len(decisions) - i
			return err
		}
		if p.DryRun {
			deleted++
			out.record(p.Repository, kinds[d.ID], d)
			t.Logf("DELETE %s (dry run)", name)
			continue
		}
		if err := ctx.Err(); err != nil {
			t.Logf("stopping: %d of %d artifacts looked at", i, len(decisions))
			out.retained += len(decisions) - i
			return err
		}
		kept, why, err := r.delete(ctx, p, d)
		if err != nil {
			out.retained += len(decisions) - i
			return err
		}
		if kept {
			out.retained++
			t.Logf("KEPT %s: %s", name, why)
			continue
		}
		deleted++
		out.record(p.Repository, kinds[d.ID], d)
		t.Logf("DELETE %s%s", name, why)
	}
	verb := "deleted"
	if p.DryRun {
		verb = "would delete"
	}
	t.Logf("retained %d of %d artifacts; %s %d", out.retained, out.total, verb, deleted)
	return nil
}

func (o *outcome) record(repository, kind string, d *Decision) {
	if kind == "" {
		kind = "IMAGE"
	}
	if len(d.Tags) == 0 {
		o.deleted = append(o.deleted, event.RetentionArtifact{Type: kind, Status: "SUCCESS", NameAndTag: repository + "@" + d.Digest})
	}
	for _, tag := range d.Tags {
		o.deleted = append(o.deleted, event.RetentionArtifact{Type: kind, Status: "SUCCESS", NameAndTag: repository + ":" + tag})
	}
}

// delete removes the artifact of decision d, through the artifact
// service (its immutability guard and DELETE_ARTIFACT events), unless it
// changed since it was evaluated (a tag was added or removed meanwhile).
// kept reports that it stayed, and why: also when the service refuses it
// (an accessory, which would go with it, carries an immutable tag; an
// index of the repository references it). An artifact already gone
// counts as deleted.
func (r *runner) delete(ctx context.Context, p *taskParams, d *Decision) (kept bool, why string, err error) {
	tags, err := r.st.ArtifactTags(ctx, []int64{d.ID})
	if err != nil {
		return false, "", err
	}
	now := make(map[string]bool, len(tags[d.ID]))
	for _, tg := range tags[d.ID] {
		now[tg.Name] = true
	}
	same := len(now) == len(d.Tags)
	for _, tg := range d.Tags {
		same = same && now[tg]
	}
	if !same {
		return true, "its tags changed during the run", nil
	}
	_, err = r.arts.DeleteArtifact(ctx, r.target(p), d.ID)
	switch {
	case errs.Is(err, errs.NotFound):
		return false, " (already gone)", nil
	case errs.Is(err, errs.Precondition):
		return true, "an index of the repository references it; delete the index", nil
	case errs.Is(err, errs.Denied):
		return true, errs.Message(err), nil
	case err != nil:
		return false, "", err
	}
	return false, "", nil
}

// target is the artifact service's view of p's repository; the operator
// is the one who launched the run, else "retention".
func (r *runner) target(p *taskParams) artifact.Target {
	op := p.Operator
	if op == "" {
		op = "retention"
	}
	return artifact.Target{ProjectID: p.ProjectID, Project: p.Project, Repository: p.Repository, Operator: op}
}
