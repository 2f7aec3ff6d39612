package upstream

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// protoEcho answers with the protocol the request arrived on.
var protoEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		time.Sleep(300 * time.Millisecond)
	}
	w.Header().Set("X-Seen-UA", r.Header.Get("User-Agent"))
	_, _ = io.WriteString(w, r.Proto)
})

func roundTrip(t *testing.T, tg *Target, path string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL.String()+path, nil)
	resp, err := tg.RoundTripper().RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRoundTripperProtocols(t *testing.T) {
	plain := httptest.NewServer(protoEcho)
	defer plain.Close()
	h2cSrv := httptest.NewServer(h2c.NewHandler(protoEcho, &http2.Server{}))
	defer h2cSrv.Close()
	tlsSrv := httptest.NewUnstartedServer(protoEcho)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	tests := []struct {
		name, url, protocol, want string
	}{
		{"http", plain.URL, "", "HTTP/1.1"},
		{"h2c prior knowledge", h2cSrv.URL, "h2c", "HTTP/2.0"},
		{"https ALPN h2", tlsSrv.URL, "", "HTTP/2.0"},
		{"h2", tlsSrv.URL, "h2", "HTTP/2.0"},
	}
	h1TLS := httptest.NewUnstartedServer(protoEcho)
	h1TLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	h1TLS.StartTLS()
	defer h1TLS.Close()
	tests = append(tests, struct{ name, url, protocol, want string }{"https without h2", h1TLS.URL, "", "HTTP/1.1"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service("c", "", tc.url)
			svc.Protocol, svc.TLSSkipVerify = tc.protocol, true
			_, p := newPool(t, svc)
			got, err := roundTrip(t, p.targets[0], "/")
			if err != nil || got != tc.want {
				t.Fatalf("RoundTrip = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestH2RefusesHTTP1OnlyTarget(t *testing.T) {
	h1TLS := httptest.NewUnstartedServer(protoEcho)
	h1TLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	h1TLS.StartTLS()
	defer h1TLS.Close()
	svc := service("c", "", h1TLS.URL)
	svc.Protocol, svc.TLSSkipVerify = "h2", true
	_, p := newPool(t, svc)
	if got, err := roundTrip(t, p.targets[0], "/"); err == nil {
		t.Fatalf("protocol h2 fell back to %s", got)
	}
}

func TestRoundTripperVerifiesTLSByDefault(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(protoEcho)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	_, p := newPool(t, service("c", "", tlsSrv.URL))
	if _, err := roundTrip(t, p.targets[0], "/"); err == nil {
		t.Fatal("self-signed certificate accepted without tls_skip_verify")
	}
}

func TestRoundTripperResponseHeaderTimeout(t *testing.T) {
	plain := httptest.NewServer(protoEcho)
	defer plain.Close()
	h2cSrv := httptest.NewServer(h2c.NewHandler(protoEcho, &http2.Server{}))
	defer h2cSrv.Close()
	for _, tc := range []struct{ url, protocol string }{{plain.URL, "http"}, {h2cSrv.URL, "h2c"}} {
		t.Run(tc.protocol, func(t *testing.T) {
			svc := service("c", "", tc.url)
			svc.Protocol = tc.protocol
			svc.Timeouts.Response = dur(50 * time.Millisecond)
			_, p := newPool(t, svc)
			start := time.Now()
			if _, err := roundTrip(t, p.targets[0], "/slow"); err == nil {
				t.Fatal("slow response headers did not time out")
			}
			if el := time.Since(start); el > time.Second {
				t.Fatalf("timed out after %v, want about 50ms", el)
			} else {
				t.Logf("timed out after %v", el)
			}
		})
	}
}

func doHTTP1(t *testing.T, tg *Target, path string) (int, string, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(tg.URL.String() + path)
	if err := tg.HTTP1().DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("HTTP1 Do: %v", err)
	}
	body := resp.Body() // a short body arrives whole (transport)
	if resp.IsBodyStream() {
		var err error
		if body, err = io.ReadAll(resp.BodyStream()); err != nil {
			t.Fatal(err)
		}
		_ = resp.CloseBodyStream()
	}
	return resp.StatusCode(), string(body), string(resp.Header.Peek("X-Seen-UA"))
}

func TestHTTP1ReachesTarget(t *testing.T) {
	plain := httptest.NewServer(protoEcho)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(protoEcho)
	defer tlsSrv.Close()
	for _, url := range []string{plain.URL, tlsSrv.URL} {
		svc := service("c", "", url)
		svc.TLSSkipVerify = true
		_, p := newPool(t, svc)
		code, body, ua := doHTTP1(t, p.targets[0], "/")
		if code != 200 || body != "HTTP/1.1" {
			t.Errorf("%s: got %d %q", url, code, body)
		}
		if ua != "" {
			t.Errorf("%s: client added a User-Agent %q", url, ua)
		}
	}
}

func TestHTTP1StreamsLargeBodies(t *testing.T) {
	const size = 8 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(buf) {
			_, _ = w.Write(buf)
		}
	}))
	defer srv.Close()
	_, p := newPool(t, service("c", "", srv.URL))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(srv.URL + "/big")
	if err := p.targets[0].HTTP1().Do(req, resp); err != nil {
		t.Fatal(err)
	}
	if resp.BodyStream() == nil {
		t.Fatal("body was buffered, not streamed")
	}
	n, err := io.Copy(io.Discard, resp.BodyStream())
	if err != nil || n != size {
		t.Fatalf("streamed %d bytes, err %v; want %d", n, err, size)
	}
	_ = resp.CloseBodyStream()
}

func TestHealthCheckOverH2C(t *testing.T) {
	seen := make(chan int, 10)
	srv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.ProtoMajor:
		default:
		}
	}), &http2.Server{}))
	defer srv.Close()
	svc := service("c", "", srv.URL)
	svc.Protocol = "h2c"
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(10 * time.Millisecond)}
	newPool(t, svc)
	select {
	case major := <-seen:
		if major != 2 {
			t.Fatalf("health check over HTTP/%d, want 2", major)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no health check arrived")
	}
}

// The response timeout bounds each silence inside a streamed body, not the
// stream's length: chunks 100 ms apart pass a 400 ms timeout for a second,
// and a 900 ms silence is cut.
func TestHTTP1ResponseTimeoutBoundsEachSilence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gaps    []time.Duration
		wantErr bool
	}{
		{"short gaps, long stream", []time.Duration{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, false},
		{"one long silence", []time.Duration{100, 900}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				for _, g := range tc.gaps {
					time.Sleep(g * time.Millisecond)
					if _, err := w.Write([]byte("chunk\n")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			svc := service("c", "", srv.URL)
			svc.Timeouts.Response = dur(400 * time.Millisecond)
			_, p := newPool(t, svc)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(srv.URL + "/stream")
			if err := p.targets[0].HTTP1().Do(req, resp); err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.BodyStream())
			_ = resp.CloseBodyStream()
			if tc.wantErr != (err != nil) {
				t.Fatalf("streamed %d bytes, err %v; want error: %v", n, err, tc.wantErr)
			}
			if !tc.wantErr && n != int64(6*len(tc.gaps)) {
				t.Fatalf("streamed %d bytes, want %d", n, 6*len(tc.gaps))
			}
		})
	}
}
