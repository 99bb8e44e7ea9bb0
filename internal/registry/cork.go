package registry

import (
	"context"
	"net"
)

// Large blob responses are corked (TCP_CORK on Linux, as nginx's
// tcp_nopush): the headers and the body leave in full segments instead of
// a short packet for the headers and for each write's tail. Small answers
// are never corked, and the cork is pulled when the blob is sent, so
// nothing waits for the kernel's 200 ms cork timeout.

// corkMin is the smallest blob whose response is corked.
const corkMin = 1 << 20

type connKey struct{}

// ConnContext is an http.Server ConnContext that keeps each request's
// connection where getBlob can cork it.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// corked corks the request's TCP connection, if ctx has one (ConnContext)
// and the platform can, and returns the function that pulls the cork.
func corked(ctx context.Context) func() {
	c, ok := ctx.Value(connKey{}).(*net.TCPConn)
	if !ok {
		return func() {} // TLS, or a server without ConnContext
	}
	return cork(c)
}
