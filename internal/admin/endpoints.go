package admin

import (
	"net/http"
	"strings"
)

// endpoint is one admin route: how it is served and how it is documented.
type endpoint struct {
	Method, Path string
	Tag          string
	Summary      string
	Auth         authKind
	Handle       handlerFunc
	Query        []string // documented query parameters
	Body         string   // request schema name in components ("" none)
	Status       int      // success status
	Result       string   // response schema name, or a media type containing "/"
}

// endpoints is the one list of admin routes: the mux, the auth rules and
// GET /openapi.json are all built from it.
func (s *Server) endpoints() []endpoint {
	eps := []endpoint{
		{Method: "GET", Path: "/status", Tag: "status", Summary: "Version, uptime, config revision and component health", Handle: s.status, Status: 200, Result: "Status"},
		{Method: "GET", Path: "/openapi.json", Tag: "status", Summary: "This API's OpenAPI 3.1 document", Handle: s.openAPI, Status: 200, Result: "application/json"},

		{Method: "GET", Path: "/config", Tag: "config", Summary: "Current config document (YAML; JSON with Accept: application/json)", Handle: s.getConfig, Status: 200, Result: "application/yaml"},
		{Method: "PUT", Path: "/config", Tag: "config", Summary: "Apply a new config document (YAML or JSON); If-Match guards against lost updates", Handle: s.putConfig, Body: "ConfigDocument", Status: 200, Result: "ApplyResult"},
		{Method: "GET", Path: "/config/revisions", Tag: "config", Summary: "Config revisions, newest first", Handle: s.listRevisions, Query: []string{"limit", "cursor"}, Status: 200, Result: "RevisionPage"},
		{Method: "GET", Path: "/config/revisions/{n}", Tag: "config", Summary: "One config revision with its document", Handle: s.getRevision, Status: 200, Result: "Revision"},
		{Method: "POST", Path: "/config/revisions/{n}/rollback", Tag: "config", Summary: "Make revision n's document current again (as a new revision)", Handle: s.rollback, Status: 200, Result: "RollbackResult"},

		{Method: "GET", Path: "/services", Tag: "config", Summary: "Services of the running config with target health", Handle: s.listServices, Status: 200, Result: "ServicePage"},
		{Method: "GET", Path: "/services/{name}", Tag: "config", Summary: "One service with target health", Handle: s.getService, Status: 200, Result: "Service"},
		{Method: "GET", Path: "/routes", Tag: "config", Summary: "Routes of the running config with their compiled chains", Handle: s.listRoutes, Status: 200, Result: "RoutePage"},
		{Method: "GET", Path: "/routes/{name}", Tag: "config", Summary: "One route with its compiled chain", Handle: s.getRoute, Status: 200, Result: "Route"},
		{Method: "GET", Path: "/routes/{name}/openapi", Tag: "config", Summary: "The OpenAPI document named by the route's openapi: field", Handle: s.routeOpenAPI, Status: 200, Result: "application/yaml"},
		{Method: "GET", Path: "/plans", Tag: "config", Summary: "Plans of the running config", Handle: s.listPlans, Status: 200, Result: "PlanPage"},
		{Method: "GET", Path: "/plans/{name}", Tag: "config", Summary: "One plan", Handle: s.getPlan, Status: 200, Result: "Plan"},

		{Method: "GET", Path: "/consumers", Tag: "consumers", Summary: "Consumers, by name", Handle: s.listConsumers, Query: []string{"limit", "cursor"}, Status: 200, Result: "ConsumerPage"},
		{Method: "POST", Path: "/consumers", Tag: "consumers", Summary: "Create a consumer", Handle: s.createConsumer, Body: "ConsumerInput", Status: 201, Result: "Consumer"},
		{Method: "GET", Path: "/consumers/{id}", Tag: "consumers", Summary: "One consumer (id or name); ETag for PATCH", Handle: s.getConsumer, Status: 200, Result: "Consumer"},
		{Method: "PATCH", Path: "/consumers/{id}", Tag: "consumers", Summary: "Change a consumer's fields; If-Match guards against lost updates", Handle: s.patchConsumer, Body: "ConsumerPatch", Status: 200, Result: "Consumer"},
		{Method: "DELETE", Path: "/consumers/{id}", Tag: "consumers", Summary: "Delete a consumer with its keys and credentials", Handle: s.deleteConsumer, Status: 204},
		{Method: "GET", Path: "/consumers/{id}/keys", Tag: "keys", Summary: "A consumer's keys, newest first (never the plaintext)", Handle: s.listKeys, Status: 200, Result: "KeyPage"},
		{Method: "POST", Path: "/consumers/{id}/keys", Tag: "keys", Summary: "Create a key; the plaintext appears in this response only", Handle: s.createKey, Body: "KeyInput", Status: 201, Result: "NewKey"},
		{Method: "DELETE", Path: "/consumers/{id}/keys/{key_id}", Tag: "keys", Summary: "Revoke a key", Handle: s.revokeKey, Status: 204},
		{Method: "POST", Path: "/consumers/{id}/keys/{key_id}/rotate", Tag: "keys", Summary: "Replace a key; the old one keeps working for the overlap", Handle: s.rotateKey, Body: "RotateInput", Status: 201, Result: "NewKey"},
		{Method: "PUT", Path: "/consumers/{id}/basic_auth", Tag: "consumers", Summary: "Set the consumer's basic-auth username and password", Handle: s.putBasicAuth, Body: "BasicAuthInput", Status: 204},
		{Method: "DELETE", Path: "/consumers/{id}/basic_auth", Tag: "consumers", Summary: "Remove the consumer's basic-auth credential", Handle: s.deleteBasicAuth, Status: 204},

		{Method: "GET", Path: "/audit", Tag: "audit", Summary: "Audit log of admin changes, newest first", Handle: s.listAudit, Query: []string{"limit", "cursor"}, Status: 200, Result: "AuditPage"},

		{Method: "GET", Path: "/ui", Tag: "ui", Summary: "Admin dashboard (HTML)", Auth: authSession, Handle: s.dashboard, Status: 200, Result: "text/html"},
		{Method: "GET", Path: "/ui/login", Tag: "ui", Summary: "Login page (HTML)", Auth: authPublic, Handle: s.loginPage, Status: 200, Result: "text/html"},
		{Method: "POST", Path: "/ui/login", Tag: "ui", Summary: "Log in with the admin token (form post); sets the session cookie", Auth: authPublic, Handle: s.login, Body: "LoginForm", Status: 303},
		{Method: "POST", Path: "/ui/logout", Tag: "ui", Summary: "Log out (form post)", Auth: authPublic, Handle: s.logout, Body: "LogoutForm", Status: 303},
		{Method: "GET", Path: "/ui/static/admin.css", Tag: "ui", Summary: "Dashboard stylesheet", Auth: authPublic, Handle: serveCSS, Status: 200, Result: "text/css"},
	}
	return append(eps, s.extraEndpoints()...)
}

// extraEndpoints mounts the integrator's handlers with the auth rule their
// path implies.
func (s *Server) extraEndpoints() []endpoint {
	var out []endpoint
	for _, pattern := range sortedKeys(s.o.Extra) {
		h := s.o.Extra[pattern]
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "GET", pattern
		}
		ep := endpoint{Method: method, Path: path, Tag: "extra", Summary: "Mounted by the gateway: " + pattern, Status: 200, Result: "application/json",
			Handle: func(w http.ResponseWriter, r *http.Request) error { h.ServeHTTP(w, r); return nil }}
		switch {
		case path == "/metrics":
			ep.Auth, ep.Result = authMetrics, "text/plain"
		case path == "/ui" || strings.HasPrefix(path, "/ui/"):
			ep.Auth, ep.Tag, ep.Result = authSession, "ui", "text/html"
		}
		out = append(out, ep)
	}
	return out
}

// pathsOf groups endpoints by path in table order (for the OpenAPI document).
func pathsOf(eps []endpoint) []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range eps {
		if !seen[ep.Path] {
			seen[ep.Path] = true
			out = append(out, ep.Path)
		}
	}
	return out
}
