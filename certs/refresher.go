package certs

import (
	"context"
	"errors"
	"time"
)

// Clock is the time source of the token refresher; tests use certstest.FakeClock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// TokenSaver stores the current join token; *SecretStore implements it.
type TokenSaver interface {
	SaveToken(ctx context.Context, token string) error
}

// Token refresher defaults.
const (
	DefaultRetryMin = time.Second
	DefaultRetryMax = 5 * time.Minute
)

// TokenRefresher regenerates the join token at start and every Interval and saves it.
// Unlike upstream, whose refresher stops for good after its first error, a failed save
// is retried with capped exponential backoff and the schedule goes on.
type TokenRefresher struct {
	// Store receives each new token.
	Store TokenSaver
	// CA signs the tokens.
	CA *CA
	// Clock defaults to RealClock.
	Clock Clock
	// Interval between refreshes; defaults to DefaultTokenRefresh.
	Interval time.Duration
	// TTL of each token; defaults to 2 × Interval.
	TTL time.Duration
	// RetryMin and RetryMax bound the backoff after a failure; default 1s and 5m.
	RetryMin, RetryMax time.Duration
	// Logger receives structured progress (msg plus key/value pairs); nil discards it.
	// The token itself is never logged.
	Logger func(msg string, kv ...any)
}

// Run refreshes the token until ctx ends, then returns nil. It returns an error at once
// only if the refresher is misconfigured (no store or CA).
func (r *TokenRefresher) Run(ctx context.Context) error {
	if r.Store == nil {
		return errors.New("token refresher: no store")
	}
	if err := r.CA.usable(); err != nil {
		return err
	}
	clock := r.Clock
	if clock == nil {
		clock = RealClock{}
	}
	interval := positiveOr(r.Interval, DefaultTokenRefresh)
	ttl := positiveOr(r.TTL, 2*interval)
	retryMin := positiveOr(r.RetryMin, DefaultRetryMin)
	retryMax := max(positiveOr(r.RetryMax, DefaultRetryMax), retryMin)
	log := r.Logger
	if log == nil {
		log = func(string, ...any) {}
	}

	backoff := retryMin
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := clock.Now()
		wait := interval
		if err := r.refresh(ctx, now, ttl); err != nil {
			failures++
			wait = min(backoff, interval)
			backoff = min(backoff*2, retryMax)
			log("join token refresh failed, will retry", "err", err, "failures", failures, "retryIn", wait)
		} else {
			if failures > 0 {
				log("join token refresh recovered", "failures", failures)
			}
			log("join token refreshed", "expires", now.Add(ttl).UTC().Format(time.RFC3339), "next", now.Add(interval).UTC().Format(time.RFC3339))
			failures, backoff = 0, retryMin
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
	}
}

func (r *TokenRefresher) refresh(ctx context.Context, now time.Time, ttl time.Duration) error {
	token, err := GenerateToken(r.CA, now, ttl)
	if err != nil {
		return err
	}
	return r.Store.SaveToken(ctx, token)
}

func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
