package audit

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Forwarding (Harbor's audit_log_forward_endpoint): every audit record is
// also sent to a syslog receiver over TCP, as an RFC 5424 message framed
// by octet counting (RFC 6587 §3.4.1: "<length> <message>", no trailing
// newline), so a field holding a newline cannot split a record. Example:
//
//	<110>1 2026-01-02T03:04:05.678Z host berth 4242 pull_artifact [audit@32473 operator="admin" operation="pull" resource_type="artifact" resource="library/app:v1" project_id="1" result="success"] pull artifact library/app:v1
//
// PRI is facility 13 (log audit) with severity 6 (info), or 4 (warning)
// for an operation that failed; MSGID is the event type
// (operation_resource); the structured data carries the record's fields
// (32473 is the enterprise number RFC 5612 reserves for examples); MSG is
// the record's description.
//
// Forwarding never blocks or fails the audited operation: Send only puts
// messages on a bounded queue (when it is full, messages are dropped and
// counted). One writer goroutine connects, writes with a deadline, and
// after a failure reconnects with exponential backoff; while it waits,
// messages queue up to the bound, and a batch it cannot deliver is
// dropped. Failures are logged at most once per LogEvery with the number
// of dropped messages. The writer exits (closing its connection) when it
// has been idle for a while, so a Forwarder needs no Close.

// ForwardOptions tune a Forwarder; zero values take the defaults.
type ForwardOptions struct {
	Queue        int           // messages that may wait (default 10000)
	MinBackoff   time.Duration // first reconnect delay (default 100ms)
	MaxBackoff   time.Duration // longest reconnect delay (default 30s)
	DialTimeout  time.Duration // default 3s
	WriteTimeout time.Duration // default 10s
	Idle         time.Duration // the writer stops after this long without messages (default 1m)
	LogEvery     time.Duration // at most one failure log per this period (default 1m)
	Hostname     string        // the HOSTNAME field (default os.Hostname)
}

// Forwarder sends audit records to the syslog endpoint its endpoint
// function names ("host:port"; "" drops them).
type Forwarder struct {
	endpoint func() string
	log      *slog.Logger
	opts     ForwardOptions
	pid      int
	queue    chan []byte

	mu      sync.Mutex
	running bool

	// Writer state, touched by the writer goroutine only.
	conn      net.Conn
	connTo    string
	lastWrite time.Time
	failedTo  string
	backoff   time.Duration
	nextDial  time.Time

	sent, dropped atomic.Int64
	unreported    atomic.Int64 // dropped since the last log
	warnMu        sync.Mutex
	lastWarn      time.Time
}

// NewForwarder returns a forwarder to endpoint(), logging failures to log.
func NewForwarder(endpoint func() string, log *slog.Logger, opts ForwardOptions) *Forwarder {
	if opts.Queue <= 0 {
		opts.Queue = 10000
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 3 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Idle <= 0 {
		opts.Idle = time.Minute
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = time.Minute
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Forwarder{endpoint: endpoint, log: log, opts: opts, pid: os.Getpid(), queue: make(chan []byte, opts.Queue)}
}

// Send queues entries for the endpoint. It never blocks.
func (f *Forwarder) Send(entries []store.AuditEntry) {
	for _, e := range entries {
		select {
		case f.queue <- Format(e, f.opts.Hostname, f.pid):
		default:
			f.drop(1, "queue full", nil)
		}
	}
	f.mu.Lock()
	if !f.running && len(f.queue) > 0 {
		f.running = true
		go f.run()
	}
	f.mu.Unlock()
}

// Sent and Dropped count the messages written and given up so far.
func (f *Forwarder) Sent() int64    { return f.sent.Load() }
func (f *Forwarder) Dropped() int64 { return f.dropped.Load() }

// run is the writer: it sends queued messages in batches until idle.
func (f *Forwarder) run() {
	idle := time.NewTimer(f.opts.Idle)
	defer idle.Stop()
	for {
		select {
		case m := <-f.queue:
			batch := [][]byte{m}
		more:
			for len(batch) < 512 {
				select {
				case m := <-f.queue:
					batch = append(batch, m)
				default:
					break more
				}
			}
			f.deliver(batch)
			idle.Reset(f.opts.Idle)
		case <-idle.C:
			f.mu.Lock()
			if len(f.queue) == 0 {
				// Close before a new writer can start (under mu): the
				// writer state belongs to one goroutine at a time.
				f.closeConn()
				f.running = false
				f.mu.Unlock()
				return
			}
			f.mu.Unlock()
			idle.Reset(f.opts.Idle)
		}
	}
}

// deliver writes batch, reconnecting once if the connection broke.
func (f *Forwarder) deliver(batch [][]byte) {
	for attempt := 0; ; attempt++ {
		ep := f.endpoint()
		if ep == "" {
			f.drop(len(batch), "forwarding switched off", nil)
			return
		}
		if err := f.connect(ep); err != nil {
			f.drop(len(batch), "cannot connect to "+ep, err)
			return
		}
		n, err := f.write(batch)
		f.sent.Add(int64(n))
		batch = batch[n:]
		if err == nil {
			return
		}
		f.closeConn()
		if attempt > 0 {
			f.drop(len(batch), "cannot write to "+ep, err)
			return
		}
	}
}

// connect makes sure there is a live connection to ep, waiting out the
// backoff after a failed attempt.
func (f *Forwarder) connect(ep string) error {
	if f.conn != nil && f.connTo == ep && (time.Since(f.lastWrite) < time.Second || alive(f.conn)) {
		return nil
	}
	f.closeConn()
	if ep == f.failedTo {
		if wait := time.Until(f.nextDial); wait > 0 {
			time.Sleep(wait)
		}
	} else {
		f.backoff = 0
	}
	c, err := net.DialTimeout("tcp", ep, f.opts.DialTimeout)
	if err != nil {
		f.failedTo = ep
		f.backoff = min(max(2*f.backoff, f.opts.MinBackoff), f.opts.MaxBackoff)
		f.nextDial = time.Now().Add(f.backoff)
		return err
	}
	f.failedTo, f.backoff = "", 0
	f.conn, f.connTo = c, ep
	return nil
}

// alive reports whether the receiver has not closed c: a receiver sends
// nothing, so a read that does not time out means end of stream or error.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return true
	}
	return false
}

// write sends batch in one write and returns how many messages went whole.
func (f *Forwarder) write(batch [][]byte) (int, error) {
	var buf []byte
	ends := make([]int, len(batch))
	for i, m := range batch {
		buf = strconv.AppendInt(buf, int64(len(m)), 10)
		buf = append(buf, ' ')
		buf = append(buf, m...)
		ends[i] = len(buf)
	}
	f.conn.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
	n, err := f.conn.Write(buf)
	f.lastWrite = time.Now()
	whole := 0
	for whole < len(ends) && ends[whole] <= n {
		whole++
	}
	return whole, err
}

func (f *Forwarder) closeConn() {
	if f.conn != nil {
		f.conn.Close()
		f.conn, f.connTo = nil, ""
	}
}

// drop counts n lost messages and logs why, rate-limited.
func (f *Forwarder) drop(n int, why string, err error) {
	f.dropped.Add(int64(n))
	f.unreported.Add(int64(n))
	f.warnMu.Lock()
	defer f.warnMu.Unlock()
	if !f.lastWarn.IsZero() && time.Since(f.lastWarn) < f.opts.LogEvery {
		return
	}
	f.lastWarn = time.Now()
	args := []any{"reason", why, "dropped", f.unreported.Swap(0)}
	if err != nil {
		args = append(args, "err", err)
	}
	f.log.Warn("audit log forwarding failed; records dropped", args...)
}

// Format renders e as an RFC 5424 syslog message (without framing).
func Format(e store.AuditEntry, hostname string, pid int) []byte {
	sev, result := 6, "success"
	if !e.Success {
		sev, result = 4, "failure"
	}
	t := time.UnixMilli(e.OpTime)
	if e.OpTime == 0 {
		t = time.Now()
	}
	var b strings.Builder
	b.WriteString("<" + strconv.Itoa(13*8+sev) + ">1 ")
	b.WriteString(t.UTC().Format("2006-01-02T15:04:05.000Z") + " ")
	b.WriteString(header(hostname, 255) + " berth " + strconv.Itoa(pid) + " ")
	b.WriteString(header(e.Operation+"_"+e.ResourceType, 32) + " ")
	b.WriteString("[audit@32473")
	for _, kv := range [][2]string{
		{"operator", e.Username}, {"operation", e.Operation}, {"resource_type", e.ResourceType},
		{"resource", e.Resource}, {"project_id", strconv.FormatInt(e.ProjectID, 10)}, {"result", result},
	} {
		b.WriteString(" " + kv[0] + `="` + sdEscape(kv[1]) + `"`)
	}
	b.WriteString("]")
	if e.Description != "" {
		b.WriteString(" " + strings.ToValidUTF8(e.Description, "?"))
	}
	return []byte(b.String())
}

// header makes s a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most n characters, "-" when empty.
func header(s string, n int) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < n; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

var sdEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

func sdEscape(s string) string { return sdEscaper.Replace(strings.ToValidUTF8(s, "?")) }
