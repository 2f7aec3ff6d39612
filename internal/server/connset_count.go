package server

// OpenConns reports how many accepted client connections the server holds
// as open: being sniffed or TLS-handshaken, served by an HTTP/1.1 front end
// or by the HTTP/2 one. Hijacked connections (HijackedConns) are not
// counted. Tests read it to find connections the set would leak.
func (s *Server) OpenConns() int {
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	return len(s.conns.open)
}

// HijackedConns reports how many hijacked connections (WebSockets spliced
// to their upstream) the server still holds. Nothing reports when one
// closes: a closed one is dropped by the next sweep, which runs when their
// number doubles (at 64 at the least). Tests read it.
func (s *Server) HijackedConns() int {
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	return len(s.conns.hijack)
}
