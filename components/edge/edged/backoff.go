package edged

import "time"

// Back-off of container restarts and image pulls, as kubelet's: the first
// retry is immediate, then 10s, doubling up to 5m; a container that ran for
// 10 minutes starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// backoff is one container's (or one image pull's) back-off.
type backoff struct {
	delay time.Duration
	since time.Time // when the last failure happened
}

// blocked reports whether a retry must still wait at now, and until when.
func (b *backoff) blocked(now time.Time) (bool, time.Duration) {
	if b == nil {
		return false, 0
	}
	until := b.since.Add(b.delay)
	return now.Before(until), b.delay
}

// next records a failure at since and lengthens the delay. A nil b starts
// at backoffInitial.
func next(b *backoff, since time.Time) *backoff {
	if b == nil || since.Sub(b.since) > 2*backoffMax {
		return &backoff{delay: backoffInitial, since: since}
	}
	d := b.delay * 2
	if d > backoffMax {
		d = backoffMax
	}
	return &backoff{delay: d, since: since}
}
