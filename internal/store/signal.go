package store

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// The change signal tells every process sharing the database that another
// one wrote something a cache may hold: accounts, projects and their
// metadata, memberships, settings, login locks (every write not marked
// routineWrite). It is one row, change_signal, whose version a process
// moves after such a write commits (migration 0020):
//
//   - on PostgreSQL, writes are announced by one goroutine per handle,
//     after they commit, coalesced: many writes in a burst cost one UPDATE,
//     and no write waits for it or holds the row inside its own transaction
//     (concurrent pushes would queue on it);
//   - on SQLite, whose writer is exclusive anyway, the write transaction
//     moves the version itself before it commits: no write of its own, no
//     fsync of its own (statements outside a transaction are announced by
//     the goroutine, as on PostgreSQL);
//   - on PostgreSQL the same statement sends NOTIFY berth_change_<hash of
//     the schema> (channels span the database; installations in other
//     schemas must not hear it) with the announcing handle's origin; a
//     watcher holding one connection in LISTEN sees another process's
//     change in the time the notification takes to arrive (milliseconds). It still reads the version every
//     signalListenCheck, and reads it at once after (re)connecting, so a
//     notification lost with a broken connection is made up for;
//   - on SQLite (or while the LISTEN connection is down) the watcher reads
//     the version every signalPoll.
//
// A handle whose OnChange has been called watches; when it sees a version
// it did not announce itself, it moves WriteGeneration (every cache keyed
// by it drops what it holds) and calls the OnChange functions. A process
// that crashes between a commit and its announcement leaves the change
// unannounced: caches then keep it until their own expiry.
const (
	signalChannel     = "berth_change"
	signalPoll        = 250 * time.Millisecond
	signalListenCheck = 5 * time.Second
	signalRetry       = 250 * time.Millisecond
	signalDrain       = 2 * time.Millisecond
)

var nextOrigin atomic.Int64

type signal struct {
	origin  string        // this handle's name in notifications
	channel string        // the NOTIFY channel of this installation (PostgreSQL)
	wake    chan struct{} // a write to announce (buffered, one slot)
	stop    context.CancelFunc
	done    chan struct{} // the announcer ended

	mu       sync.Mutex
	seen     int64          // the version up to which this handle knows every change
	own      map[int64]bool // versions above seen that this handle announced
	subs     []func()
	watching bool
	watched  chan struct{} // the watcher ended
}

func (db *DB) startSignal() {
	ctx, cancel := context.WithCancel(context.Background())
	db.sig = &signal{origin: randomOrigin(), channel: signalChannel, own: map[int64]bool{}, wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	if db.pg {
		// NOTIFY channels belong to the whole database: installations in
		// other schemas of it must not hear this one. The channel is named
		// after the schema the tables are in.
		var schema string
		if err := db.r.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err == nil {
			sum := sha256.Sum256([]byte(schema))
			db.sig.channel = signalChannel + "_" + hex.EncodeToString(sum[:8])
		}
	}
	var v int64
	if err := db.r.QueryRowContext(ctx, `SELECT version FROM change_signal WHERE id = 1`).Scan(&v); err == nil {
		db.sig.seen = v
	}
	go db.announce(ctx)
}

func randomOrigin() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(int(nextOrigin.Add(1)))
}

// changed is called after a write that is not routine has committed.
func (db *DB) changed() {
	if db.sig == nil {
		return
	}
	select {
	case db.sig.wake <- struct{}{}:
	default: // an announcement is pending already and will cover this write
	}
}

// announce moves the version once for each burst of writes.
func (db *DB) announce(ctx context.Context) {
	defer close(db.sig.done)
	for {
		select {
		case <-ctx.Done():
			// A write that committed just before Close is announced still.
			select {
			case <-db.sig.wake:
				actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				db.bumpVersion(actx)
				cancel()
			default:
			}
			return
		case <-db.sig.wake:
		}
		if err := db.bumpVersion(ctx); err != nil && ctx.Err() == nil {
			// Announce again shortly: the write is not forgotten.
			db.changed()
			select {
			case <-ctx.Done():
			case <-time.After(signalRetry):
			}
		}
	}
}

func (db *DB) bumpVersion(ctx context.Context) error {
	var v int64
	var err error
	if db.pg {
		var ignored *string
		err = db.w.QueryRowContext(ctx, `WITH v AS (UPDATE change_signal SET version = version + 1 WHERE id = 1 RETURNING version)
			SELECT version, pg_notify($2, $1 || ' ' || version)::text FROM v`, db.sig.origin, db.sig.channel).Scan(&v, &ignored)
	} else {
		err = db.w.QueryRowContext(ctx, `UPDATE change_signal SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v)
	}
	if err != nil {
		return err
	}
	db.ownVersion(v)
	return nil
}

// ownVersion takes note that this handle moved the version to v.
func (db *DB) ownVersion(v int64) {
	if db.sig == nil {
		return
	}
	s := db.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.watching || v <= s.seen {
		return // nobody to tell, or old news
	}
	if len(s.own) >= 10000 {
		clear(s.own) // at worst, own changes are taken for news: caches drop once more
	}
	// Concurrent writers learn their versions out of order: remember each
	// until the versions below it are known, so that no own change is
	// taken for another process's and none of theirs is skipped.
	s.own[v] = true
	for s.own[s.seen+1] {
		delete(s.own, s.seen+1)
		s.seen++
	}
}

// announcedInTx reports whether a write transaction in ctx moves the
// change signal itself before it commits: on SQLite, for writes that are
// not routine.
func (db *DB) announcedInTx(ctx context.Context) bool {
	return !db.pg && db.sig != nil && ctx.Value(routineKey{}) == nil
}

// OnChange calls fn (in a goroutine of the store's) each time another
// process sharing the database has announced a change, after
// WriteGeneration has moved. The first call starts watching.
func (db *DB) OnChange(fn func()) {
	s := db.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
	if s.watching {
		return
	}
	s.watching = true
	s.watched = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	stop := s.stop
	s.stop = func() { cancel(); stop() }
	done := s.watched
	go func() { defer close(done); db.watch(ctx) }()
}

// observe takes note of version v read from the database and reports the
// change to the subscribers when it is news.
func (db *DB) observe(v int64) {
	s := db.sig
	s.mu.Lock()
	if v <= s.seen {
		s.mu.Unlock()
		return
	}
	news := false
	for n := s.seen + 1; n <= v; n++ {
		if !s.own[n] {
			news = true
		}
		delete(s.own, n)
	}
	s.seen = v
	subs := append([]func(){}, s.subs...)
	s.mu.Unlock()
	if !news {
		return
	}
	db.writes.Add(1)
	for _, f := range subs {
		f()
	}
}

func (db *DB) readVersion(ctx context.Context) {
	var v int64
	if err := db.r.QueryRowContext(ctx, `SELECT version FROM change_signal WHERE id = 1`).Scan(&v); err == nil {
		db.observe(v)
	}
}

func (db *DB) watch(ctx context.Context) {
	for ctx.Err() == nil {
		if db.pg {
			db.listen(ctx) // returns when the connection fails
		}
		// SQLite, or PostgreSQL without a LISTEN connection: poll.
		db.readVersion(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(signalPoll):
		}
	}
}

// listen holds one connection in LISTEN until it fails or ctx ends.
func (db *DB) listen(ctx context.Context) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		pc, ok := dc.(pgxConn)
		if !ok {
			return errors.New("PostgreSQL connection is not a pgx connection")
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, "LISTEN "+db.sig.channel); err != nil {
			return driver.ErrBadConn
		}
		defer func() {
			// Give the connection back to the pool without its LISTEN.
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c.Exec(uctx, "UNLISTEN *")
			cancel()
		}()
		check := true
		for {
			if check {
				// What was announced before LISTEN took effect (or while
				// no notification came) is read here.
				var v int64
				if err := c.QueryRow(ctx, `SELECT version FROM change_signal WHERE id = 1`).Scan(&v); err != nil {
					return driver.ErrBadConn
				}
				db.observe(v)
			}
			check = false
			wctx, cancel := context.WithTimeout(ctx, signalListenCheck)
			n, err := c.WaitForNotification(wctx)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil && errors.Is(err, context.DeadlineExceeded):
				check = true
				continue
			case err != nil:
				return driver.ErrBadConn
			}
			// Notifications queued behind this one (a burst of writes
			// elsewhere) are taken together: the subscribers run once.
			var news int64
			for {
				origin, ver, _ := strings.Cut(n.Payload, " ")
				if v, err := strconv.ParseInt(ver, 10, 64); err == nil && origin != db.sig.origin && v > news {
					news = v
				}
				dctx, cancel := context.WithTimeout(ctx, signalDrain)
				n, err = c.WaitForNotification(dctx)
				cancel()
				if err != nil {
					break
				}
			}
			if ctx.Err() != nil {
				return nil
			}
			if news > 0 {
				db.observe(news)
			}
		}
	})
}

// stopSignal ends the announcer and the watcher, announcing a last write.
func (db *DB) stopSignal() {
	if db.sig == nil {
		return
	}
	db.sig.mu.Lock()
	stop, w := db.sig.stop, db.sig.watched
	db.sig.mu.Unlock()
	stop()
	<-db.sig.done
	if w != nil {
		<-w
	}
}

// ChangeVersion returns the change signal's version as stored (for tests
// and diagnostics).
func (db *DB) ChangeVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.r.QueryRowContext(ctx, `SELECT version FROM change_signal WHERE id = 1`).Scan(&v); err != nil {
		return 0, errs.Wrap("read change version", err)
	}
	return v, nil
}
