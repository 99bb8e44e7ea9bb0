package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/query"
)

// Tag immutability rules (migrations/0009_immutable.sql). The rule is
// stored as Harbor's JSON; the id, priority and disabled columns are
// authoritative over the copies inside it.

const immutableFields = `ir.id, ir.project_id, ir.priority, ir.disabled, ir.rule, ir.created_at, ir.updated_at`

// ImmutableRuleRow is a stored rule with its times.
type ImmutableRuleRow struct {
	immutable.Rule
	CreatedAt int64
	UpdatedAt int64
}

func scanImmutableRule(s interface{ Scan(...any) error }) (ImmutableRuleRow, error) {
	var r ImmutableRuleRow
	var id, project int64
	var priority int
	var disabled bool
	var text string
	if err := s.Scan(&id, &project, &priority, &disabled, &text, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(text), &r.Rule); err != nil {
		return r, err
	}
	r.ID, r.ProjectID, r.Priority, r.Disabled = id, project, priority, disabled
	return r, nil
}

// ImmutableRules returns every rule of project projectID (disabled ones
// too; immutable.Match skips them), in ID order: one indexed query.
func (db *DB) ImmutableRules(ctx context.Context, projectID int64) ([]immutable.Rule, error) {
	const op = "list immutable rules"
	rows, err := db.query(ctx, nil, `SELECT `+immutableFields+` FROM immutable_rules ir WHERE ir.project_id = ? ORDER BY ir.id`, projectID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []immutable.Rule
	for rows.Next() {
		r, err := scanImmutableRule(rows)
		if err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, r.Rule)
	}
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap(op, err)
	}
	return out, nil
}

var immutableColumns = map[string]query.Column{
	"id":            {SQL: "ir.id", Type: query.Int},
	"priority":      {SQL: "ir.priority", Type: query.Int},
	"disabled":      {SQL: "ir.disabled", Type: query.Bool},
	"creation_time": {SQL: "ir.created_at", Type: query.Time},
	"update_time":   {SQL: "ir.updated_at", Type: query.Time},
}

// ListImmutableRules returns a page of the rules of project projectID that
// q selects, in ID order unless q sorts, and how many match in all.
func (db *DB) ListImmutableRules(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]ImmutableRuleRow, int64, error) {
	return listing[ImmutableRuleRow]{
		op: "list immutable rules", cols: immutableColumns, order: "ir.id", tie: "ir.id", fields: immutableFields,
		from: ` FROM immutable_rules ir WHERE ir.project_id = ?`, fromArgs: []any{projectID}, scan: scanImmutableRule,
	}.page(ctx, db, q, offset, limit)
}

// ImmutableRule returns rule id of project projectID; a rule of another
// project is errs.NotFound.
func (db *DB) ImmutableRule(ctx context.Context, projectID, id int64) (*ImmutableRuleRow, error) {
	r, err := scanImmutableRule(db.queryRow(ctx, nil, `SELECT `+immutableFields+` FROM immutable_rules ir WHERE ir.id = ? AND ir.project_id = ?`, id, projectID))
	if err != nil {
		return nil, notFound("get immutable rule", err, "immutable rule %d not found in the project", id)
	}
	return &r, nil
}

// immutableJSON is the stored form of r (normalized by the caller).
func immutableJSON(r immutable.Rule) (string, error) {
	r.ID = 0
	b, err := json.Marshal(r)
	return string(b), err
}

// CreateImmutableRule adds r (normalized) to project r.ProjectID. A rule
// selecting the same as another of the project is errs.Exists; a project
// that has immutable.MaxRules rules already refuses with errs.Invalid.
func (db *DB) CreateImmutableRule(ctx context.Context, r immutable.Rule) (int64, error) {
	const op = "create immutable rule"
	text, err := immutableJSON(r)
	if err != nil {
		return 0, errs.Wrap(op, err)
	}
	var id int64
	err = db.tx(ctx, op, func(tx *sql.Tx) error {
		// Count under a lock on the project, so concurrent creates cannot
		// both pass the limit (SQLite serialises writers anyway).
		lock := `SELECT id FROM projects WHERE id = ?`
		if db.pg {
			lock += ` FOR NO KEY UPDATE`
		}
		var pid int64
		if err := db.queryRow(ctx, tx, lock, r.ProjectID).Scan(&pid); err != nil {
			return notFound(op, err, "project %d not found", r.ProjectID)
		}
		var n int
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM immutable_rules WHERE project_id = ?`, r.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n >= immutable.MaxRules {
			return errs.E(errs.Invalid, op, "a project may have at most %d immutable rules", immutable.MaxRules)
		}
		t := now()
		return db.queryRow(ctx, tx, `INSERT INTO immutable_rules (project_id, priority, disabled, rule, selectors, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.ProjectID, r.Priority, r.Disabled, text, r.Key(), t, t).Scan(&id)
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "an immutable rule selecting the same repositories and tags already exists (%s)", describeKey(r))
	}
	return id, err
}

// describeKey describes what r selects, for duplicate errors.
func describeKey(r immutable.Rule) string {
	s := r.String()
	_, what, _ := strings.Cut(s, ": ")
	return what
}

// UpdateImmutableRule replaces rule r.ID of project r.ProjectID with r
// (normalized): selectors, priority, disabled, params.
func (db *DB) UpdateImmutableRule(ctx context.Context, r immutable.Rule) error {
	const op = "update immutable rule"
	text, err := immutableJSON(r)
	if err != nil {
		return errs.Wrap(op, err)
	}
	err = db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE immutable_rules SET priority = ?, disabled = ?, rule = ?, selectors = ?, updated_at = ?
			WHERE id = ? AND project_id = ?`, r.Priority, r.Disabled, text, r.Key(), now(), r.ID, r.ProjectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "immutable rule %d not found in the project", r.ID)
		}
		return nil
	})
	if isUniqueViolation(err) {
		return errs.E(errs.Exists, op, "another immutable rule selecting the same repositories and tags already exists (%s)", describeKey(r))
	}
	return err
}

// DeleteImmutableRule removes rule id of project projectID.
func (db *DB) DeleteImmutableRule(ctx context.Context, projectID, id int64) error {
	const op = "delete immutable rule"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM immutable_rules WHERE id = ? AND project_id = ?`, id, projectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "immutable rule %d not found in the project", id)
		}
		return nil
	})
}
