package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// rpFix is the per-operation fixture layer of the replay: what the
// client's caller sets. The resources, paths and bodies come from the
// authorization matrix's rows (made for the administrator); the rest of
// each request (defaults, headers, the full body model) comes from the
// reference spec.
type rpFix struct {
	variant string // which matrix row gives the path and body ("" the first)
	// model is the body definition go-client v0.213 marshals when it is
	// not the one the reference names (the reference moved on).
	model string
	// status, when set, is the answer Harbor itself gives to this request
	// (why says why), instead of the spec's success codes.
	status int
	why    string
	// body, when set, gives the fields the client's caller sets instead
	// of the matrix row's body (e.g. harbor-cli's own request).
	body func(e *mxEnv) map[string]any
	// qs are q filters the CLI sends; each is replayed as typed and
	// percent-encoded once more (a caller that escapes q itself).
	qs func(e *mxEnv) []rpQ
	// more are further calls of the operation (other path values).
	more func(e *mxEnv) []string
	// complete: the client dereferences every field of the response model
	// (pointers to nested models), so each must be present.
	complete bool
}

// rpQ is a q filter and an element the listing must then hold.
type rpQ struct{ q, field, want string }

// rpFixes has one entry for every operation Berth implements: an
// operation without one fails the test.
func rpFixes() map[string]rpFix {
	none := rpFix{}
	return map[string]rpFix{
		"getPing": none, "getHealth": none, "getSystemInfo": none, "getVolumes": none, "getStatistic": none,
		// harbor-cli's config view prints every item, and robot create reads
		// Payload.RobotNamePrefix.Value: a missing item is a nil pointer.
		"getConfigurations": {complete: true}, "updateConfigurations": none,
		"listProjects": {qs: func(*mxEnv) []rpQ { return []rpQ{{"name=matrix", "name", "matrix"}} }},
		"headProject":  none, "createProject": none,
		// harbor-cli's GetProject(id, true): the ID, X-Is-Resource-Name false.
		"getProject": {more: func(e *mxEnv) []string { return []string{fmt.Sprintf("/projects/%d", e.matrixID)} }}, "updateProject": none, "deleteProject": none,
		"getProjectDeletable": none, "getProjectSummary": none, "getProjectPermissions": none,
		"listProjectMetadatas": none, "addProjectMetadatas": none, "getProjectMetadata": none,
		"updateProjectMetadata": none, "deleteProjectMetadata": none,
		"listQuotas": none, "getQuota": none, "updateQuota": none,
		"listUsers":  {qs: func(*mxEnv) []rpQ { return []rpQ{{"username=alice", "username", "alice"}} }},
		"createUser": none, "getCurrentUserInfo": none, "searchUsers": none, "getCurrentUserPermissions": none,
		"getUser": none, "updateUserProfile": none, "deleteUser": none, "setUserSysAdmin": none, "updateUserPassword": none,
		"setCliSecret":       {status: http.StatusPreconditionFailed, why: "Harbor answers 412 outside oidc_auth"},
		"getPermissions":     none,
		"listProjectMembers": none, "createProjectMember": none, "getProjectMember": none,
		"updateProjectMember": none, "deleteProjectMember": none,
		// harbor-cli: robot list --project (constants.ProjectQString), and
		// with a name as Harbor stores it (without the robot$ prefix the
		// listing shows). Without Level, Harbor lists system robots only.
		"ListRobot": {variant: "system robots", qs: func(e *mxEnv) []rpQ {
			inProject := fmt.Sprintf("Level=project,ProjectID=%d", e.matrixID)
			return []rpQ{
				{inProject, "name", e.robotName},
				{inProject + ",name=" + strings.TrimPrefix(e.robotName, "robot$"), "name", e.robotName},
			}
		}},
		"CreateRobot": none, "GetRobotByID": none, "UpdateRobot": none, "RefreshSec": none, "DeleteRobot": none,
		"listAllRepositories": {qs: func(*mxEnv) []rpQ { return []rpQ{{"name=~app", "name", "matrix/app"}} }},
		"listRepositories":    {qs: func(*mxEnv) []rpQ { return []rpQ{{"name=~app", "name", "matrix/app"}} }},
		"getRepository":       none, "updateRepository": none, "deleteRepository": none,
		"listArtifacts": none, "CopyArtifact": none, "getArtifact": none, "deleteArtifact": none,
		// go-client's CreateTagParams carries a models.Tag (the reference
		// now names NewTag).
		"createTag": {model: "Tag"},
		"listTags":  none, "deleteTag": none, "listAccessories": none, "getVulnerabilitiesAddition": none,
		"getAddition": none, "addLabel": none, "removeLabel": none, "listArtifactsOfProject": none, "listAllArtifacts": none,
		"ListLabels": none, "CreateLabel": none, "GetLabelByID": none, "UpdateLabel": none, "DeleteLabel": none,
		"search":        none,
		"listAuditLogs": none, "listAuditLogExts": none, "listAuditLogEventTypes": none, "getLogs": none, "getLogExts": none,
		"getWorkerPools": none, "getWorkers": none, "stopRunningJob": none, "actionGetJobLog": none, "listJobQueues": none,
		// "'all' stands for all job types" (harbor-cli: jobservice queue ... ALL).
		"actionPendingJobs": {more: func(*mxEnv) []string { return []string{"/jobservice/queues/ALL", "/jobservice/queues/all"} }},
		"listSchedules":     none, "getSchedulePaused": none,
		"getPurgeHistory": none, "getPurgeJob": none, "stopPurge": none, "getPurgeJobLog": none, "getPurgeSchedule": none,
		"createPurgeSchedule": none, "updatePurgeSchedule": none,
		"ListImmuRules": none,
		// harbor-cli's CreateImmutable: selectors with decoration and pattern only.
		"CreateImmuRule": {body: func(e *mxEnv) map[string]any {
			return map[string]any{
				"tag_selectors":   []any{map[string]any{"decoration": "matches", "pattern": e.uniq("nomatch")}},
				"scope_selectors": map[string]any{"repository": []any{map[string]any{"decoration": "repoMatches", "pattern": "nomatch"}}},
			}
		}},
		"UpdateImmuRule": none, "DeleteImmuRule": none,
		"getRentenitionMetadata": none,
		// harbor-cli's CreateRetention: selectors without kind, trigger
		// settings {"cron": ""}, params nil for "always".
		"createRetention": {body: func(e *mxEnv) map[string]any {
			return map[string]any{"algorithm": "or",
				"rules": []any{map[string]any{"action": "retain", "template": "always",
					"tag_selectors":   []any{map[string]any{"decoration": "matches", "pattern": "**", "extras": `{"untagged":true}`}},
					"scope_selectors": map[string]any{"repository": []any{map[string]any{"decoration": "repoMatches", "pattern": "**"}}}}},
				"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": ""}},
				"scope":   map[string]any{"level": "project", "ref": e.matrixID}}
		}},
		"getRetention": none, "updateRetention": none, "deleteRetention": none, "triggerRetentionExecution": none,
		"listRetentionExecutions": none, "operateRetentionExecution": none, "listRetentionTasks": none, "getRetentionTaskLog": none,
		"ListWebhookPoliciesOfProject": none, "CreateWebhookPolicyOfProject": none, "GetWebhookPolicyOfProject": none,
		// harbor-cli's webhook edit sends the whole policy.
		"UpdateWebhookPolicyOfProject": {body: func(e *mxEnv) map[string]any {
			return map[string]any{"name": "mxhook", "description": "replayed", "enabled": true, "event_types": []any{"TAG_RETENTION"},
				"targets": []any{map[string]any{"type": "http", "address": "http://127.0.0.1:9/hook", "skip_cert_verify": true}}}
		}}, "DeleteWebhookPolicyOfProject": none, "ListExecutionsOfWebhookPolicy": none,
		"ListTasksOfWebhookExecution": none, "GetLogsOfWebhookTask": none, "RetryWebhookExecution": none,
		"TestWebhookPolicyOfProject": none, "LastTrigger": none, "ListWebhookJobs": none, "GetSupportedEventTypes": none,
		"getGCHistory": none, "getGC": none, "stopGC": none, "getGCLog": none, "getGCSchedule": none,
		"createGCSchedule": none, "updateGCSchedule": none,
	}
}

// TestHarborClientReplay replays, for every operation Berth implements,
// the requests goharbor/go-client (v0.213, generated by go-swagger from
// Harbor's swagger) sends, and reads the answers as it reads them:
//
//   - with defaults hydrated (e.g. ListProjectsParams.WithDefaults): every query and
//     header parameter with a spec default set to it, X-Request-Id, and the
//     full body model (see replay_helpers_test.go for what go-swagger
//     marshals);
//   - for paged listings, also as harbor-cli's "list all" helpers call
//     them (struct literals from zero ListFlags: page=0&page_size=0 and
//     nothing else);
//   - the q filters harbor-cli sends, as typed and once more escaped;
//
// and checks the status is the spec's success code and the body decodes
// into the response model: every field of the model with its JSON type,
// date-times the client parses, required fields present, integer
// headers (X-Total-Count) integers. Each operation's mismatches are
// reported on one line.
func TestHarborClientReplay(t *testing.T) {
	spec := loadReplaySpec(t)
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			e := newMXEnv(t, backend)
			rows := append(append(append(append(mxRows(), retentionMXRows()...), webhookMXRows()...), jobsMXRows()...), gcMXRows()...)
			fixes := rpFixes()
			seen := map[string]bool{}
			calls, failed := 0, 0
			for _, op := range e.srv.App.API.Operations() {
				fix, ok := fixes[op.ID]
				if !ok {
					t.Errorf("%s %s (%s) has no replay row: add one to rpFixes", op.Method, op.Path, op.ID)
					continue
				}
				if seen[op.ID] {
					continue
				}
				seen[op.ID] = true
				var row *mxRow
				for i := range rows {
					if rows[i].op == op.ID && (fix.variant == "" || rows[i].variant == fix.variant) {
						row = &rows[i]
						break
					}
				}
				if row == nil {
					t.Errorf("%s: no matrix row (variant %q) to take the request from", op.ID, fix.variant)
					continue
				}
				var sop *rpOp
				if m, ok := spec.Paths[op.Path]; ok {
					sop = m[strings.ToLower(op.Method)]
				}
				if sop == nil && beyondHarbor[op.ID] == "" {
					t.Errorf("%s %s (%s): not in the reference", op.Method, op.Path, op.ID)
					continue
				}
				problems, n := e.replay(spec, sop, op.Method, row, fix)
				calls += n
				if len(problems) > 0 {
					failed++
					t.Errorf("replay %s %s (%s): %s", op.Method, op.Path, op.ID, strings.Join(problems, "; "))
				}
			}
			for id := range fixes {
				if !seen[id] {
					t.Errorf("replay row %s names no implemented operation", id)
				}
			}
			t.Logf("%s: %d operations, %d client calls replayed, %d operations with differences, in %v",
				backend, len(seen), calls, failed, time.Since(start).Round(time.Millisecond))
		})
	}
}

// replay makes one operation's client calls and returns what differs.
func (e *mxEnv) replay(spec *rpSpec, sop *rpOp, method string, row *mxRow, fix rpFix) ([]string, int) {
	t := e.t
	t.Helper()
	var problems []string
	calls := 0
	note := func(label string, bad []string) {
		for _, b := range bad {
			problems = append(problems, "["+label+"] "+b)
		}
	}
	q := row.req(e, mxAdmin)
	path, rawQuery, _ := strings.Cut(q.path, "?")
	own, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("%s: query of %s: %v", row.name(), q.path, err)
	}
	if sop == nil { // Berth's own: replayed as the matrix makes it
		r := rpCall{method: method, path: path, query: own, body: q.body}.send(t, e.srv)
		calls++
		if r.status >= 300 {
			note("as made", []string{fmt.Sprintf("answered %d: %.200s", r.status, r.body)})
		}
		if row.after != nil {
			row.after(e, mxAdmin, r)
		}
		return problems, calls
	}
	want := sop.successCodes()
	if fix.status != 0 {
		want = []int{fix.status}
	}

	// With defaults hydrated.
	c := rpCall{method: method, path: path, query: url.Values{}, header: http.Header{}}
	var paged [2]bool
	var bodySchema *rpSchema
	for _, p := range sop.Parameters {
		p = spec.param(p)
		switch {
		case p.In == "body":
			bodySchema = p.Schema
		case p.In == "query" && p.Name == "page":
			paged[0] = true
		case p.In == "query" && p.Name == "page_size":
			paged[1] = true
		}
		if len(p.Default) == 0 {
			continue
		}
		switch p.In {
		case "query":
			c.query.Set(p.Name, rpDefault(p.Default))
		case "header":
			c.header.Set(p.Name, rpDefault(p.Default))
		}
	}
	for k, v := range own {
		c.query[k] = v
	}
	produces := sop.Produces
	if len(produces) == 0 {
		produces = spec.Produces
	}
	c.header.Set("Accept", strings.Join(produces, ", "))
	c.header.Set("X-Request-Id", e.uniq("replay-"))
	if bodySchema != nil {
		if fix.model != "" {
			bodySchema = &rpSchema{Ref: "#/definitions/" + fix.model}
		}
		set := map[string]any{}
		switch {
		case fix.body != nil:
			set = fix.body(e)
		case q.body != nil:
			b, _ := json.Marshal(q.body)
			json.Unmarshal(b, &set)
		}
		var dropped []string
		c.body = spec.model(bodySchema, set, "", &dropped)
		if len(dropped) > 0 {
			t.Logf("%s: the client model has no %v (not sent)", row.name(), dropped)
		}
	}
	r := c.send(t, e.srv)
	calls++
	note("with defaults", spec.answer(sop, r, want))
	if fix.complete && r.status < 300 {
		note("with defaults", spec.complete(sop, r))
	}
	if row.after != nil {
		row.after(e, mxAdmin, r)
	}

	// harbor-cli's list-all helpers: page=0&page_size=0, nothing else set.
	if paged[0] && paged[1] && sop.listing(spec) {
		all := rpCall{method: method, path: path, query: url.Values{}, header: http.Header{"Accept": c.header["Accept"]}}
		for k, v := range own {
			all.query[k] = v
		}
		all.query.Set("page", "0")
		all.query.Set("page_size", "0")
		calls++
		note("list all page=0&page_size=0", spec.answer(sop, all.send(t, e.srv), want))
	}

	// q filters, as typed and escaped once more.
	if fix.qs != nil {
		for _, f := range fix.qs(e) {
			for _, qv := range []string{f.q, url.QueryEscape(f.q)} {
				fc := c
				fc.query = url.Values{}
				for k, v := range c.query {
					fc.query[k] = v
				}
				fc.query.Set("q", qv)
				label := "q=" + qv
				fr := fc.send(t, e.srv)
				calls++
				bad := spec.answer(sop, fr, want)
				if len(bad) == 0 && !rpFind(fr.body, f.field, f.want) {
					bad = append(bad, fmt.Sprintf("no element with %s %q in %.200s", f.field, f.want, fr.body))
				}
				note(label, bad)
			}
		}
	}

	// harbor-cli names projects with X-Is-Resource-Name: true (reads only).
	if c.header.Get("X-Is-Resource-Name") != "" && method == "GET" {
		nc := c
		nc.header = c.header.Clone()
		nc.header.Set("X-Is-Resource-Name", "true")
		calls++
		note("X-Is-Resource-Name: true", spec.answer(sop, nc.send(t, e.srv), want))
	}

	// Further path values of the operation, with the same request.
	if fix.more != nil {
		for _, p := range fix.more(e) {
			mc := c
			mc.path = p
			calls++
			note(p, spec.answer(sop, mc.send(t, e.srv), want))
		}
	}
	return problems, calls
}
