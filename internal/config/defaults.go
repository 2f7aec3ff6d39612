package config

import "time"

// Documented defaults (docs/configuration.md, SPEC §2 and §8).
const (
	DefaultProxyListen  = ":8080"
	DefaultAdminListen  = "127.0.0.1:9080"
	DefaultPortalListen = ":8081"
	DefaultStore        = "sqlite://./tollgate-data/tollgate.db"
	DefaultCounters     = "memory://"

	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultReadTimeout          = 60 * time.Second
	DefaultIdleTimeout          = 90 * time.Second
	DefaultShutdownTimeout      = 30 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxHeaders           = 100
	DefaultMaxBodyBytes         = 10 << 20
	DefaultMaxConcurrentStreams = 100
)

// Defaults fills zero fields with the documented defaults. It is idempotent;
// Parse already calls it. Service-level defaults (retries, timeouts, pool
// sizes) are left to the upstream package, which owns their meaning.
func (c *Config) Defaults() {
	setDefault(&c.Listen.Proxy, DefaultProxyListen)
	setDefault(&c.Listen.Admin, DefaultAdminListen)
	if !c.Listen.portalSet {
		setDefault(&c.Listen.Portal, DefaultPortalListen)
	}
	setDefault(&c.Store, DefaultStore)
	setDefault(&c.Counters, DefaultCounters)
	if c.TrustedProxies == nil {
		c.TrustedProxies = []string{}
	}
	c.Server.defaults()
}

func (s *Server) defaults() {
	setDefault(&s.ReadHeaderTimeout, Duration(DefaultReadHeaderTimeout))
	setDefault(&s.ReadTimeout, Duration(DefaultReadTimeout))
	setDefault(&s.IdleTimeout, Duration(DefaultIdleTimeout))
	setDefault(&s.ShutdownTimeout, Duration(DefaultShutdownTimeout))
	setDefault(&s.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&s.MaxHeaders, DefaultMaxHeaders)
	setDefault(&s.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&s.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
