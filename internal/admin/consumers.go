package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// consumerInput is the POST body; PATCH uses consumerPatch.
type consumerInput struct {
	Name     string            `json:"name"`
	Plan     string            `json:"plan"`
	Groups   []string          `json:"groups"`
	Metadata map[string]string `json:"metadata"`
	Disabled bool              `json:"disabled"`
}

// consumerPatch holds only the fields the client sent (merge-patch style).
type consumerPatch struct {
	Name     *string            `json:"name"`
	Plan     *string            `json:"plan"`
	Groups   *[]string          `json:"groups"`
	Metadata *map[string]string `json:"metadata"`
	Disabled *bool              `json:"disabled"`
}

func (s *Server) listConsumers(w http.ResponseWriter, r *http.Request) error {
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	list, next, err := s.o.Store.ListConsumers(r.Context(), cursor, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newPage(list, next))
}

func (s *Server) createConsumer(w http.ResponseWriter, r *http.Request) error {
	var in consumerInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	c := &store.Consumer{Name: strings.TrimSpace(in.Name), Plan: in.Plan, Groups: in.Groups, Metadata: in.Metadata, Disabled: in.Disabled}
	if err := s.validateConsumer(c); err != nil {
		return err
	}
	if err := s.o.Store.CreateConsumer(r.Context(), c); err != nil {
		return conflictAs(err, fmt.Sprintf("a consumer named %q already exists", c.Name))
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "consumer.create", "consumer/"+c.ID, map[string]any{"name": c.Name, "plan": c.Plan})
	w.Header().Set("Location", "/consumers/"+c.ID)
	w.Header().Set("ETag", consumerETag(c))
	return writeJSON(w, http.StatusCreated, c)
}

// validateConsumer checks what the store cannot know: that the plan exists.
func (s *Server) validateConsumer(c *store.Consumer) error {
	if c.Name == "" {
		return problem.BadRequest(`"name" is required`)
	}
	if strings.HasPrefix(c.Name, "c_") {
		return problem.BadRequest(`"name" must not start with "c_" (reserved for consumer ids)`)
	}
	for _, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			return problem.BadRequest(`"groups" must not contain empty names`)
		}
	}
	if c.Plan != "" && !s.planExists(c.Plan) {
		return problem.BadRequest(fmt.Sprintf("plan %q is not defined in the config", c.Plan))
	}
	return nil
}

func (s *Server) planExists(name string) bool {
	t := s.o.Table()
	if t == nil || t.Config == nil {
		return true // nothing to check against yet
	}
	for _, p := range t.Config.Plans {
		if p.Name == name {
			return true
		}
	}
	return false
}

// conflictAs gives ErrConflict a detail naming the taken value.
func conflictAs(err error, detail string) error {
	if errors.Is(err, store.ErrConflict) {
		return newProblem(http.StatusConflict, detail)
	}
	return err
}

// consumer resolves {id} (an id or a name) to a consumer, 404 when unknown.
func (s *Server) consumer(r *http.Request) (*store.Consumer, error) {
	ref := r.PathValue("id")
	c, err := s.o.Store.GetConsumer(r.Context(), ref)
	if err != nil {
		if storeProblem(err).Status == http.StatusNotFound {
			return nil, notFound(fmt.Sprintf("no consumer with id or name %q", ref))
		}
		return nil, err
	}
	return c, nil
}

// consumerETag changes whenever the consumer is saved.
func consumerETag(c *store.Consumer) string {
	return `"` + strconv.FormatInt(c.UpdatedAt.UnixMicro(), 36) + `"`
}

func (s *Server) getConsumer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", consumerETag(c))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) patchConsumer(w http.ResponseWriter, r *http.Request) error {
	var p consumerPatch
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	s.writeLock.Lock()
	defer s.writeLock.Unlock()
	var c *store.Consumer
	var before string
	// The store's update is a compare-and-set on the version read here, so
	// two admins on different nodes cannot overwrite each other: with
	// If-Match the loser gets 412; without, the patch is re-applied to the
	// fresh copy (a patch names only the fields it changes).
	for attempt := 0; ; attempt++ {
		var err error
		if c, err = s.consumer(r); err != nil {
			return err
		}
		if err := checkIfMatch(r, consumerETag(c)); err != nil {
			return err
		}
		before = c.Name
		p.applyTo(c)
		if err := s.validateConsumer(c); err != nil {
			return err
		}
		err = s.o.Store.UpdateConsumer(r.Context(), c)
		if errors.Is(err, store.ErrStale) && attempt < 3 {
			continue // checkIfMatch on the fresh copy answers 412 when If-Match was sent
		}
		if err != nil {
			return conflictAs(err, fmt.Sprintf("a consumer named %q already exists", c.Name))
		}
		break
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "consumer.update", "consumer/"+c.ID, map[string]any{"name": c.Name, "previous_name": before, "fields": p.fields()})
	w.Header().Set("ETag", consumerETag(c))
	return writeJSON(w, http.StatusOK, c)
}

func (p *consumerPatch) applyTo(c *store.Consumer) {
	if p.Name != nil {
		c.Name = strings.TrimSpace(*p.Name)
	}
	if p.Plan != nil {
		c.Plan = *p.Plan
	}
	if p.Groups != nil {
		c.Groups = *p.Groups
	}
	if p.Metadata != nil {
		c.Metadata = *p.Metadata
	}
	if p.Disabled != nil {
		c.Disabled = *p.Disabled
	}
}

// fields names what the patch changed, for the audit entry.
func (p *consumerPatch) fields() []string {
	var f []string
	for name, set := range map[string]bool{"name": p.Name != nil, "plan": p.Plan != nil, "groups": p.Groups != nil,
		"metadata": p.Metadata != nil, "disabled": p.Disabled != nil} {
		if set {
			f = append(f, name)
		}
	}
	slices.Sort(f)
	return f
}

// checkIfMatch enforces If-Match when the client sent one: a stale ETag is 412.
func checkIfMatch(r *http.Request, current string) error {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	for _, tag := range strings.Split(im, ",") {
		if strings.TrimSpace(tag) == current {
			return nil
		}
	}
	return newProblem(http.StatusPreconditionFailed, "the resource changed since you read it (If-Match does not match the current ETag); read it again and retry")
}

func (s *Server) deleteConsumer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	if err := checkIfMatch(r, consumerETag(c)); err != nil {
		return err
	}
	if err := s.o.Store.DeleteConsumer(r.Context(), c.ID); err != nil {
		return err
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "consumer.delete", "consumer/"+c.ID, map[string]any{"name": c.Name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyView is a key's public record plus whether it works right now.
type keyView struct {
	*store.APIKey
	Active bool `json:"active"`
}

// newKeyView is the only shape that carries a plaintext key: the 201 of create/rotate.
type newKeyView struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	keys, err := s.o.Store.ListKeys(r.Context(), c.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]keyView, len(keys))
	for i, k := range keys {
		out[i] = keyView{APIKey: k, Active: k.Active(now)}
	}
	return writeJSON(w, http.StatusOK, newPage(out, ""))
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		return err
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(time.Now()) {
		return problem.BadRequest(`"expires_at" must be in the future`)
	}
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	k, plain, err := s.o.Store.CreateKey(r.Context(), c.ID, in.ExpiresAt)
	if err != nil {
		return err
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "key.create", "key/"+k.ID, map[string]any{"consumer": c.ID, "prefix": k.Prefix})
	return writeJSON(w, http.StatusCreated, newKeyView{ID: k.ID, Key: plain, Prefix: k.Prefix, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
}

// decodeOptionalJSON is decodeJSON that takes an empty body as "{}".
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		return problem.BadRequest(jsonDetail(err))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeJSON(w, r, v)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	keyID := r.PathValue("key_id")
	if err := s.o.Store.RevokeKey(r.Context(), c.ID, keyID); err != nil {
		return keyNotFoundAs(err, c, keyID)
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "key.revoke", "key/"+keyID, map[string]any{"consumer": c.ID})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func keyNotFoundAs(err error, c *store.Consumer, keyID string) error {
	if storeProblem(err).Status == http.StatusNotFound {
		return notFound(fmt.Sprintf("consumer %q has no key %q", c.Name, keyID))
	}
	return err
}

// maxOverlap bounds how long a rotated key may keep working.
const maxOverlap = 30 * 24 * time.Hour

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Overlap string `json:"overlap"`
	}
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		return err
	}
	overlap, err := parseOverlap(in.Overlap)
	if err != nil {
		return err
	}
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	keyID := r.PathValue("key_id")
	k, plain, err := s.o.Store.RotateKey(r.Context(), c.ID, keyID, overlap)
	if err != nil {
		return keyNotFoundAs(err, c, keyID)
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "key.rotate", "key/"+keyID, map[string]any{"consumer": c.ID, "new_key": k.ID, "overlap": overlap.String()})
	return writeJSON(w, http.StatusCreated, newKeyView{ID: k.ID, Key: plain, Prefix: k.Prefix, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
}

func parseOverlap(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxOverlap {
		return 0, problem.BadRequest(`"overlap" must be a duration like "1h" between 0s and 720h`)
	}
	return d, nil
}

func (s *Server) putBasicAuth(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Username == "" || in.Password == "" {
		return problem.BadRequest(`"username" and "password" are both required`)
	}
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	if err := s.o.Store.SetBasicCredential(r.Context(), c.ID, in.Username, in.Password); err != nil {
		return conflictAs(err, fmt.Sprintf("username %q is taken by another consumer", in.Username))
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "basic_auth.set", "consumer/"+c.ID, map[string]any{"username": in.Username})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteBasicAuth(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r)
	if err != nil {
		return err
	}
	if err := s.o.Store.DeleteBasicCredential(r.Context(), c.ID); err != nil {
		return err
	}
	s.consumerChanged(r, c.ID)
	s.audit(r, "basic_auth.delete", "consumer/"+c.ID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	list, next, err := s.o.Store.ListAudit(r.Context(), cursor, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newPage(list, next))
}

// audit records a change. The change already happened, so a failure to
// record it is logged rather than turned into an error response.
// consumerChanged brings this node's credential cache up to date with a
// change just written, before the response goes out: a key created here
// works here at once (other nodes follow through the store's change feed).
func (s *Server) consumerChanged(r *http.Request, id string) {
	if s.o.Refresh != nil {
		s.o.Refresh(r.Context(), id)
	}
}

func (s *Server) audit(r *http.Request, action, target string, detail map[string]any) {
	var raw json.RawMessage
	if detail != nil {
		raw, _ = json.Marshal(detail)
	}
	e := store.AuditEntry{Actor: actor(r), Action: action, Target: target, Detail: raw}
	if err := s.o.Store.AppendAudit(r.Context(), e); err != nil {
		s.o.Log.Error("admin: audit entry lost", "action", action, "target", target, "err", err)
	}
}
