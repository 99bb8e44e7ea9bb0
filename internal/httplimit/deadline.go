package httplimit

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// MinProgress is what a streamed body must deliver within each Idle
// window to keep its connection: at least this many bytes (or its end).
const MinProgress = 16 << 10

// BodyDeadlines gives every request body a read deadline suited to what it
// is, so that no client holds a connection by sending a body slowly or not
// at all. The headers and the idle time between requests are bounded by
// the server's ReadHeaderTimeout and IdleTimeout.
//
// The deadline starts when the handler first reads the body (not when the
// request arrives: time the server spends before reading is not the
// client's), or when the handler returns without having read it all (net/http
// then reads what is left, to reuse the connection). It is lifted once the
// body has been read to its end: net/http then watches the connection for
// the client going away, and a deadline left there would cancel the request's
// context in the middle of a long answer.
type BodyDeadlines struct {
	// Body is how long an ordinary body (the API's JSON, the console's
	// forms, token requests) may take to arrive in full.
	Body time.Duration
	// Idle cuts a streamed body when fewer than MinProgress bytes arrived
	// in this long: each MinProgress bytes received extend the deadline, so
	// a long upload that keeps moving is never cut.
	Idle time.Duration
	// Streamed picks the requests whose bodies are long transfers.
	Streamed func(*http.Request) bool
}

// Wrap returns h with the deadlines applied. w must be the server's own
// ResponseWriter (or unwrap to it), so Wrap goes outermost.
func (d BodyDeadlines) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{rc: r.Body, ctl: http.NewResponseController(w), total: d.Body}
		if d.Streamed != nil && d.Streamed(r) {
			b.total, b.idle = 0, d.Idle
		}
		r.Body = b
		defer b.handlerDone(d.Body)
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	rc          io.ReadCloser
	ctl         *http.ResponseController
	total, idle time.Duration

	mu            sync.Mutex
	started, done bool
	progress      int // bytes since the deadline was last extended
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.started {
		b.started = true
		b.ctl.SetReadDeadline(time.Now().Add(b.total + b.idle)) // one of them is 0
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.done:
	case err != nil:
		b.done = true
		if errors.Is(err, io.EOF) {
			b.ctl.SetReadDeadline(time.Time{})
		}
	case b.idle > 0:
		if b.progress += n; b.progress >= MinProgress {
			b.progress = 0
			b.ctl.SetReadDeadline(time.Now().Add(b.idle))
		}
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.rc.Close() }

// handlerDone bounds net/http's reading of what the handler left unread.
func (b *deadlineBody) handlerDone(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.started, b.done = true, true
		b.ctl.SetReadDeadline(time.Now().Add(d))
	}
}
