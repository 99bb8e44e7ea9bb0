package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// mrEnv is a server prepared for the member and robot tests: a private
// project "team" with one user per role, an outsider, and a recorder of
// the audit events the API publishes.
type mrEnv struct {
	t      *testing.T
	srv    *testserver.InProcess
	team   *store.Project
	other  *store.Project // another private project, no members
	users  map[string]int64
	mu     sync.Mutex
	events []event.Event
	// reads holds the body of every GET answered, for the check that
	// robot secrets never appear in them.
	reads [][]byte
}

// mrPassword is every test user's password.
const mrPassword = "Member-Pass-1"

// mrAs is who makes a request: a user or robot name and password ("" for
// anonymous).
type mrAs struct{ name, pass string }

var (
	mrAnon  = mrAs{}
	mrAdmin = mrAs{"admin", testserver.AdminPassword}
)

func mrUser(name string) mrAs { return mrAs{name, mrPassword} }

// mrRoles are the team members by role; olivia is no member.
var mrRoles = map[string]rbac.Role{
	"alice": rbac.ProjectAdmin, "mike": rbac.Maintainer, "dave": rbac.Developer, "gina": rbac.Guest, "lena": rbac.LimitedGuest,
}

func newMREnv(t *testing.T, backend string) *mrEnv {
	t.Helper()
	ctx := context.Background()
	srv := testserver.NewInProcess(t, backend)
	e := &mrEnv{t: t, srv: srv, users: map[string]int64{}}
	srv.App.Events.Subscribe("member-robot-test", 10000, func(batch []event.Event) {
		e.mu.Lock()
		e.events = append(e.events, batch...)
		e.mu.Unlock()
	})
	db := srv.App.DB
	hash, err := auth.HashPassword(mrPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "mike", "dave", "gina", "lena", "olivia", "newbie"} {
		id, err := db.CreateUser(ctx, store.User{Username: name, Email: name + "@example.com", PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = id
	}
	admin, err := db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.users["admin"] = admin.ID
	for _, name := range []string{"team", "other"} {
		// No owner: the member list then holds exactly the members the tests add.
		if _, err := db.CreateProject(ctx, store.Project{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if e.team, err = db.ProjectByName(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if e.other, err = db.ProjectByName(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	for name, role := range mrRoles {
		if _, err := db.AddMember(ctx, store.Member{ProjectID: e.team.ID, EntityType: store.EntityUser, EntityID: e.users[name], Role: int(role)}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// do sends a request to the server and returns the status, headers and body.
func (e *mrEnv) do(method, path string, as mrAs, body string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if as.name != "" {
		req.SetBasicAuth(as.name, as.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if method == http.MethodGet {
		e.reads = append(e.reads, b)
	}
	return resp.StatusCode, resp.Header, b
}

// mrCase is one row of a request table.
type mrCase struct {
	name   string
	method string
	path   string
	as     mrAs
	body   string
	status int
	code   string                                      // Harbor error code, checked when the status is an error
	check  func(t *testing.T, h http.Header, b []byte) // optional
}

// run runs each row as a subtest.
func (e *mrEnv) run(cases []mrCase) {
	e.t.Helper()
	for _, c := range cases {
		e.t.Run(c.name, func(t *testing.T) {
			saved := e.t
			e.t = t
			defer func() { e.t = saved }()
			status, h, b := e.do(c.method, c.path, c.as, c.body)
			if status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, status, c.status, b)
			}
			if status >= 400 {
				var eb struct {
					Errors []struct{ Code, Message string } `json:"errors"`
				}
				if err := json.Unmarshal(b, &eb); err != nil || len(eb.Errors) != 1 || eb.Errors[0].Message == "" {
					t.Fatalf("error body %s is not Harbor's", b)
				}
				if c.code != "" && eb.Errors[0].Code != c.code {
					t.Errorf("error code %s, want %s (%s)", eb.Errors[0].Code, c.code, eb.Errors[0].Message)
				}
			}
			if c.check != nil {
				c.check(t, h, b)
			}
		})
	}
}

// mrDecode decodes b into v or fails t.
func mrDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// total returns X-Total-Count of a listing the admin makes.
func (e *mrEnv) total(path string) int {
	e.t.Helper()
	status, h, b := e.do("GET", path, mrAdmin, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, b)
	}
	n, err := strconv.Atoi(h.Get("X-Total-Count"))
	if err != nil {
		e.t.Fatalf("GET %s: X-Total-Count %q", path, h.Get("X-Total-Count"))
	}
	return n
}

// wantEvent waits for an audit event with the fields of want (Operator,
// Operation, ResourceType, Resource, ProjectID, Success).
func (e *mrEnv) wantEvent(want event.Event) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		for _, ev := range e.events {
			if ev.Type == event.Operation && ev.Operator == want.Operator && ev.Operation == want.Operation &&
				ev.ResourceType == want.ResourceType && ev.Resource == want.Resource && ev.ProjectID == want.ProjectID &&
				ev.Success == want.Success {
				e.mu.Unlock()
				return
			}
		}
		got := append([]event.Event(nil), e.events...)
		e.mu.Unlock()
		if time.Now().After(deadline) {
			for _, ev := range got {
				if ev.Type == event.Operation {
					e.t.Logf("event: %+v", ev)
				}
			}
			e.t.Fatalf("no audit event %s %s %q in project %d by %s (success %v)", want.Operation, want.ResourceType,
				want.Resource, want.ProjectID, want.Operator, want.Success)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mrBigBody is a JSON object larger than the API accepts.
func mrBigBody() string {
	var b bytes.Buffer
	b.WriteString(`{"role_id":1,"x":"`)
	b.Write(bytes.Repeat([]byte("a"), 1<<20+10))
	b.WriteString(`"}`)
	return b.String()
}
