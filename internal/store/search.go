package store

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"
)

// Repository search looks for a keyword anywhere in repository names.
// No index serves a '%keyword%' match on names that share most of their
// characters (every goharbor/perf repository is repo-NNN; a trigram index
// was tried on both databases and was slower than a scan), and scanning
// the names in SQL cost about 1.3 ms per search at 10,000 repositories on
// SQLite, a core's worth at a few hundred searches a second.
//
// So the store keeps the names, sorted, in memory (nameIndex) and finds
// the matching IDs there; one statement then reads those repositories,
// within the caller's reach, with their artifact counts. The copy stays
// exact without any cross-replica signal: each search first reads
// MAX(id) (one index seek) and loads the repositories created since,
// with an overlap for IDs that committed out of order; deleted
// repositories simply are not found by the statement; and the whole copy
// is reloaded every minute. A keyword matching very many names (or an
// empty one), or a registry with more than nameIndexMax repositories,
// is searched in SQL as before.

const (
	nameIndexMax     = 200_000     // repositories above which search stays in SQL
	nameIndexFull    = time.Minute // age at which the copy is reloaded whole
	nameIndexOverlap = 256         // IDs below the newest seen that are read again
	nameMatchesMax   = 1000        // matches above which search stays in SQL
)

type repoName struct {
	id   int64
	name string
}

// nameIndex is the in-memory copy. A snapshot (names) is never modified
// once published; updates build a new slice.
type nameIndex struct {
	mu     sync.Mutex
	names  []repoName // sorted by name
	seen   map[int64]bool
	maxID  int64
	loaded time.Time
	tooBig bool
}

// nameSnapshot returns the current sorted names, refreshed as described
// above, or ok=false when search should stay in SQL.
func (db *DB) nameSnapshot(ctx context.Context) ([]repoName, bool, error) {
	var maxID int64
	if err := db.queryRow(ctx, nil, `SELECT COALESCE(MAX(id), 0) FROM repositories`).Scan(&maxID); err != nil {
		return nil, false, err
	}
	ix := &db.names
	ix.mu.Lock()
	defer ix.mu.Unlock()
	switch {
	case ix.names == nil || time.Since(ix.loaded) > nameIndexFull:
		var n int64
		if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM repositories`).Scan(&n); err != nil {
			return nil, false, err
		}
		ix.tooBig = n > nameIndexMax
		ix.names, ix.seen, ix.maxID, ix.loaded = []repoName{}, map[int64]bool{}, 0, time.Now()
		if ix.tooBig {
			return nil, false, nil
		}
		if err := ix.add(ctx, db, `SELECT id, name FROM repositories`); err != nil {
			ix.names = nil
			return nil, false, err
		}
	case ix.tooBig:
		return nil, false, nil
	case maxID > ix.maxID:
		if err := ix.add(ctx, db, `SELECT id, name FROM repositories WHERE id > ?`, ix.maxID-nameIndexOverlap); err != nil {
			ix.names = nil
			return nil, false, err
		}
	}
	return ix.names, true, nil
}

// add reads the rows q selects into a new sorted snapshot, skipping IDs it
// holds already.
func (ix *nameIndex) add(ctx context.Context, db *DB, q string, args ...any) error {
	rows, err := db.query(ctx, nil, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var fresh []repoName
	for rows.Next() {
		var r repoName
		if err := rows.Scan(&r.id, &r.name); err != nil {
			return err
		}
		if !ix.seen[r.id] {
			fresh = append(fresh, r)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(fresh) == 0 {
		return nil
	}
	names := make([]repoName, 0, len(ix.names)+len(fresh))
	names = append(append(names, ix.names...), fresh...)
	sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
	for _, r := range fresh {
		ix.seen[r.id] = true
		ix.maxID = max(ix.maxID, r.id)
	}
	ix.names = names
	return nil
}

// matchingIDs returns the IDs of the names containing kw, in name order,
// or ok=false when there are more than nameMatchesMax.
func matchingIDs(names []repoName, kw string) (ids []int64, ok bool) {
	for _, r := range names {
		if strings.Contains(r.name, kw) {
			if len(ids) == nameMatchesMax {
				return nil, false
			}
			ids = append(ids, r.id)
		}
	}
	return ids, true
}

// idList binds ids as one argument: a JSON array for SQLite (json_each),
// an array for PostgreSQL (= ANY).
func (db *DB) idList(col string, ids []int64) (string, any) {
	if db.pg {
		return col + " = ANY(?)", ids
	}
	b, _ := json.Marshal(ids)
	return col + " IN (SELECT value FROM json_each(?))", string(b)
}
