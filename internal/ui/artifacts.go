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
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/repository"
)

// Repositories, a repository's artifacts, and the artifact page: they call
// the repository service (package repository) with the session's principal.

// repoSep ends the repository part of a console path: a repository name
// has slashes, but none of its components can be "-".
const repoSep = "/-/"

func (c *Console) repositoriesPage(w http.ResponseWriter, r *http.Request, v *view) error {
	pc, err := c.loadProject(r, v, "repositories")
	if err != nil {
		return err
	}
	lp := readList(r, pageSize)
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	list, total, err := c.svc.Repos.List(r.Context(), v.p, &pc.view.Info.Project, fuzzy("name", lp.Q), offset, lp.Size)
	if err != nil {
		return serviceError(err)
	}
	rows := make([]repoRow, len(list))
	for i, rp := range list {
		short := strings.TrimPrefix(rp.Name, pc.Project.Name+"/")
		rows[i] = repoRow{Repository: rp, Short: short, Link: pc.Base() + "/repositories/" + escapeRepo(short)}
	}
	c.renderTab(w, v, pc, "repositories", "Repositories", tabData{Q: lp.Q, Pager: makePager(r, lp, total), Tab: rows})
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

// fullName is the full name of repository repo (without project) of pc.
func (pc *projectCtx) fullName(repo string) string { return pc.Project.Name + "/" + repo }

// fuzzy is a query for the names whose key contains text (none: all), as
// the listings' search boxes ask.
func fuzzy(key, text string) *query.Query {
	q := &query.Query{}
	if t := queryText(text); t != "" {
		q.Conds = append(q.Conds, query.Cond{Key: key, Kind: query.Fuzzy, Value: t})
	}
	return q
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
	return &pageError{Status: http.StatusNotFound, Message: "There is no page at " + r.URL.Path + "."}
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
	rp, err := c.svc.Repos.Get(r.Context(), v.p, &pc.view.Info.Project, pc.fullName(repo))
	if err != nil {
		return serviceError(err)
	}
	lp := readList(r, pageSize)
	lp.Q = strings.TrimSpace(r.URL.Query().Get("tag"))
	offset, err := lp.offset()
	if err != nil {
		return err
	}
	list, total, err := c.svc.Repos.ListArtifacts(r.Context(), v.p, &pc.view.Info.Project, pc.fullName(repo), repository.Listing{
		Query: fuzzy("tags", lp.Q), Offset: offset, Limit: lp.Size,
		Options: repository.Options{Tags: true, Labels: true, Accessories: true}})
	if err != nil {
		return serviceError(err)
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
	c.renderTab(w, v, pc, "repository", repo, tabData{Q: lp.Q, Pager: makePager(r, lp, total), Tab: d})
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

func (c *Console) artifactPage(w http.ResponseWriter, r *http.Request, v *view, pc *projectCtx, repo, ref string) error {
	ctx, project, name := r.Context(), &pc.view.Info.Project, pc.fullName(repo)
	a, err := c.svc.Repos.GetArtifact(ctx, v.p, project, name, ref, repository.Options{Tags: true, Labels: true, Accessories: true, Immutable: true})
	if err != nil {
		return serviceError(err)
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
	problem := func(what string, err error) {
		_, _, msg, _ := api.Answer(err)
		d.Problems = append(d.Problems, what+": "+msg)
	}
	if _, ok := a.AdditionLinks["build_history"]; ok {
		body, _, err := c.svc.Repos.Addition(ctx, v.p, project, name, a.Digest, "build_history")
		if err == nil {
			err = json.Unmarshal(body, &d.History)
		}
		if err != nil {
			problem("build history", err)
		}
	}
	if d.Kind == "chart" {
		for _, f := range []struct {
			name string
			dst  *string
		}{{"values.yaml", &d.Values}, {"readme.md", &d.Readme}} {
			body, _, err := c.svc.Repos.Addition(ctx, v.p, project, name, a.Digest, f.name)
			if err != nil {
				problem(f.name, err)
				continue
			}
			*f.dst = string(body)
		}
	}
	if body, err := c.svc.Repos.Manifest(ctx, v.p, project, name, a.Digest); err != nil {
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
		// As before, a page whose labels cannot be read offers none.
		d.Labels, _ = c.svc.Repos.AttachableLabels(ctx, v.p, project, &a)
	}
	c.renderTab(w, v, pc, "artifact", repo+"@"+shortDigest(a.Digest), tabData{Tab: d})
	return nil
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
	ctx, svc, project, full := r.Context(), c.svc.Repos, &pc.view.Info.Project, pc.fullName(repo)
	switch action {
	case "description":
		description := f.Get("description")
		err := v.write("update repository", func() error { return svc.UpdateDescription(ctx, v.p, project, full, &description) })
		if err != nil {
			return c.repoFail(w, r, v, pc, repo, "", "description", err)
		}
		return redirect(w, r, repoLink, "Description saved.")
	case "delete":
		if !c.confirmed(w, r, v, "Delete repository "+pc.Project.Name+"/"+repo+" and all its artifacts?", r.URL.Path, repoLink) {
			return nil
		}
		if err := v.write("delete repository", func() error { return svc.Delete(ctx, v.p, project, full) }); err != nil {
			return c.repoFail(w, r, v, pc, repo, "", "delete", err)
		}
		return redirect(w, r, pc.Base()+"/repositories", "Repository "+repo+" deleted.")
	}
	rest, ok := strings.CutPrefix(action, "artifacts/")
	if !ok {
		return &pageError{Status: http.StatusNotFound, Message: "No such action."}
	}
	parts := strings.Split(rest, "/")
	ref := parts[0]
	artLink := repoLink + repoSep + "artifacts/" + url.PathEscape(ref)
	switch {
	case len(parts) == 2 && parts[1] == "delete":
		if !c.confirmed(w, r, v, "Delete artifact "+shortDigest(ref)+" of "+repo+" with all its tags?", r.URL.Path, artLink) {
			return nil
		}
		if err := v.write("delete artifact", func() error { return svc.DeleteArtifact(ctx, v.p, project, full, ref) }); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "delete", err)
		}
		return redirect(w, r, repoLink, "Artifact "+shortDigest(ref)+" deleted.")
	case len(parts) == 2 && parts[1] == "tags":
		name := strings.TrimSpace(f.Get("tag"))
		if err := v.write("create tag", func() error { return svc.AddTag(ctx, v.p, project, full, ref, name) }); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "tag", err)
		}
		return redirect(w, r, artLink, "Tag "+name+" added.")
	case len(parts) == 4 && parts[1] == "tags" && parts[3] == "delete":
		tag := parts[2]
		if !c.confirmed(w, r, v, "Delete tag "+tag+" of "+repo+"? The artifact stays.", r.URL.Path, artLink) {
			return nil
		}
		if err := v.write("delete tag", func() error { return svc.DeleteTag(ctx, v.p, project, full, ref, tag) }); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "untag", err)
		}
		return redirect(w, r, artLink, "Tag "+tag+" deleted.")
	case len(parts) == 2 && parts[1] == "labels":
		id, _ := strconv.ParseInt(f.Get("label_id"), 10, 64)
		if err := v.write("add label", func() error { return svc.AddLabel(ctx, v.p, project, full, ref, &id) }); err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "label", err)
		}
		return redirect(w, r, artLink, "Label attached.")
	case len(parts) == 4 && parts[1] == "labels" && parts[3] == "delete":
		err := v.write("remove label", func() error {
			id, err := strconv.ParseInt(parts[2], 10, 64)
			if err != nil || id <= 0 {
				// The API's answer to such a path (its pathID).
				return errs.E(errs.Invalid, "path", "label_id must be a positive integer, not %q", parts[2])
			}
			return svc.RemoveLabel(ctx, v.p, project, full, ref, id)
		})
		if err != nil {
			return c.repoFail(w, r, v, pc, repo, ref, "unlabel", err)
		}
		return redirect(w, r, artLink, "Label removed.")
	}
	return &pageError{Status: http.StatusNotFound, Message: "No such action."}
}

// repoFail renders the repository (ref "") or artifact page again with
// the service's refusal.
func (c *Console) repoFail(w http.ResponseWriter, r *http.Request, v *view, pc *projectCtx, repo, ref, form string, err error) error {
	if err := v.fail(form, err); err != nil {
		return err
	}
	if ref == "" {
		return c.repositoryPage(w, r, v, pc, repo)
	}
	return c.artifactPage(w, r, v, pc, repo, ref)
}
