package runtime

import (
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Traced wraps a chain step in a child span named name that ends when the
// step hands over to the next one (or returns), so the span times the step
// itself, not everything after it. It costs nothing when the request is not
// being recorded.
func Traced(name string, h policy.Handler) policy.Handler {
	if g, ok := h.(*AuthGroup); ok {
		h = policy.HandlerFunc(g.authenticate)
	}
	return tracedStep{name: name, h: h}
}

type tracedStep struct {
	name string
	h    policy.Handler
}

func (t tracedStep) Handle(ex policy.Exchange, next policy.Next) error {
	rx, ok := ex.(Exchange)
	if !ok || !rx.State().Span.Recording() {
		return t.h.Handle(ex, next)
	}
	child := rx.State().Span.Child(t.name)
	ended := false
	end := func() {
		if !ended {
			ended = true
			child.End(0)
		}
	}
	defer end()
	return t.h.Handle(ex, func(ex policy.Exchange) error {
		end()
		return next(ex)
	})
}
