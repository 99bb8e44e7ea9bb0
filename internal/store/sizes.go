package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/oci"
)

// fillTotalSizes stores oci.TotalSize for every artifact whose total_size
// is not known (-1): those pushed before migration 0017, which runs it.
// It reads the manifests in batches by ID and parses each once.
func (db *DB) fillTotalSizes(ctx context.Context, tx *sql.Tx) error {
	type row struct {
		id        int64
		mediaType string
		body      []byte
	}
	var after int64
	for {
		rows, err := db.query(ctx, tx, `SELECT id, manifest_media_type, manifest FROM artifacts
			WHERE total_size < 0 AND id > ? ORDER BY id LIMIT 500`, after)
		if err != nil {
			return err
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.mediaType, &r.body); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			m, err := oci.ParseManifest(r.mediaType, r.body)
			if err != nil {
				m = nil // stored unparsed: its bytes alone, as a reader would count
			}
			if _, err := db.exec(ctx, tx, `UPDATE artifacts SET total_size = ? WHERE id = ?`, oci.TotalSize(r.body, m), r.id); err != nil {
				return err
			}
		}
		after = batch[len(batch)-1].id
	}
}
