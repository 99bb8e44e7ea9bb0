package ui

import (
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/label"
	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/quota"
)

// The projects list, the project tabs that are not about repositories
// (members, robots, labels, logs, configuration).

const pageSize = 15

// projectRow is one project of the list with its quota usage.
type projectRow struct {
	api.Project
	Public bool
	Quota  *usage
}

// usage is a storage quota: used and hard limit (-1: unlimited).
type usage struct {
	Used, Hard int64
}

// Percent is the share of the limit used (0 when unlimited).
func (u *usage) Percent() int {
	if u == nil || u.Hard <= 0 {
		return 0
	}
	return int(math.Min(100, math.Round(float64(u.Used)*100/float64(u.Hard))))
}

// Limited reports whether there is a limit.
func (u *usage) Limited() bool { return u != nil && u.Hard > 0 }

type projectsData struct {
	List      []projectRow
	List0     bool // no project at all (not only none matching)
	Q         string
	Pager     pager
	CanCreate bool
}

func (c *Console) projectsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	var q *query.Query
	if lp.Q != "" {
		if q, err = query.Parse(`name=~"`+queryText(lp.Q)+`"`, ""); err != nil {
			return serviceError(err)
		}
	}
	list, total, err := c.svc.Projects.List(r.Context(), v.p, project.Filter{}, q, offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	// The usage bars: the quotas the caller may read (a non-member's
	// public access does not include the quota).
	quotas, err := c.svc.Projects.Quotas(r.Context(), v.p, list)
	if err != nil {
		return serviceError(err)
	}
	d := projectsData{Q: lp.Q, Pager: makePager(r, lp, total), CanCreate: v.User != nil &&
		(v.User.SysadminFlag || v.Info.ProjectCreationRestriction != "adminonly")}
	d.List0 = total == 0 && lp.Q == ""
	for _, pv := range list {
		info := pv.Info
		row := projectRow{Project: api.Project{
			ProjectID: info.ID, OwnerID: info.OwnerID, Name: info.Name, OwnerName: info.OwnerName,
			CreationTime: api.Timestamp(info.CreatedAt), RepoCount: info.RepoCount, CurrentUserRoleID: int(pv.Access.Role),
		}, Public: info.Metadata["public"] == "true"}
		if qt, ok := quotas[info.ID]; ok {
			row.Quota = &usage{Used: qt.Used, Hard: qt.Hard}
		}
		d.List = append(d.List, row)
	}
	v.Title, v.Nav, v.Data = "Projects", "projects", d
	c.render(w, v, "projects")
	return nil
}

func (c *Console) createProject(w http.ResponseWriter, r *http.Request, v *view) error {
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	spec := project.Spec{Name: name, Metadata: map[string]string{"public": strconv.FormatBool(f.Get("public") == "on")}}
	limit, err := readSize(f.Get("quota"), f.Get("quota_unit"))
	if err == nil && limit != 0 {
		spec.StorageLimit = &limit
	}
	if err == nil {
		err = v.write("create project", func() error {
			_, err := c.svc.Projects.Create(r.Context(), v.p, spec)
			return err
		})
	}
	if err != nil {
		if err := v.fail("create", err); err != nil {
			return err
		}
		return c.projectsPage(w, r, v)
	}
	return redirect(w, r, "/projects/"+url.PathEscape(name)+"/repositories", "Project "+name+" created.")
}

// readSize reads a quota: a number and a unit; empty is 0 (the default),
// -1 unlimited.
func readSize(num, unit string) (int64, error) {
	num = strings.TrimSpace(num)
	if num == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || (n < 0 && n != -1) || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, &pageError{Status: http.StatusBadRequest, Message: "The quota must be a positive number, or -1 for unlimited."}
	}
	if n == -1 {
		return -1, nil
	}
	mult := map[string]float64{"MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	if mult == 0 {
		mult = 1 << 30
	}
	if n*mult > math.MaxInt64/2 {
		return 0, &pageError{Status: http.StatusBadRequest, Message: "The quota is too large."}
	}
	return int64(n * mult), nil
}

// perms is what the caller may do in a project, as the API reports it
// ("resource:action").
type perms map[string]bool

// Can reports whether the caller holds action on resource.
func (p perms) Can(resource, action string) bool { return p[resource+":"+action] }

// projectCtx is the project a tab belongs to.
type projectCtx struct {
	Project api.Project
	Meta    map[string]string
	Public  bool
	Perms   perms
	Tab     string
	Host    string // registry host for commands
	// view is the project service's view of the project, for the calls
	// the tab makes to the services.
	view project.View
}

// loadProject reads project name and what the caller may do in it, from
// the project service: the project, the caller's roles and the view of its
// permissions in one read (auth.ProjectView, the set enforcement checks,
// for anonymous visitors too: a public project's policies).
func (c *Console) loadProject(r *http.Request, v *view, tab string) (*projectCtx, error) {
	name := r.PathValue("project")
	pv, err := c.svc.Projects.GetByName(r.Context(), v.p, name)
	if errs.Is(err, errs.NotFound) {
		// A missing project and one the caller may not see are one answer,
		// naming the project as the path did (as the API's).
		return nil, &pageError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "project " + name + " not found"}
	}
	if err != nil {
		return nil, serviceError(err)
	}
	info := pv.Info
	pc := &projectCtx{
		Project: api.Project{ProjectID: info.ID, OwnerID: info.OwnerID, Name: info.Name, OwnerName: info.OwnerName, RepoCount: info.RepoCount},
		Meta:    maps.Clone(info.Metadata), Perms: perms{}, Tab: tab, Host: c.registryHost(r), view: pv,
	}
	if pc.Meta == nil {
		pc.Meta = map[string]string{}
	}
	pc.Public = pc.Meta["public"] == "true"
	for _, pm := range pv.Access.Set.List() {
		pc.Perms[string(pm.Resource)+":"+string(pm.Action)] = true
	}
	v.Nav = "projects"
	return pc, nil
}

// base is the path of the project's pages.
func (pc *projectCtx) Base() string { return "/projects/" + url.PathEscape(pc.Project.Name) }

// tabData is the data of a project tab: the project and the tab's own.
type tabData struct {
	P     *projectCtx
	Pager pager
	Q     string
	Tab   any
}

func (c *Console) renderTab(w http.ResponseWriter, v *view, pc *projectCtx, page, title string, d tabData) {
	d.P = pc
	v.Title = title + " · " + pc.Project.Name
	v.Data = d
	c.render(w, v, page)
}

// --- members ---

type membersTab struct {
	List  []api.ProjectMemberEntity
	Roles []role
	Self  int64
}

type role struct {
	ID   int64
	Name string
}

var roles = []role{{1, "Project admin"}, {4, "Maintainer"}, {2, "Developer"}, {3, "Guest"}, {5, "Limited guest"}}

func (c *Console) membersPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "members")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	rows, total, err := c.svc.Projects.ListMembers(r.Context(), v.p, &pc.view.Info.Project, lp.Q, nil, offset, lp.Size)
	err = serviceError(err)
	if err != nil && !isDenied(err) {
		return err
	}
	list := make([]api.ProjectMemberEntity, len(rows))
	for i, m := range rows {
		list[i] = api.ProjectMemberEntity{ID: m.ID, ProjectID: m.ProjectID, EntityName: m.EntityName, RoleName: roleName(m.Role),
			RoleID: int64(m.Role), EntityID: m.EntityID, EntityType: m.EntityType}
	}
	d := tabData{Q: lp.Q, Tab: membersTab{List: list, Roles: roles}}
	if err != nil {
		v.Error, v.Status = err.Error(), http.StatusForbidden
	} else {
		d.Pager = makePager(r, lp, total)
	}
	c.renderTab(w, v, pc, "members", "Members", d)
	return nil
}

func (c *Console) addMember(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "members")
	if err != nil {
		return err
	}
	f := r.PostForm
	roleID, _ := strconv.ParseInt(f.Get("role_id"), 10, 64)
	user := strings.TrimSpace(f.Get("username"))
	err = v.write("create member", func() error {
		_, err := c.svc.Projects.AddMember(r.Context(), v.p, &pc.view.Info.Project, project.NewMember{RoleID: roleID, Username: user})
		return err
	})
	if err != nil {
		if err := v.fail("add", err); err != nil {
			return err
		}
		return c.membersPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/members", user+" is now a member.")
}

// memberID is the membership the path names.
func memberID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "mid must be a positive integer, not " + strconv.Quote(r.PathValue("mid"))}
	}
	return id, nil
}

func (c *Console) changeRole(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "members")
	if err != nil {
		return err
	}
	mid, err := memberID(r)
	if err != nil {
		return err
	}
	roleID, _ := strconv.ParseInt(r.PostForm.Get("role_id"), 10, 64)
	err = v.write("update member", func() error {
		return c.svc.Projects.SetMemberRole(r.Context(), v.p, &pc.view.Info.Project, mid, roleID)
	})
	if err != nil {
		if err := v.fail("role-"+r.PathValue("mid"), err); err != nil {
			return err
		}
		return c.membersPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/members", "Role changed.")
}

func (c *Console) removeMember(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "members")
	if err != nil {
		return err
	}
	mid, err := memberID(r)
	if err != nil {
		return err
	}
	name := r.PostForm.Get("name")
	if !c.confirmed(w, r, v, "Remove "+name+" from project "+pc.Project.Name+"?", r.URL.Path, pc.Base()+"/members") {
		return nil
	}
	err = v.write("delete member", func() error {
		return c.svc.Projects.DeleteMember(r.Context(), v.p, &pc.view.Info.Project, mid)
	})
	if err != nil {
		if err := v.fail("remove", err); err != nil {
			return err
		}
		return c.membersPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/members", name+" removed from the project.")
}

// isDenied reports an API refusal (403) that a tab shows in place.
func isDenied(err error) bool {
	var ae *pageError
	return errors.As(err, &ae) && ae.Status == http.StatusForbidden
}

// --- labels ---

func (c *Console) labelsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "labels")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	list, total, err := c.svc.Labels.ListIn(r.Context(), v.p, &pc.view.Info.Project, lp.Q, nil, offset, lp.Size)
	err = serviceError(err)
	if err != nil && !isDenied(err) {
		return err
	}
	d := tabData{Q: lp.Q, Tab: api.LabelsOf(list)}
	if err != nil {
		v.Error, v.Status = err.Error(), http.StatusForbidden
	} else {
		d.Pager = makePager(r, lp, total)
	}
	c.renderTab(w, v, pc, "labels", "Labels", d)
	return nil
}

// createLabelIn creates the label of the form posted to r, of scope (in
// project projectID for a project label), for the page's caller, and
// returns its name.
func (c *Console) createLabelIn(r *http.Request, v *view, scope string, projectID int64) (string, error) {
	f := r.PostForm
	sp := label.Spec{Name: strings.TrimSpace(f.Get("name")), Color: f.Get("color"), Description: f.Get("description"), Scope: &scope}
	if scope == label.Project {
		sp.ProjectID = &projectID
	}
	return sp.Name, v.write("create label", func() error {
		_, err := c.svc.Labels.Create(r.Context(), v.p, sp)
		return err
	})
}

// deleteLabelOf deletes the label of r's path for the page's caller.
func (c *Console) deleteLabelOf(r *http.Request, v *view) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "label_id must be a positive integer, not " + strconv.Quote(r.PathValue("id"))}
	}
	return v.write("delete label", func() error { return c.svc.Labels.Delete(r.Context(), v.p, id) })
}

func (c *Console) createLabel(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "labels")
	if err != nil {
		return err
	}
	name, err := c.createLabelIn(r, v, label.Project, pc.Project.ProjectID)
	if err != nil {
		if err := v.fail("create", err); err != nil {
			return err
		}
		return c.labelsPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/labels", "Label "+name+" created.")
}

func (c *Console) deleteLabel(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "labels")
	if err != nil {
		return err
	}
	name := r.PostForm.Get("name")
	if !c.confirmed(w, r, v, "Delete label "+name+"? It is removed from every artifact that has it.", r.URL.Path, pc.Base()+"/labels") {
		return nil
	}
	if err := c.deleteLabelOf(r, v); err != nil {
		if err := v.fail("delete", err); err != nil {
			return err
		}
		return c.labelsPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/labels", "Label "+name+" deleted.")
}

// --- logs ---

func (c *Console) logsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "logs")
	if err != nil {
		return err
	}
	lp := readList(r, 25)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	var q *query.Query
	if lp.Q != "" {
		if q, err = query.Parse(`username=~"`+queryText(lp.Q)+`"`, ""); err != nil {
			return serviceError(err)
		}
	}
	entries, total, err := c.svc.AuditLog.ListProject(r.Context(), v.p, &pc.view.Info.Project, q, offset, lp.Size)
	err = serviceError(err)
	if err != nil && !isDenied(err) {
		return err
	}
	d := tabData{Q: lp.Q, Tab: api.AuditLogsOf(entries)}
	if err != nil {
		v.Error, v.Status = err.Error(), http.StatusForbidden
	} else {
		d.Pager = makePager(r, lp, total)
	}
	c.renderTab(w, v, pc, "logs", "Logs", d)
	return nil
}

// --- configuration ---

type configTab struct {
	Flags []flag
	Quota *usage
}

type flag struct {
	Key, Label, Help string
	On               bool
}

var flagDefs = []flag{
	{Key: "auto_scan", Label: "Scan images on push", Help: "Ask the configured scanner to scan every pushed image."},
	{Key: "prevent_vul", Label: "Prevent vulnerable images from running", Help: "Refuse pulls of images with vulnerabilities at or above the severity below."},
	{Key: "enable_content_trust_cosign", Label: "Require cosign signatures", Help: "Refuse pulls of images without a cosign signature."},
	{Key: "enable_content_trust", Label: "Require Notary signatures", Help: "Refuse pulls of images without a Notary signature."},
	{Key: "auto_sbom_generation", Label: "Generate SBOMs on push"},
	{Key: "reuse_sys_cve_allowlist", Label: "Use the system CVE allowlist"},
}

var severities = []string{"none", "low", "medium", "high", "critical"}

func (c *Console) configPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "config")
	if err != nil {
		return err
	}
	t := configTab{}
	kept := v.FormID == "config" // show the input of a refused save
	for _, f := range flagDefs {
		f.On = pc.Meta[f.Key] == "true"
		if kept {
			f.On = v.Form.Get(f.Key) == "on"
		}
		t.Flags = append(t.Flags, f)
	}
	if kept {
		pc.Public = v.Form.Get("public") == "on"
		pc.Meta["severity"] = v.Form.Get("severity")
	}
	// The quota, when the caller may read it (quota:read in its set).
	if quotas, err := c.svc.Projects.Quotas(r.Context(), v.p, []project.View{pc.view}); err == nil {
		if q, ok := quotas[pc.view.Info.ID]; ok {
			t.Quota = &usage{Used: q.Used, Hard: q.Hard}
		}
	}
	c.renderTab(w, v, pc, "config", "Configuration", tabData{Tab: t})
	return nil
}

func (c *Console) updateConfig(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "config")
	if err != nil {
		return err
	}
	f := r.PostForm
	meta := map[string]string{"public": strconv.FormatBool(f.Get("public") == "on")}
	for _, fl := range flagDefs {
		meta[fl.Key] = strconv.FormatBool(f.Get(fl.Key) == "on")
	}
	if s := f.Get("severity"); s != "" {
		meta["severity"] = s
	}
	if err := v.write("update project", func() error {
		return c.svc.Projects.Update(r.Context(), v.p, &pc.view.Info.Project, project.Spec{Metadata: meta})
	}); err != nil {
		if err := v.fail("config", err); err != nil {
			return err
		}
		return c.configPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/config", "Configuration saved.")
}

func (c *Console) updateQuota(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "config")
	if err != nil {
		return err
	}
	limit, err := readSize(r.PostForm.Get("quota"), r.PostForm.Get("quota_unit"))
	if err == nil && limit == 0 {
		err = &pageError{Status: http.StatusBadRequest, Message: "Enter a quota, or -1 for unlimited."}
	}
	if err == nil {
		err = v.write("update quota", func() error {
			return c.svc.Quotas.Update(r.Context(), v.p, pc.Project.ProjectID, map[string]int64{quota.Storage: limit})
		})
	}
	if err != nil {
		if err := v.fail("quota", err); err != nil {
			return err
		}
		return c.configPage(w, r, v)
	}
	return redirect(w, r, pc.Base()+"/config", "Quota saved.")
}

func (c *Console) deleteProject(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "config")
	if err != nil {
		return err
	}
	if !c.confirmed(w, r, v, "Delete project "+pc.Project.Name+"? Only an empty project can be deleted.", r.URL.Path, pc.Base()+"/config") {
		return nil
	}
	if err := v.write("delete project", func() error {
		return c.svc.Projects.Delete(r.Context(), v.p, &pc.view.Info.Project)
	}); err != nil {
		if err := v.fail("delete", err); err != nil {
			return err
		}
		return c.configPage(w, r, v)
	}
	return redirect(w, r, "/projects", "Project "+pc.Project.Name+" deleted.")
}
