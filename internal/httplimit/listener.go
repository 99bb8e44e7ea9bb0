package httplimit

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimits bounds the connections a listener holds open.
type ConnLimits struct {
	// Max is the most connections held at once; 0 or less: no bound.
	Max int
	// PerClient is the most held for one client address (an IPv6 client by
	// its /64); 0 or less: no bound.
	PerClient int
	// Logger reports refusals, at most once a minute.
	Logger *slog.Logger
}

// Listen returns ln holding at most the connections lim allows. A
// connection beyond them is accepted and closed at once with a reset: it
// costs a file descriptor for a moment, never while it waits, and its
// client learns at once instead of timing out in the accept queue.
func Listen(ln net.Listener, lim ConnLimits) net.Listener {
	if lim.Max <= 0 && lim.PerClient <= 0 {
		return ln
	}
	if lim.Logger == nil {
		lim.Logger = slog.Default()
	}
	return &listener{Listener: ln, lim: lim, byClient: map[netip.Prefix]int{}}
}

type listener struct {
	net.Listener
	lim ConnLimits

	mu       sync.Mutex
	open     int
	byClient map[netip.Prefix]int

	refused  atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		full := l.lim.Max > 0 && l.open >= l.lim.Max
		mine := l.lim.PerClient > 0 && l.byClient[key] >= l.lim.PerClient
		if !full && !mine {
			l.open++
			l.byClient[key]++
			l.mu.Unlock()
			return &conn{Conn: c, l: l, key: key}, nil
		}
		l.mu.Unlock()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset: the socket is gone at once, no TIME_WAIT
		}
		c.Close()
		l.warn(key, full)
	}
}

func (l *listener) warn(key netip.Prefix, full bool) {
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(time.Minute) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	reason := "per-client connection limit"
	if full {
		reason = "connection limit"
	}
	l.lim.Logger.Warn("refusing connections", "reason", reason, "client", key.String(),
		"max_connections", l.lim.Max, "max_connections_per_client", l.lim.PerClient, "refused_so_far", n)
}

func (l *listener) release(key netip.Prefix) {
	l.mu.Lock()
	l.open--
	if l.byClient[key]--; l.byClient[key] <= 0 {
		delete(l.byClient, key)
	}
	l.mu.Unlock()
}

// clientKey is the address a client is counted under: its IPv4 address,
// or the /64 of its IPv6 address (one host usually holds a whole /64).
func clientKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

type conn struct {
	net.Conn
	l    *listener
	key  netip.Prefix
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// ReadFrom lets net/http send files with sendfile(2) through the held
// connection, as it does through a bare *net.TCPConn.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Unwrap returns the connection a held connection wraps (c itself for any
// other), for code that works on the socket (registry.ConnContext's cork).
func Unwrap(c net.Conn) net.Conn {
	if hc, ok := c.(*conn); ok {
		return hc.Conn
	}
	return c
}
