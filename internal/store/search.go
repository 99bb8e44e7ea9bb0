package store

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// Repository search looks for a keyword anywhere in repository names.
// No index serves a '%keyword%' match on names that share most of their
// characters (every goharbor/perf repository is repo-NNN; a trigram index
// was tried on both databases and was slower than a scan), and scanning
// the names in SQL cost about 1.3 ms per search at 10,000 repositories on
// SQLite, a core's worth at a few hundred searches a second.
//
// So the store keeps the names, sorted, in memory (nameIndex) and finds
// the matching IDs there, through a trigram index of the names of the
// last full load and a scan of those added since; one statement then
// reads those repositories, within the caller's reach, with their
// artifact counts. The copy stays exact without any cross-replica signal:
// each search reads MAX(id) (one index seek; Search reads it in the same
// batch as the repositories, and searches again in the rare case that it
// shows the copy was stale) and loads the repositories created since,
// with an overlap for IDs that committed out of order; deleted
// repositories simply are not found by the statement; and the whole copy
// is reloaded (and indexed) every minute. A keyword matching very many
// names, or a registry with more than nameIndexMax repositories, is
// searched in SQL as before.

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

// nameCopy is one published copy: the names of the last full load
// (base), indexed by trigram, and those added since (extra), scanned.
type nameCopy struct {
	base   []repoName         // sorted by name
	grams  map[uint32][]int32 // trigram → indexes into base holding it, ascending
	extra  []repoName         // added since the full load, sorted by name
	maxID  int64              // the newest ID it holds
	loaded time.Time          // of the last full load
	tooBig bool               // more than nameIndexMax repositories: search stays in SQL
}

// trigram packs the three bytes of s[i:i+3].
func trigram(s string, i int) uint32 {
	return uint32(s[i])<<16 | uint32(s[i+1])<<8 | uint32(s[i+2])
}

// indexed returns c with its extra names moved into base and indexed.
// Every name's trigrams are listed once per name, so a keyword's rarest
// trigram gives the few names to test instead of all of them: scanning
// every name (10,000 at goharbor/perf's size) was a third of a search's
// CPU on PostgreSQL.
func (c *nameCopy) indexed() *nameCopy {
	next := *c
	next.base = append(append(make([]repoName, 0, len(c.base)+len(c.extra)), c.base...), c.extra...)
	sort.Slice(next.base, func(i, j int) bool { return next.base[i].name < next.base[j].name })
	next.extra = nil
	next.grams = map[uint32][]int32{}
	for i, r := range next.base {
		for j := 0; j+3 <= len(r.name); j++ {
			g := trigram(r.name, j)
			list := next.grams[g]
			if n := len(list); n == 0 || list[n-1] != int32(i) {
				next.grams[g] = append(list, int32(i))
			}
		}
	}
	return &next
}

const newestRepositorySQL = `SELECT COALESCE(MAX(id), 0) FROM repositories`

// nameSnapshot returns the current name copy, refreshed as described
// above, or ok=false when search should stay in SQL.
func (db *DB) nameSnapshot(ctx context.Context) (*nameCopy, bool, error) {
	var maxID int64
	if err := db.queryRow(ctx, nil, newestRepositorySQL).Scan(&maxID); err != nil {
		return nil, false, err
	}
	return db.nameSnapshotAt(ctx, maxID)
}

// fresh reports whether copy c holds every name up to maxID, the newest
// repository ID read.
func (c *nameCopy) fresh(maxID int64) bool { return c != nil && maxID <= c.maxID }

// nameSnapshotAt is nameSnapshot with the newest repository ID read
// already (maxID).
func (db *DB) nameSnapshotAt(ctx context.Context, maxID int64) (*nameCopy, bool, error) {
	ix := &db.names
	if c := ix.cur.Load(); c.fresh(maxID) {
		// The copy holds every name up to the newest ID. It is used as
		// it is unless it is due for its full reload and nobody else is
		// reloading it already.
		if time.Since(c.loaded) <= nameIndexFull || !ix.mu.TryLock() {
			return c, !c.tooBig, nil
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
		fresh := &nameCopy{loaded: time.Now(), tooBig: n > nameIndexMax}
		ix.seen = map[int64]bool{}
		if !fresh.tooBig {
			var err error
			if fresh, err = ix.add(ctx, db, fresh, `SELECT id, name FROM repositories`); err != nil {
				ix.cur.Store(nil)
				return nil, false, err
			}
		}
		c = fresh.indexed()
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
	return c, !c.tooBig, nil
}

// add returns c with the rows q selects that it does not hold yet added to
// its extra names, as a new copy (c itself when there are none).
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
	next := *c
	next.extra = append(append(make([]repoName, 0, len(c.extra)+len(fresh)), c.extra...), fresh...)
	sort.Slice(next.extra, func(i, j int) bool { return next.extra[i].name < next.extra[j].name })
	for _, r := range fresh {
		ix.seen[r.id] = true
		next.maxID = max(next.maxID, r.id)
	}
	return &next, nil
}

// matching returns the IDs of the names containing kw, in name order, or
// ok=false when there are more than nameMatchesMax.
func (c *nameCopy) matching(kw string) (ids []int64, ok bool) {
	var base []repoName // the base names containing kw, in name order
	switch {
	case len(kw) < 3:
		for _, r := range c.base {
			if strings.Contains(r.name, kw) {
				base = append(base, r)
			}
		}
	default:
		// The names holding kw's rarest trigram, tested whole.
		var fewest []int32
		for j := 0; j+3 <= len(kw); j++ {
			list, found := c.grams[trigram(kw, j)]
			if !found {
				fewest = nil
				break
			}
			if j == 0 || len(list) < len(fewest) {
				fewest = list
			}
		}
		for _, i := range fewest {
			if r := c.base[i]; strings.Contains(r.name, kw) {
				base = append(base, r)
			}
		}
	}
	// Merged with the extra names containing kw, in name order.
	out := make([]int64, 0, len(base))
	k := 0
	for _, r := range c.extra {
		if !strings.Contains(r.name, kw) {
			continue
		}
		for k < len(base) && base[k].name < r.name {
			out = append(out, base[k].id)
			k++
		}
		out = append(out, r.id)
	}
	for ; k < len(base); k++ {
		out = append(out, base[k].id)
	}
	if len(out) > nameMatchesMax {
		return nil, false
	}
	return out, true
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

// SearchResult is what Search finds.
type SearchResult struct {
	Projects     []ProjectInfo   // with RepoCount; Metadata holds "public" only
	Roles        map[int64][]int // the user's direct roles in Projects
	Repositories []RepositoryHit
}

// Search finds the projects f selects (f.Name: the keyword) by name, the
// roles user holds in them (none for 0), and the repositories within reach
// whose name contains the keyword (SearchRepositories), up to limit each.
// On PostgreSQL it is one round trip: the repositories are matched with
// the name copy as it is, and the copy's freshness is checked with the
// newest repository ID read in the same batch; only when repositories were
// created since is the copy refreshed and the repository read run again.
func (db *DB) Search(ctx context.Context, f ProjectFilter, reach *Reach, user int64, limit int) (*SearchResult, error) {
	const op = "search"
	kw := strings.ToLower(f.Name)
	res := &SearchResult{Projects: []ProjectInfo{}, Roles: map[int64][]int{}, Repositories: []RepositoryHit{}}
	var reads []*batchRead
	if conds, args, ok := db.projectConditions(f); ok {
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		reads = append(reads, &batchRead{
			sql: `SELECT ` + projectInfoColumns + `, (SELECT COUNT(*) FROM repositories rc WHERE rc.project_id = p.id)
				FROM projects p LEFT JOIN users u ON u.id = p.owner_id` + where + ` ORDER BY p.name LIMIT ?`,
			args: append(args, limit),
			row: func(r rowScanner) error {
				var repos int64
				p, err := scanProjectInfo(r, &repos)
				if err != nil {
					return err
				}
				p.RepoCount = repos
				p.Metadata = map[string]string{"public": strconv.FormatBool(p.Public)}
				res.Projects = append(res.Projects, p)
				return nil
			},
		})
		if user != 0 && db.pg {
			// The user's roles in every project the keyword matches, in
			// the batch (those beyond the limit or out of reach are
			// dropped below); on SQLite they follow by the projects' IDs.
			reads = append(reads, &batchRead{
				sql: `SELECT m.project_id, m.role FROM project_members m JOIN projects p ON p.id = m.project_id
					WHERE m.entity_type = 'u' AND m.entity_id = ? AND ` + db.contains("p.name") + ` > 0 ORDER BY m.project_id, m.role`,
				args: []any{user, kw},
				row:  rolesInto(res.Roles),
			})
		}
	}
	var maxID int64
	reads = append(reads, &batchRead{sql: newestRepositorySQL, row: func(r rowScanner) error { return r.Scan(&maxID) }})
	c := db.names.cur.Load()
	if c != nil {
		reads = append(reads, db.repositorySearch(c, !c.tooBig, kw, reach, limit, &res.Repositories))
	}
	if err := db.readBatch(ctx, op, reads...); err != nil {
		return nil, err
	}
	if !db.pg && user != 0 && len(res.Projects) > 0 {
		roles, err := db.UserProjectRoles(ctx, user, projectIDs(res.Projects))
		if err != nil {
			return nil, err
		}
		res.Roles = roles
	}
	if !c.fresh(maxID) || time.Since(c.loaded) > nameIndexFull {
		names, indexed, err := db.nameSnapshotAt(ctx, maxID)
		if err != nil {
			return nil, errs.Wrap(op, err)
		}
		if !c.fresh(maxID) {
			// Repositories created since the copy was read: search again.
			res.Repositories = res.Repositories[:0]
			if err := db.readBatch(ctx, op, db.repositorySearch(names, indexed, kw, reach, limit, &res.Repositories)); err != nil {
				return nil, err
			}
		}
	}
	known := res.Roles
	res.Roles = make(map[int64][]int, len(known))
	for _, p := range res.Projects {
		if r, ok := known[p.ID]; ok {
			res.Roles[p.ID] = r
		}
	}
	return res, nil
}
