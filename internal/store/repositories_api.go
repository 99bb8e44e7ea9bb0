package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// Reach is the set of projects a caller may see in a listing that spans
// projects: every public project, plus the projects UserID owns or is a
// direct member of, plus the projects named in Projects (a robot's
// namespaces); All means every project (system administrators).
type Reach struct {
	All      bool
	UserID   int64
	Projects []string
}

// where returns a condition limiting the project ID expression col to r,
// or "" when r does not limit.
func (r *Reach) where(col string) (string, []any) {
	if r == nil || r.All {
		return "", nil
	}
	conds := []string{"public"}
	var args []any
	if r.UserID != 0 {
		conds = append(conds, "owner_id = ?",
			"id IN (SELECT project_id FROM project_members WHERE entity_type = 'u' AND entity_id = ?)")
		args = append(args, r.UserID, r.UserID)
	}
	if len(r.Projects) > 0 {
		conds = append(conds, "name IN ("+placeholders(len(r.Projects))+")")
		for _, n := range r.Projects {
			args = append(args, n)
		}
	}
	return col + " IN (SELECT id FROM projects WHERE " + strings.Join(conds, " OR ") + ")", args
}

// contains returns SQL for the position of the bound keyword in the text
// column col (0 when absent).
func (db *DB) contains(col string) string {
	if db.pg {
		return "strpos(" + col + ", ?)"
	}
	return "instr(" + col + ", ?)"
}

// containsPattern is the LIKE pattern (ESCAPE '\') of a case-insensitive
// substring match for s, to compare with LOWER(column).
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// Repository is a repository with its counters.
type Repository struct {
	ID            int64
	ProjectID     int64
	Name          string // full name, project/repo
	Description   string
	ArtifactCount int64 // artifacts a listing shows (see ListArtifacts)
	PullCount     int64
	CreatedAt     int64
	UpdatedAt     int64
}

// repositoryColumns are the keys repository listings filter and sort by.
var repositoryColumns = map[string]query.Column{
	"id":            {SQL: "r.id", Type: query.Int},
	"name":          {SQL: "r.name", Type: query.Text},
	"project_id":    {SQL: "r.project_id", Type: query.Int},
	"pull_count":    {SQL: "r.pull_count", Type: query.Int},
	"creation_time": {SQL: "r.created_at", Type: query.Time},
	"update_time":   {SQL: "r.updated_at", Type: query.Time},
}

// repositorySelect reads a Repository; the artifact count is shownCount.
var repositorySelect = `SELECT r.id, r.project_id, r.name, r.description, r.pull_count, r.created_at, r.updated_at,
	r.artifact_count FROM repositories r`

func scanRepository(s interface{ Scan(...any) error }) (Repository, error) {
	var r Repository
	err := s.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.PullCount, &r.CreatedAt, &r.UpdatedAt, &r.ArtifactCount)
	return r, err
}

// ListRepositories returns a page of repositories in project projectID (0:
// any project) within reach (nil: no limit), newest first unless q sorts,
// and how many match in all.
func (db *DB) ListRepositories(ctx context.Context, reach *Reach, projectID int64, q *query.Query, offset, limit int) ([]Repository, int64, error) {
	const op = "list repositories"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(repositoryColumns, "r.created_at DESC, r.id DESC")
	if err != nil {
		return nil, 0, err
	}
	var conds []string
	if where != "" {
		conds = append(conds, where)
	}
	if projectID != 0 {
		conds = append(conds, "r.project_id = ?")
		args = append(args, projectID)
	}
	if w, a := reach.where("r.project_id"); w != "" {
		conds = append(conds, w)
		args = append(args, a...)
	}
	cond := ""
	if len(conds) > 0 {
		cond = " WHERE " + strings.Join(conds, " AND ")
	}
	if !strings.Contains(order, "r.id") {
		order += ", r.id DESC"
	}
	out := []Repository{}
	total, err := db.countedPage(ctx, op, `SELECT COUNT(*) FROM repositories r`+cond,
		repositorySelect+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, args, offset, limit, func(r rowScanner) error {
			repo, err := scanRepository(r)
			if err != nil {
				return err
			}
			out = append(out, repo)
			return nil
		})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// RepositoryByName returns repository name (project/repo).
func (db *DB) RepositoryByName(ctx context.Context, name string) (*Repository, error) {
	r, err := scanRepository(db.queryRow(ctx, nil, repositorySelect+` WHERE r.name = ?`, name))
	if err != nil {
		return nil, notFound("get repository", err, "repository %s not found", name)
	}
	return &r, nil
}

// UpdateRepositoryDescription sets the description of repository name.
func (db *DB) UpdateRepositoryDescription(ctx context.Context, name, description string) error {
	const op = "update repository"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE repositories SET description = ? WHERE name = ?`, description, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "repository %s not found", name)
		}
		return nil
	})
}

// DeleteRepository removes repository name with all its artifacts, tags,
// references and label attachments. The blobs stay visible in the project
// until garbage collection.
func (db *DB) DeleteRepository(ctx context.Context, name string) error {
	const op = "delete repository"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		var id int64
		if err := db.queryRow(ctx, tx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id); err != nil {
			return notFound(op, err, "repository %s not found", name)
		}
		// Children first, explicitly, rather than trusting every backend's
		// cascade order.
		for _, q := range []string{
			`DELETE FROM tags WHERE repository_id = ?`,
			`DELETE FROM artifact_labels WHERE artifact_id IN (SELECT id FROM artifacts WHERE repository_id = ?)`,
			`DELETE FROM artifact_references WHERE parent_id IN (SELECT id FROM artifacts WHERE repository_id = ?)`,
			`DELETE FROM artifact_blobs WHERE artifact_id IN (SELECT id FROM artifacts WHERE repository_id = ?)`,
			`DELETE FROM artifacts WHERE repository_id = ?`,
			`DELETE FROM repositories WHERE id = ?`,
		} {
			if _, err := db.exec(ctx, tx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// RepositoryHit is a repository found by a search, with its project. Its
// Description and times are not read (a search answer does not show them).
type RepositoryHit struct {
	Repository
	ProjectName   string
	ProjectPublic bool
}

// SearchRepositories returns up to limit repositories within reach whose
// name contains keyword (case-insensitive), by name. Repository names are
// lower case (OCI), so only the keyword is lowered: LOWER(r.name) over
// every repository cost more than the rest of the search. The test is a
// plain substring search (instr, strpos), not LIKE: matching a LIKE
// pattern, character by character, was a quarter of a search's CPU on
// SQLite, and no index serves '%keyword%' on names that share most of
// their trigrams (repo-001 … repo-099; a trigram index was tried and was
// slower on both databases).
func (db *DB) SearchRepositories(ctx context.Context, reach *Reach, keyword string, limit int) ([]RepositoryHit, error) {
	const op = "search repositories"
	kw := strings.ToLower(keyword)
	names, indexed, err := db.nameSnapshot(ctx)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	out := []RepositoryHit{}
	if err := db.readBatch(ctx, op, db.repositorySearch(names, indexed, kw, reach, limit, &out)); err != nil {
		return nil, err
	}
	return out, nil
}

// repositorySearch is the read of SearchRepositories into out, with the
// name copy names (indexed: usable); nil when the copy finds no name.
func (db *DB) repositorySearch(names *nameCopy, indexed bool, kw string, reach *Reach, limit int, out *[]RepositoryHit) *batchRead {
	// Only what a search answer shows: each column read costs on SQLite.
	q := `SELECT r.id, r.project_id, r.name, r.pull_count, r.artifact_count, p.name, p.public
		FROM repositories r JOIN projects p ON p.id = r.project_id WHERE `
	var args []any
	var ids []int64
	few := false
	if indexed {
		ids, few = names.matching(kw)
	}
	switch {
	case indexed && few && len(ids) == 0:
		return nil
	case indexed && few:
		cond, arg := db.idList("r.id", ids)
		q += cond
		args = append(args, arg)
	default:
		q += db.contains("r.name") + ` > 0`
		args = append(args, kw)
	}
	if w, a := reach.where("r.project_id"); w != "" {
		q += " AND " + w
		args = append(args, a...)
	}
	return &batchRead{sql: q + ` ORDER BY r.name LIMIT ?`, args: append(args, limit), row: func(r rowScanner) error {
		var h RepositoryHit
		if err := r.Scan(&h.ID, &h.ProjectID, &h.Name, &h.PullCount, &h.ArtifactCount, &h.ProjectName, &h.ProjectPublic); err != nil {
			return err
		}
		*out = append(*out, h)
		return nil
	}}
}
