package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// wireGet sends a GET as the administrator and returns the answer with its body.
func wireGet(t *testing.T, srv *testserver.InProcess, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestListAllPages asks every paged listing of the API for page=0 and
// page_size=0, as Harbor's CLI does to list everything: page=0 is the
// first page (Harbor's database layer applies OFFSET only to a positive
// page), page_size=0 is every row with X-Total-Count and no Link (LIMIT
// only for a positive size). A listing longer than the cap answers its
// first 1000 rows, the true total and a Link to the rest in pages of 100.
func TestListAllPages(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			f := newFixture(t, srv)
			listings := 0
			for _, op := range srv.App.API.Operations() {
				if op.Method != http.MethodGet || !strings.HasPrefix(op.RespDef, "[]") {
					continue
				}
				path, ok := f.fill(op.Path)
				if !ok {
					continue
				}
				path = "/api/v2.0" + path + "?" + map[string]string{
					"/users/search": "username=fix&",
					"/labels":       "scope=g&",
					"/projects/{project_name_or_id}/webhook/jobs": "policy_id=" + f.values["webhook_policy_id"] + "&",
				}[op.Path]
				resp, first := wireGet(t, srv, path+"page=1&page_size=1")
				if resp.StatusCode != http.StatusOK {
					continue
				}
				if resp, _ := wireGet(t, srv, path+"page=x"); resp.StatusCode != http.StatusBadRequest {
					continue // not a paged listing
				}
				listings++
				if resp, body := wireGet(t, srv, path+"page=0&page_size=1"); resp.StatusCode != http.StatusOK || body != first {
					t.Errorf("GET %spage=0&page_size=1: %d %.200s, want the first page %.200s", path, resp.StatusCode, body, first)
				}
				for _, q := range []string{"page_size=0", "page=0&page_size=0", "page=3&page_size=0"} {
					resp, body := wireGet(t, srv, path+q)
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET %s%s: %d %.200s, want 200", path, q, resp.StatusCode, body)
						continue
					}
					var rows []json.RawMessage
					if err := json.Unmarshal([]byte(body), &rows); err != nil {
						t.Errorf("GET %s%s: %v", path, q, err)
						continue
					}
					total := resp.Header.Get("X-Total-Count")
					if total != strconv.Itoa(len(rows)) || resp.Header.Get("Link") != "" {
						t.Errorf("GET %s%s: %d rows, X-Total-Count %q, Link %q; want every row and no Link", path, q, len(rows), total, resp.Header.Get("Link"))
					}
				}
				for _, q := range []string{"page=-1", "page_size=-1", "page_size=101"} {
					if resp, body := wireGet(t, srv, path+q); resp.StatusCode != http.StatusBadRequest {
						t.Errorf("GET %s%s: %d %.200s, want 400", path, q, resp.StatusCode, body)
					}
				}
			}
			if listings < 15 {
				t.Errorf("only %d listings checked", listings)
			}
			t.Logf("%d listings checked", listings)

			// Beyond the cap: 1001 global labels besides the fixture's.
			ctx := context.Background()
			for i := range 1001 {
				if _, err := srv.App.DB.CreateLabel(ctx, store.Label{Name: fmt.Sprintf("many-%04d", i), Color: "#000000", Scope: store.LabelGlobal}); err != nil {
					t.Fatal(err)
				}
			}
			resp, body := wireGet(t, srv, "/api/v2.0/labels?scope=g&page_size=0")
			var rows []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(body), &rows); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("labels page_size=0: %d %v %.200s", resp.StatusCode, err, body)
			}
			if len(rows) != 1000 || resp.Header.Get("X-Total-Count") != "1002" {
				t.Errorf("labels page_size=0: %d rows, X-Total-Count %q; want 1000 of 1002", len(rows), resp.Header.Get("X-Total-Count"))
			}
			link := resp.Header.Get("Link")
			if !strings.Contains(link, "page=11") || !strings.Contains(link, "page_size=100") || !strings.HasSuffix(link, `rel="next"`) || strings.Contains(link, "prev") {
				t.Fatalf("labels page_size=0: Link %q, want next at page 11 of 100", link)
			}
			next := strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
			resp, body = wireGet(t, srv, next)
			var rest []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(body), &rest); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %v", next, resp.StatusCode, err)
			}
			seen := map[string]bool{}
			for _, r := range append(rows, rest...) {
				seen[r.Name] = true
			}
			if len(rest) != 2 || len(seen) != 1002 {
				t.Errorf("following the Link: %d more rows, %d distinct in all; want 2 and 1002", len(rest), len(seen))
			}
		})
	}
}

// TestRobotSearchByName: q=name matches a robot's name as Harbor stores it,
// without "robot$" (and with its project part for a project robot), exactly
// or fuzzily, also when the CLI sends q URL-encoded twice; the answer
// carries the full name.
func TestRobotSearchByName(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			admin := func(method, path, body string, out any) int {
				t.Helper()
				return auditCall(t, srv, method, "/api/v2.0"+path, "admin", testserver.AdminPassword, []byte(body), "application/json", out).StatusCode
			}
			if st := admin("POST", "/projects", `{"project_name":"team"}`, nil); st != http.StatusCreated {
				t.Fatalf("create project: %d", st)
			}
			var p struct {
				ID int64 `json:"project_id"`
			}
			admin("GET", "/projects/team", "", &p)
			pull := `[{"kind":"project","namespace":"team","access":[{"resource":"repository","action":"pull"}]}]`
			if st := admin("POST", "/robots", `{"name":"sysbot","level":"system","duration":-1,"permissions":`+pull+`}`, nil); st != http.StatusCreated {
				t.Fatalf("create system robot: %d", st)
			}
			if st := admin("POST", "/robots", `{"name":"ci","level":"project","duration":-1,"permissions":`+pull+`}`, nil); st != http.StatusCreated {
				t.Fatalf("create project robot: %d", st)
			}
			proj := fmt.Sprintf("Level=project,ProjectID=%d,", p.ID)
			for _, c := range []struct {
				rawQ string // as sent in the URL, after "q="
				want string // "" for none
			}{
				{url.QueryEscape("name=sysbot"), "robot$sysbot"},
				{"name=sysbot", "robot$sysbot"},
				{url.QueryEscape("name=~sysb"), "robot$sysbot"},
				{url.QueryEscape("name=robot$sysbot"), ""},
				{url.QueryEscape(proj + "name=team+ci"), "robot$team+ci"},
				{url.QueryEscape(proj + "name=~team+c"), "robot$team+ci"},
				{url.QueryEscape(url.QueryEscape(proj + "name=team+ci")), "robot$team+ci"},
				{url.QueryEscape(url.QueryEscape(proj)), "robot$team+ci"},
				{url.QueryEscape(proj + "name=ci"), ""},
			} {
				var got []struct {
					Name string `json:"name"`
				}
				if st := admin("GET", "/robots?q="+c.rawQ, "", &got); st != http.StatusOK {
					t.Errorf("GET /robots?q=%s: %d", c.rawQ, st)
					continue
				}
				switch {
				case c.want == "" && len(got) != 0:
					t.Errorf("GET /robots?q=%s: %v, want none", c.rawQ, got)
				case c.want != "" && (len(got) != 1 || got[0].Name != c.want):
					t.Errorf("GET /robots?q=%s: %v, want %s", c.rawQ, got, c.want)
				}
			}
		})
	}
}

// TestJobQueueCaseInsensitive: Harbor upper-cases the job type of
// PUT /jobservice/queues/{job_type} and compares the action without regard
// to case, so the CLI's ALL and a lower-case job type both work.
func TestJobQueueCaseInsensitive(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	call := func(method, path, body string, out any) int {
		t.Helper()
		return auditCall(t, srv, method, "/api/v2.0"+path, "admin", testserver.AdminPassword, []byte(body), "application/json", out).StatusCode
	}
	queues := func() map[string]bool {
		t.Helper()
		var qs []struct {
			JobType string `json:"job_type"`
			Paused  bool   `json:"paused"`
		}
		if st := call("GET", "/jobservice/queues", "", &qs); st != http.StatusOK || len(qs) == 0 {
			t.Fatalf("GET /jobservice/queues: %d %v", st, qs)
		}
		out := map[string]bool{}
		for _, q := range qs {
			out[q.JobType] = q.Paused
		}
		return out
	}
	if st := call("PUT", "/jobservice/queues/ALL", `{"action":"PAUSE"}`, nil); st != http.StatusOK {
		t.Fatalf("PUT /jobservice/queues/ALL pause: %d", st)
	}
	for k, paused := range queues() {
		if !paused {
			t.Errorf("queue %s not paused after ALL", k)
		}
	}
	var sp struct {
		Paused bool `json:"paused"`
	}
	if st := call("GET", "/schedules/ALL/paused", "", &sp); st != http.StatusOK || !sp.Paused {
		t.Errorf("GET /schedules/ALL/paused: %d %v", st, sp)
	}
	if st := call("PUT", "/jobservice/queues/garbage_collection", `{"action":"Resume"}`, nil); st != http.StatusOK {
		t.Fatalf("PUT /jobservice/queues/garbage_collection resume: %d", st)
	}
	if q := queues(); q["GARBAGE_COLLECTION"] {
		t.Errorf("GARBAGE_COLLECTION still paused: %v", q)
	}
	if st := call("PUT", "/jobservice/queues/all", `{"action":"resume"}`, nil); st != http.StatusOK {
		t.Fatalf("PUT /jobservice/queues/all resume: %d", st)
	}
	if st := call("PUT", "/jobservice/queues/NO_SUCH", `{"action":"stop"}`, nil); st != http.StatusNotFound {
		t.Errorf("PUT /jobservice/queues/NO_SUCH: %d, want 404", st)
	}
	if st := call("PUT", "/jobservice/queues/ALL", `{"action":"explode"}`, nil); st != http.StatusBadRequest {
		t.Errorf("PUT /jobservice/queues/ALL explode: %d, want 400", st)
	}
}

// wireSend sends method path with a JSON body as the administrator.
func wireSend(t *testing.T, srv *testserver.InProcess, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDocumentedFieldsAccepted: a request body may carry every field of
// its reference model (Harbor's clients send whole models); the fields the
// handler does not read are ignored, and a field no model has is still
// refused. harbor-cli and xk6-harbor create a tag with a whole Tag.
func TestDocumentedFieldsAccepted(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	f := newFixture(t, srv)
	tags := "/api/v2.0/projects/fixture/repositories/app/artifacts/v1/tags"
	st, body := wireSend(t, srv, "POST", tags, `{"id":0,"repository_id":0,"artifact_id":0,"name":"v2","immutable":false,"signed":false,`+
		`"pull_time":"0001-01-01T00:00:00.000Z","push_time":"2024-05-01T10:00:00.000Z"}`)
	if st != http.StatusCreated {
		t.Fatalf("POST tags with a whole Tag: %d %s", st, body)
	}
	if resp, _ := wireGet(t, srv, "/api/v2.0/projects/fixture/repositories/app/artifacts/v2"); resp.StatusCode != http.StatusOK {
		t.Errorf("tag v2 not created: %d", resp.StatusCode)
	}
	st, body = wireSend(t, srv, "POST", tags, `{"name":"v3","colour":"red"}`)
	if st != http.StatusBadRequest || !strings.Contains(body, `unknown field \"colour\"`) {
		t.Errorf("POST tags with an unknown field: %d %s, want 400 naming it", st, body)
	}
	st, body = wireSend(t, srv, "POST", "/api/v2.0/labels", `{"id":0,"name":"whole","color":"#112233","description":"","scope":"g",`+
		`"project_id":0,"creation_time":"2024-05-01T10:00:00Z","update_time":"2024-05-01T10:00:00Z"}`)
	if st != http.StatusCreated {
		t.Errorf("POST /labels with a whole Label: %d %s", st, body)
	}

	// Every write the reference documents a body for: its model's fields
	// (null) are never an unknown field.
	var models map[string]struct {
		Props map[string]json.RawMessage `json:"p"`
	}
	if err := json.Unmarshal(api.RequestModels(), &models); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, op := range srv.App.API.Operations() {
		m, ok := models[op.ID]
		if !ok || len(m.Props) == 0 {
			continue
		}
		path, ok := f.fill(op.Path)
		if !ok {
			continue
		}
		fields := map[string]any{}
		for k := range m.Props {
			fields[k] = nil
		}
		b, _ := json.Marshal(fields)
		st, body := wireSend(t, srv, op.Method, "/api/v2.0"+path, string(b))
		if strings.Contains(body, "unknown field") {
			t.Errorf("%s %s (%s) with its model's fields: %d %.300s", op.Method, path, op.ID, st, body)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d writes checked", checked)
	}
	t.Logf("%d writes checked", checked)
}

// TestConfigurationsComplete: GET /configurations answers every field of
// the reference's ConfigurationsResponse, each {"value", "editable"} of the
// documented type (harbor-cli's table view reads them all); the settings of
// features Berth lacks answer their off state and refuse a change with
// 400, while writing back their current value is a no-op.
func TestConfigurationsComplete(t *testing.T) {
	spec := loadReference(t)
	srv := testserver.NewInProcess(t, "sqlite")
	resp, body := wireGet(t, srv, "/api/v2.0/configurations")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /configurations: %d %s", resp.StatusCode, body)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	props := spec.properties(spec.Definitions["ConfigurationsResponse"])
	if len(props) < 50 {
		t.Fatalf("reference has %d properties", len(props))
	}
	jsonType := map[string]string{"StringConfigItem": "string", "BoolConfigItem": "bool", "IntegerConfigItem": "number"}
	for name, p := range props {
		raw, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		want, isItem := jsonType[strings.TrimPrefix(p.Ref, "#/definitions/")]
		if !isItem {
			continue // scan_all_policy: a plain object
		}
		var item map[string]any
		if err := json.Unmarshal(raw, &item); err != nil || len(item) != 2 {
			t.Errorf("%s: %s, want {value, editable}", name, raw)
			continue
		}
		if _, ok := item["editable"].(bool); !ok {
			t.Errorf("%s: editable %v", name, item["editable"])
		}
		var typ string
		switch item["value"].(type) {
		case string:
			typ = "string"
		case bool:
			typ = "bool"
		case float64:
			typ = "number"
		}
		if typ != want {
			t.Errorf("%s: value %v, want a %s", name, item["value"], want)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"auth_mode", `{"value":"db_auth","editable":false}`},
		{"ldap_url", `{"value":"","editable":false}`},
		{"oidc_endpoint", `{"value":"","editable":false}`},
		{"primary_auth_mode", `{"value":false,"editable":false}`},
		{"quota_per_project_enable", `{"value":true,"editable":false}`},
		{"scan_all_policy", `{"type":"none"}`},
		{"webhook_block_internal_targets", `{"value":false,"editable":true}`},
	} {
		if string(got[c.name]) != c.want {
			t.Errorf("%s = %s, want %s", c.name, got[c.name], c.want)
		}
	}

	put := func(body string) (int, string) { return wireSend(t, srv, "PUT", "/api/v2.0/configurations", body) }
	for _, b := range []string{`{"ldap_url":"ldaps://ldap.example.com"}`, `{"oidc_verify_cert":true}`, `{"ldap_scope":2}`,
		`{"quota_per_project_enable":false}`, `{"uaa_client_secret":"s3cret"}`} {
		if st, body := put(b); st != http.StatusBadRequest || !strings.Contains(body, "cannot be changed") {
			t.Errorf("PUT %s: %d %s, want 400", b, st, body)
		}
	}
	if st, body := put(`{"ldap_url":"","oidc_verify_cert":false,"quota_per_project_enable":true,"primary_auth_mode":false,` +
		`"webhook_block_internal_targets":true,"banner_message":"hello"}`); st != http.StatusOK {
		t.Fatalf("PUT with unchanged unsupported settings: %d %s", st, body)
	}
	_, body = wireGet(t, srv, "/api/v2.0/configurations")
	json.Unmarshal([]byte(body), &got)
	if string(got["webhook_block_internal_targets"]) != `{"value":true,"editable":true}` || string(got["banner_message"]) != `{"value":"hello","editable":true}` {
		t.Errorf("after PUT: %s %s", got["webhook_block_internal_targets"], got["banner_message"])
	}
}
