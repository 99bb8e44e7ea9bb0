package store

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// nameIndex is the in-memory copy. A published copy is never modified;
// refreshes build a new one under mu, so searches read the current copy
// without waiting for a refresh unless they need the names it adds.
type nameIndex struct {
	mu   sync.Mutex               // held by the one refreshing
	cur  atomic.Pointer[nameCopy] // the published copy
	seen map[int64]bool           // IDs in cur (under mu)
}

// nameCopy is one published copy.
type nameCopy struct {
	names  []repoName // sorted by name
	maxID  int64      // the newest ID it holds
	loaded time.Time  // of the last full load
	tooBig bool       // more than nameIndexMax repositories: search stays in SQL
}

// nameSnapshot returns the current sorted names, refreshed as described
// above, or ok=false when search should stay in SQL.
func (db *DB) nameSnapshot(ctx context.Context) ([]repoName, bool, error) {
	var maxID int64
	if err := db.queryRow(ctx, nil, `SELECT COALESCE(MAX(id), 0) FROM repositories`).Scan(&maxID); err != nil {
		return nil, false, err
	}
	ix := &db.names
	if c := ix.cur.Load(); c != nil && maxID <= c.maxID {
		// The copy holds every name up to the newest ID. It is used as
		// it is unless it is due for its full reload and nobody else is
		// reloading it already.
		if time.Since(c.loaded) <= nameIndexFull || !ix.mu.TryLock() {
			return c.names, !c.tooBig, nil
		}
	} else {
		ix.mu.Lock()
	}
	defer ix.mu.Unlock()
	c := ix.cur.Load()
	switch {
	case c == nil || time.Since(c.loaded) > nameIndexFull:
		var n int64
		if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM repositories`).Scan(&n); err != nil {
			return nil, false, err
		}
		fresh := &nameCopy{names: []repoName{}, loaded: time.Now(), tooBig: n > nameIndexMax}
		ix.seen = map[int64]bool{}
		if !fresh.tooBig {
			var err error
			if fresh, err = ix.add(ctx, db, fresh, `SELECT id, name FROM repositories`); err != nil {
				ix.cur.Store(nil)
				return nil, false, err
			}
		}
		c = fresh
	case c.tooBig:
		return nil, false, nil
	case maxID > c.maxID:
		next, err := ix.add(ctx, db, c, `SELECT id, name FROM repositories WHERE id > ?`, c.maxID-nameIndexOverlap)
		if err != nil {
			return nil, false, err
		}
		c = next
	}
	if c.maxID < maxID {
		// Read after maxID was: the copy holds every name up to it
		// (one deleted since is simply not found).
		raised := *c
		raised.maxID = maxID
		c = &raised
	}
	ix.cur.Store(c)
	return c.names, !c.tooBig, nil
}

// add returns c with the rows q selects that it does not hold yet, as a
// new copy sorted by name (c itself when there are none).
func (ix *nameIndex) add(ctx context.Context, db *DB, c *nameCopy, q string, args ...any) (*nameCopy, error) {
	rows, err := db.query(ctx, nil, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fresh []repoName
	for rows.Next() {
		var r repoName
		if err := rows.Scan(&r.id, &r.name); err != nil {
			return nil, err
		}
		if !ix.seen[r.id] {
			fresh = append(fresh, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(fresh) == 0 {
		return c, nil
	}
	next := &nameCopy{names: make([]repoName, 0, len(c.names)+len(fresh)), maxID: c.maxID, loaded: c.loaded}
	next.names = append(append(next.names, c.names...), fresh...)
	sort.Slice(next.names, func(i, j int) bool { return next.names[i].name < next.names[j].name })
	for _, r := range fresh {
		ix.seen[r.id] = true
		next.maxID = max(next.maxID, r.id)
	}
	return next, nil
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
