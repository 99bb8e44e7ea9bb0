package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// Project metadata and quotas.
//
// A project's metadata is Harbor's key/value list (project_metadata); the
// "public" key is not stored there but read from and written to
// projects.public, so the two can never disagree.
//
// Quota: projects.storage_limit is the hard limit in bytes (-1 unlimited).
// Usage is the sum of the project's rows in project_usage, one per shard:
// a blob that becomes visible in a project adds its size to a random shard
// in the same transaction, so concurrent pushes into one project update
// different rows instead of queueing on one (Harbor's quota_usage row,
// harbor#18440). When the project has a limit, the transaction first reads
// the committed usage and refuses (errs.Denied) a blob that would take it
// over the limit. On SQLite writes are serial, so the check is exact; on
// PostgreSQL (READ COMMITTED) blobs whose transactions commit at the same
// instant do not see each other, so a project can pass its limit by at most
// the blobs in flight at that moment — the price of not serialising every
// push into a project behind one lock.

// usageShards is how many rows a project's usage is spread over.
const usageShards = 16

// ProjectInfo is a project with what the projects API shows beside it.
type ProjectInfo struct {
	Project
	OwnerName    string
	StorageLimit int64
	RepoCount    int64
	Metadata     map[string]string // with "public"
}

// ProjectSpec describes a project to create.
type ProjectSpec struct {
	Name         string
	OwnerID      int64 // becomes the project's first member, as project admin
	Public       bool
	StorageLimit int64             // bytes, -1 unlimited
	Metadata     map[string]string // without "public"
}

// projectAdminRole is Harbor's role ID of a project administrator.
const projectAdminRole = 1

// AddProject creates a project with its metadata and its owner as project
// administrator, in one transaction; an existing name is errs.Exists.
func (db *DB) AddProject(ctx context.Context, p ProjectSpec) (int64, error) {
	const op = "create project"
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.queryRow(ctx, tx, `INSERT INTO projects (name, owner_id, public, storage_limit, quota_updated_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, p.Name, p.OwnerID, p.Public, p.StorageLimit, t, t, t).Scan(&id); err != nil {
			return err
		}
		for k, v := range p.Metadata {
			if k == "public" {
				continue
			}
			if _, err := db.exec(ctx, tx, `INSERT INTO project_metadata (project_id, name, value) VALUES (?, ?, ?)`, id, k, v); err != nil {
				return err
			}
		}
		if p.OwnerID > 0 {
			if _, err := db.exec(ctx, tx, `INSERT INTO project_members (project_id, entity_type, entity_id, role, created_at, updated_at)
				VALUES (?, 'u', ?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, p.OwnerID, projectAdminRole, t, t); err != nil {
				return err
			}
		}
		return nil
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "project %q already exists", p.Name)
	}
	return id, err
}

// FirstAdminID returns the lowest ID of a system administrator: the owner
// Harbor gives projects that robots create.
func (db *DB) FirstAdminID(ctx context.Context) (int64, error) {
	var id int64
	err := db.queryRow(ctx, nil, `SELECT id FROM users WHERE sysadmin ORDER BY id LIMIT 1`).Scan(&id)
	if err != nil {
		return 0, notFound("first admin", err, "no system administrator exists")
	}
	return id, nil
}

// ProjectFilter selects projects in a listing. Unless All is set, a
// project is listed when it is public and WithPublic is set, when MemberID
// owns it or is a member, or when its name is in Names.
type ProjectFilter struct {
	Name   string // substring of the name
	Owner  string // owner's user name
	Public *bool

	All        bool
	WithPublic bool
	MemberID   int64
	Names      []string
}

// projectListColumns are the keys project listings filter and sort by.
var projectListColumns = map[string]query.Column{
	"project_id":    {SQL: "p.id", Type: query.Int},
	"name":          {SQL: "p.name", Type: query.Text},
	"public":        {SQL: "p.public", Type: query.Bool},
	"owner":         {SQL: "u.username", Type: query.Text},
	"owner_id":      {SQL: "p.owner_id", Type: query.Int},
	"creation_time": {SQL: "p.created_at", Type: query.Time},
	"update_time":   {SQL: "p.updated_at", Type: query.Time},
}

const projectInfoColumns = `p.id, p.name, p.owner_id, p.public, p.created_at, p.updated_at, COALESCE(u.username, ''), p.storage_limit`

// scanProjectInfo scans projectInfoColumns, then any extra columns into
// extra.
func scanProjectInfo(s interface{ Scan(...any) error }, extra ...any) (ProjectInfo, error) {
	var p ProjectInfo
	err := s.Scan(append([]any{&p.ID, &p.Name, &p.OwnerID, &p.Public, &p.CreatedAt, &p.UpdatedAt, &p.OwnerName, &p.StorageLimit}, extra...)...)
	return p, err
}

// ProjectPage is a page of a project listing.
type ProjectPage struct {
	Projects []ProjectInfo   // with owner names, repository counts and metadata
	Roles    map[int64][]int // the roles the listing's user holds directly in each
	Total    int64           // how many projects match in all
}

// ListProjects returns a page of the projects f and q select (newest first
// unless q sorts) with their owner names, repository counts and metadata,
// the roles user holds directly in them (none for 0), and how many match
// in all. The counts and the metadata come in the page's own rows; on
// PostgreSQL the COUNT and the roles (through the page's ID subquery, a
// cheap read of the small projects table) go in the same batch: one round
// trip. On SQLite the roles follow by the page's IDs.
func (db *DB) ListProjects(ctx context.Context, f ProjectFilter, q *query.Query, offset, limit int, user int64) (*ProjectPage, error) {
	const op = "list projects"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(projectListColumns, "p.created_at DESC, p.id DESC")
	if err != nil {
		return nil, err
	}
	out := &ProjectPage{Projects: []ProjectInfo{}, Roles: map[int64][]int{}}
	conds := []string{}
	if where != "" {
		conds = append(conds, where)
	}
	fconds, fargs, ok := db.projectConditions(f)
	if !ok {
		return out, nil
	}
	conds, args = append(conds, fconds...), append(args, fargs...)
	from := ` FROM projects p LEFT JOIN users u ON u.id = p.owner_id`
	if len(conds) > 0 {
		from += " WHERE " + strings.Join(conds, " AND ")
	}
	order = withTieBreak(order)
	metaAgg := db.metadataAgg()
	page := `SELECT ` + projectInfoColumns + `, (SELECT COUNT(*) FROM repositories rc WHERE rc.project_id = p.id),
		(SELECT ` + metaAgg + ` FROM project_metadata m WHERE m.project_id = p.id)` + from + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	var also []*batchRead
	if db.pg && user != 0 {
		also = append(also, &batchRead{
			sql: `SELECT project_id, role FROM project_members WHERE entity_type = 'u' AND entity_id = ?
				AND project_id IN (SELECT p.id` + from + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?) ORDER BY project_id, role`,
			args: append(append([]any{user}, args...), limit, offset),
			row:  rolesInto(out.Roles),
		})
	}
	out.Total, err = db.countedPage(ctx, op, `SELECT COUNT(*)`+from, page, args, offset, limit, func(r rowScanner) error {
		var meta sql.NullString
		var repos int64
		p, err := scanProjectInfo(r, &repos, &meta)
		if err != nil {
			return err
		}
		p.RepoCount = repos
		p.Metadata = map[string]string{}
		if meta.Valid && meta.String != "" {
			if err := json.Unmarshal([]byte(meta.String), &p.Metadata); err != nil {
				return fmt.Errorf("metadata of project %d: %w", p.ID, err)
			}
		}
		p.Metadata["public"] = fmt.Sprint(p.Public)
		out.Projects = append(out.Projects, p)
		return nil
	}, also...)
	if err != nil {
		return nil, err
	}
	if db.pg || user == 0 || len(out.Projects) == 0 {
		return out, nil
	}
	if out.Roles, err = db.UserProjectRoles(ctx, user, projectIDs(out.Projects)); err != nil {
		return nil, err
	}
	return out, nil
}

// rolesInto scans (project_id, role) rows into roles.
func rolesInto(roles map[int64][]int) func(rowScanner) error {
	return func(r rowScanner) error {
		var pid int64
		var role int
		err := r.Scan(&pid, &role)
		roles[pid] = append(roles[pid], role)
		return err
	}
}

func projectIDs(ps []ProjectInfo) []int64 {
	ids := make([]int64, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	return ids
}

// projectConditions are the conditions (on projects p and their owners
// u) of f's filters, and their arguments; ok is false when f can match no
// project.
func (db *DB) projectConditions(f ProjectFilter) (conds []string, args []any, ok bool) {
	if f.Name != "" {
		// Project names are lower case (Harbor's rule, checked at
		// creation), so a plain substring test of the lowered keyword is
		// the match. Not LIKE: SQLite prepares a LIKE statement again for
		// every new pattern bound to it, which was 8% of a search's CPU.
		conds = append(conds, db.contains("p.name")+` > 0`)
		args = append(args, strings.ToLower(f.Name))
	}
	if f.Owner != "" {
		conds = append(conds, "u.username = ?")
		args = append(args, f.Owner)
	}
	if f.Public != nil {
		conds = append(conds, "p.public = ?")
		args = append(args, *f.Public)
	}
	if !f.All {
		var vis []string
		if f.WithPublic {
			vis = append(vis, "p.public")
		}
		if f.MemberID != 0 {
			vis = append(vis, "p.owner_id = ?",
				"p.id IN (SELECT m.project_id FROM project_members m WHERE m.entity_type = 'u' AND m.entity_id = ?)")
			args = append(args, f.MemberID, f.MemberID)
		}
		if len(f.Names) > 0 {
			vis = append(vis, "p.name IN ("+placeholders(len(f.Names))+")")
			for _, n := range f.Names {
				args = append(args, n)
			}
		}
		if len(vis) == 0 {
			return nil, nil, false
		}
		conds = append(conds, "("+strings.Join(vis, " OR ")+")")
	}
	return conds, args, true
}

// withTieBreak ends order with the project ID, for a stable order across
// pages, in the direction of order's last term, so that an index on the
// sorted column (which ends with the ID) serves the whole order.
func withTieBreak(order string) string {
	if strings.Contains(order, "p.id") {
		return order
	}
	if strings.HasSuffix(order, " DESC") {
		return order + ", p.id DESC"
	}
	return order + ", p.id"
}

// ProjectInfo returns project id with its owner name, limit, repository
// count and metadata.
func (db *DB) ProjectInfo(ctx context.Context, id int64) (*ProjectInfo, error) {
	p, _, err := db.ProjectInfoAndRoles(ctx, id, 0)
	return p, err
}

// ProjectInfoAndRoles is ProjectInfo with the roles user holds directly in
// the project (UserProjectRoles; none for user 0), read in the same round
// trip on PostgreSQL.
func (db *DB) ProjectInfoAndRoles(ctx context.Context, id, user int64) (*ProjectInfo, []int, error) {
	return db.projectInfoAndRoles(ctx, `p.id = ?`, `?`, id, user)
}

// ProjectInfoAndRolesByName is ProjectInfoAndRoles for the project named
// name: one round trip on PostgreSQL for a caller that has not looked the
// project up yet.
func (db *DB) ProjectInfoAndRolesByName(ctx context.Context, name string, user int64) (*ProjectInfo, []int, error) {
	return db.projectInfoAndRoles(ctx, `p.name = ?`, `(SELECT id FROM projects WHERE name = ?)`, name, user)
}

// projectInfoAndRoles reads the project that where (on projects p) selects
// with arg; projectID is the SQL, with arg, for its ID in the other reads.
func (db *DB) projectInfoAndRoles(ctx context.Context, where, projectID string, arg any, user int64) (*ProjectInfo, []int, error) {
	// One round trip on PostgreSQL: the row, its repository count, its
	// metadata and the user's roles.
	var p ProjectInfo
	found := false
	var repos int64
	var roles []int
	meta := map[string]string{}
	var rolesRead *batchRead
	if user != 0 {
		rolesRead = &batchRead{sql: `SELECT role FROM project_members WHERE entity_type = 'u' AND entity_id = ? AND project_id = ` + projectID + ` ORDER BY role`,
			args: []any{user, arg}, row: func(r rowScanner) error {
				var role int
				if err := r.Scan(&role); err != nil {
					return err
				}
				roles = append(roles, role)
				return nil
			}}
	}
	err := db.readBatch(ctx, "get project", rolesRead,
		&batchRead{sql: `SELECT ` + projectInfoColumns + ` FROM projects p LEFT JOIN users u ON u.id = p.owner_id WHERE ` + where, args: []any{arg},
			row: func(r rowScanner) (err error) {
				p, err = scanProjectInfo(r)
				found = err == nil
				return err
			}},
		&batchRead{sql: `SELECT COUNT(*) FROM repositories WHERE project_id = ` + projectID, args: []any{arg},
			row: func(r rowScanner) error { return r.Scan(&repos) }},
		&batchRead{sql: `SELECT name, value FROM project_metadata WHERE project_id = ` + projectID, args: []any{arg},
			row: func(r rowScanner) error {
				var k, v string
				if err := r.Scan(&k, &v); err != nil {
					return err
				}
				meta[k] = v
				return nil
			}})
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, errs.E(errs.NotFound, "get project", "project %v not found", arg)
	}
	p.RepoCount = repos
	meta["public"] = fmt.Sprint(p.Public)
	p.Metadata = meta
	return &p, roles, nil
}

// UserProjectRoles returns the roles user holds directly in each of projects.
func (db *DB) UserProjectRoles(ctx context.Context, userID int64, projects []int64) (map[int64][]int, error) {
	out := map[int64][]int{}
	if userID == 0 || len(projects) == 0 {
		return out, nil
	}
	return out, db.readBatch(ctx, "project roles", &batchRead{
		sql: `SELECT project_id, role FROM project_members WHERE entity_type = 'u' AND entity_id = ?
			AND project_id IN (` + placeholders(len(projects)) + `) ORDER BY project_id, role`,
		args: append([]any{userID}, idArgs(projects)...),
		row:  rolesInto(out),
	})
}

// ProjectRepoCount returns how many repositories project holds.
func (db *DB) ProjectRepoCount(ctx context.Context, projectID int64) (int64, error) {
	var n int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM repositories WHERE project_id = ?`, projectID).Scan(&n); err != nil {
		return 0, errs.Wrap("count repositories", err)
	}
	return n, nil
}

// UpdateProject sets project id's visibility (if public is not nil), sets
// the metadata in set and removes the keys in del, in one transaction.
func (db *DB) UpdateProject(ctx context.Context, id int64, public *bool, set map[string]string, del []string) error {
	const op = "update project"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.touchProject(ctx, tx, op, id, public); err != nil {
			return err
		}
		if err := db.upsertMetadata(ctx, tx, id, set); err != nil {
			return err
		}
		for _, k := range del {
			if _, err := db.exec(ctx, tx, `DELETE FROM project_metadata WHERE project_id = ? AND name = ?`, id, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// touchProject bumps the update time of project id and sets its
// visibility if public is not nil; a missing project is errs.NotFound.
func (db *DB) touchProject(ctx context.Context, tx *sql.Tx, op string, id int64, public *bool) error {
	var res sql.Result
	var err error
	if public != nil {
		res, err = db.exec(ctx, tx, `UPDATE projects SET public = ?, updated_at = ? WHERE id = ?`, *public, now(), id)
	} else {
		res, err = db.exec(ctx, tx, `UPDATE projects SET updated_at = ? WHERE id = ?`, now(), id)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, op, "project %d not found", id)
	}
	return nil
}

func (db *DB) upsertMetadata(ctx context.Context, tx *sql.Tx, id int64, set map[string]string) error {
	for k, v := range set {
		if k == "public" {
			continue
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO project_metadata (project_id, name, value) VALUES (?, ?, ?)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value`, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

// AddProjectMetadata adds the keys of m to project id; a key the project
// already has ("public" always) is errs.Exists and nothing is added.
func (db *DB) AddProjectMetadata(ctx context.Context, id int64, m map[string]string) error {
	const op = "add project metadata"
	var dup string
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.touchProject(ctx, tx, op, id, nil); err != nil {
			return err
		}
		for k, v := range m {
			dup = k
			if k == "public" {
				return errs.E(errs.Exists, op, "metadata %q already exists in the project", k)
			}
			if _, err := db.exec(ctx, tx, `INSERT INTO project_metadata (project_id, name, value) VALUES (?, ?, ?)`, id, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if isUniqueViolation(err) {
		return errs.E(errs.Exists, op, "metadata %q already exists in the project", dup)
	}
	return err
}

// SetProjectMetadata sets the keys of m in project id ("public" sets the
// project's visibility).
func (db *DB) SetProjectMetadata(ctx context.Context, id int64, m map[string]string) error {
	const op = "update project metadata"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		var public *bool
		if v, ok := m["public"]; ok {
			b := v == "true"
			public = &b
		}
		if err := db.touchProject(ctx, tx, op, id, public); err != nil {
			return err
		}
		return db.upsertMetadata(ctx, tx, id, m)
	})
}

// DeleteProjectMetadata removes key from project id; a key the project does
// not have is errs.NotFound.
func (db *DB) DeleteProjectMetadata(ctx context.Context, id int64, key string) error {
	const op = "delete project metadata"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM project_metadata WHERE project_id = ? AND name = ?`, id, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "metadata %q not found in the project", key)
		}
		return db.touchProject(ctx, tx, op, id, nil)
	})
}

// DeleteProject removes project id with its members, metadata, robots,
// labels and blob links. A project that still holds repositories is
// errs.Precondition and stays.
func (db *DB) DeleteProject(ctx context.Context, id int64) error {
	const op = "delete project"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		lock := `SELECT name FROM projects WHERE id = ?`
		if db.pg {
			lock += ` FOR UPDATE` // a push creating a repository waits, then fails its foreign key
		}
		var name string
		if err := db.queryRow(ctx, tx, lock, id).Scan(&name); err != nil {
			return notFound(op, err, "project %d not found", id)
		}
		var repos int64
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM repositories WHERE project_id = ?`, id).Scan(&repos); err != nil {
			return err
		}
		if repos > 0 {
			return errs.E(errs.Precondition, op, "the project contains repositories, can not be deleted")
		}
		for _, q := range []string{
			// The cascade to project_usage waits for pushes that already
			// counted a blob here; a push that has not is refused by
			// project_usage's foreign key. Then no foreign key cascades to
			// blob links and uploads (0003_projects.sql says why), so they
			// are deleted here, after those pushes committed.
			`DELETE FROM projects WHERE id = ?`,
			`DELETE FROM project_blobs WHERE project_id = ?`,
			`DELETE FROM uploads WHERE project_id = ?`,
			`DELETE FROM robots WHERE level = 'project' AND project_id = ?`,
			`DELETE FROM labels WHERE scope = 'p' AND project_id = ?`,
		} {
			if _, err := db.exec(ctx, tx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Quota is a project's storage quota.
type Quota struct {
	ProjectID   int64 // the quota's ID too
	ProjectName string
	OwnerName   string
	Hard        int64 // bytes, -1 unlimited
	Used        int64
	CreatedAt   int64
	UpdatedAt   int64
}

const usageSQL = `(SELECT COALESCE(SUM(pu.bytes), 0) FROM project_usage pu WHERE pu.project_id = p.id)`

// quotaColumns are the keys quota listings sort by (Harbor's names).
var quotaColumns = map[string]query.Column{
	"id":            {SQL: "p.id", Type: query.Int},
	"hard.storage":  {SQL: "p.storage_limit", Type: query.Int},
	"used.storage":  {SQL: usageSQL, Type: query.Int},
	"creation_time": {SQL: "p.created_at", Type: query.Time},
	"update_time":   {SQL: "p.quota_updated_at", Type: query.Time},
}

const quotaSelect = `SELECT p.id, p.name, COALESCE(u.username, ''), p.storage_limit, ` + usageSQL + `, p.created_at, p.quota_updated_at
	FROM projects p LEFT JOIN users u ON u.id = p.owner_id`

func scanQuota(s interface{ Scan(...any) error }) (Quota, error) {
	var q Quota
	err := s.Scan(&q.ProjectID, &q.ProjectName, &q.OwnerName, &q.Hard, &q.Used, &q.CreatedAt, &q.UpdatedAt)
	if q.UpdatedAt == 0 {
		q.UpdatedAt = q.CreatedAt
	}
	return q, err
}

// ListQuotas returns a page of project quotas (all, or only project
// projectID when it is not 0) in the order q sorts (by ID otherwise), and
// how many there are.
func (db *DB) ListQuotas(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]Quota, int64, error) {
	const op = "list quotas"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(quotaColumns, "p.id")
	if err != nil {
		return nil, 0, err
	}
	if projectID != 0 {
		if where != "" {
			where += " AND "
		}
		where += "p.id = ?"
		args = append(args, projectID)
	}
	if where != "" {
		where = " WHERE " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM projects p`+where, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []Quota{}
	if total == 0 || offset >= int(total) {
		return out, total, nil
	}
	order = withTieBreak(order)
	rows, err := db.query(ctx, nil, quotaSelect+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		qu, err := scanQuota(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, qu)
	}
	return out, total, rows.Err()
}

// GetQuota returns the quota of project id.
func (db *DB) GetQuota(ctx context.Context, id int64) (*Quota, error) {
	q, err := scanQuota(db.queryRow(ctx, nil, quotaSelect+` WHERE p.id = ?`, id))
	if err != nil {
		return nil, notFound("get quota", err, "quota %d not found", id)
	}
	return &q, nil
}

// SetStorageLimit sets project id's hard storage limit (-1 unlimited). A
// limit below the current usage is allowed: pushes are refused until
// enough is deleted.
func (db *DB) SetStorageLimit(ctx context.Context, id, limit int64) error {
	const op = "update quota"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE projects SET storage_limit = ?, quota_updated_at = ? WHERE id = ?`, limit, now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "quota %d not found", id)
		}
		return nil
	})
}

// CheckQuota reports (errs.Denied) whether making digest of size visible in
// project would take it over its storage limit; a blob already there costs
// nothing. The registry asks before it stores an upload's bytes; the
// transaction that records the blob checks again.
func (db *DB) CheckQuota(ctx context.Context, projectID int64, digest string, size int64) error {
	var one int
	err := db.queryRow(ctx, nil, `SELECT 1 FROM project_blobs WHERE project_id = ? AND blob_digest = ?`, projectID, digest).Scan(&one)
	if err == nil {
		return nil
	}
	if err != sql.ErrNoRows {
		return errs.Wrap("check quota", err)
	}
	return db.checkLimit(ctx, nil, projectID, size, false)
}

// chargeUsage adds size bytes to project's usage, refusing with
// errs.Denied when that would pass the project's limit.
func (db *DB) chargeUsage(ctx context.Context, tx *sql.Tx, projectID, size int64) error {
	if err := db.checkLimit(ctx, tx, projectID, size, false); err != nil {
		return err
	}
	return db.addUsage(ctx, tx, projectID, size)
}

// addUsage adds delta (negative to subtract) to one shard of project's
// usage. On PostgreSQL it takes a shard row no other transaction holds
// (SKIP LOCKED), so pushers into one project do not wait for each other's
// commits; only when every existing shard is held, or none exists yet, does
// it upsert a random one of the usageShards (creating it, or waiting).
// SQLite writes one transaction at a time, so any shard will do there.
func (db *DB) addUsage(ctx context.Context, tx *sql.Tx, projectID, delta int64) error {
	if delta == 0 {
		return nil
	}
	if db.pg {
		// The first free shard from a random one on: starting from the
		// first shard every time put nearly every update of a busy
		// project on one row, whose chain of row versions each update
		// then walked (one project was 20% slower per push than 32).
		res, err := db.exec(ctx, tx, `UPDATE project_usage SET bytes = bytes + ? WHERE project_id = ? AND shard =
			(SELECT shard FROM project_usage WHERE project_id = ? ORDER BY (shard + ?) % ? LIMIT 1 FOR UPDATE SKIP LOCKED)`,
			delta, projectID, projectID, rand.IntN(usageShards), usageShards)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
	}
	_, err := db.exec(ctx, tx, `INSERT INTO project_usage (project_id, shard, bytes) VALUES (?, ?, ?)
		ON CONFLICT (project_id, shard) DO UPDATE SET bytes = project_usage.bytes + excluded.bytes`,
		projectID, rand.IntN(usageShards), delta)
	return err
}

// checkNotOverLimit refuses (errs.Denied) any push into a project whose
// usage is already above its limit (after the limit was lowered).
func (db *DB) checkNotOverLimit(ctx context.Context, tx *sql.Tx, projectID int64) error {
	return db.checkLimit(ctx, tx, projectID, 0, true)
}

// checkLimit refuses adding size bytes to project when its usage would
// pass its limit (or, with over, when it already has).
func (db *DB) checkLimit(ctx context.Context, tx *sql.Tx, projectID, size int64, over bool) error {
	const op = "check quota"
	var name string
	var limit int64
	if err := db.queryRow(ctx, tx, `SELECT name, storage_limit FROM projects WHERE id = ?`, projectID).Scan(&name, &limit); err != nil {
		return notFound(op, err, "project %d not found", projectID)
	}
	if limit < 0 {
		return nil
	}
	var used int64
	if err := db.queryRow(ctx, tx, `SELECT COALESCE(SUM(bytes), 0) FROM project_usage WHERE project_id = ?`, projectID).Scan(&used); err != nil {
		return errs.Wrap(op, err)
	}
	if over {
		if used > limit {
			return errs.E(errs.Denied, op, "quota exceeded in project %s: current usage of %s exceeds the configured upper limit of %s",
				name, byteSize(used), byteSize(limit))
		}
		return nil
	}
	if used+size > limit {
		return errs.E(errs.Denied, op, "quota exceeded in project %s: adding %s of storage resource, which when updated to current usage of %s will exceed the configured upper limit of %s",
			name, byteSize(size), byteSize(used), byteSize(limit))
	}
	return nil
}

// byteSize formats n as Harbor does in quota messages (1024-based units).
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ProjectSummary is what Harbor's project summary counts.
type ProjectSummary struct {
	RepoCount    int64
	Quota        *Quota        // nil unless asked for
	MemberCounts map[int]int64 // role → members; nil unless asked for
}

// ProjectSummaryOf reads project id's repository count and, when asked, its
// quota and member counts, in one round trip on PostgreSQL.
func (db *DB) ProjectSummaryOf(ctx context.Context, id int64, quota, members bool) (*ProjectSummary, error) {
	out, err := db.ProjectSummariesOf(ctx, []SummaryWanted{{ProjectID: id, Quota: quota, Members: members}})
	if err != nil {
		return nil, err
	}
	if out[0] == nil {
		return nil, errs.E(errs.NotFound, "project summary", "quota %d not found", id)
	}
	return out[0], nil
}

// SummaryWanted is one project's summary to read, and what to read of it.
type SummaryWanted struct {
	ProjectID      int64
	Quota, Members bool
}

// ProjectSummariesOf reads the summaries wants asks for, in its order, in
// one round trip on PostgreSQL whatever their number (one statement each
// for the repository counts, the quotas and the member counts). The entry
// of a project whose quota is asked for and not found (deleted meanwhile)
// is nil.
func (db *DB) ProjectSummariesOf(ctx context.Context, wants []SummaryWanted) ([]*ProjectSummary, error) {
	const op = "project summary"
	out := make([]*ProjectSummary, len(wants))
	byID := make(map[int64]*ProjectSummary, len(wants))
	var all, quotas, members []int64
	for i, w := range wants {
		out[i] = &ProjectSummary{}
		byID[w.ProjectID] = out[i]
		all = append(all, w.ProjectID)
		if w.Quota {
			quotas = append(quotas, w.ProjectID)
		}
		if w.Members {
			out[i].MemberCounts = map[int]int64{}
			members = append(members, w.ProjectID)
		}
	}
	if len(wants) == 0 {
		return out, nil
	}
	reads := []*batchRead{{sql: `SELECT project_id, COUNT(*) FROM repositories WHERE project_id IN (` + placeholders(len(all)) + `) GROUP BY project_id`,
		args: idArgs(all), row: func(r rowScanner) error {
			var id, n int64
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			byID[id].RepoCount = n
			return nil
		}}}
	if len(quotas) > 0 {
		reads = append(reads, &batchRead{sql: quotaSelect + ` WHERE p.id IN (` + placeholders(len(quotas)) + `)`, args: idArgs(quotas),
			row: func(r rowScanner) error {
				q, err := scanQuota(r)
				if err == nil && byID[q.ProjectID] != nil {
					byID[q.ProjectID].Quota = &q
				}
				return err
			}})
	}
	if len(members) > 0 {
		reads = append(reads, &batchRead{sql: `SELECT project_id, role, COUNT(*) FROM project_members WHERE project_id IN (` + placeholders(len(members)) + `)
			GROUP BY project_id, role`, args: idArgs(members),
			row: func(r rowScanner) error {
				var id, n int64
				var role int
				if err := r.Scan(&id, &role, &n); err != nil {
					return err
				}
				if s := byID[id]; s != nil && s.MemberCounts != nil {
					s.MemberCounts[role] = n
				}
				return nil
			}})
	}
	if err := db.readBatch(ctx, op, reads...); err != nil {
		return nil, err
	}
	for i, w := range wants {
		if w.Quota && out[i].Quota == nil {
			out[i] = nil
		}
	}
	return out, nil
}
