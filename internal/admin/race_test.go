package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// racingStore lets another writer (another admin, maybe on another node)
// update the consumer between the admin API's read and its write, once.
type racingStore struct {
	store.Store
	race func()
}

func (r *racingStore) UpdateConsumer(ctx context.Context, c *store.Consumer) error {
	if f := r.race; f != nil {
		r.race = nil
		f()
	}
	return r.Store.UpdateConsumer(ctx, c)
}

// A PATCH that races another write never undoes it: without If-Match it is
// re-applied to the fresh copy (both changes stay), with a stale If-Match
// it is refused with 412 and nothing is written.
func TestConsumerPatchRacingAnotherWriter(t *testing.T) {
	var rs *racingStore
	h := newSQLiteHarness(t, func(o *Options) { rs = &racingStore{Store: o.Store}; o.Store = rs })
	want(t, h.do("POST", "/consumers", map[string]any{"name": "acme"}), http.StatusCreated)
	other := func(team string) func() {
		return func() {
			c, err := h.st.GetConsumer(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			c.Metadata = map[string]string{"team": team}
			if err := h.st.UpdateConsumer(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
	}

	rs.race = other("b")
	m := want(t, h.do("PATCH", "/consumers/acme", map[string]any{"groups": []string{"staff"}}), http.StatusOK)
	meta, _ := m["metadata"].(map[string]any)
	if groups, _ := m["groups"].([]any); len(groups) != 1 || meta["team"] != "b" {
		t.Fatalf("after a raced PATCH: %v; want the PATCH's groups and the other writer's metadata", m)
	}

	etag := h.do("GET", "/consumers/acme", nil).Header().Get("ETag")
	rs.race = other("c")
	wantProblem(t, h.do("PATCH", "/consumers/acme", map[string]any{"groups": []string{}}, "If-Match: "+etag), http.StatusPreconditionFailed)
	c, _ := h.st.GetConsumer(context.Background(), "acme")
	if len(c.Groups) != 1 || c.Metadata["team"] != "c" {
		t.Fatalf("after a refused PATCH: groups %v metadata %v; want the PATCH left out", c.Groups, c.Metadata)
	}
}
