package ui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// apiStatusAs is the status of an API call made with user's password.
func apiStatusAs(t *testing.T, srv *testserver.InProcess, user, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/api/v2.0"+path, nil)
	req.SetBasicAuth(user, userPassword)
	req.Header.Set("X-Is-Resource-Name", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleAsksTheServices checks the console's direct service calls
// against the API's answers to the same callers: a hidden project, a
// refused member change, and read-only mode, which the API's routes
// enforce and the console's direct writes must enforce too.
func TestConsoleAsksTheServices(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			if st := apiCall(t, srv, http.MethodPost, "/projects", map[string]any{"project_name": "svc", "metadata": map[string]string{"public": "false"}}); st != http.StatusCreated {
				t.Fatalf("create project: %d", st)
			}
			pid := projectID(t, srv, "svc")
			devID := user(t, srv, "svc-dev")
			user(t, srv, "svc-stranger")
			newcomer := user(t, srv, "svc-new")
			member(t, srv, pid, devID, rbac.Developer)
			var members []struct {
				ID         int64  `json:"id"`
				EntityName string `json:"entity_name"`
			}
			apiGet(t, srv, "/projects/svc/members", &members)
			var devMember int64
			for _, m := range members {
				if m.EntityName == "svc-dev" {
					devMember = m.ID
				}
			}
			if devMember == 0 {
				t.Fatalf("no membership of svc-dev: %+v", members)
			}

			// A private project is hidden from a non-member, in the console
			// as in the API.
			stranger := newBrowser(t, srv)
			stranger.login("svc-stranger", userPassword)
			stranger.get("/projects/svc/members").expect("a stranger's view", 404, "project svc not found")
			if st := apiStatusAs(t, srv, "svc-stranger", http.MethodGet, "/projects/svc"); st != http.StatusNotFound {
				t.Errorf("API to a stranger: %d, want 404", st)
			}

			// A developer may see the members but not remove one: the
			// console's answer is the API's.
			dev := newBrowser(t, srv)
			dev.login("svc-dev", userPassword)
			dev.get("/projects/svc/members").expect("a developer's members tab", 200, "svc-dev")
			mid := strconv.FormatInt(devMember, 10)
			p := dev.post("/projects/svc/members/"+mid+"/delete", url.Values{"confirm": {"yes"}, "name": {"svc-dev"}})
			api := apiStatusAs(t, srv, "svc-dev", http.MethodDelete, "/projects/svc/members/"+mid)
			if p.status != http.StatusForbidden || api != http.StatusForbidden {
				t.Errorf("a developer removing a member: console %d, API %d, want 403 from both", p.status, api)
			}

			// Read-only mode refuses the console's direct writes.
			admin := newBrowser(t, srv)
			admin.login("admin", testserver.AdminPassword)
			if st := apiCall(t, srv, http.MethodPut, "/configurations", map[string]any{"read_only": true}); st != http.StatusOK {
				t.Fatalf("read-only on: %d", st)
			}
			admin.post("/projects/svc/members", url.Values{"username": {"svc-new"}, "role_id": {"2"}}).
				expect("adding a member in read-only mode", 403, errs.ReadOnlyMessage)
			admin.post("/admin/users/"+strconv.FormatInt(newcomer, 10)+"/admin", url.Values{"admin": {"true"}, "name": {"svc-new"}}).
				expect("making an administrator in read-only mode", 403, errs.ReadOnlyMessage)
			admin.post("/projects/svc/delete", url.Values{"confirm": {"yes"}}).
				expect("deleting a project in read-only mode", 403, errs.ReadOnlyMessage)
			if st := apiCall(t, srv, http.MethodPut, "/configurations", map[string]any{"read_only": false}); st != http.StatusOK {
				t.Fatalf("read-only off: %d", st)
			}
			apiGet(t, srv, "/projects/svc/members", &members)
			for _, m := range members {
				if m.EntityName == "svc-new" {
					t.Error("a member was added in read-only mode")
				}
			}
			if u, err := srv.App.DB.UserByName(t.Context(), "svc-new"); err != nil || u.SysAdmin {
				t.Errorf("svc-new after read-only mode: %+v %v", u, err)
			}
			if _, err := srv.App.DB.ProjectByName(t.Context(), "svc"); err != nil {
				t.Errorf("the project went in read-only mode: %v", err)
			}

			// Out of read-only mode the same write goes through.
			p = admin.post("/projects/svc/members", url.Values{"username": {"svc-new"}, "role_id": {"2"}})
			if p.status != http.StatusSeeOther {
				t.Fatalf("adding a member: %d %.500s", p.status, p.text())
			}
		})
	}
}
