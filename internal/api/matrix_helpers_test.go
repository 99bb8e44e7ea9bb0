package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// mxWho is one of the principals of the authorization matrix.
type mxWho int

const (
	mxAnon         mxWho = iota // no credentials
	mxAlice                     // projectAdmin of "matrix"
	mxMike                      // maintainer
	mxDave                      // developer
	mxGina                      // guest
	mxLena                      // limitedGuest
	mxNobody                    // a signed-in user without any role in "matrix"
	mxRobotWith                 // a project robot holding exactly the permission the operation needs
	mxRobotWithout              // a project robot holding an unrelated permission
	mxSysRobot                  // a system robot with the relevant system permission (or the project one on "*")
	mxAdmin                     // the system administrator
	mxPrincipals
)

var mxNames = [mxPrincipals]string{"anon", "alice", "mike", "dave", "gina", "lena", "nobody", "robot+", "robot-", "sysrobot", "admin"}

// mxRoleOf gives the users their role in the project, by Harbor's role IDs
// (src/common/const.go): projectAdmin 1, developer 2, guest 3, maintainer 4,
// limitedGuest 5.
var mxRoleOf = map[mxWho]int{mxAlice: 1, mxMike: 4, mxDave: 2, mxGina: 3, mxLena: 5}

func (w mxWho) String() string { return mxNames[w] }

func (w mxWho) isUser() bool { return w >= mxAlice && w <= mxNobody }

// mxPerm is one (resource, action), as robot permissions spell it.
type mxPerm struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// mxPerms parses "repository:pull,artifact:read".
func mxPerms(s string) []mxPerm {
	var out []mxPerm
	for _, f := range strings.Split(s, ",") {
		res, act, _ := strings.Cut(strings.TrimSpace(f), ":")
		out = append(out, mxPerm{res, act})
	}
	return out
}

// mxReq is one request of a matrix row, built for one principal.
type mxReq struct {
	path    string // under /api/v2.0, with its query
	body    any    // nil, or a value to send as JSON
	project string // the private project the request is about ("" for system-level requests); robots live there
}

// mxResp is an answer.
type mxResp struct {
	status int
	body   []byte
	header http.Header
}

const (
	mxRobotSecret = "Mx-Robot-Secret-1"
	mxProject     = "matrix"
)

// mxEnv is one server with the matrix fixtures.
type mxEnv struct {
	t         *testing.T
	srv       *testserver.InProcess
	seq       int
	matrixID  int64
	userID    map[mxWho]int64
	password  map[mxWho]string
	target    int64 // a user nobody in the matrix is (for "other user" rows)
	ginaMID   int64 // gina's membership
	robotID   int64 // a project robot of "matrix", the target of robot rows
	robotName string
	labelG    int64 // a global label
	labelP    int64 // a label of "matrix"
	robots    map[string][2]string
	// immutable tag rules of "matrix": one to update, one created for a delete
	immRule, pendingRule int64
}

// immutableRuleBody is a disabled rule selecting nothing that exists
// (its own tag pattern), so it neither clashes with another rule nor
// protects the tags other rows delete.
func (e *mxEnv) immutableRuleBody() map[string]any {
	return map[string]any{
		"disabled": true, "action": "immutable", "template": "immutable_template",
		"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": e.uniq("nomatch")}},
		"scope_selectors": map[string][]map[string]string{"repository": {{"kind": "doublestar", "decoration": "repoMatches", "pattern": "nomatch"}}},
	}
}

func (e *mxEnv) uniq(prefix string) string {
	e.seq++
	return prefix + strconv.Itoa(e.seq)
}

// call makes one request as user:pass ("" for anonymous).
func (e *mxEnv) call(method, path, user, pass string, body any) mxResp {
	e.t.Helper()
	return e.callAs(method, path, uBasic(user, pass), body)
}

// callAs makes one request with the credentials a (Basic, session or token).
func (e *mxEnv) callAs(method, path string, a uAuth, body any) mxResp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	if !strings.HasPrefix(path, "/v2/") {
		path = "/api/v2.0" + path
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	uAuthorize(req, a)
	resp, err := uClient(a).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return mxResp{resp.StatusCode, b, resp.Header}
}

// admin calls as the administrator; the answer is not checked.
func (e *mxEnv) admin(method, path string, body any) mxResp {
	e.t.Helper()
	return e.call(method, path, "admin", testserver.AdminPassword, body)
}

// must calls as the administrator and fails the test on an error answer.
func (e *mxEnv) must(method, path string, body any) mxResp {
	e.t.Helper()
	r := e.admin(method, path, body)
	if r.status >= 300 {
		e.t.Fatalf("fixture %s %s: %d %s", method, path, r.status, r.body)
	}
	return r
}

// createdID is the ID at the end of a 201's Location.
func (e *mxEnv) createdID(r mxResp) int64 {
	e.t.Helper()
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		e.t.Fatalf("no ID in Location %q", loc)
	}
	return id
}

// newUser creates a user and returns its ID and name.
func (e *mxEnv) newUser(prefix, password string) (int64, string) {
	e.t.Helper()
	name := e.uniq(prefix)
	r := e.must("POST", "/users", map[string]string{"username": name, "email": name + "@example.com", "realname": name, "password": password})
	return e.createdID(r), name
}

// newProject creates a private project and gives who its role there.
func (e *mxEnv) newProject(name string, who mxWho) int64 {
	e.t.Helper()
	r := e.must("POST", "/projects", map[string]any{"project_name": name, "metadata": map[string]string{"public": "false"}})
	id := e.createdID(r)
	if role, ok := mxRoleOf[who]; ok {
		e.addMember(name, e.userID[who], role)
	}
	return id
}

func (e *mxEnv) addMember(project string, userID int64, role int) int64 {
	e.t.Helper()
	r := e.must("POST", "/projects/"+project+"/members", map[string]any{"role_id": role, "member_user": map[string]any{"user_id": userID}})
	return e.createdID(r)
}

// newMember adds a fresh user to "matrix" as a guest and returns the membership ID.
func (e *mxEnv) newMember() int64 {
	e.t.Helper()
	id, _ := e.newUser("mxm", "Mx-Member-Pass1")
	return e.addMember(mxProject, id, 3)
}

func (e *mxEnv) newLabel(scope string) int64 {
	e.t.Helper()
	body := map[string]any{"name": e.uniq("mxl"), "color": "#112233", "scope": scope}
	if scope == "p" {
		body["project_id"] = e.matrixID
	}
	return e.createdID(e.must("POST", "/labels", body))
}

// newRobot creates a robot as admin: level "project" (in namespace) or
// "system" (namespace "/" for system permissions, "*" for project ones on
// every project). It returns the ID and full name.
func (e *mxEnv) newRobot(level, namespace string, perms []mxPerm) (int64, string) {
	e.t.Helper()
	kind := "project"
	if namespace == "/" {
		kind = "system"
	}
	r := e.must("POST", "/robots", map[string]any{
		"name": e.uniq("mx"), "level": level, "duration": -1, "secret": mxRobotSecret,
		"permissions": []map[string]any{{"kind": kind, "namespace": namespace, "access": perms}},
	})
	var out struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.ID, out.Name
}

// robot returns (creating it once) the credentials of a robot holding perms.
func (e *mxEnv) robot(level, namespace string, perms []mxPerm) (string, string) {
	e.t.Helper()
	keys := make([]string, len(perms))
	for i, p := range perms {
		keys[i] = p.Resource + ":" + p.Action
	}
	sort.Strings(keys)
	key := level + "|" + namespace + "|" + strings.Join(keys, ",")
	if c, ok := e.robots[key]; ok {
		return c[0], c[1]
	}
	_, name := e.newRobot(level, namespace, perms)
	e.robots[key] = [2]string{name, mxRobotSecret}
	return name, mxRobotSecret
}

// push pushes a one-layer image (its layer unique to repo:tag) over /v2 as admin.
func (e *mxEnv) push(repo, tag string) {
	e.t.Helper()
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		req, _ := http.NewRequest("POST", e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(b))
		req.SetBasicAuth("admin", testserver.AdminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			e.t.Fatalf("push blob to %s: %d", repo, resp.StatusCode)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","history":[{"created_by":"matrix"}]}`)
	layer := []byte("matrix layer of " + repo + ":" + tag)
	cd, ld := blob(cfg), blob(layer)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, cd, len(cfg), ld, len(layer))
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(m))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest %s:%s: %d", repo, tag, resp.StatusCode)
	}
}

// newMXEnv starts a server on backend with the fixtures: a private project
// "matrix" holding matrix/app:v1, the five role users and one without a
// role, a spare user, a global and a project label, and a project robot.
func newMXEnv(t *testing.T, backend string) *mxEnv {
	t.Helper()
	e := &mxEnv{t: t, srv: testserver.NewInProcess(t, backend), userID: map[mxWho]int64{}, password: map[mxWho]string{},
		robots: map[string][2]string{}}
	r := e.must("POST", "/projects", map[string]any{"project_name": mxProject, "metadata": map[string]string{
		"public": "false", "severity": "low", "enable_content_trust": "false"}})
	e.matrixID = e.createdID(r)
	for w := mxAlice; w <= mxNobody; w++ {
		e.password[w] = "Mx-" + strings.ToUpper(w.String()[:1]) + w.String()[1:] + "-Pass1"
		r := e.must("POST", "/users", map[string]string{"username": w.String(), "email": w.String() + "@example.com",
			"realname": w.String(), "password": e.password[w]})
		e.userID[w] = e.createdID(r)
		if role, ok := mxRoleOf[w]; ok {
			mid := e.addMember(mxProject, e.userID[w], role)
			if w == mxGina {
				e.ginaMID = mid
			}
		}
	}
	e.target, _ = e.newUser("mxtarget", "Mx-Target-Pass1")
	e.push(mxProject+"/app", "v1")
	e.labelG = e.newLabel("g")
	e.labelP = e.newLabel("p")
	e.robotID, e.robotName = e.newRobot("project", mxProject, mxPerms("repository:pull"))
	return e
}

// creds returns the credentials principal who uses for row's request q.
// Robots are made on demand: the project robot in q's project (holding
// the row's project permissions, or an unrelated one), the system robot
// with the row's project permissions on every project ("*") or its system
// permissions.
func (e *mxEnv) creds(row *mxRow, q mxReq, who mxWho) (string, string) {
	project := q.project
	if project == "" {
		project = mxProject
	}
	switch {
	case who == mxAnon:
		return "", ""
	case who == mxAdmin:
		return "admin", testserver.AdminPassword
	case who.isUser():
		return who.String(), e.password[who]
	case who == mxRobotWith && len(row.proj) > 0:
		return e.robot("project", project, row.proj)
	case who == mxRobotWith || who == mxRobotWithout:
		return e.robot("project", project, mxOther(row.proj))
	case len(row.proj) > 0:
		return e.robot("system", "*", row.proj)
	case len(row.sys) > 0:
		return e.robot("system", "/", row.sys)
	}
	// No permission applies (or none Harbor lets a robot hold): the system
	// robot holds an unrelated system permission.
	return e.robot("system", "/", mxPerms("catalog:read"))
}

// mxOther is an unrelated project permission for the robot without the
// needed one.
func mxOther(needed []mxPerm) []mxPerm {
	for _, p := range needed {
		if p == (mxPerm{"repository", "pull"}) {
			return mxPerms("artifact-addition:read")
		}
	}
	return mxPerms("repository:pull")
}

// mxTemplate turns a path template into a pattern for checking that a row
// calls the operation it names.
func mxTemplate(path string) *regexp.Regexp {
	re := regexp.QuoteMeta(path)
	re = regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(re, `[^/?]+`)
	return regexp.MustCompile("^" + re + `(\?.*)?$`)
}
