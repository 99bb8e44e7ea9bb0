package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/label"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/robot"
	"github.com/berth-dev/berth/internal/system"
	"github.com/berth-dev/berth/internal/user"
)

// Administration: users, system robot accounts, system labels and the
// system configuration (this file); the audit log with its purge, garbage
// collection and job queues (admin_jobs.go). The navigation shows the
// section to administrators only; every page is built from calls that
// the API refuses to anyone else, and a refusal is what the page shows.

// adminData is the data of an administration page.
type adminData struct {
	Section string
	Pager   pager
	Q       string
	Tab     any
}

func (c *Console) renderAdmin(w http.ResponseWriter, v *view, section, title string, d adminData) {
	d.Section = section
	v.Title = title + " · Administration"
	v.Nav = "admin"
	v.Data = d
	c.render(w, v, "admin_"+section)
}

// --- users ---

type usersTab struct {
	List []api.UserResp
	Self int64
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, v *view) error {
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	q := &query.Query{}
	if lp.Q != "" {
		q.Conds = append(q.Conds, query.Cond{Key: "username", Kind: query.Fuzzy, Value: lp.Q})
	}
	users, total, err := c.svc.Users.List(r.Context(), v.p, q, offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	t := usersTab{List: make([]api.UserResp, len(users))}
	for i := range users {
		t.List[i] = api.UserRespOf(&users[i])
	}
	if v.User != nil {
		t.Self = v.User.UserID
	}
	c.renderAdmin(w, v, "users", "Users", adminData{Q: lp.Q, Pager: makePager(r, lp, total), Tab: t})
	return nil
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	var err error
	name := strings.TrimSpace(f.Get("username"))
	if f.Get("password") != f.Get("password2") {
		err = &pageError{Status: http.StatusBadRequest, Message: "The two passwords differ."}
	} else {
		err = c.addUser(r, v, user.NewUser{Username: name, Password: f.Get("password"), Profile: user.Profile{
			Email: strings.TrimSpace(f.Get("email")), Realname: strings.TrimSpace(f.Get("realname")), Comment: f.Get("comment")}})
	}
	if err != nil {
		if err := v.fail("create", err); err != nil {
			return err
		}
		v.Form = withoutPasswords(v.Form)
		return c.usersPage(w, r, v)
	}
	return redirect(w, r, "/admin/users", "User "+name+" created.")
}

// withoutPasswords is a kept form without its password fields.
func withoutPasswords(f url.Values) url.Values {
	out := url.Values{}
	for k, vs := range f {
		if !strings.Contains(k, "password") {
			out[k] = vs
		}
	}
	return out
}

// userAction makes a user an administrator or not, or deletes it.
func (c *Console) userAction(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	name := r.PostForm.Get("name")
	var msg string
	switch r.PathValue("action") {
	case "admin":
		on := r.PostForm.Get("admin") == "true"
		if !on && !c.confirmed(w, r, v, "Revoke the administrator role of "+name+"?", r.URL.Path, "/admin/users") {
			return nil
		}
		err = v.write("update user", func() error { return c.svc.Users.SetSysAdmin(r.Context(), v.p, id, on) })
		msg = name + " is now an administrator."
		if !on {
			msg = name + " is no longer an administrator."
		}
	case "delete":
		if !c.confirmed(w, r, v, "Delete user "+name+"? Their memberships go with them.", r.URL.Path, "/admin/users") {
			return nil
		}
		err = v.write("delete user", func() error { return c.svc.Users.Delete(r.Context(), v.p, id) })
		msg = "User " + name + " deleted."
	default:
		return &pageError{Status: http.StatusNotFound, Message: "No such user action."}
	}
	if err != nil {
		if err := v.fail("users", err); err != nil {
			return err
		}
		return c.usersPage(w, r, v)
	}
	return redirect(w, r, "/admin/users", msg)
}

func (c *Console) passwordPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	u, err := c.svc.Users.Get(r.Context(), v.p, id)
	if err != nil {
		return serviceError(err)
	}
	c.renderAdmin(w, v, "password", "Reset password of "+u.Username, adminData{Tab: api.UserResp{UserID: u.ID, Username: u.Username}})
	return nil
}

func (c *Console) resetPassword(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	var err error
	if f.Get("new_password") != f.Get("new_password2") {
		err = &pageError{Status: http.StatusBadRequest, Message: "The two passwords differ."}
	} else {
		var id int64
		if id, err = userID(r); err == nil {
			err = v.write("update password", func() error {
				return c.svc.Users.SetPassword(r.Context(), v.p, id, "", f.Get("new_password"))
			})
		}
	}
	if err != nil {
		if err := v.fail("password", err); err != nil {
			return err
		}
		v.Form = url.Values{}
		return c.passwordPage(w, r, v)
	}
	return redirect(w, r, "/admin/users", "Password of "+f.Get("name")+" reset.")
}

// --- system robot accounts ---

type sysRobotsTab struct {
	List     []api.Robot
	System   []permOption
	Project  []permOption
	Projects string // the project field of a failed form
	CanEdit  bool
}

func (c *Console) sysRobotsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	lp := readList(r, pageSize)
	list, total, err := c.listRobots(r, v, robot.System, 0, lp)
	if err != nil {
		return err
	}
	t := sysRobotsTab{List: list, Projects: "*"}
	if avail, err := c.assignable(v); err == nil {
		checked := map[string]bool{"project:repository:pull": true}
		if v.FormID == "create" {
			checked = map[string]bool{}
			for _, p := range v.Form["system"] {
				checked["system:"+p] = true
			}
			for _, p := range v.Form["project"] {
				checked["project:"+p] = true
			}
			t.Projects = v.Form.Get("projects")
		}
		opts := func(kind string, list []api.Permission) []permOption {
			var out []permOption
			for _, p := range list {
				k := p.Resource + ":" + p.Action
				out = append(out, permOption{Value: k, Label: p.Resource + " " + p.Action, Checked: checked[kind+":"+k]})
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
			return out
		}
		t.System, t.Project = opts("system", avail.System), opts("project", avail.Project)
		t.CanEdit = len(avail.System) > 0
	}
	c.renderAdmin(w, v, "robots", "System robot accounts", adminData{Pager: makePager(r, lp, total), Tab: t})
	return nil
}

// --- system labels ---

type sysLabelsTab struct {
	List  []api.Label
	Perms perms
}

func (c *Console) sysLabelsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User == nil {
		return &pageError{Status: http.StatusUnauthorized, Message: "Sign in to manage system labels."}
	}
	pm := perms{}
	for _, p := range c.svc.Labels.SystemActions(v.p).List() {
		pm[string(p.Resource)+":"+string(p.Action)] = true
	}
	// Anyone may read the global labels; only who may change them sees
	// this page (the label service refuses the changes to anyone else).
	if !pm.Can("label", "create") && !pm.Can("label", "delete") && !pm.Can("label", "update") {
		return &pageError{Status: http.StatusForbidden, Code: "FORBIDDEN",
			Message: "Only system administrators manage system labels (you hold no label permission at system level)."}
	}
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	list, total, err := c.svc.Labels.List(r.Context(), v.p, label.Global, 0, lp.Q, nil, offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	c.renderAdmin(w, v, "labels", "System labels", adminData{Q: lp.Q, Pager: makePager(r, lp, total), Tab: sysLabelsTab{List: api.LabelsOf(list), Perms: pm}})
	return nil
}

func (c *Console) createSysLabel(w http.ResponseWriter, r *http.Request, v *view) error {
	name, err := c.createLabelIn(r, v, label.Global, 0)
	if err != nil {
		if err := v.fail("create", err); err != nil {
			return err
		}
		return c.sysLabelsPage(w, r, v)
	}
	return redirect(w, r, "/admin/labels", "Label "+name+" created.")
}

func (c *Console) deleteSysLabel(w http.ResponseWriter, r *http.Request, v *view) error {
	name := r.PostForm.Get("name")
	if !c.confirmed(w, r, v, "Delete label "+name+"? It is removed from every artifact that has it, in every project.", r.URL.Path, "/admin/labels") {
		return nil
	}
	if err := c.deleteLabelOf(r, v); err != nil {
		if err := v.fail("delete", err); err != nil {
			return err
		}
		return c.sysLabelsPage(w, r, v)
	}
	return redirect(w, r, "/admin/labels", "Label "+name+" deleted.")
}

// --- configuration ---

type configForm struct {
	AuthMode                   string
	ProjectCreationRestriction string
	SelfRegistration           bool
	TokenExpiration            string
	RobotTokenDuration         string
	ReadOnly                   bool
	Banner, BannerType         string
}

var bannerTypes = []string{"info", "success", "warning", "danger"}

func (c *Console) configAdminPage(w http.ResponseWriter, r *http.Request, v *view) error {
	cfg, err := c.svc.System.Configuration(v.p)
	if err != nil {
		return serviceError(err)
	}
	f := configForm{
		AuthMode: cfg.AuthMode, ProjectCreationRestriction: cfg.ProjectCreationRestriction,
		SelfRegistration: cfg.SelfRegistration, TokenExpiration: strconv.Itoa(cfg.TokenExpiration),
		RobotTokenDuration: strconv.Itoa(cfg.RobotTokenDuration), ReadOnly: cfg.ReadOnly,
	}
	f.Banner, f.BannerType = parseBanner(cfg.BannerMessage)
	if v.FormID == "config" {
		fv := v.Form
		f.ProjectCreationRestriction, f.SelfRegistration = fv.Get("project_creation_restriction"), fv.Get("self_registration") == "on"
		f.TokenExpiration, f.RobotTokenDuration = fv.Get("token_expiration"), fv.Get("robot_token_duration")
		f.ReadOnly, f.Banner, f.BannerType = fv.Get("read_only") == "on", fv.Get("banner"), fv.Get("banner_type")
	}
	c.renderAdmin(w, v, "config", "Configuration", adminData{Tab: f})
	return nil
}

// parseBanner reads Harbor's banner message (a JSON object with message
// and type; a plain string is a message of type info).
func parseBanner(s string) (msg, typ string) {
	var b struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") && json.Unmarshal([]byte(s), &b) == nil {
		if b.Type == "" {
			b.Type = "info"
		}
		return b.Message, b.Type
	}
	return s, "info"
}

func (c *Console) saveConfig(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	pcr, selfReg, readOnly := f.Get("project_creation_restriction"), f.Get("self_registration") == "on", f.Get("read_only") == "on"
	u := system.ConfigUpdate{ProjectCreationRestriction: &pcr, SelfRegistration: &selfReg, ReadOnly: &readOnly}
	var err error
	for _, k := range []struct {
		name string
		dst  **int
	}{{"token_expiration", &u.TokenExpiration}, {"robot_token_duration", &u.RobotTokenDuration}} {
		n, perr := strconv.Atoi(strings.TrimSpace(f.Get(k.name)))
		if perr != nil {
			err = &pageError{Status: http.StatusBadRequest, Message: strings.ReplaceAll(k.name, "_", " ") + " must be a whole number."}
			break
		}
		*k.dst = &n
	}
	banner := ""
	if msg := strings.TrimSpace(f.Get("banner")); msg != "" {
		typ := f.Get("banner_type")
		if !contains(bannerTypes, typ) {
			typ = "info"
		}
		b, _ := json.Marshal(map[string]any{"message": msg, "type": typ, "closable": false, "fromDate": "", "toDate": ""})
		banner = string(b)
	}
	u.BannerMessage = &banner
	if err == nil {
		err = v.write(system.OpUpdateConfiguration, func() error { return c.svc.System.UpdateConfiguration(r.Context(), v.p, u) })
	}
	if err != nil {
		if err := v.fail("config", err); err != nil {
			return err
		}
		return c.configAdminPage(w, r, v)
	}
	return redirect(w, r, "/admin/config", "Configuration saved.")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// userID is the user the path names.
func userID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "user_id must be a positive integer, not " + strconv.Quote(r.PathValue("id"))}
	}
	return id, nil
}
