package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Classify maps the result of one upstream call (either client) to an
// Outcome: err is the client's error, status the response status when err is
// nil. Errors before anything was sent (dial, TLS handshake, no free
// connection in the pool) are ConnectFailed, so any method may be retried.
func Classify(err error, status int) Outcome {
	switch {
	case err == nil && status >= 500:
		return Status5xx
	case err == nil:
		return OK
	case notSent(err):
		return ConnectFailed
	case timedOut(err):
		return Timeout
	}
	return Failed
}

func notSent(err error) bool {
	if errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	if _, ok := errors.AsType[*fasthttp.ErrDialWithUpstream](err); ok {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	_, badCert := errors.AsType[*tls.CertificateVerificationError](err)
	_, badRecord := errors.AsType[tls.RecordHeaderError](err)
	return badCert || badRecord
}

func timedOut(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// ClientError is what the client sees when the last attempt failed
// (SPEC §4): 502 when the upstream could not be reached or gave no valid
// response, 504 when it timed out. A 5xx from the upstream is passed through
// by the proxy, not replaced, so it has no problem here (nil).
func ClientError(o Outcome) *problem.Error {
	switch o {
	case ConnectFailed:
		return problem.New(http.StatusBadGateway, "the upstream service could not be reached")
	case Timeout:
		return problem.New(http.StatusGatewayTimeout, "the upstream service did not answer in time")
	case Failed:
		return problem.New(http.StatusBadGateway, "the upstream service returned no valid response")
	}
	return nil
}
