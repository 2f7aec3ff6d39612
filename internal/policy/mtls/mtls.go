// Package mtls is the mtls policy: the client certificate of the TLS
// connection is verified against the route's CA pool and one of its names
// (subject CN or a SAN) maps it to a consumer.
package mtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the mtls policy.
var Definition = policy.Definition{
	Name:  "mtls",
	Phase: policy.PhaseAuthenticate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "authenticates the TLS client certificate against a CA and maps its CN or SAN to a consumer",
}

// Challenge is the WWW-Authenticate value of this method. HTTP has no scheme
// for TLS client certificates; "Mutual" tells a human what is expected.
const Challenge = `Mutual realm="tollgate"`

// Config is the `mtls:` block of a route.
type Config struct {
	CA           string `yaml:"ca" json:"ca,omitempty"`         // path to a PEM bundle of trusted CAs
	CAPEM        string `yaml:"ca_pem" json:"ca_pem,omitempty"` // or the PEM itself
	ConsumerFrom string `yaml:"consumer_from" json:"consumer_from,omitempty"`
	ConsumerBy   string `yaml:"consumer_by" json:"consumer_by,omitempty"`
}

// Sources of the consumer name in a certificate.
const (
	FromSubjectCN = "subject_cn"
	FromSANDNS    = "san_dns"
	FromSANEmail  = "san_email"
	FromSANURI    = "san_uri"
)

// Validate reports every problem with the config (it does not read files).
func (c *Config) Validate() []error {
	var errs []error
	if (c.CA == "") == (c.CAPEM == "") {
		errs = append(errs, errors.New("mtls: set exactly one of ca (a PEM file) or ca_pem"))
	}
	switch c.ConsumerFrom {
	case "", FromSubjectCN, FromSANDNS, FromSANEmail, FromSANURI:
	default:
		errs = append(errs, fmt.Errorf("mtls: consumer_from must be subject_cn, san_dns, san_email or san_uri, not %q", c.ConsumerFrom))
	}
	if c.ConsumerBy != "" && c.ConsumerBy != "name" && c.ConsumerBy != "id" {
		errs = append(errs, fmt.Errorf("mtls: consumer_by must be name or id, not %q", c.ConsumerBy))
	}
	return errs
}

// Build loads the CA pool and renders the problems once.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errors.Join(errs...)
	}
	dir, ok := policy.Service[policy.Directory](env, "consumers")
	if !ok {
		return nil, errors.New("mtls: the consumer directory is not available")
	}
	pemBytes := []byte(c.CAPEM)
	if c.CA != "" {
		var err error
		if pemBytes, err = os.ReadFile(c.CA); err != nil {
			return nil, fmt.Errorf("mtls: reading ca: %w", err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("mtls: ca holds no PEM certificate")
	}
	from := c.ConsumerFrom
	if from == "" {
		from = FromSubjectCN
	}
	return &Authenticator{
		roots: pool, dir: dir, from: from, byID: c.ConsumerBy == "id",
		errNoName: invalid("the client certificate has no " + fieldNames[from] + " naming a consumer"),
		verified:  newVerifiedCache(),
	}, nil
}

var fieldNames = map[string]string{
	FromSubjectCN: "subject common name",
	FromSANDNS:    "DNS name",
	FromSANEmail:  "email address",
	FromSANURI:    "URI",
}

func invalid(detail string) *problem.Error { return problem.Unauthorized(Challenge, detail) }

var (
	errUntrusted = invalid("the client certificate is not issued by an authority this route trusts")
	errExpired   = invalid("the client certificate has expired or is not valid yet")
	errUsage     = invalid("the client certificate is not valid for client authentication")
	errInvalid   = invalid("the client certificate is not valid")
	errConsumer  = invalid("the client certificate's consumer is not known")
)
