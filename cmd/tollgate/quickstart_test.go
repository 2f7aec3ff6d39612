package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// TestQuickstartServe runs the real binary as a newcomer would: `tollgate
// serve` in an empty directory, no config anywhere. It checks what the
// README's Quickstart section promises, then that a second run in the same
// directory keeps the consumer and prints no new key.
//
// The quickstart listens on the default ports (:8080 proxy, 127.0.0.1:9080
// admin) and has no flag or variable to move them, so the test skips when
// they are taken.
func TestQuickstartServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tollgate binary")
	}
	for _, addr := range []string{config.DefaultProxyListen, config.DefaultAdminListen} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("the quickstart needs %s, which is busy here (%v); its ports cannot be changed", addr, err)
		}
		ln.Close()
	}
	bin := buildTollgate(t)
	dir := t.TempDir()

	first := startQuickstart(t, bin, dir)
	key := first.match(t, `demo consumer key \(shown once, keep it\): (\S+)`)
	if !strings.HasPrefix(key, "tg_") {
		t.Errorf("demo key %q does not start with tg_", key)
	}
	proxy := "http://" + first.match(t, `proxy  http://(localhost:\d+)`)
	admin := "http://" + first.match(t, `admin  http://(\S+)`)
	if proxy != "http://localhost:8080" || admin != "http://127.0.0.1:9080" {
		t.Errorf("quickstart printed proxy %s and admin %s, want the defaults localhost:8080 and 127.0.0.1:9080", proxy, admin)
	}

	t.Run("open route", func(t *testing.T) {
		resp, body := quickGet(t, proxy+"/demo/hello")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET /demo/hello: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		rid := resp.Header.Get("X-Request-ID")
		if rid == "" {
			t.Error("GET /demo/hello has no X-Request-ID")
		}
		m := jsonObject(t, body)
		want := map[string]any{"message": "hello from the tollgate demo upstream", "method": "GET", "path": "/hello", "request_id": rid}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v; body %s", k, m[k], v, body)
			}
		}
		if _, ok := m["consumer"]; ok {
			t.Errorf("an open request reached the upstream with a consumer: %s", body)
		}
	})

	t.Run("private route without a key", func(t *testing.T) {
		for _, hdr := range [][]string{nil, {"X-API-Key", "tg_live_not_a_real_key"}} {
			resp, body := quickGet(t, proxy+"/private/hello", hdr...)
			problemOf(t, resp, body, http.StatusUnauthorized)
			if resp.Header.Get("Www-Authenticate") == "" {
				t.Errorf("401 with key %v has no WWW-Authenticate header", hdr)
			}
			if strings.Contains(body, "hello from the tollgate demo upstream") {
				t.Errorf("the upstream answered a request without a valid key: %s", body)
			}
		}
	})

	t.Run("private route with the key", func(t *testing.T) {
		resp, body := quickGet(t, proxy+"/private/hello", "X-API-Key", key)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /private/hello with the demo key: %d %s", resp.StatusCode, body)
		}
		m := jsonObject(t, body)
		if m["consumer"] != "demo" || m["path"] != "/hello" || m["message"] != "hello from the tollgate demo upstream" {
			t.Errorf("with the demo key the upstream saw %s, want consumer demo and path /hello", body)
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		resp, body := quickGet(t, proxy+"/nope")
		p := problemOf(t, resp, body, http.StatusNotFound)
		if p["title"] != "Not Found" {
			t.Errorf("404 title %v, want Not Found", p["title"])
		}
	})

	t.Run("admin status", func(t *testing.T) {
		resp, body := quickGet(t, admin+"/status")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin GET /status: %d %s", resp.StatusCode, body)
		}
		if m := jsonObject(t, body); m["status"] != "ok" {
			t.Errorf("admin /status says %v: %s", m["status"], body)
		}
	})

	if fi, err := os.Stat(filepath.Join(dir, "tollgate-data")); err != nil || !fi.IsDir() {
		t.Errorf("no ./tollgate-data/ state directory in the working directory: %v", err)
	}
	first.stop(t)

	// The consumer and its key live in ./tollgate-data/: a second run
	// prints no key, and the first one still works.
	second := startQuickstart(t, bin, dir)
	if out := second.text(); strings.Contains(out, "shown once") || !strings.Contains(out, "printed on the first run") {
		t.Errorf("second run should print no new key and say so:\n%s", out)
	}
	if resp, body := quickGet(t, proxy+"/private/hello", "X-API-Key", key); resp.StatusCode != http.StatusOK {
		t.Errorf("the first run's key on the second run: %d %s", resp.StatusCode, body)
	}
	second.stop(t)
}

// buildTollgate builds this command into a temp directory.
func buildTollgate(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "tollgate")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/tollgate-dev/tollgate/cmd/tollgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// quickstartProc is one `tollgate serve` process and everything it printed.
type quickstartProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	ready  chan struct{} // closed when the banner has been printed
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startQuickstart runs `tollgate serve` in dir and waits for its banner.
// It skips the test when a listener could not bind.
func startQuickstart(t *testing.T, bin, dir string) *quickstartProc {
	t.Helper()
	p := &quickstartProc{ready: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "TOLLGATE_ADMIN_TOKEN=") // nothing from the caller's shell
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go p.read(pr)
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(t) })

	select {
	case <-p.ready:
		return p
	case <-p.exited:
		if strings.Contains(p.text(), "address already in use") {
			t.Skipf("the quickstart could not bind its default ports:\n%s", p.text())
		}
		t.Fatalf("tollgate serve exited (%v) before it was ready:\n%s", p.err, p.text())
	case <-time.After(30 * time.Second):
		t.Fatalf("tollgate serve printed no quickstart banner in 30s:\n%s", p.text())
	}
	return nil
}

// read collects the output; the banner ends with a line starting "  try:"
// after the key line (or the line saying the key was printed before).
func (p *quickstartProc) read(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	signalled := false
	keyLine := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
		switch {
		case strings.Contains(line, "demo consumer key"):
			keyLine = true
		case keyLine && strings.HasPrefix(line, "  try:"),
			strings.Contains(line, "tollgate keys create demo"),
			strings.Contains(line, "could not create the demo key"):
			if !signalled {
				signalled = true
				close(p.ready)
			}
		}
	}
}

func (p *quickstartProc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *quickstartProc) match(t *testing.T, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(p.text())
	if m == nil {
		t.Fatalf("output lacks %q:\n%s", pattern, p.text())
	}
	return m[1]
}

// stop sends SIGTERM and expects a clean exit 0 within 15s.
func (p *quickstartProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("tollgate serve did not exit within 15s of SIGTERM:\n%s", p.text())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
	case errors.As(p.err, &ee):
		t.Errorf("after SIGTERM tollgate serve exited with %v, want 0:\n%s", ee.ProcessState, p.text())
	default:
		t.Errorf("waiting for tollgate serve: %v", p.err)
	}
}

// kill ends a process a failed test left running.
func (p *quickstartProc) kill(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	t.Logf("tollgate serve was killed; its output:\n%s", p.text())
}

var quickClient = &http.Client{Timeout: 10 * time.Second}

func quickGet(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func jsonObject(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object (%v): %q", err, body)
	}
	return m
}

// problemOf checks an RFC 9457 problem response (SPEC §4) and returns its body.
func problemOf(t *testing.T, resp *http.Response, body string, status int) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%d Content-Type %q, want application/problem+json", status, ct)
	}
	p := jsonObject(t, body)
	rid := resp.Header.Get("X-Request-ID")
	if rid == "" {
		t.Errorf("%d has no X-Request-ID header", status)
	}
	for _, f := range []string{"type", "title", "status", "detail", "request_id"} {
		if _, ok := p[f]; !ok {
			t.Errorf("%d problem lacks %q: %s", status, f, body)
		}
	}
	if p["status"] != float64(status) || p["request_id"] != rid {
		t.Errorf("%d problem says status %v, request_id %v (header %q): %s", status, p["status"], p["request_id"], rid, body)
	}
	return p
}
