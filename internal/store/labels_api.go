package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// Label scopes.
const (
	LabelGlobal  = "g"
	LabelProject = "p"
)

// Label is a name and colour attached to artifacts: global (scope g, every
// project may use it) or of one project (scope p).
type Label struct {
	ID          int64
	Name        string
	Description string
	Color       string
	Scope       string
	ProjectID   int64 // 0 for global labels
	CreatedAt   int64
	UpdatedAt   int64
}

const labelFields = `l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at`

func labelDest(l *Label) []any {
	return []any{&l.ID, &l.Name, &l.Description, &l.Color, &l.Scope, &l.ProjectID, &l.CreatedAt, &l.UpdatedAt}
}

// CreateLabel inserts l; a label of the same name in its scope is errs.Exists.
func (db *DB) CreateLabel(ctx context.Context, l Label) (int64, error) {
	const op = "create label"
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		return db.queryRow(ctx, tx, `INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, l.Name, l.Description, l.Color, l.Scope, l.ProjectID, t, t).Scan(&id)
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "label %q already exists", l.Name)
	}
	return id, err
}

// LabelByID returns label id.
func (db *DB) LabelByID(ctx context.Context, id int64) (*Label, error) {
	var l Label
	if err := db.queryRow(ctx, nil, `SELECT `+labelFields+` FROM labels l WHERE l.id = ?`, id).Scan(labelDest(&l)...); err != nil {
		return nil, notFound("get label", err, "label %d not found", id)
	}
	return &l, nil
}

var labelColumns = map[string]query.Column{
	"id":            {SQL: "l.id", Type: query.Int},
	"name":          {SQL: "l.name", Type: query.Text},
	"description":   {SQL: "l.description", Type: query.Text},
	"color":         {SQL: "l.color", Type: query.Text},
	"creation_time": {SQL: "l.created_at", Type: query.Time},
	"update_time":   {SQL: "l.updated_at", Type: query.Time},
}

// ListLabels returns a page of the labels of scope (and of project
// projectID for project labels) whose name contains name, that q selects,
// in creation order unless q sorts, and how many match in all.
func (db *DB) ListLabels(ctx context.Context, scope string, projectID int64, name string, q *query.Query, offset, limit int) ([]Label, int64, error) {
	const op = "list labels"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(labelColumns, "l.id")
	if err != nil {
		return nil, 0, err
	}
	conds := []string{"l.scope = ?", "l.project_id = ?"}
	args = append([]any{scope, projectID}, args...)
	if where != "" {
		conds = append(conds, where)
	}
	if name != "" {
		conds = append(conds, `LOWER(l.name) LIKE ? ESCAPE '\'`)
		args = append(args, containsPattern(name))
	}
	from := ` FROM labels l WHERE ` + strings.Join(conds, " AND ")
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []Label{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, "l.id") {
		order += ", l.id"
	}
	rows, err := db.query(ctx, nil, `SELECT `+labelFields+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Label
		if err := rows.Scan(labelDest(&l)...); err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, l)
	}
	return out, total, rows.Err()
}

// UpdateLabel sets the name, description and colour of label l.ID; a label
// of the new name in its scope is errs.Exists.
func (db *DB) UpdateLabel(ctx context.Context, l Label) error {
	const op = "update label"
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE labels SET name = ?, description = ?, color = ?, updated_at = ? WHERE id = ?`,
			l.Name, l.Description, l.Color, now(), l.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "label %d not found", l.ID)
		}
		return nil
	})
	if isUniqueViolation(err) {
		return errs.E(errs.Exists, op, "label %q already exists", l.Name)
	}
	return err
}

// DeleteLabel removes label id and detaches it from every artifact.
func (db *DB) DeleteLabel(ctx context.Context, id int64) error {
	const op = "delete label"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM artifact_labels WHERE label_id = ?`, id); err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `DELETE FROM labels WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "label %d not found", id)
		}
		return nil
	})
}

// AttachLabel attaches label to artifact; attaching it twice is errs.Exists.
func (db *DB) AttachLabel(ctx context.Context, artifact, label int64) error {
	const op = "add label"
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO artifact_labels (artifact_id, label_id, created_at) VALUES (?, ?, ?)`, artifact, label, now())
		return err
	})
	if isUniqueViolation(err) {
		return errs.E(errs.Exists, op, "label %d is already attached to the artifact", label)
	}
	return err
}

// DetachLabel removes label from artifact.
func (db *DB) DetachLabel(ctx context.Context, artifact, label int64) error {
	const op = "remove label"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM artifact_labels WHERE artifact_id = ? AND label_id = ?`, artifact, label)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "label %d is not attached to the artifact", label)
		}
		return nil
	})
}

// labelsRead reads the labels attached to ids into out, in the order they
// were attached (nil when ids is empty).
func labelsRead(ids []int64, out map[int64][]Label) *batchRead {
	if len(ids) == 0 {
		return nil
	}
	return &batchRead{
		sql: `SELECT al.artifact_id, ` + labelFields + ` FROM artifact_labels al JOIN labels l ON l.id = al.label_id
		WHERE al.artifact_id IN (` + placeholders(len(ids)) + `) ORDER BY al.created_at, l.id`,
		args: idArgs(ids),
		row: func(r rowScanner) error {
			var aid int64
			var l Label
			if err := r.Scan(append([]any{&aid}, labelDest(&l)...)...); err != nil {
				return err
			}
			out[aid] = append(out[aid], l)
			return nil
		},
	}
}
