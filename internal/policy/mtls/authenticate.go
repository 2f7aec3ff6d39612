package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Authenticator verifies client certificates.
type Authenticator struct {
	roots     *x509.CertPool
	dir       policy.Directory
	from      string
	byID      bool
	errNoName *problem.Error
	verified  *verifiedCache
}

// Challenge is the WWW-Authenticate value.
func (a *Authenticator) Challenge() string { return Challenge }

// Authenticate returns the consumer of the connection's client certificate,
// ErrNoCredentials when the client sent none, or a 401 problem.
func (a *Authenticator) Authenticate(ex policy.Exchange) (*policy.Consumer, error) {
	st := ex.TLS()
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil, policy.ErrNoCredentials
	}
	chain := st.PeerCertificates
	if err := a.verify(chain, ex.Now()); err != nil {
		return nil, err
	}
	names := a.names(chain[0])
	if len(names) == 0 {
		return nil, a.errNoName
	}
	for _, n := range names { // the first name that is a consumer wins
		if c, ok := a.lookup(n); ok {
			return c, nil
		}
	}
	return nil, errConsumer
}

// verify checks the chain against the route's CAs for client authentication.
// A chain that verified is remembered until its earliest expiry, so a
// keep-alive connection does not pay for signature checks on every request.
func (a *Authenticator) verify(chain []*x509.Certificate, now time.Time) error {
	id := chainID(chain)
	if a.verified.valid(id, now) {
		return nil
	}
	opts := x509.VerifyOptions{
		Roots:         a.roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := chain[0].Verify(opts)
	if err != nil {
		return verifyReason(err)
	}
	a.verified.add(id, earliestExpiry(chains[0]))
	return nil
}

func verifyReason(err error) error {
	var invalidErr x509.CertificateInvalidError
	var authErr x509.UnknownAuthorityError
	switch {
	case errors.As(err, &authErr):
		return errUntrusted
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.Expired:
		return errExpired
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.IncompatibleUsage:
		return errUsage
	}
	return errInvalid
}

func earliestExpiry(chain []*x509.Certificate) time.Time {
	t := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

func chainID(chain []*x509.Certificate) [32]byte {
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// names lists the certificate's candidate consumer names, in order.
func (a *Authenticator) names(c *x509.Certificate) []string {
	switch a.from {
	case FromSANDNS:
		return c.DNSNames
	case FromSANEmail:
		return c.EmailAddresses
	case FromSANURI:
		out := make([]string, 0, len(c.URIs))
		for _, u := range c.URIs {
			out = append(out, u.String())
		}
		return out
	}
	if c.Subject.CommonName == "" {
		return nil
	}
	return []string{c.Subject.CommonName}
}

func (a *Authenticator) lookup(n string) (*policy.Consumer, bool) {
	var c *policy.Consumer
	var ok bool
	if a.byID {
		c, ok = a.dir.ConsumerByID(n)
	} else {
		c, ok = a.dir.ConsumerByName(n)
	}
	return c, ok && c != nil
}

// maxVerified bounds the cache; when full it is emptied (simple, and a
// handshake costs a client more than a re-verification costs us).
const maxVerified = 4096

// verifiedCache remembers chains that verified, until they expire.
type verifiedCache struct {
	mu    sync.RWMutex
	until map[[32]byte]time.Time
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{until: map[[32]byte]time.Time{}}
}

func (v *verifiedCache) valid(id [32]byte, now time.Time) bool {
	v.mu.RLock()
	until, ok := v.until[id]
	v.mu.RUnlock()
	return ok && now.Before(until)
}

func (v *verifiedCache) add(id [32]byte, until time.Time) {
	v.mu.Lock()
	if len(v.until) >= maxVerified {
		clear(v.until)
	}
	v.until[id] = until
	v.mu.Unlock()
}
