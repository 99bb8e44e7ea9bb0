package ui_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// policyOf reads the retention policy of project name through the API
// (nil when it has none).
func policyOf(t *testing.T, srv *testserver.InProcess, name string) *api.RetentionPolicy {
	t.Helper()
	var p api.Project
	if st := apiGet(t, srv, "/projects/"+name, &p); st != 200 {
		t.Fatalf("get project %s: %d", name, st)
	}
	if p.Metadata == nil || p.Metadata.RetentionID == nil {
		return nil
	}
	var pol api.RetentionPolicy
	if st := apiGet(t, srv, "/retentions/"+*p.Metadata.RetentionID, &pol); st != 200 {
		t.Fatalf("get retention policy %s: %d", *p.Metadata.RetentionID, st)
	}
	return &pol
}

// waitRetention waits for the newest execution of policy id to end.
func waitRetention(t *testing.T, srv *testserver.InProcess, id int64) api.RetentionExecution {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list []api.RetentionExecution
		apiGet(t, srv, "/retentions/"+strconv.FormatInt(id, 10)+"/executions?page_size=1", &list)
		if len(list) == 1 && (list[0].Status == "Success" || list[0].Status == "Error" || list[0].Status == "Stopped") {
			if list[0].Status != "Success" {
				t.Fatalf("retention execution %d: %s", list[0].ID, list[0].Status)
			}
			return list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention policy %d: no finished execution: %+v", id, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func artifactCount(t *testing.T, srv *testserver.InProcess, project, repo string) int {
	t.Helper()
	var list []api.Artifact
	apiGet(t, srv, "/projects/"+project+"/repositories/"+repo+"/artifacts?page_size=100", &list)
	return len(list)
}

// TestPolicy drives the Policy tab: retention rules (add, refuse with the
// input kept, edit, disable, delete), the schedule, a dry run and a real
// run with their repositories and logs, and immutability rules.
func TestPolicy(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { testPolicy(t, backend) })
	}
}

func testPolicy(t *testing.T, backend string) {
	srv := testserver.NewInProcess(t, backend)
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)
	b.post("/projects", url.Values{"name": {"pol"}}).expect("create project", 303)
	push := pusher{t, srv}
	for _, tag := range []string{"v1", "v2", "v3"} {
		push.image("pol/app:"+tag, "amd64")
	}

	p := b.get("/projects/pol/policy").expect("empty policy", 200, "Policy", "No retention rules", "Add a rule", "No immutability rules",
		"the most recently pushed # artifacts", "pushed within the last # days")
	p.accessible("empty policy")
	p.lacks("empty policy", "Dry run", "Runs")

	// A refused rule keeps the input.
	rule := url.Values{"template": {"latestPushedK"}, "param": {"0"}, "repo_deco": {"repoMatches"}, "repo_pattern": {"ap*"},
		"tag_deco": {"matches"}, "tag_pattern": {"v*"}, "untagged": {"on"}}
	p = b.post("/projects/pol/policy/retention/rules", rule)
	p.expect("bad count", 400, "params.latestPushedK must be an integer from 1")
	if p.inputValue("rule-repo-pattern") != "ap*" || p.inputValue("rule-param") != "0" {
		t.Error("bad count: the input is not kept")
	}
	if policyOf(t, srv, "pol") != nil {
		t.Fatal("a refused rule created a policy")
	}
	rule.Set("param", "1")
	b.post("/projects/pol/policy/retention/rules", rule).expect("add rule", 303)
	pol := policyOf(t, srv, "pol")
	if pol == nil || len(pol.Rules) != 1 || pol.Rules[0].Template != "latestPushedK" || pol.Rules[0].Params["latestPushedK"] != float64(1) ||
		pol.Rules[0].TagSelectors[0].Extras != `{"untagged":true}` || pol.Rules[0].ScopeSelectors["repository"][0].Pattern != "ap*" {
		t.Fatalf("policy after add: %+v", pol)
	}
	pid := strconv.FormatInt(pol.ID, 10)
	p = b.get("/projects/pol/policy").expect("policy with a rule", 200, "Retention rule added.", "matching ap*", "the most recently pushed 1 artifacts",
		"matching v*, untagged included", "enabled", "Edit", "Dry run", "Run now", "Save schedule", "No runs yet")
	p.accessible("policy with a rule")

	// Edit: the form shows the rule; saving replaces it.
	p = b.get("/projects/pol/policy/retention/rules/1").expect("edit rule", 200, "Retention rule 1", "Save rule")
	p.accessible("edit rule")
	if p.inputValue("rule-param") != "1" || p.inputValue("rule-tag-pattern") != "v*" {
		t.Errorf("edit form: param %q, tag pattern %q", p.inputValue("rule-param"), p.inputValue("rule-tag-pattern"))
	}
	rule.Set("param", "2")
	rule.Set("repo_pattern", "**")
	b.post("/projects/pol/policy/retention/rules/1", url.Values{"template": {"nDaysSinceLastPush"}, "param": {"3"}, "repo_deco": {"repoMatches"},
		"repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {"["}}).expect("bad pattern", 400, "not a valid doublestar pattern")
	b.post("/projects/pol/policy/retention/rules/1", rule).expect("save rule", 303)
	if pol = policyOf(t, srv, "pol"); pol.Rules[0].Params["latestPushedK"] != float64(2) {
		t.Errorf("rule after edit: %+v", pol.Rules[0])
	}
	b.get("/projects/pol/policy/retention/rules/7").expect("unknown rule", 404, "no rule 7")
	b.post("/projects/pol/policy/retention/rules/1/disable", nil).expect("disable rule", 303)
	if pol = policyOf(t, srv, "pol"); !pol.Rules[0].Disabled {
		t.Error("rule not disabled")
	}
	b.get("/projects/pol/policy").expect("disabled rule", 200, "disabled", "Enable retention rule 1")
	b.post("/projects/pol/policy/retention/rules/1/enable", nil).expect("enable rule", 303)

	// Schedule.
	b.post("/projects/pol/policy/retention/schedule", url.Values{"schedule": {"Custom"}, "cron": {"every day"}}).expect("bad cron", 400, "not a valid cron expression")
	b.post("/projects/pol/policy/retention/schedule", url.Values{"schedule": {"Daily"}}).expect("schedule", 303)
	if pol = policyOf(t, srv, "pol"); pol.Cron() != "0 0 0 * * *" || pol.Rules[0].Disabled {
		t.Errorf("policy after schedule: cron %q, %+v", pol.Cron(), pol.Rules[0])
	}
	b.get("/projects/pol/policy").expect("scheduled", 200, `<option value="Daily" selected>`)

	// A dry run deletes nothing; its repository, counts and log show.
	b.post("/projects/pol/policy/retention/run", url.Values{"dry_run": {"on"}}).expect("dry run", 303)
	ex := waitRetention(t, srv, pol.ID)
	if !ex.DryRun || artifactCount(t, srv, "pol", "app") != 3 {
		t.Fatalf("dry run %+v deleted something", ex)
	}
	eid := strconv.FormatInt(ex.ID, 10)
	b.get("/projects/pol/policy").expect("runs", 200, "Run "+eid, "dry run", "Success")
	p = b.get("/projects/pol/policy/retention/executions/"+eid).expect("run page", 200, "Retention run "+eid, "dry run: nothing deleted", "Log of app", "Success")
	p.accessible("run page")
	var tasks []api.RetentionExecutionTask
	apiGet(t, srv, "/retentions/"+pid+"/executions/"+eid+"/tasks", &tasks)
	if len(tasks) != 1 || tasks[0].Total != 3 || tasks[0].Retained != 2 {
		t.Fatalf("dry run tasks: %+v", tasks)
	}
	p = b.get("/projects/pol/policy/retention/executions/" + eid + "/tasks/" + strconv.FormatInt(tasks[0].ID, 10))
	p.expect("run log", 200, "Retention log", "RETAIN", "DELETE", "v1@sha256:").accessible("run log")

	// A real run asks first, then deletes.
	b.post("/projects/pol/policy/retention/run", nil).expect("run asks", 200, "Run tag retention on pol now?", "Run now")
	b.post("/projects/pol/policy/retention/run", url.Values{"confirm": {"yes"}}).expect("run", 303)
	if ex2 := waitRetention(t, srv, pol.ID); ex2.ID == ex.ID || ex2.DryRun {
		t.Errorf("real run: %+v", ex2)
	}
	if n := artifactCount(t, srv, "pol", "app"); n != 2 {
		t.Errorf("after the run: %d artifacts, want 2", n)
	}

	// Immutability rules.
	p = b.post("/projects/pol/policy/immutable", url.Values{"repo_deco": {"repoMatches"}, "repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {""}})
	p.expect("empty tag pattern", 400, "pattern is required")
	if p.inputValue("imm-repo-pattern") != "**" {
		t.Error("empty tag pattern: the input is not kept")
	}
	b.post("/projects/pol/policy/immutable", url.Values{"repo_deco": {"repoMatches"}, "repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {"v3"}}).expect("add immutable", 303)
	var imm []api.ImmutableRule
	apiGet(t, srv, "/projects/pol/immutabletagrules", &imm)
	if len(imm) != 1 || imm[0].TagSelectors[0].Pattern != "v3" {
		t.Fatalf("immutable rules: %+v", imm)
	}
	iid := strconv.FormatInt(imm[0].ID, 10)
	b.get("/projects/pol/policy").expect("immutable listed", 200, "matching v3", "Disable immutability rule "+iid).accessible("policy with everything")
	b.post("/projects/pol/policy/immutable/"+iid+"/disable", nil).expect("disable immutable", 303)
	apiGet(t, srv, "/projects/pol/immutabletagrules", &imm)
	if !imm[0].Disabled {
		t.Error("immutable rule not disabled")
	}
	b.post("/projects/pol/policy/immutable/"+iid+"/enable", nil).expect("enable immutable", 303)
	b.post("/projects/pol/policy/immutable/"+iid+"/delete", nil).expect("delete immutable asks", 200, "Delete this immutability rule?")
	b.post("/projects/pol/policy/immutable/"+iid+"/delete", url.Values{"confirm": {"yes"}}).expect("delete immutable", 303)
	apiGet(t, srv, "/projects/pol/immutabletagrules", &imm)
	if len(imm) != 0 {
		t.Errorf("immutable rules after delete: %+v", imm)
	}

	// Deleting the last rule leaves an empty policy.
	b.post("/projects/pol/policy/retention/rules/1/delete", nil).expect("delete rule asks", 200, "Delete retention rule 1 of pol?")
	b.post("/projects/pol/policy/retention/rules/1/delete", url.Values{"confirm": {"yes"}}).expect("delete rule", 303)
	if pol = policyOf(t, srv, "pol"); len(pol.Rules) != 0 {
		t.Errorf("rules after delete: %+v", pol.Rules)
	}
	b.get("/projects/pol/policy").expect("no rules", 200, "No retention rules", "Run "+eid)
}

// TestPolicyPermissions checks that a guest sees no Policy tab and no
// controls, that forged posts are refused with the API's message and
// change nothing, and that the forms need the CSRF token.
func TestPolicyPermissions(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	admin.post("/projects", url.Values{"name": {"locked"}}).expect("create project", 303)
	rule := url.Values{"template": {"always"}, "repo_deco": {"repoMatches"}, "repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {"**"}}
	admin.post("/projects/locked/policy/retention/rules", cloneForm(rule)).expect("add rule", 303)
	admin.post("/projects/locked/policy/immutable", url.Values{"repo_deco": {"repoMatches"}, "repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {"v*"}}).expect("add immutable", 303)
	var imm []api.ImmutableRule
	apiGet(t, srv, "/projects/locked/immutabletagrules", &imm)
	guestID := user(t, srv, "guest1")
	member(t, srv, projectID(t, srv, "locked"), guestID, rbac.Guest)

	guest := newBrowser(t, srv)
	guest.login("guest1", userPassword)
	guest.get("/projects/locked/repositories").expect("guest project", 200).lacks("guest tabs", "/policy\"", ">Policy<")
	p := guest.get("/projects/locked/policy").expect("guest policy", 200, "may not read tag-retention", "may not list immutable-tag")
	p.accessible("guest policy")
	if acts := p.formActions(); len(acts) > 2 { // theme and sign-out only
		t.Errorf("guest sees forms on the policy page: %v", acts)
	}
	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/projects/locked/policy/retention/rules", rule, "may not"},
		{"/projects/locked/policy/retention/rules/1/delete", url.Values{"confirm": {"yes"}}, "may not read tag-retention"},
		{"/projects/locked/policy/retention/schedule", url.Values{"schedule": {"Hourly"}}, "may not"},
		{"/projects/locked/policy/retention/run", url.Values{"confirm": {"yes"}}, "may not update tag-retention"},
		{"/projects/locked/policy/immutable", url.Values{"repo_deco": {"repoMatches"}, "repo_pattern": {"**"}, "tag_deco": {"matches"}, "tag_pattern": {"x"}}, "may not create immutable-tag"},
		{"/projects/locked/policy/immutable/" + strconv.FormatInt(imm[0].ID, 10) + "/delete", url.Values{"confirm": {"yes"}}, "may not delete immutable-tag"},
	} {
		guest.post(tc.path, tc.form).expect("guest forges "+tc.path, 403, tc.want)
	}
	if pol := policyOf(t, srv, "locked"); len(pol.Rules) != 1 || pol.Cron() != "" {
		t.Errorf("policy after forged posts: %+v", pol)
	}
	apiGet(t, srv, "/projects/locked/immutabletagrules", &imm)
	if len(imm) != 1 {
		t.Errorf("immutable rules after forged posts: %+v", imm)
	}
	var execs []api.RetentionExecution
	apiGet(t, srv, "/retentions/"+strconv.FormatInt(policyOf(t, srv, "locked").ID, 10)+"/executions", &execs)
	if len(execs) != 0 {
		t.Errorf("a forged post ran retention: %+v", execs)
	}

	// The forms carry the token and need it.
	p = admin.get("/projects/locked/policy")
	n := 0
	for _, f := range p.elements("form") {
		if strings.EqualFold(attr(f, "method"), "post") {
			n++
			if !strings.Contains(renderNode(f), `name="csrf" value="`+admin.cookie("__csrf")+`"`) {
				t.Errorf("form %s has no CSRF field", attr(f, "action"))
			}
		}
	}
	if n < 8 {
		t.Errorf("the admin's policy page has %d forms", n)
	}
	admin.post("/projects/locked/policy/retention/rules/1/delete", url.Values{"csrf": {"forged"}, "confirm": {"yes"}}).expect("no token", 403, "CSRF")
	admin.post("/projects/locked/policy/retention/run", url.Values{"csrf": {""}, "dry_run": {"on"}}).expect("empty token", 403, "CSRF")
	if pol := policyOf(t, srv, "locked"); len(pol.Rules) != 1 {
		t.Error("a post without the token deleted a rule")
	}
}

// cloneForm copies a form (post sets the csrf field of the one it gets).
func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}
