package ui

import (
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/robot"
)

// Robot accounts, of a project and of the system (robotScope). The secret
// is in the answer of the create and refresh calls only; the console shows
// it in the page that answers that POST and keeps it nowhere.

// permOption is one permission a robot can be given.
type permOption struct {
	Value, Label string
	Checked      bool
}

// commonPerms are the permissions shown first, with what they mean.
var commonPerms = []permOption{
	{Value: "repository:pull", Label: "Pull artifacts (repository pull)"},
	{Value: "repository:push", Label: "Push artifacts (repository push)"},
	{Value: "artifact:delete", Label: "Delete artifacts"},
	{Value: "tag:create", Label: "Create tags"},
	{Value: "tag:delete", Label: "Delete tags"},
	{Value: "artifact-label:create", Label: "Add labels to artifacts"},
	{Value: "artifact-label:delete", Label: "Remove labels from artifacts"},
	{Value: "artifact:read", Label: "Read artifacts"},
	{Value: "artifact:list", Label: "List artifacts"},
	{Value: "repository:list", Label: "List repositories"},
}

type robotsTab struct {
	List   []api.Robot
	Common []permOption
	More   []permOption
}

type secretData struct {
	Name     string
	Secret   string
	Download template.URL
	Created  bool
	Host     string // registry host for the docker login command
	Crumbs   []crumb
	Back     crumb
}

func (c *Console) robotsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "robots")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	list, total, err := c.listRobots(r, v, robot.Project, pc.Project.ProjectID, lp)
	if err != nil && !isDenied(err) {
		return err
	}
	d := tabData{}
	if err != nil {
		v.Error, v.Status = err.Error(), http.StatusForbidden
	} else {
		d.Pager = makePager(r, lp, total)
	}
	t := robotsTab{List: list}
	if pc.Perms.Can("robot", "create") {
		t.Common, t.More = c.permOptions(v)
	}
	d.Tab = t
	c.renderTab(w, v, pc, "robots", "Robot accounts", d)
	return nil
}

// permOptions lists the permissions of the picker: the common ones, then
// the others the API says a project robot can hold.
func (c *Console) permOptions(v *view) (common, more []permOption) {
	checked := map[string]bool{}
	if v.FormID == "create" {
		for _, p := range v.Form["perm"] {
			checked[p] = true
		}
	} else {
		checked["repository:pull"] = true
	}
	known := map[string]bool{}
	if avail, err := c.assignable(v); err == nil {
		for _, p := range avail.Project {
			known[p.Resource+":"+p.Action] = true
		}
	}
	seen := map[string]bool{}
	for _, p := range commonPerms {
		if len(known) > 0 && !known[p.Value] {
			continue
		}
		p.Checked = checked[p.Value]
		common = append(common, p)
		seen[p.Value] = true
	}
	for k := range known {
		if !seen[k] {
			more = append(more, permOption{Value: k, Label: strings.Replace(k, ":", " ", 1), Checked: checked[k]})
		}
	}
	sort.Slice(more, func(i, j int) bool { return more[i].Value < more[j].Value })
	return common, more
}

// robotScope is where robot accounts are managed: a project's robots tab
// or the system robot accounts of the administration. One implementation
// creates, refreshes, disables, enables and deletes the robots of both.
type robotScope struct {
	level string
	back  string // the list page
	// list renders the list page again, after a failed post.
	list func() error
	// secret renders the one page that shows a robot's secret.
	secret func(name, secret string, created bool)
	// grants are the permissions the create form f asks for.
	grants func(f url.Values) []robot.Grant
}

// projectRobots is the scope of the robots of the project the path names.
func (c *Console) projectRobots(w http.ResponseWriter, r *http.Request, v *view) (*robotScope, error) {
	pc, err := c.loadProject(r, v, "robots")
	if err != nil {
		return nil, err
	}
	return &robotScope{
		level:  robot.Project,
		back:   pc.Base() + "/robots",
		list:   func() error { return c.robotsPage(w, r, v) },
		secret: func(name, secret string, created bool) { c.showSecret(w, v, pc, name, secret, created) },
		grants: func(f url.Values) []robot.Grant {
			return []robot.Grant{{Kind: "project", Namespace: pc.Project.Name, Access: f["perm"]}}
		},
	}, nil
}

// systemRobots is the scope of the system robot accounts.
func (c *Console) systemRobots(w http.ResponseWriter, r *http.Request, v *view) *robotScope {
	return &robotScope{
		level:  robot.System,
		back:   "/admin/robots",
		list:   func() error { return c.sysRobotsPage(w, r, v) },
		secret: func(name, secret string, created bool) { c.showSysSecret(w, v, name, secret, created) },
		grants: func(f url.Values) []robot.Grant {
			var grants []robot.Grant
			if sys := f["system"]; len(sys) > 0 {
				grants = append(grants, robot.Grant{Kind: "system", Namespace: "/", Access: sys})
			}
			if proj := f["project"]; len(proj) > 0 {
				for _, ns := range strings.Split(f.Get("projects"), ",") {
					if ns = strings.TrimSpace(ns); ns != "" {
						grants = append(grants, robot.Grant{Kind: "project", Namespace: ns, Access: proj})
					}
				}
			}
			return grants
		},
	}
}

func (c *Console) createRobot(w http.ResponseWriter, r *http.Request, v *view) error {
	sc, err := c.projectRobots(w, r, v)
	if err != nil {
		return err
	}
	return c.newRobot(r, v, sc)
}

func (c *Console) createSysRobot(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.newRobot(r, v, c.systemRobots(w, r, v))
}

// newRobot creates the robot the form asks for in sc and shows its secret.
func (c *Console) newRobot(r *http.Request, v *view, sc *robotScope) error {
	f := r.PostForm
	fail := func(err error) error {
		if err := v.fail("create", err); err != nil {
			return err
		}
		return sc.list()
	}
	req := robot.Create{Name: strings.TrimSpace(f.Get("name")), Description: f.Get("description"), Level: sc.level, Permissions: robot.Grants(sc.grants(f)...)}
	if d := strings.TrimSpace(f.Get("duration")); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			return fail(&pageError{Status: http.StatusBadRequest, Message: "The expiry must be a number of days, or -1 for never."})
		}
		req.Duration = &n
	}
	var made *robot.Created
	if err := v.write("create robot", func() (err error) {
		made, err = c.svc.Robots.Create(r.Context(), v.p, req)
		return err
	}); err != nil {
		return fail(err)
	}
	sc.secret(made.Robot.Name, made.Secret, true)
	return nil
}

// showSecret renders the one page that shows a project robot's secret.
func (c *Console) showSecret(w http.ResponseWriter, v *view, pc *projectCtx, name, secret string, created bool) {
	v.Title = "Robot secret · " + pc.Project.Name
	v.Nav = "projects"
	c.renderSecret(w, v, secretData{Name: name, Secret: secret, Created: created, Host: pc.Host,
		Crumbs: []crumb{{"/projects", "Projects"}, {pc.Base() + "/robots", pc.Project.Name}},
		Back:   crumb{pc.Base() + "/robots", "Back to robot accounts"}})
}

// showSysSecret renders the one page that shows a system robot's secret.
func (c *Console) showSysSecret(w http.ResponseWriter, v *view, name, secret string, created bool) {
	v.Title = "Robot secret · Administration"
	v.Nav = "admin"
	c.renderSecret(w, v, secretData{Name: name, Secret: secret, Created: created, Host: v.Host(),
		Crumbs: []crumb{{"/admin", "Administration"}, {"/admin/robots", "Robot accounts"}},
		Back:   crumb{"/admin/robots", "Back to robot accounts"}})
}

// renderSecret renders the one page that shows a robot's secret, project
// or system.
func (c *Console) renderSecret(w http.ResponseWriter, v *view, d secretData) {
	file, _ := json.MarshalIndent(map[string]string{"name": d.Name, "secret": d.Secret}, "", "  ")
	// A data: URL built here from JSON: safe to mark as a URL.
	d.Download = template.URL("data:application/json;base64," + base64.StdEncoding.EncodeToString(file))
	v.Data = d
	c.render(w, v, "robot_secret")
}

func (c *Console) robotAction(w http.ResponseWriter, r *http.Request, v *view) error {
	sc, err := c.projectRobots(w, r, v)
	if err != nil {
		return err
	}
	return c.actOnRobot(w, r, v, sc)
}

func (c *Console) sysRobotAction(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.actOnRobot(w, r, v, c.systemRobots(w, r, v))
}

// actOnRobot refreshes the secret of, disables, enables or deletes the
// robot of sc the path names.
func (c *Console) actOnRobot(w http.ResponseWriter, r *http.Request, v *view, sc *robotScope) error {
	name := r.PostForm.Get("name")
	fail := func(err error) error {
		if err := v.fail("robot", err); err != nil {
			return err
		}
		return sc.list()
	}
	switch r.PathValue("action") {
	case "refresh":
		if !c.confirmed(w, r, v, "Refresh the secret of "+name+"? The current secret stops working at once.", r.URL.Path, sc.back) {
			return nil
		}
		rid, err := robotID(r)
		if err != nil {
			return err
		}
		var sec string
		if err := v.write("update robot", func() (err error) {
			sec, err = c.svc.Robots.RefreshSecret(r.Context(), v.p, rid, "")
			return err
		}); err != nil {
			return fail(err)
		}
		sc.secret(name, sec, false)
		return nil
	case "disable", "enable":
		disable := r.PathValue("action") == "disable"
		if disable && !c.confirmed(w, r, v, "Disable "+name+"? Clients using it stop working until it is enabled again.", r.URL.Path, sc.back) {
			return nil
		}
		rid, err := robotID(r)
		if err != nil {
			return fail(err)
		}
		if err := v.write("update robot", func() error {
			rb, err := c.svc.Robots.SetDisabled(r.Context(), v.p, rid, disable)
			if err == nil {
				name = rb.Name
			}
			return err
		}); err != nil {
			return fail(err)
		}
		return redirect(w, r, sc.back, name+" "+r.PathValue("action")+"d.")
	case "delete":
		if !c.confirmed(w, r, v, "Delete robot account "+name+"? Clients using it stop working.", r.URL.Path, sc.back) {
			return nil
		}
		rid, err := robotID(r)
		if err != nil {
			return err
		}
		if err := v.write("delete robot", func() error { return c.svc.Robots.Delete(r.Context(), v.p, rid) }); err != nil {
			return fail(err)
		}
		return redirect(w, r, sc.back, name+" deleted.")
	}
	return &pageError{Status: http.StatusNotFound, Message: "No such robot action."}
}

// robotID is the robot account the path names.
func robotID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "robot_id must be a positive integer, not " + strconv.Quote(r.PathValue("id"))}
	}
	return id, nil
}

// listRobots is a page of the robot accounts of level (robot.System, or
// robot.Project with projectID) as the robot service lists them to the caller.
func (c *Console) listRobots(r *http.Request, v *view, level string, projectID int64, lp listParams) ([]api.Robot, int64, error) {
	offset, err := lp.offset()
	if err != nil {
		return nil, 0, err
	}
	rows, total, err := c.svc.Robots.List(r.Context(), v.p, level, projectID, nil, offset, lp.Size)
	if err != nil {
		return nil, 0, serviceError(err)
	}
	list := make([]api.Robot, len(rows))
	for i := range rows {
		if list[i], err = api.RobotView(&rows[i]); err != nil {
			return nil, 0, serviceError(err)
		}
	}
	return list, total, nil
}

// assignable is what the caller may give robot accounts, system and
// project permissions (user.Service.Assignable), as Harbor's GET
// /permissions lists them.
func (c *Console) assignable(v *view) (api.Permissions, error) {
	system, project, err := c.svc.Users.Assignable(v.r.Context(), v.p)
	if err != nil {
		return api.Permissions{}, serviceError(err)
	}
	var out api.Permissions
	for _, p := range system.List() {
		out.System = append(out.System, api.Permission{Resource: string(p.Resource), Action: string(p.Action)})
	}
	for _, p := range project.List() {
		out.Project = append(out.Project, api.Permission{Resource: string(p.Resource), Action: string(p.Action)})
	}
	return out, nil
}
