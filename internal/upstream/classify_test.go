package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// outcomes runs one GET through both clients of the pool's first target.
func outcomes(t *testing.T, p *Pool, path string) (fast, std Outcome) {
	t.Helper()
	tg := p.targets[0]
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(tg.URL.String() + path)
	_, response := p.Timeouts()
	err := tg.HTTP1().DoTimeout(req, resp, response)
	fast = Classify(err, resp.StatusCode())
	if err == nil {
		_ = resp.CloseBodyStream()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL.String()+path, nil)
	hresp, err := tg.RoundTripper().RoundTrip(hreq)
	status := 0
	if err == nil {
		status = hresp.StatusCode
		_ = hresp.Body.Close()
	}
	return fast, Classify(err, status)
}

func TestClassifyRealFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/hangup":
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.HandlerFunc(ok200))
	dead.Close()

	svc := service("c", "", srv.URL)
	svc.Timeouts.Response = dur(50 * time.Millisecond)
	_, live := newPool(t, svc)
	_, gone := newPool(t, service("d", "", dead.URL))

	tests := []struct {
		name string
		p    *Pool
		path string
		want Outcome
	}{
		{"ok", live, "/", OK},
		{"5xx", live, "/500", Status5xx},
		{"timeout", live, "/slow", Timeout},
		{"hang-up", live, "/hangup", Failed},
		{"refused", gone, "/", ConnectFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fast, std := outcomes(t, tc.p, tc.path)
			if fast != tc.want || std != tc.want {
				t.Errorf("HTTP1 %s, RoundTripper %s; want %s", fast, std, tc.want)
			}
		})
	}
}

func TestClassifyDialTimeout(t *testing.T) {
	err := &net.OpError{Op: "dial", Err: context.DeadlineExceeded}
	if got := Classify(err, 0); got != ConnectFailed {
		t.Errorf("dial timeout = %s, want connect_failed (502, retryable for any method)", got)
	}
	if got := Classify(fasthttp.ErrNoFreeConns, 0); got != ConnectFailed {
		t.Errorf("pool exhausted = %s, want connect_failed", got)
	}
}

func TestClientError(t *testing.T) {
	for o, want := range map[Outcome]int{ConnectFailed: 502, Failed: 502, Timeout: 504} {
		if e := ClientError(o); e == nil || e.Status != want {
			t.Errorf("ClientError(%s) = %v, want %d", o, e, want)
		}
	}
	if ClientError(OK) != nil || ClientError(Status5xx) != nil {
		t.Error("OK and Status5xx have no gateway error")
	}
}
