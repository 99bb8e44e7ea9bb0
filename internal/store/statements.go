package store

import (
	"context"
	"strings"
	"sync"
)

// Statement counting, for tests and benchmarks that pin how many round
// trips a request costs: on PostgreSQL each statement is one, and on two
// shared cores their number, more than their work, sets a listing's cost.

type countKey struct{}

// Statements records the statements run under a context from
// CountStatements.
type Statements struct {
	mu   sync.Mutex
	sqls []string
}

// CountStatements returns a context under which every statement the store
// runs (reads, writes, transaction statements) is recorded in the returned
// Statements.
func CountStatements(ctx context.Context) (context.Context, *Statements) {
	s := &Statements{}
	return context.WithValue(ctx, countKey{}, s), s
}

// Count is the number of statements run so far.
func (s *Statements) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.sqls))
}

// List returns the statements run so far (a PostgreSQL batch is one,
// "batch: " and its statements joined by "; ").
func (s *Statements) List() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sqls...)
}

func counted(ctx context.Context, q string) {
	if s, ok := ctx.Value(countKey{}).(*Statements); ok {
		q = strings.TrimSpace(q)
		s.mu.Lock()
		s.sqls = append(s.sqls, q)
		s.mu.Unlock()
	}
}
