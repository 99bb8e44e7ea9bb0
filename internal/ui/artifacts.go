package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
)

// Repositories, a repository's artifacts, and the artifact page.

// repoSep ends the repository part of a console path: a repository name
// has slashes, but none of its components can be "-".
const repoSep = "/-/"

func (c *Console) repositoriesPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "repositories")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	var list []api.Repository
	resp, err := v.api.get("/projects/"+pathEscape(pc.Project.Name)+"/repositories?"+lp.query("name").Encode(), &list)
	if err != nil {
		return err
	}
	rows := make([]repoRow, len(list))
	for i, rp := range list {
		short := strings.TrimPrefix(rp.Name, pc.Project.Name+"/")
		rows[i] = repoRow{Repository: rp, Short: short, Link: pc.Base() + "/repositories/" + escapeRepo(short)}
	}
	c.renderTab(w, v, pc, "repositories", "Repositories", tabData{Q: lp.Q, Pager: makePager(r, lp, resp.total()), Tab: rows})
	return nil
}

type repoRow struct {
	api.Repository
	Short string
	Link  string
}

// escapeRepo escapes a repository name for a console path, keeping its slashes.
func escapeRepo(repo string) string {
	parts := strings.Split(repo, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// repoPath is the API path of repository repo (without project) of pc.
func repoPath(pc *projectCtx, repo string) string {
	return "/projects/" + pathEscape(pc.Project.Name) + "/repositories/" + repoEscape(repo)
}

// artifactPath is the API path of artifact ref of repo.
func artifactPath(pc *projectCtx, repo, ref string) string {
	return repoPath(pc, repo) + "/artifacts/" + pathEscape(ref)
}

// repositoryGet serves a repository page or an artifact page.
func (c *Console) repositoryGet(w http.ResponseWriter, r *http.Request, v *view) error {
	repo, action, _ := strings.Cut(r.PathValue("rest"), repoSep)
	pc, err := c.loadProject(r, v, "repositories")
	if err != nil {
		return err
	}
	switch {
	case action == "":
		return c.repositoryPage(w, r, v, pc, repo)
	case strings.HasPrefix(action, "artifacts/") && !strings.Contains(action[len("artifacts/"):], "/"):
		return c.artifactPage(w, r, v, pc, repo, action[len("artifacts/"):])
	}
	return &apiError{Status: http.StatusNotFound, Message: "There is no page at " + r.URL.Path + "."}
}

// repoData is the repository page.
type repoData struct {
	Repo      api.Repository
	Short     string
	Base      string // console path of the repository
	Artifacts []artifactRow
	Rows      []template.HTML // the table's rows (artifactRow.rowHTML)
	Filter    string
	Push      string
}

// artifactRow is an artifact in a repository's table.
type artifactRow struct {
	api.Artifact
	Kind      string
	Platforms []string
	Link      string
	// Short is the short digest; Pushed, Pulled and SizeText are the
	// formatted times and size (formatted here once, not per use).
	Short, Pushed, Pulled, SizeText string
}

// artifactKind names what an artifact is: image, index, chart, or its
// artifact type (else its config media type).
func artifactKind(a *api.Artifact) string {
	switch {
	case strings.Contains(a.ManifestMediaType, "index") || strings.Contains(a.ManifestMediaType, "manifest.list"):
		return "index"
	case a.Type == "CHART":
		return "chart"
	case a.Type == "IMAGE":
		return "image"
	case a.ArtifactType != "":
		return a.ArtifactType
	case a.MediaType != "":
		return a.MediaType
	}
	return "other"
}

func platforms(a *api.Artifact) []string {
	var out []string
	for _, ref := range a.References {
		if ref.Platform != nil {
			out = append(out, platformString(ref.Platform))
		}
	}
	return out
}

func platformString(p *api.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func (c *Console) repositoryPage(w http.ResponseWriter, r *http.Request, v *view, pc *projectCtx, repo string) error {
	var rp api.Repository
	if _, err := v.api.get(repoPath(pc, repo), &rp); err != nil {
		return err
	}
	lp := readList(r, pageSize)
	lp.Q = strings.TrimSpace(r.URL.Query().Get("tag"))
	q := lp.query("tags")
	q.Set("with_tag", "true")
	q.Set("with_label", "true")
	q.Set("with_accessory", "true")
	var list []api.Artifact
	resp, err := v.api.get(repoPath(pc, repo)+"/artifacts?"+q.Encode(), &list)
	if err != nil {
		return err
	}
	base := pc.Base() + "/repositories/" + escapeRepo(repo)
	d := repoData{Repo: rp, Short: repo, Base: base, Filter: lp.Q,
		Push: "docker push " + pc.Host + "/" + pc.Project.Name + "/" + repo + ":<tag>"}
	for _, a := range list {
		d.Artifacts = append(d.Artifacts, artifactRow{Artifact: a, Kind: artifactKind(&a), Platforms: platforms(&a),
			Link: base + repoSep + "artifacts/" + url.PathEscape(a.Digest), Short: shortDigest(a.Digest),
			Pushed: when(a.PushTime), Pulled: when(a.PullTime), SizeText: humanBytes(a.Size)})
	}
	for i := range d.Artifacts {
		d.Rows = append(d.Rows, d.Artifacts[i].rowHTML(i))
	}
	c.renderTab(w, v, pc, "repository", repo, tabData{Q: lp.Q, Pager: makePager(r, lp, resp.total()), Tab: d})
	return nil
}

// artifactData is the artifact page.
type artifactData struct {
	Repo     string // without project
	RepoLink string
	Base     string // console path of the artifact
	A        api.Artifact
	Kind     string
	Commands []command
	Labels   []api.Label // labels that can be attached
	Attrs    map[string]any
	RunCfg   string // the image's run configuration, as indented JSON
	Layers   []descriptor
	Config   *descriptor
	History  []historyEntry
	Children []child
	Values   string
	Readme   string
	Manifest string
	Problems []string // parts that could not be read
	Accs     []accessoryRow
}

type command struct{ ID, Label, Text string }

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type historyEntry struct {
	Created    string `json:"created"`
	CreatedBy  string `json:"created_by"`
	Comment    string `json:"comment"`
	EmptyLayer bool   `json:"empty_layer"`
}

type child struct {
	Digest, Platform, Link string
}

type accessoryRow struct {
	api.Accessory
	Link string
}

// Limits on what the artifact page reads.
const maxManifest = 4 << 20

func (c *Console) artifactPage(w http.ResponseWriter, r *http.Request, v *view, pc *projectCtx, repo, ref string) error {
	var a api.Artifact
	if _, err := v.api.get(artifactPath(pc, repo, ref)+"?with_tag=true&with_label=true&with_accessory=true&with_immutable_status=true", &a); err != nil {
		return err
	}
	repoLink := pc.Base() + "/repositories/" + escapeRepo(repo)
	d := artifactData{Repo: repo, RepoLink: repoLink, Base: repoLink + repoSep + "artifacts/" + url.PathEscape(a.Digest),
		A: a, Kind: artifactKind(&a)}
	if len(a.ExtraAttrs) > 0 {
		json.Unmarshal(a.ExtraAttrs, &d.Attrs)
	}
	full := pc.Host + "/" + pc.Project.Name + "/" + repo
	for i, t := range a.Tags {
		d.Commands = append(d.Commands, command{ID: "pull-tag-" + strconv.Itoa(i), Label: "Pull by tag " + t.Name, Text: "docker pull " + full + ":" + t.Name})
		if i == 2 {
			break
		}
	}
	d.Commands = append(d.Commands, command{ID: "pull-digest", Label: "Pull by digest", Text: "docker pull " + full + "@" + a.Digest})
	if d.Kind == "chart" && len(a.Tags) > 0 {
		d.Commands = append(d.Commands, command{ID: "helm-pull", Label: "Helm", Text: "helm pull oci://" + full + " --version " + a.Tags[0].Name})
	}
	if cfg, ok := d.Attrs["config"]; ok && d.Kind == "image" {
		if b, err := json.MarshalIndent(cfg, "", "  "); err == nil && string(b) != "{}" {
			d.RunCfg = string(b)
		}
	}
	for _, ref := range a.References {
		ch := child{Digest: ref.ChildDigest, Link: repoLink + repoSep + "artifacts/" + url.PathEscape(ref.ChildDigest)}
		if ref.Platform != nil {
			ch.Platform = platformString(ref.Platform)
		}
		d.Children = append(d.Children, ch)
	}
	for _, x := range a.Accessories {
		d.Accs = append(d.Accs, accessoryRow{Accessory: x, Link: repoLink + repoSep + "artifacts/" + url.PathEscape(x.Digest)})
	}
	problem := func(what string, err error) { d.Problems = append(d.Problems, what+": "+err.Error()) }
	if _, ok := a.AdditionLinks["build_history"]; ok {
		if _, err := v.api.get(artifactPath(pc, repo, a.Digest)+"/additions/build_history", &d.History); err != nil {
			problem("build history", err)
		}
	}
	if d.Kind == "chart" {
		for _, f := range []struct {
			name string
			dst  *string
		}{{"values.yaml", &d.Values}, {"readme.md", &d.Readme}} {
			resp, err := v.api.get(artifactPath(pc, repo, a.Digest)+"/additions/"+f.name, nil)
			if err != nil {
				problem(f.name, err)
				continue
			}
			*f.dst = string(resp.Body)
		}
	}
	if body, err := v.api.registryGet(v.p, pc.Project.Name+"/"+repo, "manifests", a.Digest, maxManifest); err != nil {
		problem("manifest", err)
	} else {
		var m struct {
			Config *descriptor  `json:"config"`
			Layers []descriptor `json:"layers"`
		}
		json.Unmarshal(body, &m)
		d.Config, d.Layers = m.Config, m.Layers
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			d.Manifest = buf.String()
		} else {
			d.Manifest = string(body)
		}
	}
	if pc.Perms.Can("artifact-label", "create") {
		d.Labels = c.attachable(v, pc, &a)
	}
	c.renderTab(w, v, pc, "artifact", repo+"@"+shortDigest(a.Digest), tabData{Tab: d})
	return nil
}

// attachable lists the global and project labels a does not have yet.
func (c *Console) attachable(v *view, pc *projectCtx, a *api.Artifact) []api.Label {
	have := map[int64]bool{}
	for _, l := range a.Labels {
		have[l.ID] = true
	}
	var out []api.Label
	for _, q := range []string{"scope=g", "scope=p&project_id=" + strconv.FormatInt(pc.Project.ProjectID, 10)} {
		var list []api.Label
		if _, err := v.api.get("/labels?page_size=100&"+q, &list); err != nil {
			continue
		}
		for _, l := range list {
			if !have[l.ID] {
				out = append(out, l)
			}
		}
	}
	return out
}

// repositoryPost runs the actions on a repository and its artifacts.
func (c *Console) repositoryPost(w http.ResponseWriter, r *http.Request, v *view) error {
	repo, action, _ := strings.Cut(r.PathValue("rest"), repoSep)
	pc, err := c.loadProject(r, v, "repositories")
	if err != nil {
		return err
	}
	repoLink := pc.Base() + "/repositories/" + escapeRepo(repo)
	f := r.PostForm
	switch action {
	case "description":
		_, err := v.api.call(http.MethodPut, repoPath(pc, repo), map[string]string{"description": f.Get("description")}, nil)
		if err != nil {
			return c.repoFail(w, r, v, pc, repo, "", "description", err)
		}
		return redirect(w, r, repoLink, "Description saved.")
	case "delete":
		if !c.confirmed(w, r, v, "Delete repository "+pc.Project.Name+"/"+repo+" and all its artifacts?", r.URL.Path, repoLink) {
			return nil
		}
		if _, err := v.api.call(http.MethodDelete, repoPath(pc, repo), nil, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, "", "delete", err)
		}
		return redirect(w, r, pc.Base()+"/repositories", "Repository "+repo+" deleted.")
	}
	rest, ok := strings.CutPrefix(action, "artifacts/")
	if !ok {
		return &apiError{Status: http.StatusNotFound, Message: "No such action."}
	}
	parts := strings.Split(rest, "/")
	ref := parts[0]
	artLink := repoLink + repoSep + "artifacts/" + url.PathEscape(ref)
	switch {
	case len(parts) == 2 && parts[1] == "delete":
		if !c.confirmed(w, r, v, "Delete artifact "+shortDigest(ref)+" of "+repo+" with all its tags?", r.URL.Path, artLink) {
			return nil
		}
		if _, err := v.api.call(http.MethodDelete, artifactPath(pc, repo, ref), nil, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "delete", err)
		}
		return redirect(w, r, repoLink, "Artifact "+shortDigest(ref)+" deleted.")
	case len(parts) == 2 && parts[1] == "tags":
		name := strings.TrimSpace(f.Get("tag"))
		if _, err := v.api.call(http.MethodPost, artifactPath(pc, repo, ref)+"/tags", map[string]string{"name": name}, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "tag", err)
		}
		return redirect(w, r, artLink, "Tag "+name+" added.")
	case len(parts) == 4 && parts[1] == "tags" && parts[3] == "delete":
		tag := parts[2]
		if !c.confirmed(w, r, v, "Delete tag "+tag+" of "+repo+"? The artifact stays.", r.URL.Path, artLink) {
			return nil
		}
		if _, err := v.api.call(http.MethodDelete, artifactPath(pc, repo, ref)+"/tags/"+pathEscape(tag), nil, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "untag", err)
		}
		return redirect(w, r, artLink, "Tag "+tag+" deleted.")
	case len(parts) == 2 && parts[1] == "labels":
		id, _ := strconv.ParseInt(f.Get("label_id"), 10, 64)
		if _, err := v.api.call(http.MethodPost, artifactPath(pc, repo, ref)+"/labels", map[string]int64{"id": id}, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "label", err)
		}
		return redirect(w, r, artLink, "Label attached.")
	case len(parts) == 4 && parts[1] == "labels" && parts[3] == "delete":
		if _, err := v.api.call(http.MethodDelete, artifactPath(pc, repo, ref)+"/labels/"+pathEscape(parts[2]), nil, nil); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "unlabel", err)
		}
		return redirect(w, r, artLink, "Label removed.")
	}
	return &apiError{Status: http.StatusNotFound, Message: "No such action."}
}

// repoFail renders the repository (ref "") or artifact page again with
// the API's refusal.
func (c *Console) repoFail(w http.ResponseWriter, r *http.Request, v *view, pc *projectCtx, repo, ref, form string, err error) error {
	if err := v.fail(form, err); err != nil {
		return err
	}
	if ref == "" {
		return c.repositoryPage(w, r, v, pc, repo)
	}
	return c.artifactPage(w, r, v, pc, repo, ref)
}
