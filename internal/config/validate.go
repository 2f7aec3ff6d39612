package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/counters"
)

// validator runs the semantic checks; every problem is collected.
type validator struct {
	c *Config
	p *problems
}

// validate checks the decoded (and defaulted) document as a whole.
func validate(c *Config, p *problems) {
	v := &validator{c: c, p: p}
	v.listeners()
	v.storage()
	v.trustedProxies()
	v.tls()
	v.server()
	v.accessLog()
	v.telemetry()
	services := v.services()
	v.routes(services)
	v.conflicts()
	plans := v.plans()
	v.consumers(plans)
}

func (v *validator) listeners() {
	l := v.c.Listen
	checkAddr(v.p, "listen.proxy", l.Proxy)
	checkAddr(v.p, "listen.admin", l.Admin)
	if l.Portal != "" {
		checkAddr(v.p, "listen.portal", l.Portal)
	}
	if l.TLS != "" {
		checkAddr(v.p, "listen.tls", l.TLS)
		if v.c.TLS == nil {
			v.p.at("listen.tls", "a TLS listener needs certificates", "add tls: {cert: FILE, key: FILE}")
		}
	}
	if host, _, err := net.SplitHostPort(l.Admin); err == nil && !isLoopback(host) && v.c.Admin.Token == "" {
		v.p.at("listen.admin", "admin listener on non-loopback address "+quote(l.Admin)+" without admin.token", "set admin.token or bind 127.0.0.1")
	}
}

// checkAddr requires host:port with a numeric port.
func checkAddr(p *problems, path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
	}
	if err != nil {
		p.at(path, "invalid listen address "+quote(addr)+": "+strings.TrimPrefix(err.Error(), "address "+addr+": "), `write host:port, e.g. ":8080" or "127.0.0.1:9080"`)
	}
}

// isLoopback: only an explicit loopback IP or "localhost" keeps the admin API private.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (v *validator) storage() {
	checkScheme(v.p, "store", v.c.Store, "sqlite", "postgres", "postgresql")
	checkScheme(v.p, "counters", v.c.Counters, "memory", "redis", "rediss")
	v.countersPrefix()
}

// countersPrefix refuses a Redis key prefix the counters driver would refuse
// at start (braces break its Cluster hash tags), with the config's line.
func (v *validator) countersPrefix() {
	u, err := url.Parse(v.c.Counters)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return
	}
	if q := u.Query(); q.Has("prefix") {
		if err := counters.CheckPrefix(q.Get("prefix")); err != nil {
			v.p.at("counters", err.Error(), "")
		}
	}
}

func checkScheme(p *problems, path, raw string, schemes ...string) {
	u, err := url.Parse(raw)
	if err == nil {
		for _, s := range schemes {
			if u.Scheme == s {
				return
			}
		}
	}
	p.at(path, "unsupported "+path+" URL "+quote(raw), "use one of "+strings.Join(schemes, "://, ")+"://")
}

func (v *validator) trustedProxies() {
	for i, s := range v.c.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		v.p.at(fmt.Sprintf("trusted_proxies[%d]", i), "not an IP address or CIDR: "+quote(s), `write "10.0.0.0/8" or "127.0.0.1"`)
	}
}

func (v *validator) tls() {
	t := v.c.TLS
	if t == nil {
		return
	}
	if (t.Cert == "") != (t.Key == "") {
		v.p.at("tls", "tls.cert and tls.key go together", "set both cert and key, or neither")
	}
	if t.ClientCA != "" && t.Cert == "" {
		v.p.at("tls.client_ca", "client certificate checks need a server certificate", "set tls.cert and tls.key")
	}
}

func (v *validator) server() {
	s := v.c.Server
	for _, d := range []struct {
		name string
		val  Duration
	}{{"read_header_timeout", s.ReadHeaderTimeout}, {"read_timeout", s.ReadTimeout}, {"idle_timeout", s.IdleTimeout}, {"write_timeout", s.WriteTimeout}, {"shutdown_timeout", s.ShutdownTimeout}} {
		nonNegative(v.p, "server."+d.name, d.val)
	}
	for _, n := range []struct {
		name string
		val  int64
	}{{"max_header_bytes", int64(s.MaxHeaderBytes)}, {"max_headers", int64(s.MaxHeaders)}, {"max_body_bytes", s.MaxBodyBytes}} {
		if n.val < 0 {
			v.p.at("server."+n.name, "must not be negative", "")
		}
	}
}

func nonNegative(p *problems, path string, d Duration) {
	if d < 0 {
		p.at(path, "duration must not be negative", "")
	}
}

func positive(p *problems, path string, d Duration) {
	if d <= 0 {
		p.at(path, "duration must be greater than 0", `e.g. "5s"`)
	}
}

// AccessLogFields are the names access_log.fields may list.
var AccessLogFields = []string{
	"time", "request_id", "client_ip", "method", "host", "path", "query", "protocol",
	"status", "duration_ms", "bytes_in", "bytes_out", "route", "service", "version",
	"consumer_id", "consumer", "plan", "upstream", "upstream_status", "upstream_duration_ms",
	"user_agent", "referer", "error",
}

func (v *validator) accessLog() {
	a := v.c.AccessLog
	for i, f := range a.Fields {
		if !contains(AccessLogFields, f) {
			v.p.at(fmt.Sprintf("access_log.fields[%d]", i), "unknown access log field "+quote(f), suggest(f, AccessLogFields))
		}
	}
	if a.MaxSizeMB < 0 || a.MaxFiles < 0 {
		v.p.at("access_log", "max_size_mb and max_files must not be negative", "")
	}
}

func (v *validator) telemetry() {
	t := v.c.Telemetry
	if r := t.Tracing.SampleRatio; r < 0 || r > 1 {
		v.p.at("telemetry.tracing.sample_ratio", "must be between 0 and 1", "")
	}
	if e := t.Tracing.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.p.at("telemetry.tracing.otlp_endpoint", "not an http(s) URL: "+quote(e), `e.g. "http://127.0.0.1:4318"`)
		}
	}
	if t.Usage.QueueSize < 0 {
		v.p.at("telemetry.usage.queue_size", "must not be negative", "")
	}
}

// names checks required, unique names and returns the set of them.
func (v *validator) names(kind string, n int, name func(i int) string) map[string]bool {
	set := map[string]bool{}
	first := map[string]int{}
	for i := range n {
		path := fmt.Sprintf("%s[%d]", kind, i)
		nm := name(i)
		switch {
		case nm == "":
			v.p.at(path+".name", "name is required", "give every entry a unique name")
		case set[nm]:
			v.p.at(path+".name", fmt.Sprintf("duplicate name %s (also %s[%d])", quote(nm), kind, first[nm]), "names must be unique")
		default:
			set[nm], first[nm] = true, i
		}
	}
	return set
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
