package audit_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/store"
)

// receiver is a syslog receiver over TCP reading octet-counted frames.
type receiver struct {
	t    *testing.T
	ln   net.Listener
	msgs chan string
	mu   sync.Mutex
	conn []net.Conn
}

func listen(t *testing.T, addr string) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, ln: ln, msgs: make(chan string, 10000)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conn = append(r.conn, c)
			r.mu.Unlock()
			go r.read(c)
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *receiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 {
			r.msgs <- "BAD FRAME " + n
			return
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		r.msgs <- string(b)
	}
}

func (r *receiver) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conn {
		c.Close()
	}
	r.conn = nil
	r.mu.Unlock()
}

func (r *receiver) next(within time.Duration) (string, bool) {
	select {
	case m := <-r.msgs:
		return m, true
	case <-time.After(within):
		return "", false
	}
}

func entry(i int) store.AuditEntry {
	return store.AuditEntry{ProjectID: 7, Operation: "pull", ResourceType: "artifact", Resource: "library/app:v" + strconv.Itoa(i),
		Username: "alice", Description: "pull artifact library/app:v" + strconv.Itoa(i), Success: true, OpTime: time.Now().UnixMilli()}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFormat(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli()
	for _, c := range []struct {
		name string
		e    store.AuditEntry
		want string
	}{
		{"success", store.AuditEntry{ProjectID: 1, Operation: "pull", ResourceType: "artifact", Resource: "library/app:v1",
			Username: "admin", Description: "pull artifact library/app:v1", Success: true, OpTime: ts},
			`<110>1 2026-01-02T03:04:05.678Z host1 berth 42 pull_artifact [audit@32473 operator="admin" operation="pull" resource_type="artifact" resource="library/app:v1" project_id="1" result="success"] pull artifact library/app:v1`},
		{"failure, escaping, no description", store.AuditEntry{Operation: "delete", ResourceType: "project", Resource: `we"ird]\name`,
			Username: "bob", OpTime: ts},
			`<108>1 2026-01-02T03:04:05.678Z host1 berth 42 delete_project [audit@32473 operator="bob" operation="delete" resource_type="project" resource="we\"ird\]\\name" project_id="0" result="failure"]`},
		{"msgid limited to 32 printable characters", store.AuditEntry{Operation: "update", ResourceType: "a very long resource type name here", Username: "x", Success: true, OpTime: ts},
			`<110>1 2026-01-02T03:04:05.678Z host1 berth 42 update_a_very_long_resource_type [audit@32473 operator="x" operation="update" resource_type="a very long resource type name here" resource="" project_id="0" result="success"]`},
	} {
		if got := string(audit.Format(c.e, "host1", 42)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if got := string(audit.Format(store.AuditEntry{OpTime: ts}, "", 1)); !strings.Contains(got, "Z - berth 1 ") {
		t.Errorf("empty hostname must be '-': %s", got)
	}
}

// TestForwarderDelivers sends records over one connection, with framing
// that survives newlines in fields.
func TestForwarderDelivers(t *testing.T) {
	r := listen(t, "127.0.0.1:0")
	f := audit.NewForwarder(func() string { return r.ln.Addr().String() }, quietLog(), audit.ForwardOptions{Hostname: "h"})
	e := entry(1)
	e.Description = "two\nlines"
	f.Send([]store.AuditEntry{e, entry(2), entry(3)})
	for i, want := range []string{"resource=\"library/app:v1\"", "v2", "v3"} {
		m, ok := r.next(5 * time.Second)
		if !ok {
			t.Fatalf("message %d not received", i)
		}
		if !strings.Contains(m, want) || !strings.HasPrefix(m, "<110>1 ") {
			t.Errorf("message %d: %q, want it to contain %q", i, m, want)
		}
		if i == 0 && !strings.HasSuffix(m, "] two\nlines") {
			t.Errorf("newline in a field split the message: %q", m)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); f.Sent() < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the count follows the write
	}
	if f.Sent() != 3 || f.Dropped() != 0 {
		t.Errorf("sent %d dropped %d, want 3 and 0", f.Sent(), f.Dropped())
	}
}

// TestForwarderNeverBlocks fills the queue while the endpoint refuses
// connections: Send returns at once, the excess is dropped and counted,
// and once a receiver listens again delivery resumes by itself.
func TestForwarderNeverBlocks(t *testing.T) {
	r := listen(t, "127.0.0.1:0")
	addr := r.ln.Addr().String()
	r.close() // now the port refuses connections
	var endpoint atomic.Value
	endpoint.Store(addr)
	f := audit.NewForwarder(func() string { return endpoint.Load().(string) }, quietLog(),
		audit.ForwardOptions{Queue: 100, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	start := time.Now()
	for i := 0; i < 50; i++ {
		batch := make([]store.AuditEntry, 20)
		for j := range batch {
			batch[j] = entry(i*20 + j)
		}
		f.Send(batch)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("sending 1000 records to a dead endpoint took %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Dropped() < 900 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Dropped() < 900 {
		t.Fatalf("dropped %d of 1000 with a queue of 100", f.Dropped())
	}
	// The receiver comes back on the same address.
	r2 := listen(t, addr)
	deadline = time.Now().Add(10 * time.Second)
	got := false
	for !got && time.Now().Before(deadline) {
		f.Send([]store.AuditEntry{entry(5000)})
		if m, ok := r2.next(300 * time.Millisecond); ok {
			got = strings.Contains(m, "library/app:v")
		}
	}
	if !got {
		t.Fatalf("no delivery after the receiver came back (sent %d, dropped %d)", f.Sent(), f.Dropped())
	}
	// A receiver restart between records: the closed connection is noticed
	// and the next record goes over a new one.
	for len(r2.msgs) > 0 {
		<-r2.msgs
	}
	time.Sleep(1100 * time.Millisecond) // past the liveness check's quiet period
	r2.close()
	r3 := listen(t, addr)
	f.Send([]store.AuditEntry{entry(6000)})
	if m, ok := r3.next(5 * time.Second); !ok || !strings.Contains(m, "v6000") {
		t.Fatalf("record after a receiver restart: %q %v", m, ok)
	}
	// Switching the endpoint off drops what is queued.
	endpoint.Store("")
	before := f.Dropped()
	f.Send([]store.AuditEntry{entry(7000)})
	deadline = time.Now().Add(5 * time.Second)
	for f.Dropped() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Dropped() != before+1 {
		t.Errorf("dropped %d after switching off, want %d", f.Dropped(), before+1)
	}
}

// TestForwarderIdleExit checks the writer goroutine ends when idle and a
// later record starts a new one.
func TestForwarderIdleExit(t *testing.T) {
	r := listen(t, "127.0.0.1:0")
	f := audit.NewForwarder(func() string { return r.ln.Addr().String() }, quietLog(), audit.ForwardOptions{Idle: 50 * time.Millisecond})
	for i := 0; i < 3; i++ {
		f.Send([]store.AuditEntry{entry(i)})
		if _, ok := r.next(5 * time.Second); !ok {
			t.Fatalf("record %d not delivered", i)
		}
		time.Sleep(150 * time.Millisecond)
	}
	r.mu.Lock()
	conns := len(r.conn)
	r.mu.Unlock()
	if conns != 3 {
		t.Errorf("%d connections, want 3 (one per burst after idle exits)", conns)
	}
}

// TestForwarderStalledReceiver: a receiver that accepts but never reads
// fills the socket buffers; writes time out, records are dropped, and Send
// still returns at once.
func TestForwarderStalledReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	f := audit.NewForwarder(func() string { return ln.Addr().String() }, quietLog(),
		audit.ForwardOptions{Queue: 200, WriteTimeout: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	big := strings.Repeat("x", 16<<10)
	var slowest time.Duration
	for i := 0; i < 2000; i++ {
		e := entry(i)
		e.Description = big
		start := time.Now()
		f.Send([]store.AuditEntry{e})
		slowest = max(slowest, time.Since(start))
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("slowest Send to a stalled receiver took %v", slowest)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Dropped() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Dropped() == 0 {
		t.Errorf("nothing dropped by a stalled receiver (sent %d)", f.Sent())
	}
	t.Logf("32 MiB to a stalled receiver: slowest Send %v, %d written to socket buffers, %d dropped", slowest, f.Sent(), f.Dropped())
}
