package admin

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// liveConfig is the config of the running table (never nil).
func (s *Server) liveConfig() (*runtime.Table, *config.Config) {
	t := s.o.Table()
	if t == nil || t.Config == nil {
		return t, &config.Config{}
	}
	return t, t.Config
}

// serviceView is a service's config plus its targets' live health.
type serviceView struct {
	Name    string                  `json:"name"`
	Config  config.Service          `json:"config"`
	Targets []upstream.TargetStatus `json:"targets"`
	Healthy int                     `json:"healthy_targets"`
}

func (s *Server) serviceViews() []serviceView {
	_, cfg := s.liveConfig()
	var pools map[string]*upstream.Pool
	if s.o.Pools != nil {
		pools = s.o.Pools()
	}
	out := make([]serviceView, 0, len(cfg.Services))
	for _, svc := range cfg.Services {
		v := serviceView{Name: svc.Name, Config: svc, Targets: []upstream.TargetStatus{}}
		if p := pools[svc.Name]; p != nil {
			v.Targets = p.Snapshot()
		}
		for _, t := range v.Targets {
			if t.Healthy && t.Breaker != "open" && t.EjectedUntil.IsZero() {
				v.Healthy++
			}
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, newPage(s.serviceViews(), ""))
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	for _, v := range s.serviceViews() {
		if v.Name == name {
			return writeJSON(w, http.StatusOK, v)
		}
	}
	return notFound(fmt.Sprintf("no service named %q in the running config", name))
}

// routeView is a route's config (policies included) plus its compiled chain.
type routeView struct {
	Name     string                          `json:"name"`
	Service  string                          `json:"service,omitempty"`
	Config   config.Route                    `json:"config"`
	Policies map[string]any                  `json:"policies"`
	Chain    []runtime.ChainEntry            `json:"chain"`
	Versions map[string][]runtime.ChainEntry `json:"version_chains,omitempty"`
}

func (s *Server) routeViews() []routeView {
	t, cfg := s.liveConfig()
	compiled := map[string]*runtime.Route{}
	if t != nil {
		for _, rt := range t.Routes {
			compiled[rt.Info.Name] = rt
		}
	}
	out := make([]routeView, 0, len(cfg.Routes))
	for _, rc := range cfg.Routes {
		v := routeView{Name: rc.Name, Service: rc.Service, Config: rc, Policies: decodeNodes(rc.Policies), Chain: []runtime.ChainEntry{}}
		if rt := compiled[rc.Name]; rt != nil {
			v.Chain = nonNil(rt.Dump)
			v.Versions = versionChains(rt)
		}
		out = append(out, v)
	}
	return out
}

func versionChains(rt *runtime.Route) map[string][]runtime.ChainEntry {
	if len(rt.ByVersion) == 0 {
		return nil
	}
	m := make(map[string][]runtime.ChainEntry, len(rt.ByVersion))
	for v, vr := range rt.ByVersion {
		m[v] = nonNil(vr.Dump)
	}
	return m
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decodeNodes turns policy config nodes into plain values for JSON.
func decodeNodes(m map[string]yaml.Node) map[string]any {
	out := make(map[string]any, len(m))
	for k, n := range m {
		var v any
		if err := n.Decode(&v); err != nil || v == nil {
			v = map[string]any{}
		}
		out[k] = v
	}
	return out
}

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, newPage(s.routeViews(), ""))
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) error {
	v, err := s.findRoute(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) findRoute(name string) (*routeView, error) {
	for _, v := range s.routeViews() {
		if v.Name == name {
			return &v, nil
		}
	}
	return nil, notFound(fmt.Sprintf("no route named %q in the running config", name))
}

const maxOpenAPIFile = 20 << 20

// routeOpenAPI serves the document named by the route's openapi: field as
// the running revision carries it (attachments:), so every node serves the
// same one; a name not attached is read from disk, resolved against the
// config file's directory when relative.
func (s *Server) routeOpenAPI(w http.ResponseWriter, r *http.Request) error {
	v, err := s.findRoute(r.PathValue("name"))
	if err != nil {
		return err
	}
	if v.Config.OpenAPI == "" {
		return notFound(fmt.Sprintf("route %q has no OpenAPI document (set openapi: on the route)", v.Name))
	}
	b, err := s.routeSpec(v.Config.OpenAPI)
	if err != nil {
		s.o.Log.Warn("admin: route OpenAPI document unreadable", "route", v.Name, "err", err)
		return notFound(fmt.Sprintf("the OpenAPI document of route %q could not be read", v.Name))
	}
	w.Header().Set("Content-Type", specMediaType(v.Config.OpenAPI, b))
	_, _ = w.Write(b)
	return nil
}

func (s *Server) routeSpec(name string) ([]byte, error) {
	if _, cfg := s.liveConfig(); cfg.Attachments != nil {
		if b, ok := cfg.Attachments[name]; ok {
			return []byte(b), nil
		}
	}
	f, err := os.Open(s.resolveConfigPath(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxOpenAPIFile))
}

func (s *Server) resolveConfigPath(p string) string {
	_, cfg := s.liveConfig()
	if filepath.IsAbs(p) || cfg.Source == "" || cfg.Source == "admin" {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.Source), p)
}

func specMediaType(name string, b []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "application/json"
	case ".yaml", ".yml":
		return "application/yaml"
	}
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		return "application/json"
	}
	return "application/yaml"
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
	_, cfg := s.liveConfig()
	return writeJSON(w, http.StatusOK, newPage(cfg.Plans, ""))
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) error {
	_, cfg := s.liveConfig()
	name := r.PathValue("name")
	for _, p := range cfg.Plans {
		if p.Name == name {
			return writeJSON(w, http.StatusOK, p)
		}
	}
	return problem.NotFound(fmt.Sprintf("no plan named %q in the running config", name))
}

// sortedKeys is for stable rendering of maps in the UI.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
