package ratelimit

import (
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/quota"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit/clientkey"
)

// planLimits are one plan's built rate limit and quota (either may be nil).
type planLimits struct {
	rate  *limiter
	quota *quota.Counter
}

// NewPlanHandler applies the authenticated consumer's plan: its rate limit
// (per consumer, shared by every route) and its quota (per consumer, per
// calendar period). Unauthenticated or anonymous requests, and consumers
// whose plan is unknown or has no limits, pass untouched. A route's own
// rate_limit applies as well, so it can only tighten.
//
// Counts are keyed by plan limit spec and consumer id (quota: consumer id
// and period only), never by this handler, so rebuilding it on reload keeps
// them. Plans with an invalid quota period or time zone get no quota.
func NewPlanHandler(plans map[string]config.Plan, c counters.Counters) policy.Handler {
	built := make(map[string]planLimits, len(plans))
	for name, p := range plans {
		var pl planLimits
		if r := p.RateLimit; r != nil && r.Limit > 0 && r.Window.D() > 0 {
			lim := counters.Limit{Count: r.Limit, Window: r.Window.D()}
			pl.rate = newLimiter("plan:"+name, "plan", []counters.Limit{lim}, clientkey.By{Kind: clientkey.Consumer}, c)
		}
		if q := p.Quota; q != nil && q.Limit > 0 {
			period, err1 := quota.ParsePeriod(q.Period)
			loc, err2 := time.LoadLocation(q.Timezone)
			if err1 == nil && err2 == nil {
				pl.quota = quota.NewCounter("q:consumer:", q.Limit, period, loc, c)
			}
		}
		built[name] = pl
	}
	return policy.HandlerFunc(func(ex policy.Exchange, next policy.Next) error {
		cons := ex.Consumer()
		if cons == nil || cons.Anonymous {
			return next(ex)
		}
		pl := built[cons.Plan]
		if pl.rate != nil {
			if err := pl.rate.check(ex); err != nil {
				return err
			}
		}
		if pl.quota == nil {
			return next(ex)
		}
		if err := pl.quota.Check(ex, cons.ID); err != nil {
			return err
		}
		err := next(ex)
		pl.quota.RefundIfLimited(ex, cons.ID, err)
		return err
	})
}
