package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/rbac"
)

// robotJSON is Harbor's Robot as the tests read it.
type robotJSON struct {
	ID           int64                  `json:"id"`
	Name         string                 `json:"name"`
	Description  string                 `json:"description"`
	Level        string                 `json:"level"`
	Duration     int64                  `json:"duration"`
	Editable     bool                   `json:"editable"`
	Disable      bool                   `json:"disable"`
	ExpiresAt    int64                  `json:"expires_at"`
	Permissions  []rbac.RobotPermission `json:"permissions"`
	CreatorType  string                 `json:"creator_type"`
	CreatorRef   int64                  `json:"creator_ref"`
	CreationTime string                 `json:"creation_time"`
	UpdateTime   string                 `json:"update_time"`
}

// robotCreatedJSON is Harbor's RobotCreated.
type robotCreatedJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Secret       string `json:"secret"`
	CreationTime string `json:"creation_time"`
	ExpiresAt    int64  `json:"expires_at"`
}

// robotPerm renders one permission entry; access items are "resource:action".
func robotPerm(kind, namespace string, access ...string) string {
	var acc []string
	for _, a := range access {
		res, act, _ := strings.Cut(a, ":")
		acc = append(acc, fmt.Sprintf(`{"resource":%q,"action":%q}`, res, act))
	}
	return fmt.Sprintf(`{"kind":%q,"namespace":%q,"access":[%s]}`, kind, namespace, strings.Join(acc, ","))
}

// robotBody renders a RobotCreate (or Robot) body; extra is more fields
// (`"duration":7`), without a leading comma.
func robotBody(name, level, extra string, perms ...string) string {
	b := fmt.Sprintf(`{"name":%q,"level":%q,"permissions":[%s]`, name, level, strings.Join(perms, ","))
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

// createRobot creates a robot as as and returns the answer.
func (e *mrEnv) createRobot(as mrAs, body string) robotCreatedJSON {
	e.t.Helper()
	status, h, b := e.do("POST", "/api/v2.0/robots", as, body)
	if status != http.StatusCreated {
		e.t.Fatalf("create robot %s: %d %s", body, status, b)
	}
	var out robotCreatedJSON
	mrDecode(e.t, b, &out)
	if out.Secret == "" || out.ID == 0 || h.Get("Location") != fmt.Sprintf("/api/v2.0/robots/%d", out.ID) {
		e.t.Fatalf("create robot: Location %q, body %s", h.Get("Location"), b)
	}
	return out
}

// getRobot reads robot id as admin.
func (e *mrEnv) getRobot(id int64) robotJSON {
	e.t.Helper()
	status, _, b := e.do("GET", fmt.Sprintf("/api/v2.0/robots/%d", id), mrAdmin, "")
	if status != http.StatusOK {
		e.t.Fatalf("get robot %d: %d %s", id, status, b)
	}
	var out robotJSON
	mrDecode(e.t, b, &out)
	return out
}

// robotList is the ListRobot path for q (escaped).
func robotList(q string) string {
	return "/api/v2.0/robots?q=" + url.QueryEscape(q)
}

// token asks the token service for scope with Basic credentials and
// returns the status and the access the token grants.
func (e *mrEnv) token(as mrAs, scope string) (int, []mrTokenAccess) {
	e.t.Helper()
	path := "/service/token?service=berth"
	if scope != "" {
		path += "&scope=" + url.QueryEscape(scope)
	}
	status, _, b := e.do("GET", path, as, "")
	if status != http.StatusOK {
		return status, nil
	}
	var resp struct {
		Token string `json:"token"`
	}
	mrDecode(e.t, b, &resp)
	parts := strings.Split(resp.Token, ".")
	if len(parts) != 3 {
		e.t.Fatalf("token %q is not a JWT", resp.Token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		e.t.Fatal(err)
	}
	var claims struct {
		Access []mrTokenAccess `json:"access"`
	}
	mrDecode(e.t, payload, &claims)
	return status, claims.Access
}

// mrTokenAccess is one scope a token grants.
type mrTokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// loginStatus is the status of a token request with the credentials: 200
// when they are good, 401 when not.
func (e *mrEnv) loginStatus(name, secret string) int {
	e.t.Helper()
	status, _ := e.token(mrAs{name, secret}, "")
	return status
}

// mrNear checks that Unix time got is within a minute of want.
func mrNear(t *testing.T, what string, got int64, want time.Time) {
	t.Helper()
	if d := got - want.Unix(); d < -60 || d > 60 {
		t.Errorf("%s %d (%s), want about %s", what, got, time.Unix(got, 0).UTC(), want.UTC())
	}
}
