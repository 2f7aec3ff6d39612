package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestWebSocketEcho(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	g := startGateway(t, "services:\n"+service("ws", up)+`
routes:
  - name: ws
    service: ws
    match: { paths: ["/ws"] }
`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through gateway: %v", err)
	}
	defer c.CloseNow()
	for _, m := range []string{"one", "two", "three"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo: "+m {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestSSEEventsArriveOneByOne(t *testing.T) {
	release := make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := 0; i < 3; i++ {
			io.WriteString(w, "data: event-"+string(rune('0'+i))+"\n\n")
			fl.Flush()
			<-release // the next event is written only after the client saw this one
		}
	})
	g := startGateway(t, "services:\n"+service("sse", up)+`
routes:
  - name: sse
    service: sse
    match: { paths: ["/events"] }
`)
	resp, err := http.Get(g.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		done := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			_, _ = br.ReadString('\n')
			done <- line
		}()
		select {
		case line := <-done:
			if want := "data: event-" + string(rune('0'+i)) + "\n"; line != want {
				t.Fatalf("event %d: %q, want %q", i, line, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("event %d did not arrive before the stream continued (buffered?)", i)
		}
		release <- struct{}{}
	}
}

func grpcUpstream(t *testing.T) (string, *health.Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return "http://" + ln.Addr().String(), hs
}

func TestGRPCUnaryAndStreaming(t *testing.T) {
	up, hs := grpcUpstream(t)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	g := startGateway(t, `
services:
  - name: grpc
    protocol: h2c
    targets: ["`+up+`"]
routes:
  - name: grpc
    service: grpc
    match: { paths: ["/grpc.health.v1.Health/"] }
`)
	conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("unary call through gateway: %v %v", res, err)
	}
	// A NOT_FOUND status travels in trailers: it proves trailers pass through.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("grpc status from trailers: %v", err)
	}
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first streamed message: %v %v", first, err)
	}
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_NOT_SERVING)
	second, err := stream.Recv()
	if err != nil || second.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("second streamed message: %v %v", second, err)
	}
}

func TestH2CPriorKnowledge(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
	client := h2cClient()
	resp, err := client.Get(g.url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(b) != "HTTP/1.1" {
		t.Fatalf("h2c: proto %s status %d body %q", resp.Proto, resp.StatusCode, b)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Fatal("h2c response lacks X-Request-ID")
	}
}

func TestTLSHTTP2AndHTTP1(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "via "+r.Header.Get("X-Forwarded-Proto"))
	})
	g := startTLSGateway(t, up)
	addr := tlsAddr(t, g)
	for _, h2 := range []bool{true, false} {
		resp, err := tlsClient(h2).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantMajor := 1
		if h2 {
			wantMajor = 2
		}
		if resp.ProtoMajor != wantMajor || string(b) != "via https" {
			t.Fatalf("h2=%v: proto %s body %q", h2, resp.Proto, b)
		}
	}
}

func TestLargeBodiesStreamWithBoundedMemory(t *testing.T) {
	const size = 100 << 20
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, _ := io.Copy(io.Discard, r.Body)
			io.WriteString(w, itoa(n))
			return
		}
		w.Header().Set("Content-Length", itoa(size))
		_, _ = io.CopyN(w, zeroReader{}, size)
	})
	g := startGateway(t, "server: { max_body_bytes: 209715200 }\nservices:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/big"] }
`)
	peak := watchHeap(t)
	req, _ := http.NewRequest(http.MethodPost, g.url+"/big", io.LimitReader(zeroReader{}, size))
	req.ContentLength = size
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != itoa(size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	resp2, err := http.Get(g.url + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp2.Body)
	resp2.Body.Close()
	if n != size {
		t.Fatalf("download: %d bytes", n)
	}
	if p := peak(); p > 64<<20 {
		t.Fatalf("heap grew to %d MiB while streaming 100 MB each way", p>>20)
	} else {
		t.Logf("heap growth while streaming 100 MB up and down: %.1f MiB", float64(p)/(1<<20))
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// watchHeap samples HeapInuse until the returned func is called and returns
// the peak growth over the heap in use at the start (after a GC, so garbage
// from earlier tests does not count).
func watchHeap(t *testing.T) func() uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() { // growth is computed against base
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		if p := peak.Load(); p > base.HeapInuse {
			return p - base.HeapInuse
		}
		return 0
	}
}

// TestReloadUnderLoadDropsNothing: clients at steady load on keep-alive
// connections while the config file is rewritten 20 times see no failed
// request and no connection closed or reset by the gateway, and every one
// of the 20 rewrites is applied (a new revision, its new route served).
//
// The clients are raw HTTP/1.1 connections read with bufio, not
// http.Transport, which silently retries an idempotent request on a reused
// connection that died and would so hide a reset. Every dial is counted:
// a connection the gateway closed or reset forces a new dial. The reloads go
// through the path production uses: the file is rewritten and the running
// gateway's watcher notices it (g.rewrite would call Reload itself).
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	const clients, reloads = 4, 20
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	extra := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "extra "+r.URL.Path) })
	base := "services:\n" + service("s", up) + service("x", extra) +
		"routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	withRoute := func(name string) string {
		return base + "  - name: " + name + "\n    service: x\n    match: { paths: [\"/" + name + "\"] }\n"
	}
	g := startGateway(t, base)
	// Run installs its file watcher in its own goroutine: rewrite until a
	// change is seen, so the reloads below need no retry.
	rev := waitWatched(t, g, withRoute("warm"))
	addr := g.app.ProxyAddr()

	var ok, failed, dials, closedByGateway atomic.Int64
	var errMu sync.Mutex
	var errs []string
	fail := func(format string, a ...any) {
		failed.Add(1)
		errMu.Lock()
		if len(errs) < 5 {
			errs = append(errs, fmt.Sprintf(format, a...))
		}
		errMu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if conn == nil {
					var err error
					if conn, err = net.Dial("tcp", addr); err != nil {
						fail("dial: %v", err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					dials.Add(1)
					br = bufio.NewReader(conn)
				}
				// One request, never retried: a reset or an EOF is a failure.
				resp, err := wireRequest(conn, br, "GET /load HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
				if err != nil {
					fail("request on a kept-alive connection: %v", err)
					conn.Close()
					conn = nil
					continue
				}
				if resp.status != 200 || resp.body != "ok" {
					fail("GET /load: %d %q", resp.status, resp.body)
				} else {
					ok.Add(1)
				}
				if resp.closes() {
					closedByGateway.Add(1)
					conn.Close()
					conn = nil
				}
			}
		}()
	}

	var slowest time.Duration
	lastOK, prev := ok.Load(), "warm"
	for i := 0; i < reloads; i++ {
		name := "extra" + itoa(int64(i))
		g.writeConfig(withRoute(name))
		rev++
		if took := waitRevision(t, g, rev); took > slowest {
			slowest = took
		}
		if _, body := get(t, g.url+"/"+name); body != "extra /"+name {
			t.Errorf("reload %d: GET /%s = %q, want the new route's %q", i+1, name, body, "extra /"+name)
		}
		if _, body := get(t, g.url+"/"+prev); body != "ok" {
			t.Errorf("reload %d: the previous config's route /%s still answers: %q", i+1, prev, body)
		}
		prev = name
		if n := ok.Load(); n == lastOK {
			t.Errorf("reload %d: no request succeeded while it was applied: the load is not steady", i+1)
		} else {
			lastOK = n
		}
	}
	close(stop)
	wg.Wait()

	if got := revisionOf(t, g); got != rev {
		t.Errorf("after %d reloads the revision is %d, want %d", reloads, got, rev)
	}
	t.Logf("%d reloads via file change under load: %d requests ok, %d failed, %d connections opened by %d clients, %d closed by the gateway; slowest reload seen after %s",
		reloads, ok.Load(), failed.Load(), dials.Load(), clients, closedByGateway.Load(), slowest.Round(time.Millisecond))
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("during %d reloads: %d ok, %d failed; first errors: %q", reloads, ok.Load(), failed.Load(), errs)
	}
	if dials.Load() != clients || closedByGateway.Load() != 0 {
		t.Errorf("%d clients opened %d connections (%d closed by the gateway with Connection: close): the gateway dropped connections during the reloads",
			clients, dials.Load(), closedByGateway.Load())
	}
}

// TestReloadRefusesBadConfigFile: a bad config written to the file is
// refused by the watcher's reload; the old config keeps serving under the
// same revision, and a good config written afterwards is applied.
func TestReloadRefusesBadConfigFile(t *testing.T) {
	old := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "old") })
	next := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") })
	services := "services:\n" + service("s", old) + service("n", next)
	base := services + "routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	good := base + "  - name: fresh\n    service: n\n    match: { paths: [\"/fresh\"] }\n"
	for _, tc := range []struct {
		name, cfg string
		want      string // in the logged refusal: the file, line and field at fault
	}{
		{"unknown field", base + "  - name: fresh\n    service: n\n    match: { pathz: [\"/fresh\"] }\n", "tollgate.yaml:14: routes[1].match.pathz: unknown field"},
		{"route naming a missing service", base + "  - name: fresh\n    service: nope\n    match: { paths: [\"/fresh\"] }\n", "tollgate.yaml:13: routes[1].service: undefined service"},
		{"duplicate route name", base + "  - name: r\n    service: n\n    match: { paths: [\"/fresh\"] }\n", "tollgate.yaml:12: routes[1].name: duplicate name"},
		{"services dropped", "routes:\n  - name: fresh\n    service: n\n    match: { paths: [\"/fresh\"] }\n", "tollgate.yaml:5: routes[0].service: undefined service"},
		{"YAML syntax error", good + "  - name: [broken\n", "tollgate.yaml:14: did not find expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, logs := startGatewayLogged(t, base)
			rev := waitWatched(t, g, base+"  - name: warm\n    service: s\n    match: { paths: [\"/warm\"] }\n")
			g.writeConfig(tc.cfg)
			waitFor(t, "the reload of the bad file is refused", func() bool {
				return logs.count("config reload refused", "trigger=\"file change\"") == 1
			})
			if l := logs.first("config reload refused"); !strings.Contains(l, tc.want) {
				t.Errorf("the refusal does not say %q: %s", tc.want, l)
			}
			if got := revisionOf(t, g); got != rev {
				t.Fatalf("revision %d after a refused reload, want %d", got, rev)
			}
			for path, want := range map[string]string{"/": "old", "/fresh": "old", "/warm": "old"} {
				if resp, body := get(t, g.url+path); resp.StatusCode != 200 || body != want {
					t.Fatalf("after the refused reload GET %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
				}
			}
			g.writeConfig(good)
			waitRevision(t, g, rev+1)
			if resp, body := get(t, g.url+"/fresh"); resp.StatusCode != 200 || body != "new" {
				t.Fatalf("the good config after the bad one: GET /fresh = %d %q", resp.StatusCode, body)
			}
			if l := logs.first("config reload refused"); l != "" {
				t.Logf("refused: %s", l)
			}
		})
	}
}

// revisionOf is the config revision the admin API's GET /status reports.
func revisionOf(t *testing.T, g *gateway) int64 {
	t.Helper()
	resp, body := get(t, "http://"+g.app.AdminAddr()+"/status")
	var st struct {
		Config struct{ Revision int64 } `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &st); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /status: %d %v %s", resp.StatusCode, err, body)
	}
	return st.Config.Revision
}

// waitRevision waits until the gateway runs revision want and returns how
// long that took; a revision past want fails at once (a reload too many).
func waitRevision(t *testing.T, g *gateway, want int64) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := revisionOf(t, g)
		if got == want {
			return time.Since(start)
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("revision %d, want %d (5 s after the file was written)", got, want)
		}
	}
}

// waitWatched writes cfg until the gateway's file watcher applies it (Run
// installs the watcher in its own goroutine, so the first write may come
// before it) and returns the new revision.
func waitWatched(t *testing.T, g *gateway, cfg string) int64 {
	t.Helper()
	before := revisionOf(t, g)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		g.writeConfig(cfg)
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if rev := revisionOf(t, g); rev != before {
				return rev
			}
		}
	}
	t.Fatal("the gateway did not reload a rewritten config file in 10 s")
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for: %s", what)
		}
	}
}

// startGatewayLogged is startGateway with the gateway's log recorded.
func startGatewayLogged(t *testing.T, cfg string) (*gateway, *logRecorder) {
	t.Helper()
	logs := &logRecorder{}
	return startGatewayWith(t, "sqlite://"+filepath.Join(t.TempDir(), "data", "tollgate.db"), cfg, slog.New(logs)), logs
}

// logRecorder keeps each log record as "message key=value ...".
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + strconv.Quote(a.Value.String())
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	return nil
}

// count is the number of records holding every one of parts.
func (r *logRecorder) count(parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func (r *logRecorder) first(part string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	started := make(chan struct{}, 1)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	g := startGateway(t, "services:\n"+service("s", up)+"routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n")
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(g.url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{body: string(b)}
	}()
	<-started
	g.stop()
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request during shutdown: %q %v", r.body, r.err)
	}
	if err := <-g.done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	g.done <- nil // let cleanup finish
	if _, err := http.Get(g.url + "/"); err == nil {
		t.Fatal("gateway still accepting after shutdown")
	}
}

var _ = httptest.NewServer
var _ = h2c.NewHandler
