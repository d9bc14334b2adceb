// Package dnstest runs a real DNS server in-process on loopback (UDP and TCP, on
// the same port) for tests: records are published and withdrawn while it runs, and
// Gatehouse's resolver is pointed at Addr (GATEHOUSE_DNS_RESOLVER).
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"gatehouse/models/dnscheck"
)

// Server is an authoritative DNS server for whatever names it is given.
type Server struct {
	Addr string // host:port on 127.0.0.1

	mu       sync.Mutex
	txt      map[string][]string // absolute lower-case name → values
	servfail bool
	queries  int
}

// New starts a server; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{txt: map[string][]string{}}
	pc, ln, err := listenBoth()
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// listenBoth listens on one loopback port for UDP and TCP. The port the system gives
// UDP may already be a TCP connection's own (the tests hold many: PostgreSQL, HTTP),
// so a taken port is given back and another tried.
func listenBoth() (net.PacketConn, net.Listener, error) {
	var err error
	for range 50 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
	}
	return nil, nil, err
}

func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// SetTXT publishes the TXT values of name (replacing any).
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[fqdn(name)] = values
}

// Remove withdraws every record of name.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txt, fqdn(name))
}

// Publish publishes Gatehouse's verification record of domain for token.
func (s *Server) Publish(domain, token string) {
	s.SetTXT(dnscheck.RecordName(domain), dnscheck.RecordValue(token))
}

// Withdraw removes Gatehouse's verification record of domain.
func (s *Server) Withdraw(domain string) { s.Remove(dnscheck.RecordName(domain)) }

// ServFail makes every answer SERVFAIL (a broken DNS) until called with false.
func (s *Server) ServFail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail = on
}

// Queries is how many questions the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS answers TXT questions from the table: NXDOMAIN for unknown names, an
// empty answer for other types.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if s.servfail {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	for _, q := range req.Question {
		values, ok := s.txt[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{v},
			})
		}
	}
	_ = w.WriteMsg(m)
}
