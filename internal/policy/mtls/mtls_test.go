package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// authority is a test CA.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

func newCA(t *testing.T, name string, parent *authority) *authority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &authority{cert: cert, key: key}
}

func (ca *authority) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// issue makes a client certificate; mod adjusts the template.
func (ca *authority) issue(t *testing.T, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "acme"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

type directory map[string]*policy.Consumer

func (d directory) ConsumerByName(n string) (*policy.Consumer, bool) { c, ok := d[n]; return c, ok }
func (d directory) ConsumerByID(id string) (*policy.Consumer, bool) {
	for _, c := range d {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

var consumers = directory{
	"acme":                      {ID: "c-1", Name: "acme"},
	"svc.acme.internal":         {ID: "c-2", Name: "svc.acme.internal"},
	"ops@acme.test":             {ID: "c-3", Name: "ops@acme.test"},
	"spiffe://acme.test/orders": {ID: "c-4", Name: "spiffe://acme.test/orders"},
}

func env() policy.BuildEnv {
	return policy.BuildEnv{Services: map[string]any{"consumers": policy.Directory(consumers)}}
}

func TestAuthenticate(t *testing.T) {
	root := newCA(t, "clients root", nil)
	inter := newCA(t, "clients intermediate", root)
	other := newCA(t, "someone else", nil)
	uri, _ := url.Parse("spiffe://acme.test/orders")

	tests := []struct {
		name       string
		cfg        Config
		chain      []*x509.Certificate
		wantID     string
		wantDetail string
	}{
		{"subject CN", Config{}, []*x509.Certificate{root.issue(t, nil)}, "c-1", ""},
		{"via an intermediate", Config{}, []*x509.Certificate{inter.issue(t, nil), inter.cert}, "c-1", ""},
		{"san_dns, first known name wins", Config{ConsumerFrom: FromSANDNS}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) {
			c.DNSNames = []string{"unknown.test", "svc.acme.internal"}
		})}, "c-2", ""},
		{"san_email", Config{ConsumerFrom: FromSANEmail}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.EmailAddresses = []string{"ops@acme.test"} })}, "c-3", ""},
		{"san_uri", Config{ConsumerFrom: FromSANURI}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.URIs = []*url.URL{uri} })}, "c-4", ""},
		{"consumer_by id", Config{ConsumerBy: "id"}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "c-1" })}, "c-1", ""},

		{"another CA", Config{}, []*x509.Certificate{other.issue(t, nil)}, "", "the client certificate is not issued by an authority this route trusts"},
		{"intermediate not sent", Config{}, []*x509.Certificate{inter.issue(t, nil)}, "", "the client certificate is not issued by an authority this route trusts"},
		{"expired", Config{}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })}, "", "the client certificate has expired or is not valid yet"},
		{"not yet valid", Config{}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.NotBefore = time.Now().Add(time.Hour) })}, "", "the client certificate has expired or is not valid yet"},
		{"server certificate", Config{}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })}, "", "the client certificate is not valid for client authentication"},
		{"unknown consumer", Config{}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "ghost" })}, "", "the client certificate's consumer is not known"},
		{"no CN", Config{}, []*x509.Certificate{root.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "" })}, "", "the client certificate has no subject common name naming a consumer"},
		{"no DNS SAN", Config{ConsumerFrom: FromSANDNS}, []*x509.Certificate{root.issue(t, nil)}, "", "the client certificate has no DNS name naming a consumer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.CAPEM = root.pem()
			built, err := tt.cfg.Build(env())
			if err != nil {
				t.Fatal(err)
			}
			a := built.(*Authenticator)
			for round := 0; round < 2; round++ { // the second round goes through the verified-chain cache
				ex := policytest.New("GET", "/")
				ex.TLSState = &tls.ConnectionState{PeerCertificates: tt.chain}
				c, err := a.Authenticate(ex)
				if tt.wantDetail == "" {
					if err != nil || c.ID != tt.wantID {
						t.Fatalf("round %d: got %+v, %v; want consumer %s", round, c, err, tt.wantID)
					}
					continue
				}
				var pe *problem.Error
				if !errors.As(err, &pe) {
					t.Fatalf("got %v, %v; want a 401 problem", c, err)
				}
				want := `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"` + tt.wantDetail + `","request_id":"r"}`
				if pe.Status != 401 || string(pe.Body("r")) != want {
					t.Errorf("got %d %s\nwant %s", pe.Status, pe.Body("r"), want)
				}
				if len(pe.Headers) != 1 || pe.Headers[0] != [2]string{"WWW-Authenticate", `Mutual realm="tollgate"`} {
					t.Errorf("headers = %v", pe.Headers)
				}
			}
		})
	}
}

func TestCachedChainStillExpires(t *testing.T) {
	root := newCA(t, "root", nil)
	cert := root.issue(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(time.Minute) })
	built, err := (&Config{CAPEM: root.pem()}).Build(env())
	if err != nil {
		t.Fatal(err)
	}
	a := built.(*Authenticator)
	ex := policytest.New("GET", "/")
	ex.TLSState = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if _, err := a.Authenticate(ex); err != nil {
		t.Fatal(err)
	}
	ex.At = time.Now().Add(2 * time.Minute)
	if _, err := a.Authenticate(ex); !errors.Is(err, errExpired) {
		t.Errorf("cached chain used after its expiry: %v", err)
	}
}

func TestNoCertificate(t *testing.T) {
	built, err := (&Config{CAPEM: newCA(t, "root", nil).pem()}).Build(env())
	if err != nil {
		t.Fatal(err)
	}
	a := built.(*Authenticator)
	for _, st := range []*tls.ConnectionState{nil, {}} {
		ex := policytest.New("GET", "/")
		ex.TLSState = st
		if c, err := a.Authenticate(ex); !errors.Is(err, policy.ErrNoCredentials) || c != nil {
			t.Errorf("TLS %v: %v, %v", st, c, err)
		}
	}
	if a.Challenge() != `Mutual realm="tollgate"` {
		t.Errorf("Challenge = %q", a.Challenge())
	}
}

func TestConfig(t *testing.T) {
	root := newCA(t, "root", nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(good, []byte(root.pem()), 0o600)
	os.WriteFile(empty, []byte("not pem"), 0o600)
	tests := []struct {
		name      string
		cfg       Config
		validate  []string
		buildFail string
	}{
		{"ca file", Config{CA: good}, nil, ""},
		{"neither", Config{}, []string{"set exactly one of ca"}, "set exactly one"},
		{"both", Config{CA: good, CAPEM: root.pem()}, []string{"set exactly one of ca"}, "set exactly one"},
		{"bad options", Config{CA: good, ConsumerFrom: "subject_o", ConsumerBy: "email"}, []string{"consumer_from must be", "consumer_by must be"}, "consumer_from"},
		{"missing file", Config{CA: filepath.Join(dir, "nope.pem")}, nil, "mtls: reading ca"},
		{"no certificate in file", Config{CA: empty}, nil, "ca holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.validate) {
				t.Fatalf("Validate = %v, want %d errors", errs, len(tt.validate))
			}
			for i, w := range tt.validate {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want %q", i, errs[i], w)
				}
			}
			_, err := tt.cfg.Build(env())
			if tt.buildFail == "" && err != nil || tt.buildFail != "" && (err == nil || !strings.Contains(err.Error(), tt.buildFail)) {
				t.Errorf("Build = %v, want %q", err, tt.buildFail)
			}
		})
	}
	if _, err := (&Config{CA: good}).Build(policy.BuildEnv{}); err == nil || !strings.Contains(err.Error(), "consumer directory") {
		t.Errorf("Build without a directory: %v", err)
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }
