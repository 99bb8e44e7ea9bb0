package store

import (
	"context"
	"database/sql"
	"encoding/json"
)

// clearForeignConfigAttrs clears the stored extra_attrs of artifacts whose
// manifest's config carries urls (migration 0019): they may have been
// read from a blob of another project. The API derives extra_attrs of a
// row without them from the config blob, only when the artifact's project
// may read it. Only manifests holding the bytes "urls" are parsed.
func (db *DB) clearForeignConfigAttrs(ctx context.Context, tx *sql.Tx) error {
	match := `instr(manifest, CAST('"urls"' AS BLOB)) > 0`
	if db.pg {
		match = `position('"urls"'::bytea in manifest) > 0`
	}
	var after int64
	for {
		rows, err := db.query(ctx, tx, `SELECT id, manifest FROM artifacts
			WHERE extra_attrs <> '' AND `+match+` AND id > ? ORDER BY id LIMIT 500`, after)
		if err != nil {
			return err
		}
		var foreign []int64
		n := 0
		for rows.Next() {
			var id int64
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return err
			}
			n++
			after = id
			// Decoded loosely: oci.ParseManifest refuses such a config now.
			var m struct {
				Config *struct {
					URLs []string `json:"urls"`
				} `json:"config"`
			}
			if json.Unmarshal(body, &m) == nil && m.Config != nil && len(m.Config.URLs) > 0 {
				foreign = append(foreign, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range foreign {
			if _, err := db.exec(ctx, tx, `UPDATE artifacts SET extra_attrs = '' WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if n == 0 {
			return nil
		}
	}
}
