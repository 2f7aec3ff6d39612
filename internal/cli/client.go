package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// client speaks to one admin API.
type client struct {
	base, token, author string
	http                *http.Client
}

func newClient(base, token string) *client {
	author := "cli"
	if u := os.Getenv("USER"); u != "" {
		author = "cli:" + u
	}
	return &client{base: base, token: token, author: author, http: &http.Client{Timeout: 30 * time.Second}}
}

// request is one admin API call.
type request struct {
	method, path string
	body         []byte
	contentType  string
	header       map[string]string
}

// response is a successful (2xx/3xx) answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends req. A transport failure is ExitTrouble; an error status is an
// *apiError (ExitUser for 4xx, ExitTrouble for 5xx).
func (c *client) do(ctx context.Context, req request) (*response, error) {
	hr, err := http.NewRequestWithContext(ctx, req.method, c.base+req.path, bytes.NewReader(req.body))
	if err != nil {
		return nil, withCode(ExitUser, fmt.Errorf("bad admin URL %q: %w", c.base, err))
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	hr.Header.Set("X-Tollgate-Author", c.author)
	hr.Header.Set("Accept", "application/json")
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, withCode(ExitTrouble, fmt.Errorf("cannot reach the admin API at %s: %w", c.base, err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, withCode(ExitTrouble, fmt.Errorf("reading the admin API's answer: %w", err))
	}
	if res.StatusCode >= 400 {
		return nil, newAPIError(req, res.StatusCode, body)
	}
	return &response{status: res.StatusCode, header: res.Header, body: body}, nil
}

// getJSON GETs path and decodes the answer into v (when v is not nil).
func (c *client) getJSON(ctx context.Context, path string, v any) (*response, error) {
	res, err := c.do(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	return res, decodeInto(res, v)
}

// sendJSON sends v as a JSON body and decodes the answer into out.
func (c *client) sendJSON(ctx context.Context, method, path string, v, out any, header map[string]string) (*response, error) {
	var body []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = b
	}
	res, err := c.do(ctx, request{method: method, path: path, body: body, contentType: "application/json", header: header})
	if err != nil {
		return nil, err
	}
	return res, decodeInto(res, out)
}

func decodeInto(res *response, v any) error {
	if v == nil || len(res.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		return withCode(ExitTrouble, fmt.Errorf("the admin API answered something that is not the expected JSON: %w", err))
	}
	return nil
}

// apiError is an RFC 9457 problem answer.
type apiError struct {
	status int
	method string
	path   string
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Line    int    `json:"line"`
		Path    string `json:"path"`
		Message string `json:"message"`
		Hint    string `json:"hint"`
	} `json:"errors"`
	file string // names config error lines when the body came from a file
}

func newAPIError(req request, status int, body []byte) error {
	e := &apiError{status: status, method: req.method, path: req.path}
	if json.Unmarshal(body, e) != nil || (e.Title == "" && e.Detail == "") {
		e.Detail = strings.TrimSpace(string(body))
		if len(e.Detail) > 300 {
			e.Detail = e.Detail[:300] + "..."
		}
	}
	code := ExitUser
	if status >= 500 {
		code = ExitTrouble
	}
	return withCode(code, e)
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.method, e.path, e.status)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if len(e.Errors) == 0 {
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
		return b.String()
	}
	fmt.Fprintf(&b, ": %d config error(s)", len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		if e.file != "" {
			b.WriteString(e.file + ":")
		}
		if fe.Line > 0 {
			fmt.Fprintf(&b, "%d: ", fe.Line)
		}
		if fe.Path != "" {
			b.WriteString(fe.Path + ": ")
		}
		b.WriteString(fe.Message)
		if fe.Hint != "" {
			b.WriteString(" (hint: " + fe.Hint + ")")
		}
	}
	return b.String()
}
