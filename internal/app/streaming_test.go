package app_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
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

func TestReloadUnderLoadDropsNothing(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	base := "services:\n" + service("s", up) + "routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	g := startGateway(t, base)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(g.url + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		g.rewrite(base + "  - name: extra" + itoa(int64(i)) + "\n    service: s\n    match: { paths: [\"/extra" + itoa(int64(i)) + "\"] }\n")
		time.Sleep(25 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("during 20 reloads: %d ok, %d failed", ok.Load(), failed.Load())
	}
	t.Logf("20 reloads under load: %d requests, 0 failed", ok.Load())
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
