package app

// ServerConns is the server's connection set as tests outside the package
// see it: open (non-hijacked) and hijacked connections (server.Server's
// OpenConns, HijackedConns).
func ServerConns(a *App) (open, hijacked int) {
	return a.srv.OpenConns(), a.srv.HijackedConns()
}
