package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// mxRow is one line of the authorization matrix: an operation (by its
// Harbor operationId), what it needs, and the answer each principal must
// get. The expectations are written from Harbor's matrix
// (shared/docs/harbor-notes.md §2: src/common/rbac/project/rbac_role.go,
// rbac/const.go robot policies, and each handler's access check in
// src/server/v2.0/handler), never computed from Berth's own tables.
type mxRow struct {
	op      string // operationId
	variant string // which case of the operation ("" for the only one)
	// needs is the permission Harbor's handler checks, for the reader.
	needs string
	// proj is what the project robot "robot+" holds (in the request's
	// project) and the system robot holds on every project ("*"): the
	// project permissions the operation needs, when Harbor lets a robot
	// hold them. nil: robot+ holds an unrelated permission like robot-.
	proj []mxPerm
	// sys is the system permission the system robot holds for
	// system-level operations (when proj is nil).
	sys []mxPerm
	// want has one answer per principal, in mxNames order: A allowed
	// (2xx), D denied (401/403, or 404 from a caller holding nothing in
	// the private project, which Berth keeps hidden), or an exact status.
	want string
	req  func(e *mxEnv, who mxWho) mxReq
	// after, if set, cleans up after each principal's request.
	after func(e *mxEnv, who mxWho, r mxResp)
}

func (r *mxRow) name() string {
	if r.variant == "" {
		return r.op
	}
	return r.op + " (" + r.variant + ")"
}

// mxAt is a fixed system-level request.
func mxAt(path string) func(*mxEnv, mxWho) mxReq {
	return func(*mxEnv, mxWho) mxReq { return mxReq{path: path} }
}

// mxIn is a fixed request about project "matrix"; %d in path is its ID.
func mxIn(path string, body any) func(*mxEnv, mxWho) mxReq {
	return func(e *mxEnv, _ mxWho) mxReq {
		if strings.Contains(path, "%d") {
			return mxReq{path: fmt.Sprintf(path, e.matrixID), body: body, project: mxProject}
		}
		return mxReq{path: path, body: body, project: mxProject}
	}
}

const (
	mxApp = "/projects/matrix/repositories/app"
	mxArt = mxApp + "/artifacts/v1"
)

// Principals:          anon alice mike dave gina lena nobody robot+ robot- sysrobot admin
// (alice..lena are projectAdmin, maintainer, developer, guest, limitedGuest of "matrix").
func mxRows() []mxRow {
	all := "A A A A A A A A A A A"
	signedIn := "D A A A A A A A A A A"
	adminOnly := "D D D D D D D D D D A"
	system := "D D D D D D D D D A A" // a system permission a system robot may hold
	// Project permissions, by which roles hold them (rbac_role.go); robot+
	// and the system robot hold the permission itself.
	everyRole := "D A A A A A D A D A A"    // all five roles
	notLimited := "D A A A A D D A D A A"   // not limitedGuest
	developerUp := "D A A A D D D A D A A"  // projectAdmin, maintainer, developer
	maintainerUp := "D A A D D D D A D A A" // projectAdmin, maintainer
	projectAdmin := "D A D D D D D A D A A" // projectAdmin only
	return []mxRow{
		// --- system ---
		{op: "getPing", needs: "none (public)", want: all, req: mxAt("/ping")},
		{op: "getHealth", needs: "none (public)", want: all, req: mxAt("/health")},
		{op: "getSystemInfo", needs: "none (public)", want: all, req: mxAt("/systeminfo")},
		{op: "getVolumes", needs: "system system-volumes:read", sys: mxPerms("system-volumes:read"), want: system, req: mxAt("/systeminfo/volumes")},
		{op: "getStatistic", needs: "signed in", want: signedIn, req: mxAt("/statistics")},
		{op: "getConfigurations", needs: "system configuration:read (not robot-assignable)", want: adminOnly, req: mxAt("/configurations")},
		{op: "updateConfigurations", needs: "system configuration:update (not robot-assignable)", want: adminOnly,
			req: func(*mxEnv, mxWho) mxReq {
				return mxReq{path: "/configurations", body: map[string]string{"banner_message": "matrix"}}
			}},

		// --- projects ---
		{op: "listProjects", needs: "none (filtered)", want: all, req: mxAt("/projects")},
		// HeadProject: RequireAuthenticated, then whether the name exists.
		{op: "headProject", needs: "signed in", want: signedIn, req: mxIn("/projects?project_name=matrix", nil)},
		// CreateProject: signed in (project_creation_restriction everyone);
		// robots must be system level ("Only system level robot can create project").
		{op: "createProject", needs: "signed in; robots: system level", sys: mxPerms("project:create"),
			want: "D A A A A A A D D A A",
			req: func(e *mxEnv, who mxWho) mxReq {
				return mxReq{path: "/projects", body: map[string]any{"project_name": fmt.Sprintf("mxnew%d", who), "metadata": map[string]string{"public": "false"}}}
			},
			after: func(e *mxEnv, who mxWho, _ mxResp) { e.admin("DELETE", fmt.Sprintf("/projects/mxnew%d", who), nil) }},
		{op: "getProject", needs: "project:read", proj: mxPerms("project:read"), want: everyRole, req: mxIn("/projects/matrix", nil)},
		{op: "updateProject", needs: "project:update", proj: mxPerms("project:update"), want: projectAdmin,
			req: mxIn("/projects/matrix", map[string]any{"metadata": map[string]string{"prevent_vul": "false"}})},
		{op: "deleteProject", needs: "project:delete", proj: mxPerms("project:delete"), want: projectAdmin,
			req: func(e *mxEnv, who mxWho) mxReq {
				name := fmt.Sprintf("mxdel%d", who)
				e.newProject(name, who)
				return mxReq{path: "/projects/" + name, project: name}
			},
			after: func(e *mxEnv, who mxWho, _ mxResp) { e.admin("DELETE", fmt.Sprintf("/projects/mxdel%d", who), nil) }},
		{op: "getProjectDeletable", needs: "project:delete", proj: mxPerms("project:delete"), want: projectAdmin, req: mxIn("/projects/matrix/_deletable", nil)},
		{op: "getProjectSummary", needs: "project:read", proj: mxPerms("project:read"), want: everyRole, req: mxIn("/projects/matrix/summary", nil)},
		// Berth's own: filtered to the projects the caller may read (TestProjectSummary).
		// Berth's own: the caller's permissions in the project (TestPermissionViewsAgree).
		{op: "getProjectPermissions", needs: "project:read", proj: mxPerms("project:read"), want: everyRole, req: mxIn("/projects/matrix/permissions", nil)},
		// Harbor checks metadata:list, which no role holds (only admins and
		// robots given it could list). Berth lets whoever may read metadata
		// list it too, deliberately (internal/project/metadata.go MetadataOf:
		// "Harbor's role table gives project administrators no list, only
		// read"), so projectAdmin and maintainer are allowed here.
		{op: "listProjectMetadatas", needs: "metadata:list (Berth: or metadata:read)", proj: mxPerms("metadata:list"),
			want: "D A A D D D D A D A A", req: mxIn("/projects/matrix/metadatas/", nil)},
		{op: "addProjectMetadatas", needs: "metadata:create", proj: mxPerms("metadata:create"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				e.admin("DELETE", "/projects/matrix/metadatas/auto_scan", nil)
				return mxReq{path: "/projects/matrix/metadatas/", body: map[string]string{"auto_scan": "true"}, project: mxProject}
			}},
		{op: "getProjectMetadata", needs: "metadata:read", proj: mxPerms("metadata:read"), want: maintainerUp,
			req: mxIn("/projects/matrix/metadatas/severity", nil)},
		{op: "updateProjectMetadata", needs: "metadata:update", proj: mxPerms("metadata:update"), want: projectAdmin,
			req: mxIn("/projects/matrix/metadatas/enable_content_trust", map[string]string{"enable_content_trust": "false"})},
		{op: "deleteProjectMetadata", needs: "metadata:delete", proj: mxPerms("metadata:delete"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				e.admin("DELETE", "/projects/matrix/metadatas/auto_sbom_generation", nil)
				e.must("POST", "/projects/matrix/metadatas/", map[string]string{"auto_sbom_generation": "true"})
				return mxReq{path: "/projects/matrix/metadatas/auto_sbom_generation", project: mxProject}
			}},
		// Quotas are system resources (quota.go: RequireSystemAccess); the
		// project role's quota:read does not reach them.
		{op: "listQuotas", needs: "system quota:list", sys: mxPerms("quota:list"), want: system, req: mxAt("/quotas")},
		{op: "getQuota", needs: "system quota:read", sys: mxPerms("quota:read"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq { return mxReq{path: fmt.Sprintf("/quotas/%d", e.matrixID)} }},
		{op: "updateQuota", needs: "system quota:update", sys: mxPerms("quota:update"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/quotas/%d", e.matrixID), body: map[string]any{"hard": map[string]int64{"storage": -1}}}
			}},

		// --- users (self-registration off, db_auth) ---
		{op: "listUsers", needs: "system user:list", sys: mxPerms("user:list"), want: system, req: mxAt("/users")},
		{op: "createUser", needs: "system user:create", sys: mxPerms("user:create"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				n := e.uniq("mxnewuser")
				return mxReq{path: "/users", body: map[string]string{"username": n, "email": n + "@example.com", "realname": n, "password": "Mx-New-User-Pass1"}}
			}},
		// GetCurrentUserInfo: robots are not local users (412 "get current
		// user not available for security context: robot").
		{op: "getCurrentUserInfo", needs: "a signed-in user", want: "D A A A A A A 412 412 412 A", req: mxAt("/users/current")},
		{op: "searchUsers", needs: "signed in", want: signedIn, req: mxAt("/users/search?username=a")},
		{op: "getCurrentUserPermissions", needs: "signed in", want: signedIn,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/current/permissions?scope=/project/%d&relative=true", e.matrixID)}
			}},
		{op: "getUser", variant: "other user", needs: "system user:read, or self", sys: mxPerms("user:read"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq { return mxReq{path: fmt.Sprintf("/users/%d", e.target)} }},
		{op: "getUser", variant: "self", needs: "system user:read, or self", sys: mxPerms("user:read"), want: "D A A A A A A D D A A",
			req: func(e *mxEnv, who mxWho) mxReq { return mxReq{path: fmt.Sprintf("/users/%d", e.selfOrTarget(who))} }},
		{op: "updateUserProfile", variant: "other user", needs: "system user:update, or self", sys: mxPerms("user:update"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/%d", e.target), body: map[string]string{"email": "t@example.com", "realname": "Target", "comment": "matrix"}}
			}},
		{op: "updateUserProfile", variant: "self", needs: "system user:update, or self", sys: mxPerms("user:update"), want: "D A A A A A A D D A A",
			req: func(e *mxEnv, who mxWho) mxReq {
				email := "t@example.com" // the spare user's
				if who.isUser() {
					email = who.String() + "@example.com"
				}
				return mxReq{path: fmt.Sprintf("/users/%d", e.selfOrTarget(who)), body: map[string]string{"email": email, "realname": "Self", "comment": "matrix"}}
			}},
		{op: "deleteUser", needs: "system user:delete", sys: mxPerms("user:delete"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				id, _ := e.newUser("mxdeluser", "Mx-Del-User-Pass1")
				return mxReq{path: fmt.Sprintf("/users/%d", id)}
			}},
		{op: "setUserSysAdmin", needs: "system user:update", sys: mxPerms("user:update"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/%d/sysadmin", e.target), body: map[string]bool{"sysadmin_flag": false}}
			}},
		{op: "updateUserPassword", variant: "other user", needs: "system user:update, or self", sys: mxPerms("user:update"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/%d/password", e.target), body: map[string]string{"old_password": "", "new_password": e.uniq("Mx-Target-Pass")}}
			}},
		{op: "updateUserPassword", variant: "self", needs: "system user:update, or self (with the old password)", sys: mxPerms("user:update"),
			want: "D A A A A A A D D A A",
			req: func(e *mxEnv, who mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/%d/password", e.selfOrTarget(who)),
					body: map[string]string{"old_password": e.password[who], "new_password": e.uniq("Mx-Changed-Pass")}}
			},
			after: func(e *mxEnv, who mxWho, r mxResp) {
				if who.isUser() && r.status < 300 { // put the password back
					e.must("PUT", fmt.Sprintf("/users/%d/password", e.userID[who]), map[string]string{"new_password": e.password[who]})
				}
			}},
		// SetCliSecret checks the auth mode first: outside oidc_auth it is
		// 412 for everyone. Berth's router refuses anonymous writes (401)
		// before any handler runs; both refuse.
		{op: "setCliSecret", needs: "oidc_auth mode, then self or system user:update", sys: mxPerms("user:update"),
			want: "D 412 412 412 412 412 412 412 412 412 412",
			req: func(e *mxEnv, who mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/users/%d/cli_secret", e.selfOrTarget(who)), body: map[string]string{"secret": "Mx-Cli-Secret1"}}
			}},
		// GetPermissions: system admins and project admins (of any project);
		// robots are neither (permissions.go).
		{op: "getPermissions", needs: "system admin or a projectAdmin role", want: "D A D D D D D D D D A", req: mxAt("/permissions")},

		// --- members ---
		{op: "listProjectMembers", needs: "member:list", proj: mxPerms("member:list"), want: notLimited, req: mxIn("/projects/matrix/members", nil)},
		{op: "createProjectMember", needs: "member:create", proj: mxPerms("member:create"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				_, name := e.newUser("mxnewmember", "Mx-Member-Pass1")
				return mxReq{path: "/projects/matrix/members", body: map[string]any{"role_id": 3, "member_user": map[string]string{"username": name}}, project: mxProject}
			}},
		{op: "getProjectMember", needs: "member:read", proj: mxPerms("member:read"), want: notLimited,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/projects/matrix/members/%d", e.ginaMID), project: mxProject}
			}},
		{op: "updateProjectMember", needs: "member:update", proj: mxPerms("member:update"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/projects/matrix/members/%d", e.newMember()), body: map[string]int{"role_id": 2}, project: mxProject}
			}},
		{op: "deleteProjectMember", needs: "member:delete", proj: mxPerms("member:delete"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/projects/matrix/members/%d", e.newMember()), project: mxProject}
			}},

		// --- robots ---
		{op: "ListRobot", variant: "project robots", needs: "robot:list", proj: mxPerms("robot:list"), want: notLimited,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/robots?q=" + url.QueryEscape(fmt.Sprintf("Level=project,ProjectID=%d", e.matrixID)), project: mxProject}
			}},
		{op: "ListRobot", variant: "system robots", needs: "system robot:list", sys: mxPerms("robot:list"), want: system, req: mxAt("/robots")},
		// A robot may only hand out what it holds itself (Harbor 2.12+,
		// "must be equal to or more restrictive than the creator robot's
		// permissions"): the new robot gets robot:create, which robot+ and
		// the system robot hold.
		{op: "CreateRobot", variant: "project robot", needs: "robot:create", proj: mxPerms("robot:create"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/robots", project: mxProject, body: map[string]any{"name": e.uniq("mxnewrobot"), "level": "project", "duration": -1,
					"permissions": []map[string]any{{"kind": "project", "namespace": mxProject, "access": mxPerms("robot:create")}}}}
			}},
		{op: "CreateRobot", variant: "system robot", needs: "system robot:create", sys: mxPerms("robot:create"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/robots", body: map[string]any{"name": e.uniq("mxnewrobot"), "level": "system", "duration": -1,
					"permissions": []map[string]any{{"kind": "system", "namespace": "/", "access": mxPerms("robot:create")}}}}
			}},
		{op: "GetRobotByID", needs: "robot:read", proj: mxPerms("robot:read"), want: notLimited,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/robots/%d", e.robotID), project: mxProject}
			}},
		// robot:update was taken out of what a robot may hold (goharbor/community#251).
		{op: "UpdateRobot", needs: "robot:update (not robot-assignable)", want: "D A D D D D D D D D A",
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/robots/%d", e.robotID), project: mxProject, body: map[string]any{
					"name": e.robotName, "level": "project", "duration": -1, "description": e.uniq("matrix "), "disable": false,
					"permissions": []map[string]any{{"kind": "project", "namespace": mxProject, "access": mxPerms("repository:pull")}}}}
			}},
		{op: "RefreshSec", needs: "robot:update (not robot-assignable)", want: "D A D D D D D D D D A",
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/robots/%d", e.robotID), project: mxProject, body: map[string]string{}}
			}},
		{op: "DeleteRobot", needs: "robot:delete", proj: mxPerms("robot:delete"), want: projectAdmin,
			req: func(e *mxEnv, _ mxWho) mxReq {
				id, _ := e.newRobot("project", mxProject, mxPerms("repository:pull"))
				return mxReq{path: fmt.Sprintf("/robots/%d", id), project: mxProject}
			}},

		// --- repositories ---
		{op: "listAllRepositories", needs: "none (filtered)", want: all, req: mxAt("/repositories")},
		{op: "listRepositories", needs: "repository:list", proj: mxPerms("repository:list"), want: everyRole, req: mxIn("/projects/matrix/repositories", nil)},
		{op: "getRepository", needs: "repository:list", proj: mxPerms("repository:list"), want: everyRole, req: mxIn(mxApp, nil)},
		{op: "updateRepository", needs: "repository:update", proj: mxPerms("repository:update"), want: developerUp,
			req: mxIn(mxApp, map[string]string{"description": "matrix"})},
		{op: "deleteRepository", needs: "repository:delete", proj: mxPerms("repository:delete"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				repo := e.uniq("del")
				e.push(mxProject+"/"+repo, "v1")
				return mxReq{path: "/projects/matrix/repositories/" + repo, project: mxProject}
			}},

		// --- artifacts ---
		{op: "listArtifacts", needs: "artifact:list", proj: mxPerms("artifact:list"), want: everyRole, req: mxIn(mxApp+"/artifacts", nil)},
		// CopyArtifact: artifact:create in the target, artifact:read in the source.
		{op: "CopyArtifact", needs: "artifact:create (target), artifact:read (source)", proj: mxPerms("artifact:create,artifact:read"), want: developerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/projects/matrix/repositories/" + e.uniq("copy") + "/artifacts?from=" + url.QueryEscape("matrix/app:v1"), project: mxProject}
			}},
		{op: "getArtifact", needs: "artifact:read", proj: mxPerms("artifact:read"), want: everyRole, req: mxIn(mxArt, nil)},
		{op: "deleteArtifact", needs: "artifact:delete", proj: mxPerms("artifact:delete"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				tag := e.uniq("t")
				e.push(mxProject+"/artdel", tag)
				return mxReq{path: "/projects/matrix/repositories/artdel/artifacts/" + tag, project: mxProject}
			}},
		{op: "createTag", needs: "tag:create", proj: mxPerms("tag:create"), want: developerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: mxArt + "/tags", body: map[string]string{"name": e.uniq("ct")}, project: mxProject}
			}},
		{op: "listTags", needs: "tag:list", proj: mxPerms("tag:list"), want: everyRole, req: mxIn(mxArt+"/tags", nil)},
		{op: "deleteTag", needs: "tag:delete", proj: mxPerms("tag:delete"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				tag := e.uniq("dt")
				e.must("POST", mxArt+"/tags", map[string]string{"name": tag})
				return mxReq{path: mxArt + "/tags/" + tag, project: mxProject}
			}},
		{op: "listAccessories", needs: "accessory:list", proj: mxPerms("accessory:list"), want: everyRole, req: mxIn(mxArt+"/accessories", nil)},
		{op: "getVulnerabilitiesAddition", needs: "artifact-addition:read", proj: mxPerms("artifact-addition:read"), want: everyRole,
			req: mxIn(mxArt+"/additions/vulnerabilities", nil)},
		{op: "getAddition", needs: "artifact-addition:read", proj: mxPerms("artifact-addition:read"), want: everyRole,
			req: mxIn(mxArt+"/additions/build_history", nil)},
		{op: "addLabel", needs: "artifact-label:create", proj: mxPerms("artifact-label:create"), want: developerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				e.admin("DELETE", fmt.Sprintf(mxArt+"/labels/%d", e.labelP), nil)
				return mxReq{path: mxArt + "/labels", body: map[string]int64{"id": e.labelP}, project: mxProject}
			}},
		{op: "removeLabel", needs: "artifact-label:delete", proj: mxPerms("artifact-label:delete"), want: developerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				e.admin("POST", mxArt+"/labels", map[string]int64{"id": e.labelP})
				return mxReq{path: fmt.Sprintf(mxArt+"/labels/%d", e.labelP), project: mxProject}
			}},
		{op: "listArtifactsOfProject", needs: "artifact:list", proj: mxPerms("artifact:list"), want: everyRole, req: mxIn("/projects/matrix/artifacts", nil)},
		// Berth's own cross-project listing (harbor#21010), filtered like listAllRepositories.
		{op: "listAllArtifacts", needs: "none (filtered)", want: all, req: mxAt("/artifacts")},

		// --- labels: global ones are system resources, project ones project resources ---
		{op: "ListLabels", variant: "global", needs: "none", want: all, req: mxAt("/labels?scope=g")},
		{op: "ListLabels", variant: "project", needs: "label:list", proj: mxPerms("label:list"), want: notLimited,
			req: mxIn("/labels?scope=p&project_id=%d", nil)},
		{op: "CreateLabel", variant: "global", needs: "system label:create", sys: mxPerms("label:create"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/labels", body: map[string]string{"name": e.uniq("mxg"), "color": "#112233", "scope": "g"}}
			}},
		{op: "CreateLabel", variant: "project", needs: "label:create", proj: mxPerms("label:create"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/labels", project: mxProject, body: map[string]any{"name": e.uniq("mxp"), "color": "#112233", "scope": "p", "project_id": e.matrixID}}
			}},
		{op: "GetLabelByID", variant: "global", needs: "system label:read", sys: mxPerms("label:read"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq { return mxReq{path: fmt.Sprintf("/labels/%d", e.labelG)} }},
		{op: "GetLabelByID", variant: "project", needs: "label:read", proj: mxPerms("label:read"), want: notLimited,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/labels/%d", e.labelP), project: mxProject}
			}},
		{op: "UpdateLabel", variant: "global", needs: "system label:update", sys: mxPerms("label:update"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/labels/%d", e.labelG), body: map[string]string{"name": "mxglobal", "color": "#445566"}}
			}},
		{op: "UpdateLabel", variant: "project", needs: "label:update", proj: mxPerms("label:update"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/labels/%d", e.labelP), project: mxProject, body: map[string]string{"name": "mxproject", "color": "#445566"}}
			}},
		{op: "DeleteLabel", variant: "global", needs: "system label:delete", sys: mxPerms("label:delete"), want: system,
			req: func(e *mxEnv, _ mxWho) mxReq { return mxReq{path: fmt.Sprintf("/labels/%d", e.newLabel("g"))} }},
		{op: "DeleteLabel", variant: "project", needs: "label:delete", proj: mxPerms("label:delete"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: fmt.Sprintf("/labels/%d", e.newLabel("p")), project: mxProject}
			}},

		// --- immutable tag rules (immutable-tag: projectAdmin and maintainer) ---
		{op: "ListImmuRules", needs: "immutable-tag:list", proj: mxPerms("immutable-tag:list"), want: maintainerUp,
			req: mxIn("/projects/matrix/immutabletagrules", nil)},
		{op: "CreateImmuRule", needs: "immutable-tag:create", proj: mxPerms("immutable-tag:create"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				return mxReq{path: "/projects/matrix/immutabletagrules", body: e.immutableRuleBody(), project: mxProject}
			},
			after: func(e *mxEnv, _ mxWho, r mxResp) { // stay below the limit of rules per project
				if r.status == 201 {
					e.must("DELETE", fmt.Sprintf("/projects/matrix/immutabletagrules/%d", e.createdID(r)), nil)
				}
			}},
		{op: "UpdateImmuRule", needs: "immutable-tag:update", proj: mxPerms("immutable-tag:update"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				if e.immRule == 0 {
					e.immRule = e.createdID(e.must("POST", "/projects/matrix/immutabletagrules", e.immutableRuleBody()))
				}
				return mxReq{path: fmt.Sprintf("/projects/matrix/immutabletagrules/%d", e.immRule), body: map[string]bool{"disabled": true}, project: mxProject}
			}},
		{op: "DeleteImmuRule", needs: "immutable-tag:delete", proj: mxPerms("immutable-tag:delete"), want: maintainerUp,
			req: func(e *mxEnv, _ mxWho) mxReq {
				e.pendingRule = e.createdID(e.must("POST", "/projects/matrix/immutabletagrules", e.immutableRuleBody()))
				return mxReq{path: fmt.Sprintf("/projects/matrix/immutabletagrules/%d", e.pendingRule), project: mxProject}
			},
			after: func(e *mxEnv, _ mxWho, r mxResp) {
				if r.status >= 300 { // refused: remove it, to stay below the limit of rules per project
					e.must("DELETE", fmt.Sprintf("/projects/matrix/immutabletagrules/%d", e.pendingRule), nil)
				}
			}},

		// --- search ---
		{op: "search", needs: "none (filtered)", want: all, req: mxAt("/search?q=matrix")},

		// --- audit log ---
		// ListAuditLogs: any signed-in caller; without system audit-log:list
		// the listing is cut to the projects where the caller holds log:list
		// (none for robots: an empty page, not a refusal).
		{op: "listAuditLogs", needs: "signed in (filtered by audit-log:list / log:list)", sys: mxPerms("audit-log:list"), want: signedIn, req: mxAt("/audit-logs")},
		{op: "listAuditLogExts", needs: "signed in (filtered by audit-log:list / log:list)", sys: mxPerms("audit-log:list"), want: signedIn, req: mxAt("/auditlog-exts")},
		{op: "listAuditLogEventTypes", needs: "system audit-log:list", sys: mxPerms("audit-log:list"), want: system, req: mxAt("/auditlog-exts/events")},
		{op: "getLogs", needs: "log:list", proj: mxPerms("log:list"), want: projectAdmin, req: mxIn("/projects/matrix/logs", nil)},
		{op: "getLogExts", needs: "log:list", proj: mxPerms("log:list"), want: projectAdmin, req: mxIn("/projects/matrix/auditlog-exts", nil)},
	}
}

// selfOrTarget is who's own user ID, or the spare user for callers who are
// not users (and for the administrator, whose own password the matrix
// keeps).
func (e *mxEnv) selfOrTarget(who mxWho) int64 {
	if who.isUser() {
		return e.userID[who]
	}
	return e.target
}

// TestAuthorizationMatrix calls every implemented operation as each of
// eleven principals (anonymous; projectAdmin, maintainer, developer, guest
// and limitedGuest of a private project; a signed-in user without a role
// there; a project robot with and without the permission the operation
// needs; a system robot; the administrator), each time with a valid
// request on fresh resources, and checks who is allowed and who refused
// against expectations written from Harbor's authorization matrix. An
// operation without a row fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			e := newMXEnv(t, backend)
			rows := append(append(append(append(mxRows(), retentionMXRows()...), webhookMXRows()...), jobsMXRows()...), gcMXRows()...)
			covered := map[string]bool{}
			if backend == "sqlite" { // the table of answers, once
				t.Logf("%-42s %s", "operation \\ answer to", mxColumns(mxNames[:]))
			}
			for _, op := range e.srv.App.API.Operations() {
				var mine []*mxRow
				for i := range rows {
					if rows[i].op == op.ID {
						mine = append(mine, &rows[i])
					}
				}
				if len(mine) == 0 {
					t.Errorf("%s %s (%s) has no row in the authorization matrix: add one", op.Method, op.Path, op.ID)
					continue
				}
				covered[op.ID] = true
				tmpl := mxTemplate(op.Path)
				for _, row := range mine {
					e.runRow(row, op.Method, tmpl, backend == "sqlite")
				}
			}
			for i := range rows {
				if !covered[rows[i].op] {
					t.Errorf("row %s names no implemented operation", rows[i].name())
				}
			}
			t.Logf("%s: %d operations, %d rows x %d principals = %d requests checked in %v",
				backend, len(covered), len(rows), mxPrincipals, len(rows)*int(mxPrincipals), time.Since(start).Round(time.Millisecond))
		})
	}
}

// runRow makes row's request as every principal and checks the answers.
func (e *mxEnv) runRow(row *mxRow, method string, tmpl interface{ MatchString(string) bool }, show bool) {
	t := e.t
	t.Helper()
	want := strings.Fields(row.want)
	if len(want) != int(mxPrincipals) {
		t.Errorf("%s: want has %d answers, not %d", row.name(), len(want), mxPrincipals)
		return
	}
	got := make([]string, 0, mxPrincipals)
	for who := mxAnon; who < mxPrincipals; who++ {
		q := row.req(e, who)
		if !tmpl.MatchString(q.path) {
			t.Fatalf("%s: request path %s does not match the operation's template", row.name(), q.path)
		}
		user, pass := e.creds(row, q, who)
		r := e.call(method, q.path, user, pass, q.body)
		if row.after != nil {
			row.after(e, who, r)
		}
		got = append(got, fmt.Sprint(r.status))
		if !mxMatches(want[who], r.status, row, q, who) {
			t.Errorf("%s as %s: %s %s answered %d %.300s; Harbor's matrix says %s",
				row.name(), who, method, q.path, r.status, r.body, mxWord(want[who]))
		}
	}
	if show {
		t.Logf("%-42s %s", row.name(), mxColumns(got))
	}
}

// mxColumns lays out one value per principal under the principals' names.
func mxColumns(vals []string) string {
	var b strings.Builder
	for i, v := range vals {
		fmt.Fprintf(&b, "%-*s", max(len(mxNames[i]), 3)+1, v)
	}
	return strings.TrimRight(b.String(), " ")
}

// mxMatches reports whether status is the expected answer. A denial is 401
// or 403; 404 counts as one only for a caller holding nothing in the
// private project the request is about (Berth hides such projects).
func mxMatches(want string, status int, row *mxRow, q mxReq, who mxWho) bool {
	switch want {
	case "A":
		return status >= 200 && status < 300
	case "D":
		if status == 401 || status == 403 {
			return true
		}
		holdsNothing := who == mxNobody || (who == mxSysRobot && len(row.proj) == 0)
		return status == 404 && q.project != "" && holdsNothing
	}
	return fmt.Sprint(status) == want
}

func mxWord(w string) string {
	switch w {
	case "A":
		return "allow (2xx)"
	case "D":
		return "deny (401/403)"
	}
	return w
}
