package store

import (
	"context"
	"database/sql"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/query"
)

// Artifacts as the management API lists them.
//
// A listing is one statement for the page (the page's IDs are chosen on the
// narrow index columns, then the rows with their manifests are read for
// those IDs only), one COUNT, and at most one statement each for the page's
// tags, labels, accessories and index references, whatever the page size.
//
// By default a listing shows what Harbor shows: every artifact except an
// index child that has no tag of its own and an accessory of an artifact of
// the same repository (shownArtifact). q=base=* shows everything.

// shownArtifact holds for the artifacts a listing shows by default (alias a):
// not an index child without tags of its own, not an OCI referrer of an
// artifact in the repository, and not a cosign signature tagged
// sha256-<hex>.sig next to the artifact sha256:<hex>. (CROSS JOIN makes
// SQLite find the parents by child digest, not scan the repository.)
var shownArtifact = shown("a", "0")

// shown is shownArtifact for the artifacts aliased a; its subqueries'
// aliases end in n.
func shown(a, n string) string {
	return strings.NewReplacer("{a}", a, "{n}", n).Replace(`(EXISTS (SELECT 1 FROM tags t{n} WHERE t{n}.artifact_id = {a}.id)
	OR NOT EXISTS (SELECT 1 FROM artifact_references r{n} CROSS JOIN artifacts p{n}
		WHERE r{n}.child_digest = {a}.digest AND p{n}.id = r{n}.parent_id AND p{n}.repository_id = {a}.repository_id))
	AND ({a}.subject_digest = '' OR NOT EXISTS (SELECT 1 FROM artifacts s{n} WHERE s{n}.repository_id = {a}.repository_id AND s{n}.digest = {a}.subject_digest))
	AND NOT EXISTS (SELECT 1 FROM tags u{n} JOIN artifacts v{n} ON v{n}.repository_id = u{n}.repository_id
		AND v{n}.digest = ` + sqlCosignTagSubject("u{n}.name") + `
		WHERE u{n}.artifact_id = {a}.id AND ` + sqlIsCosignTag("u{n}.name") + `)`)
}

// Artifact is one manifest or index in a repository.
type Artifact struct {
	ID              int64
	ProjectID       int64
	RepositoryID    int64
	Repository      string // full name, project/repo
	Digest          string
	Kind            string // IMAGE, CHART, ...
	MediaType       string // of the manifest
	ConfigMediaType string
	ArtifactType    string
	Size            int64 // of the manifest itself
	Annotations     string
	Subject         string // digest of the subject, or ""
	Manifest        []byte
	PushTime        int64
	PullTime        int64
	ExtraAttrs      string // JSON stored at push (oci.ExtraAttrsJSON), or ""
	// TotalSize is oci.TotalSize of the manifest, or -1 when not known.
	TotalSize int64
	// InPlainRepository: the repository holds no index, referrer or
	// signature tag, so the artifact has no accessory (migration 0018).
	InPlainRepository bool
}

func artifactFields(alias string) string {
	f := []string{"id", "project_id", "repository_id"}
	out := make([]string, 0, 16)
	for _, c := range f {
		out = append(out, alias+"."+c)
	}
	out = append(out, "r.name")
	for _, c := range []string{"digest", "kind", "manifest_media_type", "config_media_type", "artifact_type", "size",
		"annotations", "subject_digest", "manifest", "push_time", "pull_time", "extra_attrs", "total_size"} {
		out = append(out, alias+"."+c)
	}
	out = append(out, "r.plain")
	return strings.Join(out, ", ")
}

// listedFields are artifactFields for listings, which show no manifest:
// the manifest is read (Manifest not nil) only where a listing needs it,
// for an index's children, for extra attributes not stored at push
// (extra_attrs empty), and for a size not stored (total_size -1). Reading
// and parsing every manifest was a sixth of an artifact listing's CPU.
// (Accessories are read whole: their type can depend on their layers.)
func listedFields(alias string) string {
	return strings.Replace(artifactFields(alias), alias+".manifest,", strings.ReplaceAll(`CASE WHEN {a}.total_size < 0 OR {a}.extra_attrs = ''
		OR {a}.manifest_media_type IN (`+indexTypes+`) THEN {a}.manifest END,`, "{a}", alias), 1)
}

func artifactDest(a *Artifact) []any {
	return []any{&a.ID, &a.ProjectID, &a.RepositoryID, &a.Repository, &a.Digest, &a.Kind, &a.MediaType,
		&a.ConfigMediaType, &a.ArtifactType, &a.Size, &a.Annotations, &a.Subject, &a.Manifest, &a.PushTime, &a.PullTime, &a.ExtraAttrs, &a.TotalSize, &a.InPlainRepository}
}

// ArtifactFilter scopes an artifact listing.
type ArtifactFilter struct {
	Reach        *Reach // projects the caller can see (nil: no limit)
	ProjectID    int64  // 0: any
	RepositoryID int64  // 0: any
	// RepositoryName selects a repository by full name (an unknown one
	// has no artifacts), saving the caller a lookup of its ID.
	RepositoryName string
	// LatestInRepository keeps only the most recently pushed artifact of
	// each repository among those q's type conditions (type, media_type,
	// artifact_type) select.
	LatestInRepository bool
}

// artifactColumns are the keys artifact listings filter and sort by, for
// table alias alias (repository_name needs the repositories alias r).
func artifactColumns(alias string) map[string]query.Column {
	return map[string]query.Column{
		"id":                  {SQL: alias + ".id", Type: query.Int},
		"digest":              {SQL: alias + ".digest", Type: query.Text},
		"type":                {SQL: alias + ".kind", Type: query.Text},
		"media_type":          {SQL: "CASE WHEN " + alias + ".config_media_type = '' THEN " + alias + ".manifest_media_type ELSE " + alias + ".config_media_type END", Type: query.Text},
		"manifest_media_type": {SQL: alias + ".manifest_media_type", Type: query.Text},
		"artifact_type":       {SQL: alias + ".artifact_type", Type: query.Text},
		"push_time":           {SQL: alias + ".push_time", Type: query.Time},
		"pull_time":           {SQL: alias + ".pull_time", Type: query.Time},
		"project_id":          {SQL: alias + ".project_id", Type: query.Int},
		"repository_id":       {SQL: alias + ".repository_id", Type: query.Int},
		"repository_name":     {SQL: "r.name", Type: query.Text},
	}
}

// typeKeys are the conditions LatestInRepository groups by.
var typeKeys = map[string]bool{"type": true, "media_type": true, "artifact_type": true}

// artifactConditions turns q into SQL conditions on alias a: the plain
// columns through q.SQL, and Harbor's special keys tags (=*, =nil, a name,
// ~fuzzy, {any} or (all)), labels (label IDs: =id, {any}, (all)) and base
// (=* lists every artifact, not only those shownArtifact selects).
func artifactConditions(q *query.Query) (conds []string, args []any, order string, err error) {
	const op = "list artifacts"
	plain := &query.Query{Sort: q.Sort}
	shown := true
	for _, c := range q.Conds {
		switch c.Key {
		case "base":
			if c.Kind != query.Exact || c.Value != "*" {
				return nil, nil, "", errs.E(errs.Invalid, op, `the value of "base" can only be "*"`)
			}
			shown = false
		case "tags":
			cond, a, err := tagCondition(c)
			if err != nil {
				return nil, nil, "", err
			}
			conds, args = append(conds, cond), append(args, a...)
		case "labels":
			cond, a, err := labelCondition(c)
			if err != nil {
				return nil, nil, "", err
			}
			conds, args = append(conds, cond), append(args, a...)
		default:
			plain.Conds = append(plain.Conds, c)
		}
	}
	where, wargs, order, err := plain.SQL(artifactColumns("a"), "a.push_time DESC, a.id DESC")
	if err != nil {
		return nil, nil, "", err
	}
	if where != "" {
		conds, args = append(conds, where), append(args, wargs...)
	}
	if shown {
		// In a plain repository (r: the artifact's repository) every
		// artifact is shown: the per-artifact probes are skipped.
		conds = append(conds, "(r.plain OR "+shownArtifact+")")
	}
	if !strings.Contains(order, "a.id") {
		order += ", a.id DESC"
	}
	return conds, args, order, nil
}

func tagCondition(c query.Cond) (string, []any, error) {
	const has = "EXISTS (SELECT 1 FROM tags tq WHERE tq.artifact_id = a.id"
	switch c.Kind {
	case query.Exact:
		switch c.Value {
		case "*":
			return has + ")", nil, nil
		case "nil":
			return "NOT " + has + ")", nil, nil
		}
		return has + " AND tq.name = ?)", []any{c.Value}, nil
	case query.Fuzzy:
		return has + ` AND LOWER(tq.name) LIKE ? ESCAPE '\')`, []any{containsPattern(c.Value)}, nil
	case query.Set:
		args := make([]any, len(c.Values))
		for i, v := range c.Values {
			args[i] = v
		}
		return has + " AND tq.name IN (" + placeholders(len(c.Values)) + "))", args, nil
	case query.All:
		parts := make([]string, len(c.Values))
		args := make([]any, len(c.Values))
		for i, v := range c.Values {
			parts[i], args[i] = has+" AND tq.name = ?)", v
		}
		return "(" + strings.Join(parts, " AND ") + ")", args, nil
	}
	return "", nil, errs.E(errs.Invalid, "list artifacts", "tags takes =*, =nil, =name, =~part, {a b} or (a b)")
}

func labelCondition(c query.Cond) (string, []any, error) {
	const op = "list artifacts"
	var vals []string
	switch c.Kind {
	case query.Exact:
		vals = []string{c.Value}
	case query.Set, query.All:
		vals = c.Values
	default:
		return "", nil, errs.E(errs.Invalid, op, "labels takes label IDs: =id, {id id} or (id id)")
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", nil, errs.E(errs.Invalid, op, "labels takes label IDs, not %q", v)
		}
		args[i] = n
	}
	const has = "a.id IN (SELECT al.artifact_id FROM artifact_labels al WHERE al.label_id "
	if c.Kind == query.Set {
		return has + "IN (" + placeholders(len(args)) + "))", args, nil
	}
	parts := make([]string, len(args))
	for i := range args {
		parts[i] = has + "= ?)"
	}
	return "(" + strings.Join(parts, " AND ") + ")", args, nil
}

// latestCondition keeps a only when no artifact of its repository matching
// q's type conditions (and shown, unless q has base=*) was pushed after it.
func latestCondition(q *query.Query) (string, []any, error) {
	typed := &query.Query{}
	all := false
	for _, c := range q.Conds {
		if typeKeys[c.Key] {
			typed.Conds = append(typed.Conds, c)
		}
		all = all || c.Key == "base"
	}
	where, args, _, err := typed.SQL(artifactColumns("b"), "")
	if err != nil {
		return "", nil, err
	}
	cond := `NOT EXISTS (SELECT 1 FROM artifacts b WHERE b.repository_id = a.repository_id
		AND (b.push_time > a.push_time OR (b.push_time = a.push_time AND b.id > a.id))`
	if where != "" {
		cond += " AND " + where
	}
	if !all {
		cond += " AND " + shown("b", "b")
	}
	return cond + ")", args, nil
}

// artifactListSQL returns the count and page statements of a listing and
// their arguments (the page's last two, LIMIT and OFFSET, not included);
// the page selects extra (", column, …") after the artifact's fields.
func artifactListSQL(f ArtifactFilter, q *query.Query, extra string) (count, page string, args []any, err error) {
	if q == nil {
		q = &query.Query{}
	}
	conds, args, order, err := artifactConditions(q)
	if err != nil {
		return "", "", nil, err
	}
	if f.RepositoryID != 0 {
		conds, args = append(conds, "a.repository_id = ?"), append(args, f.RepositoryID)
	}
	if f.RepositoryName != "" {
		conds, args = append(conds, "a.repository_id = (SELECT id FROM repositories WHERE name = ?)"), append(args, f.RepositoryName)
	}
	if f.ProjectID != 0 {
		conds, args = append(conds, "a.project_id = ?"), append(args, f.ProjectID)
	}
	if w, a := f.Reach.where("a.project_id"); w != "" {
		conds, args = append(conds, w), append(args, a...)
	}
	if f.LatestInRepository {
		w, a, err := latestCondition(q)
		if err != nil {
			return "", "", nil, err
		}
		conds, args = append(conds, w), append(args, a...)
	}
	from := ` FROM artifacts a JOIN repositories r ON r.id = a.repository_id`
	if len(conds) > 0 {
		from += " WHERE " + strings.Join(conds, " AND ")
	}
	ids := `SELECT a.id` + from + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	page = `SELECT ` + listedFields("a") + extra + ` FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE a.id IN (` + ids + `) ORDER BY ` + order
	return `SELECT COUNT(*)` + from, page, args, nil
}

// ArtifactPage is a page of an artifact listing: the artifacts, the
// details asked for (ArtifactDetails) and how many artifacts match in all.
type ArtifactPage struct {
	Artifacts []Artifact
	Details   *ArtifactDetails
	Total     int64
}

// ListArtifacts returns a page of the artifacts f and q select (newest
// first unless q sorts), the page's details that w asks for, and how many
// match in all. The page's tags and labels come in the page's own rows
// (pageDetails), so a listing of plain repositories is one round trip on
// PostgreSQL; accessories and index references, where the page has any,
// take one more. On SQLite no COUNT is run when the page is the last
// (countedPage).
func (db *DB) ListArtifacts(ctx context.Context, f ArtifactFilter, q *query.Query, offset, limit int, w DetailsWanted) (*ArtifactPage, error) {
	return db.listArtifacts(ctx, f, q, offset, limit, w)
}

// ProjectAccess is a project with the roles a user holds in it directly.
type ProjectAccess struct {
	Project *Project
	Roles   []int
}

// ListProjectArtifacts is ListArtifacts together with project projectName
// and the roles of user userID in it (none for 0), for a caller that must
// check its right to list before answering: on PostgreSQL they take no
// round trip of their own. The page is read before that check, so the
// caller drops it when the check fails. A project that is not there is
// errs.NotFound.
func (db *DB) ListProjectArtifacts(ctx context.Context, projectName string, userID int64, f ArtifactFilter, q *query.Query, offset, limit int, w DetailsWanted) (*ProjectAccess, *ArtifactPage, error) {
	access, found, reads := projectAccessReads(projectName, userID)
	page, err := db.listArtifacts(ctx, f, q, offset, limit, w, reads...)
	if err != nil {
		return nil, nil, err
	}
	if !*found {
		return nil, nil, errs.E(errs.NotFound, "get project", "project %q not found", projectName)
	}
	return access, page, nil
}

// projectAccessReads are the reads of project projectName and of the roles
// user userID (none for 0) holds there, into access; found tells whether
// the project was there once they ran.
func projectAccessReads(projectName string, userID int64) (access *ProjectAccess, found *bool, reads []*batchRead) {
	p := &Project{}
	access, found = &ProjectAccess{Project: p}, new(bool)
	reads = []*batchRead{{
		sql:  `SELECT id, name, owner_id, public, created_at, updated_at FROM projects WHERE name = ?`,
		args: []any{projectName},
		row: func(r rowScanner) error {
			*found = true
			return r.Scan(&p.ID, &p.Name, &p.OwnerID, &p.Public, &p.CreatedAt, &p.UpdatedAt)
		},
	}}
	if userID != 0 {
		reads = append(reads, &batchRead{
			sql: `SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id
				WHERE p.name = ? AND m.entity_type = 'u' AND m.entity_id = ?`,
			args: []any{projectName, userID},
			row: func(r rowScanner) error {
				var role int
				err := r.Scan(&role)
				access.Roles = append(access.Roles, role)
				return err
			},
		})
	}
	return access, found, reads
}

// ProjectArtifact is ArtifactByRef together with project projectName, the
// roles of user userID in it (none for 0) and the details w asks for, for
// a caller that must check its right to read before answering. On
// PostgreSQL the project, the roles and the artifact with its tags and
// labels (aggregated into its own row, as a listing reads them) are one
// round trip; accessories and index references, when w asks for them and
// the artifact can have any, a second. A missing project is errs.NotFound
// with access nil; a missing artifact is errs.NotFound with access set.
func (db *DB) ProjectArtifact(ctx context.Context, projectName string, userID int64, repository, ref string, byDigest bool, w DetailsWanted) (*ProjectAccess, *Artifact, *ArtifactDetails, error) {
	const op = "get artifact"
	var a Artifact
	foundArtifact := false
	access, foundProject, reads := projectAccessReads(projectName, userID)
	pd := db.pageDetails(w)
	d := newArtifactDetails()
	reads = append(reads, &batchRead{
		sql:  strings.Replace(artifactByRefSQL(byDigest), " FROM artifacts a", pd.columns+" FROM artifacts a", 1),
		args: []any{repository, ref},
		row: func(r rowScanner) error {
			foundArtifact = true
			if err := r.Scan(append(artifactDest(&a), pd.dest...)...); err != nil {
				return err
			}
			return pd.keep(&a, d)
		},
	})
	if err := db.readBatch(ctx, op, reads...); err != nil {
		return nil, nil, nil, err
	}
	if !*foundProject {
		return nil, nil, nil, errs.E(errs.NotFound, "get project", "project %q not found", projectName)
	}
	if !foundArtifact {
		return access, nil, nil, errs.E(errs.NotFound, op, "artifact %s not found in %s", ref, repository)
	}
	rest := DetailsWanted{Accessories: w.Accessories && !a.InPlainRepository, References: w.References && oci.IsIndexType(a.MediaType)}
	if err := db.readBatch(ctx, op, d.reads([]int64{a.ID}, rest)...); err != nil {
		return nil, nil, nil, err
	}
	d.sortAccessories()
	return access, &a, d, nil
}

func (db *DB) listArtifacts(ctx context.Context, f ArtifactFilter, q *query.Query, offset, limit int, w DetailsWanted, also ...*batchRead) (*ArtifactPage, error) {
	const op = "list artifacts"
	pd := db.pageDetails(w)
	count, page, args, err := artifactListSQL(f, q, pd.columns)
	if err != nil {
		return nil, err
	}
	out := &ArtifactPage{Artifacts: []Artifact{}, Details: newArtifactDetails()}
	row := func(r rowScanner, extra ...any) error {
		var a Artifact
		if err := r.Scan(append(append(artifactDest(&a), pd.dest...), extra...)...); err != nil {
			return err
		}
		out.Artifacts = append(out.Artifacts, a)
		return pd.keep(&a, out.Details)
	}
	if storedTotal(f, q) {
		out.Total, err = db.listRepositoryArtifacts(ctx, count, page, args, offset, limit, row, also)
	} else {
		out.Total, err = db.countedPage(ctx, op, count, page, args, offset, limit, func(r rowScanner) error { return row(r) }, also...)
	}
	if err != nil {
		return nil, err
	}
	// Accessories and index references by the page's IDs: none to read
	// in a page of plain repositories, none without an index.
	ids := make([]int64, len(out.Artifacts))
	plain, indexes := true, false
	for i := range out.Artifacts {
		ids[i] = out.Artifacts[i].ID
		plain = plain && out.Artifacts[i].InPlainRepository
		indexes = indexes || oci.IsIndexType(out.Artifacts[i].MediaType)
	}
	rest := DetailsWanted{Accessories: w.Accessories && !plain, References: w.References && indexes}
	if len(ids) > 0 {
		if err := db.readBatch(ctx, op, out.Details.reads(ids, rest)...); err != nil {
			return nil, err
		}
	}
	out.Details.sortAccessories()
	return out, nil
}

// storedTotal reports whether a listing's total is the repository's stored
// count (repositories.artifact_count): the default listing of one
// repository, with no filter of q's.
func storedTotal(f ArtifactFilter, q *query.Query) bool {
	return (f.RepositoryID != 0 || f.RepositoryName != "") && f.ProjectID == 0 && f.Reach == nil &&
		!f.LatestInRepository && (q == nil || len(q.Conds) == 0)
}

// listRepositoryArtifacts reads a page of one repository's default
// listing (row scans each, with the extra destinations it is given) with
// the repository's stored count as the total, read in the page's own
// statement: no COUNT, which on PostgreSQL was a third of the database's
// work for a listing. Only a page past the end (no row to carry the count)
// counts.
func (db *DB) listRepositoryArtifacts(ctx context.Context, count, page string, args []any, offset, limit int, row func(rowScanner, ...any) error, also []*batchRead) (int64, error) {
	const op = "list artifacts"
	total := int64(-1)
	read := &batchRead{
		sql:  strings.Replace(page, " FROM artifacts a JOIN repositories r", ", r.artifact_count FROM artifacts a JOIN repositories r", 1),
		args: append(args[:len(args):len(args)], limit, offset),
		row:  func(r rowScanner) error { return row(r, &total) },
	}
	if err := db.readBatch(ctx, op, append(also, read)...); err != nil {
		return 0, err
	}
	switch {
	case total >= 0:
	case offset == 0:
		total = 0 // nothing shown in the repository, or no such repository
	default:
		if err := db.readBatch(ctx, op, &batchRead{sql: count, args: args, row: func(r rowScanner) error { return r.Scan(&total) }}); err != nil {
			return 0, err
		}
	}
	return total, nil
}

func artifactByRefSQL(byDigest bool) string {
	q := `SELECT ` + artifactFields("a") + ` FROM artifacts a JOIN repositories r ON r.id = a.repository_id`
	if byDigest {
		return q + ` WHERE r.name = ? AND a.digest = ?`
	}
	return q + ` JOIN tags t ON t.artifact_id = a.id AND t.repository_id = r.id WHERE r.name = ? AND t.name = ?`
}

// ArtifactByRef returns the artifact that tag or digest ref names in
// repository, with its manifest.
func (db *DB) ArtifactByRef(ctx context.Context, repository, ref string, byDigest bool) (*Artifact, error) {
	q := artifactByRefSQL(byDigest)
	var a Artifact
	if err := db.queryRow(ctx, nil, q, repository, ref).Scan(artifactDest(&a)...); err != nil {
		return nil, notFound("get artifact", err, "artifact %s not found in %s", ref, repository)
	}
	return &a, nil
}

func idArgs(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// Tag is a name pointing at an artifact.
type Tag struct {
	ID           int64
	RepositoryID int64
	ArtifactID   int64
	Name         string
	PushTime     int64
	PullTime     int64
}

const tagFields = `id, repository_id, artifact_id, name, push_time, pull_time`

func tagDest(t *Tag) []any {
	return []any{&t.ID, &t.RepositoryID, &t.ArtifactID, &t.Name, &t.PushTime, &t.PullTime}
}

// ArtifactTags returns the tags of each of ids, newest first.
func (db *DB) ArtifactTags(ctx context.Context, ids []int64) (map[int64][]Tag, error) {
	out := map[int64][]Tag{}
	return out, db.readBatch(ctx, "list tags", tagsRead(ids, out))
}

// tagsRead reads the tags of ids into out (nil when ids is empty).
func tagsRead(ids []int64, out map[int64][]Tag) *batchRead {
	if len(ids) == 0 {
		return nil
	}
	return &batchRead{
		sql: `SELECT ` + tagFields + ` FROM tags WHERE artifact_id IN (` + placeholders(len(ids)) + `)
		ORDER BY push_time DESC, id DESC`,
		args: idArgs(ids),
		row: func(r rowScanner) error {
			var t Tag
			if err := r.Scan(tagDest(&t)...); err != nil {
				return err
			}
			out[t.ArtifactID] = append(out[t.ArtifactID], t)
			return nil
		},
	}
}

var tagColumns = map[string]query.Column{
	"id":        {SQL: "id", Type: query.Int},
	"name":      {SQL: "name", Type: query.Text},
	"push_time": {SQL: "push_time", Type: query.Time},
	"pull_time": {SQL: "pull_time", Type: query.Time},
}

// ListArtifactTags returns a page of the tags of artifact id that q
// selects (newest first unless q sorts) and how many match in all.
func (db *DB) ListArtifactTags(ctx context.Context, id int64, q *query.Query, offset, limit int) ([]Tag, int64, error) {
	const op = "list tags"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(tagColumns, "push_time DESC, id DESC")
	if err != nil {
		return nil, 0, err
	}
	cond := " WHERE artifact_id = ?"
	args = append([]any{id}, args...)
	if where != "" {
		cond += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM tags`+cond, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []Tag{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, "id") {
		order += ", id DESC"
	}
	rows, err := db.query(ctx, nil, `SELECT `+tagFields+` FROM tags`+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t Tag
		if err := rows.Scan(tagDest(&t)...); err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// CreateArtifactTag points a new tag name at artifact id of repository
// repoID; a tag of that name in the repository is errs.Exists.
func (db *DB) CreateArtifactTag(ctx context.Context, repoID, id int64, name string) (int64, error) {
	const op = "create tag"
	var tagID int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.lockRepository(ctx, tx, repoID); err != nil {
			return err
		}
		if err := db.queryRow(ctx, tx, `INSERT INTO tags (repository_id, artifact_id, name, push_time) VALUES (?, ?, ?, ?) RETURNING id`,
			repoID, id, name, now()).Scan(&tagID); err != nil {
			return err
		}
		return db.recount(ctx, tx, repoID)
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "tag %s already exists in the repository", name)
	}
	return tagID, err
}

// DeleteArtifactTag removes tag name from artifact id.
func (db *DB) DeleteArtifactTag(ctx context.Context, id int64, name string) error {
	const op = "delete tag"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		repoID, err := db.lockRepositoryOf(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `DELETE FROM tags WHERE artifact_id = ? AND name = ?`, id, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "tag %s of artifact %d not found", name, id)
		}
		return db.recount(ctx, tx, repoID)
	})
}

// Accessory is an artifact attached to another (its subject) in the same
// repository: an OCI referrer, or a cosign signature found by its tag.
type Accessory struct {
	SubjectID int64
	Artifact
	Tagged bool // linked by a sha256-<hex>.sig tag rather than a subject field
}

// accessoriesSQL selects the accessories of n subjects (the n IDs twice):
// referrers through artifacts_subject, cosign tags through the tag name. A
// plain repository (migration 0018) has none.
func accessoriesSQL(n int) string {
	in := placeholders(n)
	return `SELECT s.id, 0, ` + artifactFields("x") + ` FROM artifacts s
		JOIN artifacts x ON x.repository_id = s.repository_id AND x.subject_digest = s.digest
		JOIN repositories r ON r.id = x.repository_id WHERE s.id IN (` + in + `) AND NOT r.plain
		UNION ALL
		SELECT s.id, 1, ` + artifactFields("x") + ` FROM artifacts s
		JOIN tags t ON t.repository_id = s.repository_id AND t.name = ` + sqlCosignTagOf("s.digest") + `
		JOIN artifacts x ON x.id = t.artifact_id
		JOIN repositories r ON r.id = x.repository_id
		WHERE s.id IN (` + in + `) AND NOT r.plain AND s.digest LIKE 'sha256:%' AND x.subject_digest <> s.digest`
}

// ArtifactAccessories returns the accessories of each of ids, newest first.
func (db *DB) ArtifactAccessories(ctx context.Context, ids []int64) (map[int64][]Accessory, error) {
	out := map[int64][]Accessory{}
	if err := db.readBatch(ctx, "list accessories", accessoriesRead(ids, out)); err != nil {
		return nil, err
	}
	sortAccessories(out)
	return out, nil
}

// accessoriesRead reads the accessories of ids into out, unsorted (nil
// when ids is empty).
func accessoriesRead(ids []int64, out map[int64][]Accessory) *batchRead {
	if len(ids) == 0 {
		return nil
	}
	return &batchRead{
		sql:  accessoriesSQL(len(ids)),
		args: append(idArgs(ids), idArgs(ids)...),
		row: func(r rowScanner) error {
			var a Accessory
			var tagged int
			if err := r.Scan(append([]any{&a.SubjectID, &tagged}, artifactDest(&a.Artifact)...)...); err != nil {
				return err
			}
			a.Tagged = tagged == 1
			out[a.SubjectID] = append(out[a.SubjectID], a)
			return nil
		},
	}
}

// sortAccessories orders each subject's accessories newest first.
func (d *ArtifactDetails) sortAccessories() { sortAccessories(d.Accessories) }

// sortAccessories orders each subject's accessories newest first.
func sortAccessories(out map[int64][]Accessory) {
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool {
			if list[i].PushTime != list[j].PushTime {
				return list[i].PushTime > list[j].PushTime
			}
			return list[i].ID > list[j].ID
		})
	}
}

// Reference is an index's reference to a child manifest, with the child
// artifact when the repository holds it.
type Reference struct {
	ParentID      int64
	ChildDigest   string
	MediaType     string
	Platform      string // JSON or ""
	ChildID       int64  // 0 when the child is not in the repository
	ChildManifest []byte // when the child is in the repository and its ChildSize is not stored
	ChildSize     int64  // oci.TotalSize of the child; -1 when not in the repository or not stored
}

// referencesSQL selects the child references of the indexes among n
// artifacts, with the children the parents' repositories hold.
func referencesSQL(n int) string {
	return `SELECT ar.parent_id, ar.child_digest, ar.media_type, ar.platform, COALESCE(c.id, 0),
		CASE WHEN c.total_size < 0 THEN c.manifest END, COALESCE(c.total_size, -1)
		FROM artifact_references ar JOIN artifacts p ON p.id = ar.parent_id
		LEFT JOIN artifacts c ON c.repository_id = p.repository_id AND c.digest = ar.child_digest
		WHERE ar.parent_id IN (` + placeholders(n) + `) AND p.manifest_media_type IN (` + indexTypes + `)`
}

// referencesRead reads the child references of the indexes among ids into
// out (nil when ids is empty).
func referencesRead(ids []int64, out map[int64][]Reference) *batchRead {
	if len(ids) == 0 {
		return nil
	}
	return &batchRead{
		sql:  referencesSQL(len(ids)),
		args: idArgs(ids),
		row: func(r rowScanner) error {
			var ref Reference
			if err := r.Scan(&ref.ParentID, &ref.ChildDigest, &ref.MediaType, &ref.Platform, &ref.ChildID, &ref.ChildManifest, &ref.ChildSize); err != nil {
				return err
			}
			out[ref.ParentID] = append(out[ref.ParentID], ref)
			return nil
		},
	}
}

// ArtifactDetails are what an artifact listing shows of each artifact
// besides its row, keyed by artifact ID.
type ArtifactDetails struct {
	Tags        map[int64][]Tag
	Labels      map[int64][]Label
	Accessories map[int64][]Accessory
	References  map[int64][]Reference // of indexes
}

// DetailsWanted chooses the details ArtifactDetailsOf and ListArtifacts
// read; References are the child references of the indexes among the
// artifacts.
type DetailsWanted struct {
	Tags, Labels, Accessories, References bool
}

func newArtifactDetails() *ArtifactDetails {
	return &ArtifactDetails{Tags: map[int64][]Tag{}, Labels: map[int64][]Label{},
		Accessories: map[int64][]Accessory{}, References: map[int64][]Reference{}}
}

// reads are the reads of the details w asks for of ids into d.
func (d *ArtifactDetails) reads(ids []int64, w DetailsWanted) []*batchRead {
	var reads []*batchRead
	if w.Tags {
		reads = append(reads, tagsRead(ids, d.Tags))
	}
	if w.Labels {
		reads = append(reads, labelsRead(ids, d.Labels))
	}
	if w.Accessories {
		reads = append(reads, accessoriesRead(ids, d.Accessories))
	}
	if w.References {
		reads = append(reads, referencesRead(ids, d.References))
	}
	return reads
}

// ArtifactDetailsOf reads the details w asks for of ids in one round trip
// (readBatch). The maps are empty, not nil, for what was not asked.
func (db *DB) ArtifactDetailsOf(ctx context.Context, ids []int64, w DetailsWanted) (*ArtifactDetails, error) {
	d := newArtifactDetails()
	if len(ids) > 0 {
		if err := db.readBatch(ctx, "list artifact details", d.reads(ids, w)...); err != nil {
			return nil, err
		}
	}
	d.sortAccessories()
	return d, nil
}

// DeleteArtifact removes artifact id with what goes with it (the cascade,
// cascade.go): its accessories (recursively), and its index children that
// have no tag and no other parent in the repository. It returns what it
// removed, the artifact first. An artifact that an index of the repository
// references is errs.Precondition: delete the index instead.
func (db *DB) DeleteArtifact(ctx context.Context, id int64) ([]Artifact, error) {
	const op = "delete artifact"
	var removed []GCArtifact
	var repoID int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		var err error
		repoID, err = db.lockRepositoryOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if repoID == 0 {
			return errs.E(errs.NotFound, op, "artifact %d not found", id)
		}
		removed, err = db.deleteRoot(ctx, tx, op, repoID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Artifact, 0, len(removed))
	for _, a := range removed {
		out = append(out, Artifact{ID: a.ID, ProjectID: a.ProjectID, RepositoryID: repoID, Repository: a.Repository,
			Digest: a.Digest, MediaType: a.MediaType, Size: a.Size})
	}
	return out, nil
}
