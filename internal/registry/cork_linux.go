package registry

import (
	"net"
	"syscall"
)

func cork(c *net.TCPConn) func() {
	raw, err := c.SyscallConn()
	if err != nil {
		return func() {}
	}
	set := func(v int) error {
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v) }); err != nil {
			return err
		}
		return serr
	}
	if set(1) != nil {
		return func() {}
	}
	return func() { set(0) }
}
