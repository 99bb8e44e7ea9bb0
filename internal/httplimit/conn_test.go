package httplimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// TestGateReadsBodyFirst: a request whose body is still arriving holds no
// slot; a body that does not arrive in time is refused through fail
// without entering the handler; a body longer than MaxBody reaches the
// handler cut, with the error of a MaxBytesReader.
func TestGateReadsBodyFirst(t *testing.T) {
	g := New(1)
	var failed []error
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			fmt.Fprintf(w, "too large after %d", len(b))
		case err != nil:
			t.Errorf("handler read: %v", err)
		default:
			fmt.Fprintf(w, "got %d", len(b))
		}
	}), func(w http.ResponseWriter, r *http.Request, err error) {
		failed = append(failed, err)
		http.Error(w, errs.Message(err), http.StatusBadRequest)
	})
	srv := httptest.NewUnstartedServer(BodyDeadlines{Body: 300 * time.Millisecond}.Wrap(h))
	srv.Start()
	defer srv.Close()

	// A slow body (it stalls half-way) while the gate's one slot is free.
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
	time.Sleep(50 * time.Millisecond)
	// The gate is free for others meanwhile.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "got 5" {
		t.Fatalf("request behind a slow body: %q", b)
	}
	// The slow one is refused once its deadline passes.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(failed) != 1 || errs.KindOf(failed[0]) != errs.Invalid {
		t.Fatalf("slow body: %d, fail got %v", resp.StatusCode, failed)
	}

	resp, err = http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", MaxBody+100)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != fmt.Sprintf("too large after %d", MaxBody+1) {
		t.Fatalf("long body: %q", b)
	}
}

// TestBodyBudget: bodies held beyond their first freeBody bytes share
// BodyBudget; one that does not fit is refused as Unavailable, and what a
// request held is returned when it is done.
func TestBodyBudget(t *testing.T) {
	g := New(1)
	g.budget.Store(BodyBudget - 100<<10)
	var failed error
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		func(w http.ResponseWriter, r *http.Request, err error) { failed = err; w.WriteHeader(503) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 200<<10))))
	if rec.Code != 503 || !errs.Is(failed, errs.Unavailable) {
		t.Fatalf("over the budget: %d %v", rec.Code, failed)
	}
	if got := g.budget.Load(); got != BodyBudget-100<<10 {
		t.Fatalf("budget after a refusal: %d", got)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 50<<10))))
	if rec.Code != 200 || g.budget.Load() != BodyBudget-100<<10 {
		t.Fatalf("within the budget: %d, budget %d", rec.Code, g.budget.Load())
	}
}

// TestDeadlineLiftedAtEnd: once a body has been read, its deadline no
// longer applies: a handler working longer than it keeps its context (net/http
// cancels it when a read on the connection fails), and a long answer goes out.
func TestDeadlineLiftedAtEnd(t *testing.T) {
	srv := httptest.NewServer(BodyDeadlines{Body: 200 * time.Millisecond, Idle: 200 * time.Millisecond,
		Streamed: func(r *http.Request) bool { return r.URL.Path == "/stream" }}.Wrap(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Exactly the body, as a handler knowing its length reads it:
			// no read ever returns io.EOF.
			if _, err := io.ReadFull(r.Body, make([]byte, r.ContentLength)); err != nil {
				t.Errorf("read: %v", err)
			}
			time.Sleep(600 * time.Millisecond)
			if err := r.Context().Err(); err != nil {
				http.Error(w, "context: "+err.Error(), 500)
				return
			}
			fmt.Fprint(w, "ok")
		})))
	defer srv.Close()
	for _, path := range []string{"/", "/stream"} {
		resp, err := http.Post(srv.URL+path, "text/plain", strings.NewReader(strings.Repeat("x", 2*MinProgress)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, b)
		}
	}
}

// TestListenLimits: at most Max connections are held, at most PerClient
// from one address; the others are reset at once, and a closed
// connection frees its place.
func TestListenLimits(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(raw, ConnLimits{Max: 5, PerClient: 3})
	defer ln.Close()
	held := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	dial := func(ip string) net.Conn {
		t.Helper()
		c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)}, raw.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// served reports whether the server side took c (it reads nothing, so
	// a reset shows as a read error, a held connection as a timeout).
	served := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	// taken reports whether a connection from ip is held; one past a limit
	// is reset, which a loaded machine may report to the dial itself.
	taken := func(ip string) bool {
		t.Helper()
		c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)}, raw.Addr().(*net.TCPAddr))
		if err != nil {
			return false
		}
		t.Cleanup(func() { c.Close() })
		return served(c)
	}
	for i := 0; i < 3; i++ {
		if c := dial("127.0.0.2"); !served(c) {
			t.Fatalf("connection %d from 127.0.0.2 refused", i+1)
		}
	}
	if taken("127.0.0.2") {
		t.Fatal("a fourth connection from 127.0.0.2 was held")
	}
	a, b := dial("127.0.0.3"), dial("127.0.0.4")
	if !served(a) || !served(b) {
		t.Fatal("other addresses refused below the limit")
	}
	if taken("127.0.0.5") {
		t.Fatal("a sixth connection was held")
	}
	(<-held).Close()
	if !served(dial("127.0.0.5")) {
		t.Fatal("a closed connection did not free its place")
	}
	if Unwrap(<-held).(*net.TCPConn) == nil {
		t.Fatal("Unwrap")
	}
}

// TestOutsideGivesUpTheSlot: requests that wait inside Outside hold no
// slot, so more of them can wait at once than the gate has slots (ten
// requests through a gate of two meet inside Outside; holding their slots,
// two would wait for ever for the other eight), and each gets a slot back
// for the rest of its work.
func TestOutsideGivesUpTheSlot(t *testing.T) {
	g := New(2)
	const n = 10
	var inside, after sync.WaitGroup
	inside.Add(n)
	after.Add(n)
	all := make(chan struct{})
	var mu sync.Mutex
	active, peak := 0, 0
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := Outside(r.Context(), func() {
			inside.Done()
			<-all
		})
		if !ok {
			t.Error("no slot back")
		}
		mu.Lock()
		active++
		peak = max(peak, active)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		active--
		mu.Unlock()
		after.Done()
	}), func(w http.ResponseWriter, r *http.Request, err error) { t.Error(err) })
	for range n {
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	met := make(chan struct{})
	go func() { inside.Wait(); close(met) }()
	select {
	case <-met:
	case <-time.After(10 * time.Second):
		t.Fatal("requests waiting in Outside kept their slots: the others never got in")
	}
	close(all)
	after.Wait()
	if peak > 2 {
		t.Errorf("%d requests worked at once after Outside, more than the gate's 2 slots", peak)
	}
	// Outside a gated request it just runs f.
	ran := false
	if !Outside(context.Background(), func() { ran = true }) || !ran {
		t.Error("Outside without a gate did not run f")
	}
}
