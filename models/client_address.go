package models

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads GATEHOUSE_TRUSTED_PROXIES: a comma- or space-separated list
// of CIDRs (a bare address is one host). Empty means no proxy is trusted.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR (like 10.0.0.0/8 or fd00::/8)", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or fd00::/8)", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ClientAddress is the address of the client a request comes from. remote is the
// peer of the TCP connection; forwardedFor are the X-Forwarded-For header values in
// order. The forwarded chain is believed only as far as it was written by trusted
// proxies: starting at the peer and walking the chain right to left, the first address
// that is not a trusted proxy is the client. With no trusted proxies (the default) the
// header is ignored, so nobody can pick the address their attempts are counted under.
func ClientAddress(remote netip.Addr, forwardedFor []string, trusted []netip.Prefix) netip.Addr {
	client := remote.Unmap()
	if !isTrusted(client, trusted) {
		return client
	}
	var hops []string
	for _, h := range forwardedFor {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client // a garbled hop: trust nothing before it
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			return client
		}
	}
	return client
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientKey is the key per-address rate limits count under: the IPv4 address, or the
// IPv6 /64 (one subscriber usually holds a whole /64, so counting single IPv6 addresses
// would let anyone rotate through 2^64 of them). Every per-address limiter uses it.
func ClientKey(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}

// ClientKeyOf is ClientKey of an address in text form; a key already made (or
// anything that is not an address) is returned unchanged.
func ClientKeyOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return ClientKey(a)
}
