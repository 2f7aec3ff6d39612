// Package config is the wire schema of tollgate's declarative config: strict
// decoding, ${ENV} expansion, defaults and validation with file:line.
// Field names under SPEC §3 are a stable contract: never rename them.
package config

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Config is one whole config document.
type Config struct {
	Listen         Listen               `yaml:"listen" json:"listen"`
	Admin          Admin                `yaml:"admin" json:"admin"`
	Store          string               `yaml:"store" json:"store"`
	Counters       string               `yaml:"counters" json:"counters"`
	TrustedProxies []string             `yaml:"trusted_proxies" json:"trusted_proxies"`
	TLS            *TLS                 `yaml:"tls" json:"tls,omitempty"`
	Server         Server               `yaml:"server" json:"server"`
	AccessLog      AccessLog            `yaml:"access_log" json:"access_log"`
	Services       []Service            `yaml:"services" json:"services"`
	Routes         []Route              `yaml:"routes" json:"routes"`
	Plans          []Plan               `yaml:"plans" json:"plans"`
	Consumers      []Consumer           `yaml:"consumers" json:"consumers"`
	Telemetry      Telemetry            `yaml:"telemetry" json:"telemetry"`
	Extensions     map[string]yaml.Node `yaml:"x" json:"-"` // free-form, ignored by the gateway

	// Attachments carry the files the document names (routes' openapi:, the
	// spec: of validate_request and mock), keyed by the name as written, so
	// a revision is self-contained: every node, and a rollback, serves the
	// content that was applied, not whatever is on its disk. Filled by
	// controlplane.Attach; never ${ENV}-expanded.
	Attachments map[string]string `yaml:"attachments,omitempty" json:"attachments,omitempty"`

	// Source is where the document came from (file path or "admin"); not part of the document.
	Source string `yaml:"-" json:"-"`
}

// Listen holds listener addresses. Listeners are static: changing them needs a restart.
type Listen struct {
	Proxy  string `yaml:"proxy" json:"proxy"`   // default ":8080"
	Admin  string `yaml:"admin" json:"admin"`   // default "127.0.0.1:9080"
	Portal string `yaml:"portal" json:"portal"` // default ":8081"; "" disables
	TLS    string `yaml:"tls" json:"tls"`       // TLS proxy listener, e.g. ":8443" (needs tls:)

	// portalSet records that the document wrote listen.portal, so that an
	// explicit "" means "disabled" rather than "use the default".
	portalSet bool
}

// Admin configures the admin API.
type Admin struct {
	Token string `yaml:"token" json:"-"`
}

// TLS configures the proxy's TLS listener and client certificate checks.
type TLS struct {
	Cert     string `yaml:"cert" json:"cert"`
	Key      string `yaml:"key" json:"key"`
	ClientCA string `yaml:"client_ca" json:"client_ca,omitempty"` // PEM file; enables mTLS verification
}

// Server holds the edge's secure defaults (SPEC §8).
type Server struct {
	ReadHeaderTimeout      Duration `yaml:"read_header_timeout" json:"read_header_timeout"`       // 10s
	ReadTimeout            Duration `yaml:"read_timeout" json:"read_timeout"`                     // 60s
	IdleTimeout            Duration `yaml:"idle_timeout" json:"idle_timeout"`                     // 90s
	WriteTimeout           Duration `yaml:"write_timeout" json:"write_timeout"`                   // 0 (streaming)
	MaxHeaderBytes         int      `yaml:"max_header_bytes" json:"max_header_bytes"`             // 64 KiB
	MaxHeaders             int      `yaml:"max_headers" json:"max_headers"`                       // 100
	MaxBodyBytes           int64    `yaml:"max_body_bytes" json:"max_body_bytes"`                 // 10 MiB
	ShutdownTimeout        Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`             // 30s
	MaxConcurrentStreams   uint32   `yaml:"max_concurrent_streams" json:"max_concurrent_streams"` // 100
	AllowUnderscoreHeaders bool     `yaml:"allow_underscore_headers" json:"allow_underscore_headers"`
}

// AccessLog configures the structured per-request log (off by default).
type AccessLog struct {
	Enabled   bool     `yaml:"enabled" json:"enabled"`
	Path      string   `yaml:"path" json:"path"` // "" or "stdout" = standard output
	Fields    []string `yaml:"fields" json:"fields,omitempty"`
	MaxSizeMB int      `yaml:"max_size_mb" json:"max_size_mb,omitempty"` // rotation
	MaxFiles  int      `yaml:"max_files" json:"max_files,omitempty"`
}

// Telemetry configures tracing and the usage pipeline.
type Telemetry struct {
	Tracing Tracing `yaml:"tracing" json:"tracing"`
	Usage   Usage   `yaml:"usage" json:"usage"`
}

type Tracing struct {
	OTLPEndpoint string  `yaml:"otlp_endpoint" json:"otlp_endpoint,omitempty"` // http(s)://host:4318; "" = off
	SampleRatio  float64 `yaml:"sample_ratio" json:"sample_ratio"`
	ServiceName  string  `yaml:"service_name" json:"service_name,omitempty"`
}

type Usage struct {
	Disabled  bool `yaml:"disabled" json:"disabled"`
	QueueSize int  `yaml:"queue_size" json:"queue_size,omitempty"`
}

// Service is an upstream service: a pool of targets.
type Service struct {
	Name               string   `yaml:"name" json:"name"`
	Targets            []Target `yaml:"targets" json:"targets"`
	Protocol           string   `yaml:"protocol" json:"protocol,omitempty"` // http (default) | h2c | h2 (TLS)
	Balance            string   `yaml:"balance" json:"balance,omitempty"`   // round_robin | weighted | least_conn | consistent_hash
	HashBy             string   `yaml:"hash_by" json:"hash_by,omitempty"`   // consistent_hash key: "client_ip" or "header:X-Name"
	Health             *Health  `yaml:"health" json:"health,omitempty"`
	Passive            *Passive `yaml:"passive" json:"passive,omitempty"`
	Breaker            *Breaker `yaml:"breaker" json:"breaker,omitempty"`
	Timeouts           Timeouts `yaml:"timeouts" json:"timeouts"`
	Retries            *int     `yaml:"retries" json:"retries,omitempty"` // default 1; idempotent only
	RetryNonIdempotent bool     `yaml:"retry_non_idempotent" json:"retry_non_idempotent,omitempty"`
	MaxConnsPerTarget  int      `yaml:"max_conns_per_target" json:"max_conns_per_target,omitempty"` // default 512
	TLSSkipVerify      bool     `yaml:"tls_skip_verify" json:"tls_skip_verify,omitempty"`
	Line               int      `yaml:"-" json:"-"`
}

// Target is one upstream address. In YAML it is either a URL string or
// {url, weight}.
type Target struct {
	URL    string `yaml:"url" json:"url"`
	Weight int    `yaml:"weight" json:"weight,omitempty"`
}

// UnmarshalYAML accepts "http://host:port" or {url:, weight:}.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		t.URL, t.Weight = n.Value, 1
		return nil
	}
	type plain Target
	p := plain{Weight: 1} // like the string form; an explicit weight: 0 drains the target
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Target(p)
	return nil
}

// Health configures active health checks.
type Health struct {
	Path               string   `yaml:"path" json:"path"`
	Interval           Duration `yaml:"interval" json:"interval"`
	Timeout            Duration `yaml:"timeout" json:"timeout,omitempty"`
	HealthyThreshold   int      `yaml:"healthy_threshold" json:"healthy_threshold,omitempty"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold" json:"unhealthy_threshold,omitempty"`
	ExpectStatus       []int    `yaml:"expect_status" json:"expect_status,omitempty"` // default 200-399
}

// Passive configures ejection of targets that fail real requests.
type Passive struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures" json:"consecutive_failures"` // default 5
	EjectFor            Duration `yaml:"eject_for" json:"eject_for"`                       // default 30s
}

// Breaker configures the per-target circuit breaker.
type Breaker struct {
	FailureRatio float64  `yaml:"failure_ratio" json:"failure_ratio"` // default 0.5
	MinRequests  int      `yaml:"min_requests" json:"min_requests"`   // default 20
	Window       Duration `yaml:"window" json:"window"`               // default 10s
	OpenFor      Duration `yaml:"open_for" json:"open_for"`           // default 15s
}

type Timeouts struct {
	Connect  Duration `yaml:"connect" json:"connect"`     // default 2s -> 502
	Response Duration `yaml:"response" json:"response"`   // default 30s (time to response headers) -> 504
	Idle     Duration `yaml:"idle" json:"idle,omitempty"` // pooled connection idle, default 60s
}

// Route maps matched requests to a service through a policy chain.
type Route struct {
	Name         string               `yaml:"name" json:"name"`
	Service      string               `yaml:"service" json:"service,omitempty"`
	Match        Match                `yaml:"match" json:"match"`
	StripPrefix  string               `yaml:"strip_prefix" json:"strip_prefix,omitempty"`
	Rewrite      string               `yaml:"rewrite" json:"rewrite,omitempty"` // e.g. /internal/{id}
	PreserveHost bool                 `yaml:"preserve_host" json:"preserve_host,omitempty"`
	Policies     map[string]yaml.Node `yaml:"policies" json:"-"`
	Versions     *Versions            `yaml:"versions" json:"versions,omitempty"`
	OpenAPI      string               `yaml:"openapi" json:"openapi,omitempty"` // path to the route's OpenAPI document
	Line         int                  `yaml:"-" json:"-"`

	// PolicyConfigs are the Policies entries decoded and validated by the
	// loader (Parse), keyed like Policies.
	PolicyConfigs map[string]policy.Config `yaml:"-" json:"-"`
}

// Match selects requests. Empty lists match anything.
type Match struct {
	Hosts   []string          `yaml:"hosts" json:"hosts,omitempty"`
	Paths   []string          `yaml:"paths" json:"paths,omitempty"`
	Methods []string          `yaml:"methods" json:"methods,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"` // exact value, or "*" for presence
}

// Versions routes one path space to several API versions (issue #5).
type Versions struct {
	From    string             `yaml:"from" json:"from"` // path | header | query | media_type
	Header  string             `yaml:"header" json:"header,omitempty"`
	Param   string             `yaml:"param" json:"param,omitempty"`
	Default string             `yaml:"default" json:"default,omitempty"`
	List    map[string]Version `yaml:"list" json:"list"`
}

type Version struct {
	Service    string               `yaml:"service" json:"service,omitempty"`
	Policies   map[string]yaml.Node `yaml:"policies" json:"-"`
	Deprecated *Deprecation         `yaml:"deprecated" json:"deprecated,omitempty"`

	// PolicyConfigs are the Policies entries decoded and validated by the
	// loader (Parse), keyed like Policies.
	PolicyConfigs map[string]policy.Config `yaml:"-" json:"-"`
}

type Deprecation struct {
	Since  string `yaml:"since" json:"since,omitempty"`   // date the version was deprecated
	Sunset string `yaml:"sunset" json:"sunset,omitempty"` // YYYY-MM-DD or RFC 3339; 410 after
	Link   string `yaml:"link" json:"link,omitempty"`
}

// Plan is a commercial plan: default limits and prices.
type Plan struct {
	Name      string     `yaml:"name" json:"name"`
	RateLimit *PlanLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	Quota     *PlanQuota `yaml:"quota" json:"quota,omitempty"`
	Price     *Price     `yaml:"price" json:"price,omitempty"`
	Public    *bool      `yaml:"public" json:"public,omitempty"` // offered in the portal (default true)
	Line      int        `yaml:"-" json:"-"`
}

type PlanLimit struct {
	Limit  int64    `yaml:"limit" json:"limit"`
	Window Duration `yaml:"window" json:"window"`
}

type PlanQuota struct {
	Limit    int64  `yaml:"limit" json:"limit"`
	Period   string `yaml:"period" json:"period"` // day | month
	Timezone string `yaml:"timezone" json:"timezone,omitempty"`
}

type Price struct {
	Currency        string  `yaml:"currency" json:"currency"`
	Monthly         float64 `yaml:"monthly" json:"monthly"`
	Per1000Requests float64 `yaml:"per_1000_requests" json:"per_1000_requests"`
}

// Consumer is a seed consumer created at start if missing.
type Consumer struct {
	Name     string            `yaml:"name" json:"name"`
	Plan     string            `yaml:"plan" json:"plan,omitempty"`
	Groups   []string          `yaml:"groups" json:"groups,omitempty"`
	Metadata map[string]string `yaml:"metadata" json:"metadata,omitempty"`
	Line     int               `yaml:"-" json:"-"`
}

// Duration is a time.Duration written as "5s", "1m30s".
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &FieldError{Line: n.Line, Msg: "invalid duration " + quote(n.Value), Hint: `write a Go duration like "500ms", "5s" or "1m"`}
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error)    { return time.Duration(d).String(), nil }
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
