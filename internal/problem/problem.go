// Package problem is the one place that turns gateway errors into RFC 9457
// problem details. Every handler returns an error; the edge calls Render.
package problem

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// ContentType is the media type of every error body the gateway writes.
const ContentType = "application/problem+json"

// Error is an error the client may see. Detail must never carry an internal
// Go error string: write it for the API consumer.
type Error struct {
	Status int
	Title  string // defaults to http.StatusText(Status)
	Detail string
	Type   string // defaults to "about:blank"
	// Headers are added to the response (Allow, Retry-After, WWW-Authenticate...).
	Headers [][2]string
	// Close asks the server to close the connection after the response.
	Close bool
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return strconv.Itoa(e.Status) + " " + e.title() + ": " + e.Detail
	}
	return strconv.Itoa(e.Status) + " " + e.title()
}

func (e *Error) title() string {
	if e.Title != "" {
		return e.Title
	}
	return http.StatusText(e.Status)
}

// With returns a copy of e with one more response header.
func (e *Error) With(name, value string) *Error {
	c := *e
	c.Headers = append(append([][2]string(nil), e.Headers...), [2]string{name, value})
	return &c
}

// New builds an Error with a status and a client-facing detail.
func New(status int, detail string) *Error { return &Error{Status: status, Detail: detail} }

// Common constructors used across packages, so titles and details stay uniform.
func NotFound(detail string) *Error   { return New(http.StatusNotFound, detail) }
func BadRequest(detail string) *Error { return New(http.StatusBadRequest, detail) }
func Forbidden(detail string) *Error  { return New(http.StatusForbidden, detail) }
func TooLarge(detail string) *Error   { return New(http.StatusRequestEntityTooLarge, detail) }

// Unauthorized builds a 401 with the WWW-Authenticate challenge the SPEC requires.
func Unauthorized(challenge, detail string) *Error {
	return New(http.StatusUnauthorized, detail).With("WWW-Authenticate", challenge)
}

// TooManyRequests builds a 429 with Retry-After in whole seconds (at least 1).
func TooManyRequests(retryAfterSeconds int, detail string) *Error {
	if retryAfterSeconds < 1 {
		retryAfterSeconds = 1
	}
	return New(http.StatusTooManyRequests, detail).With("Retry-After", strconv.Itoa(retryAfterSeconds))
}

// Unavailable builds a 503 with Retry-After.
func Unavailable(retryAfterSeconds int, detail string) *Error {
	if retryAfterSeconds < 1 {
		retryAfterSeconds = 1
	}
	return New(http.StatusServiceUnavailable, detail).With("Retry-After", strconv.Itoa(retryAfterSeconds))
}

// From maps any error to a client-safe *Error: a *Error passes through,
// anything else becomes a 500 with a generic detail (the cause is logged, not shown).
func From(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "the gateway could not complete the request"}
}

type body struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Body returns the JSON body for e, tagged with the request id.
func (e *Error) Body(requestID string) []byte {
	t := e.Type
	if t == "" {
		t = "about:blank"
	}
	b, _ := json.Marshal(body{Type: t, Title: e.title(), Status: e.Status, Detail: e.Detail, RequestID: requestID})
	return b
}

// Write renders e on a net/http ResponseWriter (admin API, portal, HTTP/2 path).
func (e *Error) Write(w http.ResponseWriter, requestID string) {
	h := w.Header()
	for _, kv := range e.Headers {
		h.Add(kv[0], kv[1])
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if e.Close {
		h.Set("Connection", "close")
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body(requestID))
}
