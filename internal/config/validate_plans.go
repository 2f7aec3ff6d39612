package config

import (
	"fmt"
	"time"
)

// plans validates every plan and returns the set of plan names.
func (v *validator) plans() map[string]bool {
	ps := v.c.Plans
	names := v.names("plans", len(ps), func(i int) string { return ps[i].Name })
	for i := range ps {
		v.plan(fmt.Sprintf("plans[%d]", i), &ps[i])
	}
	return names
}

func (v *validator) plan(path string, pl *Plan) {
	if rl := pl.RateLimit; rl != nil {
		if rl.Limit <= 0 {
			v.p.at(path+".rate_limit.limit", "limit must be greater than 0", "")
		}
		positive(v.p, path+".rate_limit.window", rl.Window)
	}
	if q := pl.Quota; q != nil {
		if q.Limit <= 0 {
			v.p.at(path+".quota.limit", "limit must be greater than 0", "")
		}
		if q.Period != "day" && q.Period != "month" {
			v.p.at(path+".quota.period", "period must be day or month, got "+quote(q.Period), "")
		}
		if q.Timezone != "" {
			if _, err := time.LoadLocation(q.Timezone); err != nil {
				v.p.at(path+".quota.timezone", "unknown time zone "+quote(q.Timezone), `use an IANA name like "UTC" or "Europe/Paris"`)
			}
		}
	}
	if pr := pl.Price; pr != nil {
		if !isCurrency(pr.Currency) {
			v.p.at(path+".price.currency", "currency must be a 3-letter ISO 4217 code, got "+quote(pr.Currency), `e.g. "USD"`)
		}
		if pr.Monthly < 0 || pr.Per1000Requests < 0 {
			v.p.at(path+".price", "prices must not be negative", "")
		}
	}
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// consumers validates seed consumers; their plan must exist when plans are defined.
func (v *validator) consumers(plans map[string]bool) {
	cs := v.c.Consumers
	v.names("consumers", len(cs), func(i int) string { return cs[i].Name })
	for i, c := range cs {
		if c.Plan != "" && len(v.c.Plans) > 0 && !plans[c.Plan] {
			v.p.at(fmt.Sprintf("consumers[%d].plan", i), "undefined plan "+quote(c.Plan), suggest(c.Plan, sortedKeys(plans)))
		}
	}
}
