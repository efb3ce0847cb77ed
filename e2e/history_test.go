//go:build e2e

package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// history records what happened to objects on both sides of the link, and
// checks it against what reliable delivery promises:
//
//   - the cloud's writes (each resourceVersion the API server returned, and
//     deletions),
//   - the cloud's acknowledgements (the version the cloud recorded as
//     acknowledged by the node, from its ObjectSync),
//   - the edge's observations over time (the version the node holds, or
//     absent), from polling its local API.
//
// Check reports an acknowledged update lost (the edge later holds an older
// version than one it acknowledged, or lost the object), a version going
// backwards between two observations, a version the cloud never wrote, and
// non-convergence (the edge's last observation is not the cloud's last
// write). Resource versions are compared as unsigned integers, as etcd
// issues them.
type history struct {
	mu   sync.Mutex
	objs map[string]*objectHistory
}

type objectHistory struct {
	writes  []event
	acks    []event
	seen    []event
	deleted bool
}

// event is a version at a time; rv "" means "absent".
type event struct {
	at time.Time
	rv string
}

func newHistory() *history { return &history{objs: map[string]*objectHistory{}} }

func (h *history) obj(key string) *objectHistory {
	o := h.objs[key]
	if o == nil {
		o = &objectHistory{}
		h.objs[key] = o
	}
	return o
}

// Wrote records a version the API server returned for key.
func (h *history) Wrote(key, rv string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.obj(key)
	o.writes = append(o.writes, event{time.Now(), rv})
	o.deleted = false
}

// Deleted records that key was deleted in the cloud.
func (h *history) Deleted(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.obj(key)
	o.writes = append(o.writes, event{time.Now(), ""})
	o.deleted = true
}

// Acked records the version the cloud holds as acknowledged by the node.
func (h *history) Acked(key, rv string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.obj(key)
	if n := len(o.acks); n > 0 && o.acks[n-1].rv == rv {
		return
	}
	o.acks = append(o.acks, event{time.Now(), rv})
}

// Observed records the version the edge holds ("" for absent), as read by
// a request sent at `at` (the request's start: what it read was true then
// or later, never earlier).
func (h *history) Observed(key, rv string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.obj(key)
	if n := len(o.seen); n > 0 && o.seen[n-1].rv == rv {
		return // only changes matter
	}
	o.seen = append(o.seen, event{at, rv})
}

// LastSeen is the edge's last observed version of key.
func (h *history) LastSeen(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.objs[key]
	if o == nil || len(o.seen) == 0 {
		return ""
	}
	return o.seen[len(o.seen)-1].rv
}

// LastWritten is the cloud's last version of key ("" if deleted or unknown).
func (h *history) LastWritten(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.objs[key]
	if o == nil || len(o.writes) == 0 {
		return ""
	}
	return o.writes[len(o.writes)-1].rv
}

// Summary counts what was recorded, for the test log.
func (h *history) Summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var parts []string
	for _, k := range h.keysLocked() {
		o := h.objs[k]
		parts = append(parts, fmt.Sprintf("%s: %d writes, %d acknowledged versions, %d versions seen on the edge",
			k, len(o.writes), len(o.acks), len(o.seen)))
	}
	return strings.Join(parts, "; ")
}

func (h *history) keysLocked() []string {
	keys := make([]string, 0, len(h.objs))
	for k := range h.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func rvNumber(rv string) (uint64, bool) {
	n, err := strconv.ParseUint(rv, 10, 64)
	return n, err == nil
}

// rvLess reports a < b; versions that are not numbers compare as unequal
// strings, never less.
func rvLess(a, b string) bool {
	x, ok1 := rvNumber(a)
	y, ok2 := rvNumber(b)
	return ok1 && ok2 && x < y
}

// Check returns every violation found, one line each.
func (h *history) Check() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, k := range h.keysLocked() {
		o := h.objs[k]
		written := map[string]bool{}
		for _, w := range o.writes {
			written[w.rv] = true
		}
		// Versions going backwards.
		last := ""
		for _, s := range o.seen {
			if s.rv == "" {
				continue
			}
			if last != "" && rvLess(s.rv, last) {
				out = append(out, fmt.Sprintf("%s: version went backwards on the edge: %s after %s (at %s)",
					k, s.rv, last, s.at.Format("15:04:05.000")))
			}
			last = s.rv
			if len(o.writes) > 0 && !written[s.rv] {
				out = append(out, fmt.Sprintf("%s: the edge held version %s, which the cloud never wrote", k, s.rv))
			}
		}
		// Acknowledged updates lost: after the cloud recorded version a as
		// acknowledged, the edge must never hold less, nor lose the object
		// while the cloud has not deleted it.
		for _, a := range o.acks {
			for _, s := range o.seen {
				if !s.at.After(a.at) {
					continue
				}
				deletedBefore := false
				for _, w := range o.writes {
					if w.rv == "" && !w.at.After(s.at) {
						deletedBefore = true
					}
				}
				if s.rv == "" && !deletedBefore || s.rv != "" && rvLess(s.rv, a.rv) {
					seen := s.rv
					if seen == "" {
						seen = "absent"
					}
					out = append(out, fmt.Sprintf("%s: acknowledged update lost: the node acknowledged %s at %s, the edge held %s at %s",
						k, a.rv, a.at.Format("15:04:05.000"), seen, s.at.Format("15:04:05.000")))
					break
				}
			}
		}
		// Convergence.
		if len(o.writes) > 0 {
			want := o.writes[len(o.writes)-1].rv
			got := ""
			if len(o.seen) > 0 {
				got = o.seen[len(o.seen)-1].rv
			}
			if got != want {
				out = append(out, fmt.Sprintf("%s: not converged: the cloud's last version is %q, the edge's %q", k, want, got))
			}
		}
	}
	return out
}
