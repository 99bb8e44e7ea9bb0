// Package httplimit bounds what clients can hold of the server: how many
// requests a handler works on at once (Gate, admitting the others in
// arrival order), how long a request body may take to arrive
// (BodyDeadlines), and how many connections the server holds, in all and
// per client address (Listen).
//
// Without the gate, every request in flight competes for the database
// pool, and database/sql hands a freed connection to a random waiter:
// under a burst, some requests wait for many turns while later ones pass,
// and the 95th percentile ends two to three times the median. Behind a FIFO
// gate sized to what the machine can work on, a request waits for those
// ahead of it only, and the ones admitted rarely wait for a connection.
package httplimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/errs"
)

const (
	// MaxBody is the largest request body the gate reads before admission,
	// the largest any gated handler accepts (the API's JSON, the console's
	// forms). A longer body is cut there: its handler reads
	// an *http.MaxBytesError after MaxBody+1 bytes and answers 413 as before.
	MaxBody = 1 << 20
	// freeBody is the part of each body read without counting against the
	// shared budget: every ordinary API and console body fits in it, and
	// the connection caps bound how many such bodies exist at once.
	freeBody = 16 << 10
	// BodyBudget bounds the bytes of bodies beyond their first freeBody held
	// by requests that wait for, or are in, the gate. A body that does not
	// fit is answered 503 (errs.Unavailable) rather than waited for.
	BodyBudget = 64 << 20
)

// Gate admits at most n requests at a time into the handlers it wraps, in
// the order they arrive (waiters on a Go channel are served first in, first
// out). A request whose client goes away while it waits is dropped.
//
// A request's body is read into memory before it asks for a slot, so a
// client that trickles its body never holds one: only requests ready to be
// worked on wait in the queue.
type Gate struct {
	slots  chan struct{}
	budget atomic.Int64 // bytes of buffered bodies beyond freeBody each
}

// New returns a gate of n slots; n <= 0 returns nil, which admits everything.
func New(n int) *Gate {
	if n <= 0 {
		return nil
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// Wrap returns h behind the gate. fail answers a request the gate refuses
// before h sees it (a body that did not arrive in time, or no room to hold
// it), in the surface's own error format; it gets an *errs.Error.
func (g *Gate) Wrap(h http.Handler, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if g == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held, err := g.buffer(r)
		defer g.budget.Add(-held)
		if err != nil {
			if r.Context().Err() == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				fail(w, r, err)
			}
			return
		}
		if !g.enter(r.Context()) {
			return // the client is gone; nobody reads an answer
		}
		sl := &slot{g: g, held: true}
		defer sl.leave()
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, sl)))
	})
}

// enter waits for a slot; false when ctx ended first.
func (g *Gate) enter(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case g.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// slot is the gate slot a request holds, which it may give up while it
// waits for something that is not the gate's to bound (see Outside).
type slot struct {
	g    *Gate
	mu   sync.Mutex
	held bool
}

type slotKey struct{}

func (s *slot) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		<-s.g.slots
		s.held = false
	}
}

// Outside runs f outside the gate: the request whose context ctx is gives
// its slot up while f runs, and queues for one again (at the back) after.
// It is for waits bounded elsewhere that would otherwise keep the gate's
// slots from the requests behind them: a password check queues for a KDF
// slot (internal/auth), and a gate full of sign-ins waiting their turn
// would stall every other API request. Outside a gated request it just
// runs f. It returns false when the client went away before it got a slot
// back (the request should then end).
func Outside(ctx context.Context, f func()) bool {
	s, _ := ctx.Value(slotKey{}).(*slot)
	if s == nil {
		f()
		return true
	}
	s.leave()
	f()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.g.enter(ctx) {
		return false
	}
	s.held = true
	return true
}

// buffer replaces r.Body by its content read into memory, at most MaxBody+1
// bytes. It returns the bytes it counted against the budget.
func (g *Gate) buffer(r *http.Request) (int64, error) {
	const op = "read request body"
	if r.Body == nil || r.Body == http.NoBody {
		return 0, nil
	}
	var buf bytes.Buffer
	var held int64
	chunk := make([]byte, 32<<10)
	for buf.Len() <= MaxBody {
		want := min(len(chunk), MaxBody+1-buf.Len())
		n, err := r.Body.Read(chunk[:want])
		if n > 0 {
			if over := int64(buf.Len()+n) - freeBody - held; over > 0 {
				if g.budget.Add(over) > BodyBudget {
					g.budget.Add(-over)
					return held, errs.E(errs.Unavailable, op, "the server is holding too many request bodies; try again")
				}
				held += over
			}
			buf.Write(chunk[:n])
		}
		if errors.Is(err, io.EOF) {
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
			return held, nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return held, &errs.Error{Kind: errs.Invalid, Op: op, Msg: "the request body did not arrive in time", Err: err}
			}
			// The client went away (nobody reads the answer) or broke the framing.
			return held, &errs.Error{Kind: errs.Invalid, Op: op, Msg: "the request body could not be read", Err: err}
		}
	}
	// Longer than any gated handler takes: the handler sees MaxBody+1
	// bytes, then the error its own limit would have given.
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf.Bytes()), errReader{&http.MaxBytesError{Limit: MaxBody}}))
	return held, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
