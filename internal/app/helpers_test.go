package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/tollgate-dev/tollgate/internal/app"
	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
)

// gateway is a running tollgate for one test, on 127.0.0.1:0.
type gateway struct {
	t    testing.TB
	app  *app.App
	path string
	url  string
	stop context.CancelFunc
	done chan error
}

func quietLog() *slog.Logger {
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startGateway writes cfg (YAML; "listen" is added) and runs the gateway.
func startGateway(t testing.TB, cfg string) *gateway {
	t.Helper()
	return startGatewayAt(t, "sqlite://"+filepath.Join(t.TempDir(), "data", "tollgate.db"), cfg)
}

// startGatewayAt is startGateway with a given store DSN.
func startGatewayAt(t testing.TB, dsn, cfg string) *gateway {
	t.Helper()
	return startGatewayWith(t, dsn, cfg, quietLog())
}

// startGatewayWith is startGatewayAt logging to log.
func startGatewayWith(t testing.TB, dsn, cfg string, log *slog.Logger) *gateway {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.yaml")
	listenTLS := ""
	if strings.Contains(cfg, "\ntls:") {
		listenTLS = `, tls: "127.0.0.1:0"`
	}
	doc := "listen: { proxy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", portal: \"\"" + listenTLS + " }\n" +
		"store: \"" + dsn + "\"\n" + cfg
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{ConfigPath: path, Log: log})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{t: t, app: a, path: path, url: "http://" + a.ProxyAddr(), stop: cancel, done: make(chan error, 1)}
	go func() { g.done <- a.Run(ctx) }()
	t.Cleanup(g.close)
	return g
}

func (g *gateway) close() {
	g.stop()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.t.Error("gateway did not shut down in 10s")
	}
}

// writeConfig replaces the config file, keeping its listen/store header,
// without reloading: a running gateway's file watcher notices it.
func (g *gateway) writeConfig(cfg string) {
	g.t.Helper()
	old, err := os.ReadFile(g.path)
	if err != nil {
		g.t.Fatal(err)
	}
	lines := strings.SplitN(string(old), "\n", 3)
	if err := os.WriteFile(g.path, []byte(lines[0]+"\n"+lines[1]+"\n"+cfg), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

// rewrite replaces the config file (keeping the listen/store header) and reloads.
func (g *gateway) rewrite(cfg string) {
	g.t.Helper()
	g.writeConfig(cfg)
	if _, err := g.app.Reload(); err != nil {
		g.t.Fatalf("reload: %v", err)
	}
}

// origin is a test upstream that records what it saw.
func origin(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func service(name string, targets ...string) string {
	q := make([]string, len(targets))
	for i, t := range targets {
		q[i] = fmt.Sprintf("%q", t)
	}
	return fmt.Sprintf("  - name: %s\n    targets: [%s]\n", name, strings.Join(q, ", "))
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// deadPort returns a loopback address nothing listens on.
func deadPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// startTLSGateway serves one catch-all route to up on both listeners: plain
// (g.url) and TLS with a throwaway certificate (tlsAddr).
func startTLSGateway(t *testing.T, up string) *gateway {
	t.Helper()
	cert, key := writeSelfSigned(t)
	return startGateway(t, `
tls: { cert: "`+cert+`", key: "`+key+`" }
services:
`+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
}

func tlsAddr(t *testing.T, g *gateway) string {
	t.Helper()
	if a := g.app.TLSAddr(); a != "" {
		return a
	}
	t.Fatal("the gateway has no TLS listener")
	return ""
}

// tlsClient trusts any certificate and speaks HTTP/2 when h2, else only
// HTTP/1.1 (no ALPN h2).
func tlsClient(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr}
}

// writeSelfSigned writes a throwaway certificate for 127.0.0.1/localhost.
func writeSelfSigned(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath
}

// h2cClient speaks HTTP/2 in clear text (prior knowledge) to the gateway.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
}
