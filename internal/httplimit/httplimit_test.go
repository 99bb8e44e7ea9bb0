package httplimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBoundsAndOrder: never more than n inside; waiters enter in arrival
// order; a waiter whose client leaves is dropped without running. Requests
// leave one at a time, so each freed slot admits exactly one waiter and the
// admission order is observable without racing handler goroutines.
func TestBoundsAndOrder(t *testing.T) {
	g := New(2)
	var inside, peak atomic.Int32
	paths := []string{"/h1", "/h2", "/gone", "/a", "/b", "/c"}
	leave := map[string]chan struct{}{}
	for _, p := range paths {
		leave[p] = make(chan struct{})
	}
	var mu sync.Mutex
	var order []string
	admitted := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), order...)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		<-leave[r.URL.Path]
		inside.Add(-1)
	}), nil)
	var wg sync.WaitGroup
	do := func(path string, ctx context.Context) {
		defer wg.Done()
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	wg.Add(2)
	go do("/h1", context.Background())
	go do("/h2", context.Background())
	waitFor(t, func() bool { return inside.Load() == 2 })
	// Queue a cancelled waiter, then three in a known order.
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go do("/gone", ctx)
	time.Sleep(20 * time.Millisecond)
	cancel()
	for _, p := range []string{"/a", "/b", "/c"} {
		wg.Add(1)
		go do(p, context.Background())
		time.Sleep(20 * time.Millisecond) // let it queue before the next
	}
	// Free one slot at a time; each must admit the next waiter in order.
	for i, step := range []struct{ out, in string }{{"/h1", "/a"}, {"/h2", "/b"}, {"/a", "/c"}} {
		close(leave[step.out])
		waitFor(t, func() bool { return len(admitted()) == 3+i })
		if got := admitted()[2+i]; got != step.in {
			t.Fatalf("after %s left, %s was admitted, want %s (order %v)", step.out, got, step.in, admitted())
		}
	}
	close(leave["/b"])
	close(leave["/c"])
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("%d requests inside a gate of 2", peak.Load())
	}
	if got := admitted(); len(got) != 5 {
		t.Fatalf("admitted %v, want the cancelled waiter dropped", got)
	}
}

func TestNilGateAdmitsAll(t *testing.T) {
	var g *Gate = New(0)
	called := false
	g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }), nil).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !called {
		t.Fatal("handler not called")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
