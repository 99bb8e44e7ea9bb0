package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/internal/errs"
)

// Internal targets. Harbor delivers to any address, and so does Berth by
// default. With the system setting webhook_block_internal_targets on,
// a policy may not name a loopback, link-local (169.254.169.254, the
// cloud metadata service), private, shared (100.64.0.0/10), unspecified,
// broadcast or multicast address (CheckTarget, at create and update), and
// every delivery checks the address it actually connects to, after DNS
// resolution, in the dialer (so a name that resolves elsewhere later, DNS
// rebinding, cannot get around it); redirects are never followed, and
// deliveries do not go through an environment proxy while the block is on.

// errInternalTarget is what a blocked dial fails with.
var errInternalTarget = errors.New("the target resolves to an internal address, which this registry is configured to refuse")

var (
	sharedNet = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// InternalAddr reports whether a is an address a blocked target may not
// have: loopback, link-local, private, shared, unspecified, broadcast or
// multicast (IPv4-mapped IPv6 addresses as their IPv4 address).
func InternalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() ||
		sharedNet.Contains(a) || thisNet.Contains(a) || a == broadcast
}

// CheckTarget refuses (errs.Invalid) a target address whose host is an
// internal address, a localhost name, or a name that resolves to an
// internal address now. A name that does not resolve is accepted: the
// dialer checks every delivery's address anyway.
func CheckTarget(ctx context.Context, address string) error {
	const op = "webhook target"
	refuse := errs.E(errs.Invalid, op, "target address %q is internal (loopback, link-local, private or multicast), which this registry refuses (webhook_block_internal_targets)", redact(address))
	u, err := url.Parse(address)
	if err != nil {
		return errs.E(errs.Invalid, op, "target address is not a URL")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		if InternalAddr(a) {
			return refuse
		}
		return nil
	}
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return refuse
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if InternalAddr(a) {
			return refuse
		}
	}
	return nil
}

// refuseInternal is the dialer Control hook of blocked deliveries: it
// sees the address about to be connected to, after DNS resolution.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || InternalAddr(ap.Addr()) {
		return errInternalTarget
	}
	return nil
}
