package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/policy"
	"github.com/berth-dev/berth/internal/retention"
)

// The Policy tab of a project: tag retention (its rules, schedule, runs
// and their logs) and tag immutability rules. A project has at most one
// retention policy, linked from its retention_id metadata; the console
// creates it with the first rule and edits it as a whole (an update
// replaces the policy). Both call the policy services (package policy)
// with the session's principal, as the API's handlers do.

// ruleForm is the retention rule form: its values and where it posts.
type ruleForm struct {
	Action, Button, Prefix string
	Templates              []api.RetentionRuleMetadata
	Template, Param        string
	RepoDeco, RepoPattern  string
	TagDeco, TagPattern    string
	Untagged               bool
	LabelDeco, Labels      string
}

// ruleRow is a rule as the table shows it.
type ruleRow struct {
	ID                                int
	Disabled                          bool
	Repos, Retain, Tags, Labels, Name string
}

type policyTab struct {
	PolicyID  int64
	CanEdit   bool // add and change rules, the schedule, run
	CanImm    bool // add immutability rules
	Rules     []ruleRow
	Schedule  schedule
	Execs     []api.RetentionExecution
	ExecPager pager
	Add       ruleForm
	RetErr    string // the API's refusal of the retention reads
	Immutable []immRow
	ImmErr    string
	Imm       immForm
}

type immRow struct {
	api.ImmutableRule
	Repos, Tags string
}

type immForm struct {
	RepoDeco, RepoPattern, TagDeco, TagPattern string
}

func (c *Console) policyBase(pc *projectCtx) string { return pc.Base() + "/policy" }

// retentionID is the project's policy ID (0: none yet).
func retentionID(pc *projectCtx) int64 { return policy.PolicyID(pc.Meta) }

// loadRetention reads the project's policy (nil when it has none).
func (c *Console) loadRetention(r *http.Request, v *view, pc *projectCtx) (*retention.Policy, error) {
	id := retentionID(pc)
	if id == 0 {
		return nil, nil
	}
	pol, err := c.svc.Retention.Get(r.Context(), v.p, id)
	return pol, serviceError(err)
}

// retentionMeta reads the templates (nil on failure: the form then offers
// none and the service's refusal shows elsewhere).
func (c *Console) retentionMeta(v *view) []api.RetentionRuleMetadata {
	templates, err := c.svc.Retention.Templates(v.p)
	if err != nil {
		return nil
	}
	return api.RetentionMetadataOf(templates).Templates
}

// positive reads a positive integer the path names, refused as the API
// refuses one (an errs error: the caller shows it with serviceError).
func positive(name, value string) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n <= 0 {
		return 0, errs.E(errs.Invalid, "path", "%s must be a positive integer, not %q", name, value)
	}
	return n, nil
}

func (c *Console) policyPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	t := policyTab{PolicyID: retentionID(pc), Schedule: schedule{Type: "None"}}
	templates := c.retentionMeta(v)
	pol, err := c.loadRetention(r, v, pc)
	switch {
	case err != nil && !isDenied(err):
		return err
	case err != nil:
		t.RetErr = err.Error()
	case pol != nil:
		for _, rl := range pol.Rules {
			t.Rules = append(t.Rules, describeRule(rl, templates))
		}
		t.Schedule = scheduleOf(pol.Cron())
		if v.FormID == "schedule" {
			t.Schedule.Type, t.Schedule.Cron = v.Form.Get("schedule"), v.Form.Get("cron")
		}
		lp := readPage(r, "epage", 10)
		offset, err := lp.offset()
		if err != nil {
			return err
		}
		list, total, err := c.svc.Retention.Executions(r.Context(), v.p, pol.ID, offset, lp.Size)
		if err = serviceError(err); err != nil && !isDenied(err) {
			return err
		}
		if err == nil {
			for i := range list {
				t.Execs = append(t.Execs, api.RetentionExecutionOf(&list[i]))
			}
			t.ExecPager = pagerFor(r, "epage", lp, total)
		}
	}
	if t.PolicyID == 0 {
		t.CanEdit = pc.Perms.Can("tag-retention", "create")
	} else {
		t.CanEdit = pc.Perms.Can("tag-retention", "update") && t.RetErr == ""
	}
	t.CanImm = pc.Perms.Can("immutable-tag", "create")
	t.Add = ruleForm{Action: c.policyBase(pc) + "/retention/rules", Button: "Add rule", Prefix: "rule", Templates: templates,
		Template: "latestPushedK", Param: "10", RepoDeco: "repoMatches", RepoPattern: "**", TagDeco: "matches", TagPattern: "**", Untagged: true}
	if v.FormID == "rule" {
		t.Add = formRule(v.Form, t.Add)
	}

	var imm []api.ImmutableRule
	rules, _, err := c.svc.ImmutableRules.List(r.Context(), v.p, &pc.view.Info.Project, nil, 0, 100)
	for i := range rules {
		imm = append(imm, api.ImmutableRuleOf(&rules[i].Rule))
	}
	switch err = serviceError(err); {
	case err != nil && !isDenied(err):
		return err
	case err != nil:
		t.ImmErr = err.Error()
	}
	for _, ir := range imm {
		row := immRow{ImmutableRule: ir}
		if s := ir.ScopeSelectors["repository"]; len(s) > 0 {
			row.Repos = selectorText(s[0].Decoration, s[0].Pattern)
		}
		if len(ir.TagSelectors) > 0 {
			row.Tags = selectorText(ir.TagSelectors[0].Decoration, ir.TagSelectors[0].Pattern)
		}
		t.Immutable = append(t.Immutable, row)
	}
	t.Imm = immForm{RepoDeco: "repoMatches", RepoPattern: "**", TagDeco: "matches", TagPattern: ""}
	if v.FormID == "immutable" {
		f := v.Form
		t.Imm = immForm{RepoDeco: f.Get("repo_deco"), RepoPattern: f.Get("repo_pattern"), TagDeco: f.Get("tag_deco"), TagPattern: f.Get("tag_pattern")}
	}
	c.renderTab(w, v, pc, "policy", "Policy", tabData{Tab: t})
	return nil
}

// selectorText reads a doublestar selector: "matching **".
func selectorText(deco, pattern string) string {
	switch deco {
	case "repoExcludes", "excludes":
		return "excluding " + pattern
	}
	return "matching " + pattern
}

// describeRule puts a rule in words.
func describeRule(rl retention.Rule, templates []api.RetentionRuleMetadata) ruleRow {
	row := ruleRow{ID: rl.ID, Disabled: rl.Disabled}
	if s := rl.ScopeSelectors["repository"]; len(s) > 0 {
		var parts []string
		for _, x := range s {
			parts = append(parts, selectorText(x.Decoration, x.Pattern))
		}
		row.Repos = strings.Join(parts, " and ")
	}
	row.Retain = rl.Template
	for _, t := range templates {
		if t.RuleTemplate == rl.Template {
			row.Retain = t.DisplayText
		}
	}
	if n, ok := rl.Params[rl.Template]; ok {
		row.Retain = strings.Replace(row.Retain, "#", fmt.Sprint(n), 1)
	}
	var tags, labels []string
	for _, s := range rl.TagSelectors {
		switch s.Kind {
		case "label":
			word := "with labels "
			if s.Decoration == "withoutLabels" {
				word = "without labels "
			}
			labels = append(labels, word+s.Pattern)
		default:
			t := selectorText(s.Decoration, s.Pattern)
			var x struct {
				Untagged *bool `json:"untagged"`
			}
			json.Unmarshal([]byte(s.Extras), &x)
			untagged := s.Decoration == "matches"
			if x.Untagged != nil {
				untagged = *x.Untagged
			}
			if untagged {
				t += ", untagged included"
			} else {
				t += ", untagged excluded"
			}
			tags = append(tags, t)
		}
	}
	row.Tags, row.Labels = strings.Join(tags, "; "), strings.Join(labels, "; ")
	row.Name = fmt.Sprintf("rule %d", rl.ID)
	return row
}

// ruleFormOf is the edit form of rule rl.
func ruleFormOf(rl retention.Rule, base ruleForm) ruleForm {
	f := base
	f.Template = rl.Template
	f.Param = ""
	if n, ok := rl.Params[rl.Template]; ok {
		f.Param = fmt.Sprint(n)
	}
	f.RepoDeco, f.RepoPattern = "repoMatches", "**"
	if s := rl.ScopeSelectors["repository"]; len(s) > 0 {
		f.RepoDeco, f.RepoPattern = s[0].Decoration, s[0].Pattern
	}
	f.TagDeco, f.TagPattern, f.Untagged = "matches", "**", true
	f.LabelDeco, f.Labels = "", ""
	for _, s := range rl.TagSelectors {
		if s.Kind == "label" {
			f.LabelDeco, f.Labels = s.Decoration, s.Pattern
			continue
		}
		f.TagDeco, f.TagPattern = s.Decoration, s.Pattern
		var x struct {
			Untagged *bool `json:"untagged"`
		}
		json.Unmarshal([]byte(s.Extras), &x)
		f.Untagged = s.Decoration == "matches"
		if x.Untagged != nil {
			f.Untagged = *x.Untagged
		}
	}
	return f
}

// formRule is the rule form with the posted values kept.
func formRule(f url.Values, base ruleForm) ruleForm {
	base.Template, base.Param = f.Get("template"), f.Get("param")
	base.RepoDeco, base.RepoPattern = f.Get("repo_deco"), f.Get("repo_pattern")
	base.TagDeco, base.TagPattern = f.Get("tag_deco"), f.Get("tag_pattern")
	base.Untagged = f.Get("untagged") == "on"
	base.LabelDeco, base.Labels = f.Get("label_deco"), f.Get("labels")
	return base
}

// ruleFromForm builds a rule from the posted form. Values are passed on
// as given: the service validates them and names what is wrong.
func ruleFromForm(f url.Values, templates []api.RetentionRuleMetadata) retention.Rule {
	rl := retention.Rule{Action: "retain", Template: f.Get("template"), Params: map[string]any{},
		ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: "doublestar", Decoration: f.Get("repo_deco"), Pattern: strings.TrimSpace(f.Get("repo_pattern"))}}},
		Disabled:       f.Get("disabled") == "on",
	}
	needsParam := true
	for _, t := range templates {
		if t.RuleTemplate == rl.Template {
			needsParam = len(t.Params) > 0
		}
	}
	if p := strings.TrimSpace(f.Get("param")); p != "" && needsParam {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			rl.Params[rl.Template] = n
		} else {
			rl.Params[rl.Template] = p // the service names the problem
		}
	}
	untagged := "false"
	if f.Get("untagged") == "on" {
		untagged = "true"
	}
	rl.TagSelectors = append(rl.TagSelectors, retention.Selector{Kind: "doublestar", Decoration: f.Get("tag_deco"),
		Pattern: strings.TrimSpace(f.Get("tag_pattern")), Extras: `{"untagged":` + untagged + `}`})
	if d := f.Get("label_deco"); d != "" {
		rl.TagSelectors = append(rl.TagSelectors, retention.Selector{Kind: "label", Decoration: d, Pattern: strings.TrimSpace(f.Get("labels"))})
	}
	return rl
}

// savePolicy creates the project's policy (pol.ID 0) or replaces it.
func (c *Console) savePolicy(r *http.Request, v *view, pc *projectCtx, pol *retention.Policy) error {
	pol.Algorithm = "or"
	pol.Scope = &retention.Scope{Level: "project", Ref: pc.Project.ProjectID}
	if pol.Trigger == nil {
		pol.Trigger = &retention.Trigger{Kind: "Schedule", Settings: map[string]any{"cron": ""}, References: map[string]any{}}
	}
	if pol.Rules == nil {
		pol.Rules = []retention.Rule{}
	}
	for i := range pol.Rules {
		pol.Rules[i].ID = 0 // the service numbers them
	}
	if pol.ID == 0 {
		return v.write("create retention policy", func() error {
			_, err := c.svc.Retention.Create(r.Context(), v.p, pol)
			return err
		})
	}
	return v.write("update retention policy", func() error { return c.svc.Retention.Update(r.Context(), v.p, pol.ID, pol) })
}

func (c *Console) addRetentionRule(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	pol, err := c.loadRetention(r, v, pc)
	if err == nil {
		if pol == nil {
			pol = &retention.Policy{}
		}
		pol.Rules = append(pol.Rules, ruleFromForm(r.PostForm, c.retentionMeta(v)))
		err = c.savePolicy(r, v, pc, pol)
	}
	if err != nil {
		if err := v.fail("rule", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	return redirect(w, r, c.policyBase(pc), "Retention rule added.")
}

// ruleData is the page that edits one rule.
type ruleData struct {
	P    *projectCtx
	ID   int
	Form ruleForm
}

// retentionRule loads the policy and the index of rule n of the path.
func (c *Console) retentionRule(r *http.Request, v *view) (*projectCtx, *retention.Policy, int, error) {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return nil, nil, 0, err
	}
	pol, err := c.loadRetention(r, v, pc)
	if err != nil {
		return nil, nil, 0, err
	}
	n, _ := strconv.Atoi(r.PathValue("n"))
	if pol == nil || n < 1 || n > len(pol.Rules) {
		return nil, nil, 0, &pageError{Status: http.StatusNotFound, Message: "The project's retention policy has no rule " + r.PathValue("n") + "."}
	}
	return pc, pol, n - 1, nil
}

func (c *Console) editRulePage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, pol, i, err := c.retentionRule(r, v)
	if err != nil {
		return err
	}
	base := ruleForm{Action: r.URL.Path, Button: "Save rule", Prefix: "rule", Templates: c.retentionMeta(v)}
	d := ruleData{P: pc, ID: i + 1, Form: ruleFormOf(pol.Rules[i], base)}
	if v.FormID == "rule" {
		d.Form = formRule(v.Form, base)
	}
	v.Title = fmt.Sprintf("Retention rule %d · %s", i+1, pc.Project.Name)
	v.Data = d
	c.render(w, v, "retention_rule")
	return nil
}

func (c *Console) saveRule(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, pol, i, err := c.retentionRule(r, v)
	if err != nil {
		return err
	}
	rl := ruleFromForm(r.PostForm, c.retentionMeta(v))
	rl.Disabled = pol.Rules[i].Disabled
	pol.Rules[i] = rl
	if err := c.savePolicy(r, v, pc, pol); err != nil {
		if err := v.fail("rule", err); err != nil {
			return err
		}
		return c.editRulePage(w, r, v)
	}
	return redirect(w, r, c.policyBase(pc), fmt.Sprintf("Retention rule %d saved.", i+1))
}

// ruleAction enables, disables or deletes rule n.
func (c *Console) ruleAction(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, pol, i, err := c.retentionRule(r, v)
	if err != nil {
		return err
	}
	msg := ""
	switch r.PathValue("action") {
	case "enable", "disable":
		pol.Rules[i].Disabled = r.PathValue("action") == "disable"
		msg = fmt.Sprintf("Retention rule %d %sd.", i+1, r.PathValue("action"))
	case "delete":
		if !c.confirmed(w, r, v, fmt.Sprintf("Delete retention rule %d of %s? Artifacts it kept may be deleted by the next run.", i+1, pc.Project.Name), r.URL.Path, c.policyBase(pc)) {
			return nil
		}
		pol.Rules = append(pol.Rules[:i], pol.Rules[i+1:]...)
		msg = fmt.Sprintf("Retention rule %d deleted.", i+1)
	default:
		return &pageError{Status: http.StatusNotFound, Message: "No such rule action."}
	}
	if err := c.savePolicy(r, v, pc, pol); err != nil {
		if err := v.fail("rules", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	return redirect(w, r, c.policyBase(pc), msg)
}

func (c *Console) retentionSchedule(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	pol, err := c.loadRetention(r, v, pc)
	if err == nil && pol == nil {
		err = &pageError{Status: http.StatusBadRequest, Message: "Add a rule first: the schedule belongs to the project's retention policy."}
	}
	typ := ""
	if err == nil {
		var cron string
		typ, cron = readSchedule(r.PostForm)
		if typ == "Custom" && cron == "" {
			err = &pageError{Status: http.StatusBadRequest, Message: "Enter a cron expression for a custom schedule."}
		} else {
			pol.Trigger = &retention.Trigger{Kind: "Schedule", Settings: map[string]any{"cron": cron}, References: map[string]any{}}
			err = c.savePolicy(r, v, pc, pol)
		}
	}
	if err != nil {
		if err := v.fail("schedule", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	msg := "Retention schedule removed."
	if typ != "None" {
		msg = "Retention schedule saved."
	}
	return redirect(w, r, c.policyBase(pc), msg)
}

// runRetention starts an execution: a dry run (dry_run=on) or, after
// confirmation, a real one.
func (c *Console) runRetention(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	dry := r.PostForm.Get("dry_run") == "on"
	id := retentionID(pc)
	if id == 0 {
		err = &pageError{Status: http.StatusBadRequest, Message: "The project has no retention rules to run."}
	} else {
		if !dry && !c.confirmed(w, r, v, "Run tag retention on "+pc.Project.Name+" now? Artifacts no rule retains are deleted.", r.URL.Path, c.policyBase(pc)) {
			return nil
		}
		err = v.write("trigger retention", func() error {
			_, err := c.svc.Retention.Run(r.Context(), v.p, id, dry)
			return err
		})
	}
	if err != nil {
		if err := v.fail("run", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	msg := "Tag retention started."
	if dry {
		msg = "Dry run started: nothing will be deleted."
	}
	return redirect(w, r, c.policyBase(pc)+"#runs", msg)
}

// execData is the page of one retention execution.
type execData struct {
	P     *projectCtx
	Exec  api.RetentionExecution
	Tasks []api.RetentionExecutionTask
	Pager pager
	Base  string
}

// retentionExec reads the IDs of the project's policy and of the
// execution the path names (eid), refused as the API refuses them.
func retentionExec(r *http.Request, pc *projectCtx) (id, eid int64, err error) {
	if id, err = positive("id", strconv.FormatInt(retentionID(pc), 10)); err == nil {
		eid, err = positive("eid", r.PathValue("eid"))
	}
	return id, eid, err
}

func (c *Console) retentionExecPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	if retentionID(pc) == 0 {
		return &pageError{Status: http.StatusNotFound, Message: "The project has no retention policy."}
	}
	lp := readList(r, 25)
	d := execData{P: pc, Base: c.policyBase(pc) + "/retention/executions/" + url.PathEscape(r.PathValue("eid"))}
	id, eid, err := retentionExec(r, pc)
	if err != nil {
		return serviceError(err)
	}
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	ex, tasks, total, err := c.svc.Retention.Tasks(r.Context(), v.p, id, eid, offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	for i := range tasks {
		d.Tasks = append(d.Tasks, api.RetentionTaskOf(&tasks[i]))
	}
	d.Pager = makePager(r, lp, total)
	d.Exec = api.RetentionExecutionOf(ex)
	v.Title = fmt.Sprintf("Retention run %d · %s", eid, pc.Project.Name)
	v.Data = d
	c.render(w, v, "retention_exec")
	return nil
}

func (c *Console) stopRetention(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	back := c.policyBase(pc) + "/retention/executions/" + url.PathEscape(r.PathValue("eid"))
	if !c.confirmed(w, r, v, "Stop this retention run? Repositories not done yet are skipped.", r.URL.Path, back) {
		return nil
	}
	if err := v.write("operate retention execution", func() error {
		id, eid, err := retentionExec(r, pc)
		if err != nil {
			return err
		}
		return c.svc.Retention.Stop(r.Context(), v.p, id, eid)
	}); err != nil {
		return err
	}
	return redirect(w, r, back, "Retention run stopped.")
}

func (c *Console) retentionLog(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	id, eid, err := retentionExec(r, pc)
	var tid int64
	if err == nil {
		tid, err = positive("tid", r.PathValue("tid"))
	}
	var text string
	if err == nil {
		text, err = c.svc.Retention.TaskLog(r.Context(), v.p, id, eid, tid)
	}
	if err != nil {
		return serviceError(err)
	}
	execLink := c.policyBase(pc) + "/retention/executions/" + url.PathEscape(r.PathValue("eid"))
	return c.renderLog(w, v, text, logData{
		Crumbs:  []crumb{{"/projects", "Projects"}, {pc.Base() + "/repositories", pc.Project.Name}, {c.policyBase(pc), "Policy"}, {execLink, "Run " + r.PathValue("eid")}},
		Heading: "Retention log: run " + r.PathValue("eid") + ", task " + r.PathValue("tid"),
		Back:    crumb{execLink, "Back to the run"},
	})
}

// --- immutability ---

func (c *Console) createImmutable(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	f := r.PostForm
	fill := func(rule *immutable.Rule) error {
		rule.Disabled, rule.Action, rule.Template = false, immutable.Action, immutable.Template
		rule.TagSelectors = []immutable.Selector{{Kind: immutable.KindDoublestar, Decoration: f.Get("tag_deco"), Pattern: strings.TrimSpace(f.Get("tag_pattern"))}}
		rule.ScopeSelectors = map[string][]immutable.Selector{immutable.ScopeRepository: {{Kind: immutable.KindDoublestar, Decoration: f.Get("repo_deco"),
			Pattern: strings.TrimSpace(f.Get("repo_pattern"))}}}
		return nil
	}
	if err := v.write("create immutable rule", func() error {
		_, err := c.svc.ImmutableRules.Create(r.Context(), v.p, &pc.view.Info.Project, fill)
		return err
	}); err != nil {
		if err := v.fail("immutable", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	return redirect(w, r, c.policyBase(pc)+"#immutability", "Immutability rule added.")
}

func (c *Console) immutableAction(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "policy")
	if err != nil {
		return err
	}
	project := &pc.view.Info.Project
	back := c.policyBase(pc) + "#immutability"
	var msg string
	switch act := r.PathValue("action"); act {
	case "enable", "disable":
		err = v.write("update immutable rule", func() error {
			id, err := positive("immutable_rule_id", r.PathValue("id"))
			if err != nil {
				return err
			}
			return c.svc.ImmutableRules.Update(r.Context(), v.p, project, id, func(rule *immutable.Rule) error {
				rule.Disabled = act == "disable"
				return nil
			})
		})
		msg = "Immutability rule " + act + "d."
	case "delete":
		if !c.confirmed(w, r, v, "Delete this immutability rule? The tags it protects can then be overwritten and deleted.", r.URL.Path, back) {
			return nil
		}
		err = v.write("delete immutable rule", func() error {
			id, err := positive("immutable_rule_id", r.PathValue("id"))
			if err != nil {
				return err
			}
			return c.svc.ImmutableRules.Delete(r.Context(), v.p, project, id)
		})
		msg = "Immutability rule deleted."
	default:
		return &pageError{Status: http.StatusNotFound, Message: "No such rule action."}
	}
	if err != nil {
		if err := v.fail("immutable-rules", err); err != nil {
			return err
		}
		return c.policyPage(w, r, v)
	}
	return redirect(w, r, back, msg)
}
