// Package upstream owns the gateway's upstream services: target pools and
// their balancing, active health checks, passive ejection, per-target circuit
// breakers, the retry policy and budget, and the tuned clients (fasthttp for
// HTTP/1.1, net/http for h2c, h2 and TLS) that reach each target.
//
// A Registry turns config.Service values into immutable Pools on every
// reload, while the state that must survive a reload (health, ejection,
// breaker, in-flight counts, connection pools, retry budget) lives on, keyed
// by service name and target URL.
//
// The proxy's use, per request:
//
//	t, err := pool.Pick(key, tried)          // 503 *problem.Error when nothing can serve
//	a := t.Begin()
//	err = upstream.Do(t.HTTP1(), req, resp, &lines) // lines: the gateway's fields (HeadLines)
//	o := upstream.Classify(err, resp.StatusCode())
//	a.End(o)
//	if o != upstream.OK && pool.RetryAllowed(len(tried)+1, method, o) { tried = append(tried, t); retry }
//	else if e := upstream.ClientError(o); e != nil { return e } // 502 / 504
//
// Pick, Begin and End take no locks and do not allocate on the hot path.
package upstream
