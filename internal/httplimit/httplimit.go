// Package httplimit bounds how many requests a handler works on at once and
// admits the others in arrival order.
//
// Without it, every request in flight competes for the database pool, and
// database/sql hands a freed connection to a random waiter: under a burst,
// some requests wait for many turns while later ones pass, and the 95th
// percentile ends two to three times the median. Behind a FIFO gate sized
// to what the machine can work on, a request waits for those ahead of it
// only, and the ones admitted rarely wait for a connection.
package httplimit

import (
	"net/http"
)

// Gate admits at most n requests at a time into the handlers it wraps, in
// the order they arrive (waiters on a Go channel are served first in, first
// out). A request whose client goes away while it waits is dropped.
type Gate struct {
	slots chan struct{}
}

// New returns a gate of n slots; n <= 0 returns nil, which admits everything.
func New(n int) *Gate {
	if n <= 0 {
		return nil
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// Wrap returns h behind the gate.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	if g == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.slots <- struct{}{}:
		default:
			select {
			case g.slots <- struct{}{}:
			case <-r.Context().Done():
				// The client is gone; nobody reads an answer.
				return
			}
		}
		defer func() { <-g.slots }()
		h.ServeHTTP(w, r)
	})
}
