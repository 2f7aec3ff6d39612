// Package e2e runs real tollgate processes against the real PostgreSQL and
// Redis servers: the multi-node behaviour a single process cannot show.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "tollgate")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(gobin, "build", "-o", binary, "github.com/tollgate-dev/tollgate/cmd/tollgate").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building tollgate: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "e2e-admin-token"

// node is one tollgate process.
type node struct {
	t     *testing.T
	name  string
	path  string // its config file
	store string // the store DSN of its settings
	proxy string // http://127.0.0.1:port
	admin string
	cmd   *exec.Cmd
	logs  *bytes.Buffer
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNode runs tollgate with the node settings plus doc (may be "").
func startNode(t *testing.T, name, settings, doc string) *node {
	t.Helper()
	return startNodeIn(t, t.TempDir(), name, settings, doc)
}

// startNodeIn is startNode with the config file (and working directory) in
// dir, next to files the document names.
func startNodeIn(t *testing.T, dir, name, settings, doc string) *node {
	t.Helper()
	proxy, admin := freePort(t), freePort(t)
	file := fmt.Sprintf("listen: { proxy: %q, admin: %q, portal: \"\" }\nadmin: { token: %q }\n%s\n%s", proxy, admin, token, settings, doc)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, path: path, proxy: "http://" + proxy, admin: "http://" + admin, logs: &bytes.Buffer{}, store: storeOf(settings)}
	n.launch()
	return n
}

// launch runs `tollgate serve` on the node's config file, in its directory
// (node-local state such as spill files stays in the test's temp dir), and
// waits until the admin listener answers.
func (n *node) launch() {
	t := n.t
	t.Helper()
	n.cmd = exec.Command(binary, "serve", "-c", n.path)
	n.cmd.Dir = filepath.Dir(n.path)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(n.admin + "/metrics"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s did not start:\n%s", n.name, n.logs.String())
}

// storeOf reads the store DSN out of a node's settings text.
func storeOf(settings string) string {
	for _, line := range strings.Split(settings, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "store:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func (n *node) settingsStore() string { return n.store }

func (n *node) stop() {
	if n.cmd.Process == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	if n.t.Failed() {
		n.t.Logf("--- logs of node %s ---\n%s", n.name, n.logs.String())
	}
}

// call makes an admin API request and decodes a JSON answer into out.
func (n *node) call(method, path string, body any, out any, hdr ...string) int {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, n.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if _, ok := body.(string); ok {
		req.Header.Set("Content-Type", "application/yaml")
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// status GETs path on the proxy with optional header pairs.
func (n *node) status(path string, hdr ...string) int {
	req, _ := http.NewRequest(http.MethodGet, n.proxy+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls until path answers want, returning how long it took.
func (n *node) waitStatus(path string, want int, limit time.Duration, hdr ...string) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if n.status(path, hdr...) == want {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), false
}

// upstream is a plain origin the nodes proxy to.
func upstream(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}
