package store

import "time"

// SetResyncAfterOutage shortens the outage that triggers KindResync, for tests.
func SetResyncAfterOutage(d time.Duration) (restore func()) {
	old := resyncAfterOutage
	resyncAfterOutage = d
	return func() { resyncAfterOutage = old }
}
