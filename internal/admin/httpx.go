package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// handlerFunc is an admin handler: it writes a success response itself and
// returns an error for everything else (rendered once, by fail).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// authKind says how an endpoint is protected.
type authKind int

const (
	authBearer  authKind = iota // Authorization: Bearer <token>
	authSession                 // UI session cookie (or the bearer token); else redirect to the login page
	authPublic                  // login page and static assets
	authMetrics                 // bearer, except from a loopback peer
)

const bearerChallenge = `Bearer realm="tollgate-admin"`

func unauthorized() *problem.Error {
	return problem.Unauthorized(bearerChallenge, "send the admin token as Authorization: Bearer <token>")
}

// guard wraps an endpoint with its auth rule and error rendering.
func (s *Server) guard(ep endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case ep.Auth == authPublic:
		case ep.Auth == authMetrics && loopback(r.RemoteAddr):
		case ep.Auth == authSession:
			if !s.bearerOK(r) && !s.sessionOK(r) {
				http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
				return
			}
		case !s.bearerOK(r):
			s.fail(w, r, unauthorized())
			return
		}
		if err := ep.Handle(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// bearerOK checks the admin token in constant time; no token configured means open.
func (s *Server) bearerOK(r *http.Request) bool {
	if s.o.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.o.Token)) == 1
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// fail renders err as a problem; unexpected errors are logged, not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ce *configErrors
	if errors.As(err, &ce) {
		writeConfigErrors(w, ridOf(r), ce)
		return
	}
	var pe *problem.Error
	if !errors.As(err, &pe) {
		pe = storeProblem(err)
	}
	if pe.Status >= 500 {
		s.o.Log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "request_id", ridOf(r), "err", err)
	}
	pe.Write(w, ridOf(r))
}

// storeProblem maps store sentinel errors to client statuses.
func storeProblem(err error) *problem.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("not found")
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, "the name is already taken")
	case errors.Is(err, store.ErrStale):
		return newProblem(http.StatusConflict, "the resource kept changing while this request was applied; retry")
	case errors.Is(err, store.ErrInvalid):
		return problem.BadRequest(invalidDetail(err))
	}
	return problem.From(err)
}

// invalidDetail keeps the store's own client-facing reason ("store: invalid input: why").
func invalidDetail(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "store: invalid input"); i >= 0 {
		msg = strings.TrimLeft(msg[i+len("store: invalid input"):], ": \n")
	}
	if msg == "" {
		return "the request was rejected as invalid"
	}
	return msg
}

func newProblem(status int, detail string) *problem.Error { return problem.New(status, detail) }
func notFound(detail string) *problem.Error               { return problem.NotFound(detail) }

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

const maxJSONBody = 1 << 20

// decodeJSON reads one strict JSON object into v; every failure is a 400
// that says what was wrong without echoing internals.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.BadRequest(jsonDetail(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem.BadRequest("the body must hold exactly one JSON object")
	}
	return nil
}

func jsonDetail(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "the request body is empty; send a JSON object"
	case errors.As(err, &big):
		return fmt.Sprintf("the body is larger than %d bytes", big.Limit)
	case errors.As(err, &syn):
		return fmt.Sprintf("the body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "the body is not a valid JSON object"
}

// page is the list shape scripts rely on: {"data": [...], "next": cursor|null}.
type page[T any] struct {
	Data []T     `json:"data"`
	Next *string `json:"next"`
}

func newPage[T any](data []T, next string) page[T] {
	if data == nil {
		data = []T{}
	}
	p := page[T]{Data: data}
	if next != "" {
		p.Next = &next
	}
	return p
}

const defaultLimit, maxLimit = 50, 500

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (cursor string, limit int, err error) {
	q := r.URL.Query()
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > maxLimit {
			return "", 0, problem.BadRequest(fmt.Sprintf("limit must be an integer from 1 to %d", maxLimit))
		}
		limit = n
	}
	cursor = q.Get("cursor")
	if len(cursor) > 512 {
		return "", 0, problem.BadRequest("cursor is too long; pass back the \"next\" value of the previous page")
	}
	return cursor, limit, nil
}

// actor is who made a change: X-Tollgate-Author when sane, else "admin".
func actor(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("X-Tollgate-Author"))
	if v == "" || len(v) > 100 || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "admin"
	}
	return v
}
