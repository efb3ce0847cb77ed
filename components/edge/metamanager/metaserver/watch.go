package metaserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// initialEventsEnd is the bookmark annotation that ends a watch-list's
// initial events (client-go ≥ 1.35 lists this way by default).
const initialEventsEnd = "k8s.io/initial-events-end"

// watchOptions are the query parameters of a watch.
type watchOptions struct {
	since       uint64 // resourceVersion; 0: from now
	sendInitial bool   // sendInitialEvents=true: the current state first, then a bookmark
	bookmarks   bool   // allowWatchBookmarks
	timeout     time.Duration
	filter      filter
}

func parseWatchOptions(r *http.Request, req request) (watchOptions, error) {
	q := r.URL.Query()
	o := watchOptions{}
	var err error
	if o.filter, err = parseFilter(q, req.res, req.namespace, req.name); err != nil {
		return o, err
	}
	if rv := q.Get("resourceVersion"); rv != "" {
		if o.since, err = strconv.ParseUint(rv, 10, 64); err != nil {
			return o, errors.New("resourceVersion " + strconv.Quote(rv) + ": not a resourceVersion this server gave")
		}
	}
	o.sendInitial, _ = strconv.ParseBool(q.Get("sendInitialEvents"))
	o.bookmarks, _ = strconv.ParseBool(q.Get("allowWatchBookmarks"))
	if t := q.Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return o, errors.New("timeoutSeconds " + strconv.Quote(t) + ": want a non-negative number")
		}
		o.timeout = time.Duration(n) * time.Second
	}
	return o, nil
}

// serveWatch streams changes as newline-delimited watch events.
//
// The watch subscribes before it reads the store, so nothing falls between
// the two. With sendInitialEvents it first sends every matching object as
// ADDED and a bookmark; with a resourceVersion it first sends, as MODIFIED,
// the stored objects newer than it (changes made between the client's list
// and this watch). A watch that falls behind is ended with a 410 Expired
// error event, so that the client lists again instead of missing events.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, req request) {
	opts, err := parseWatchOptions(r, req)
	if err != nil {
		writeStatus(w, badRequest("%v", err))
		return
	}
	if n := s.watches.Add(1); n > int64(s.cfg.MaxWatches) {
		s.watches.Add(-1)
		w.Header().Set("Retry-After", "1")
		writeStatus(w, tooManyWatches(s.cfg.MaxWatches))
		return
	}
	defer s.watches.Add(-1)

	ch, cancel := s.src.Watch(req.res.typ, s.cfg.WatchBuffer)
	defer cancel()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	// The connection ends with the watch: its write deadlines must not
	// outlive it into another request.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	ew := &eventWriter{w: w, rc: rc, timeout: s.writeTimeout}
	defer func() {
		if !ew.failed {
			// Time to write the end of the stream, and no more.
			_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		}
	}()
	if err := ew.flush(); err != nil {
		return
	}

	ws := &watchState{s: s, opts: opts, res: req.res, ew: ew}
	if err := ws.start(); err != nil {
		s.log.V(1).Info("watch ended at start", "resource", req.res.plural, "err", err)
		return
	}
	if s.watchStarted != nil {
		s.watchStarted()
	}

	var timeout <-chan time.Time
	if opts.timeout > 0 {
		t := time.NewTimer(opts.timeout)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-timeout:
			return
		case ev, ok := <-ch:
			if !ok {
				s.log.V(1).Info("watch fell behind; ending it so the client lists again", "resource", req.res.plural)
				st := statusOf(expired("the edge-local watch fell behind; list again"))
				b, _ := json.Marshal(st)
				_ = ew.send(watch.Error, b, true)
				return
			}
			err := ws.handle(ev.Op, ev.Object)
			if err == nil && len(ch) == 0 && ew.pending {
				err = ew.flush() // one flush for a burst of events
			}
			if err != nil {
				s.log.V(1).Info("watch ended", "resource", req.res.plural, "err", err)
				return
			}
		}
	}
}

// watchState is what one watch knows of its client.
type watchState struct {
	s    *Server
	opts watchOptions
	res  *resource
	ew   *eventWriter

	// members is the set of objects the client holds, when it is known
	// (sendInitialEvents) or needed (a label selector: an object whose
	// labels change enters or leaves the selection). nil otherwise.
	members map[string]bool
	// floor is, per object, the newest resourceVersion the watch has seen
	// (in its first read of the store, then in events); events not newer
	// are already reflected.
	floor map[string]uint64
}

func (ws *watchState) start() error {
	o := &ws.opts
	if o.sendInitial || o.filter.tracksMembership() {
		ws.members = map[string]bool{}
	}
	if !o.sendInitial && o.since == 0 && ws.members == nil {
		return nil // from now on
	}
	// Read every object in scope, not only the selected ones: the list is
	// newer than the events already queued for the objects it holds, which
	// are then skipped, and it tells which objects the selection holds now.
	items, listRV, err := ws.s.list(ws.res, &filter{namespace: o.filter.namespace})
	if err != nil {
		b, _ := json.Marshal(statusOf(internalError(err)))
		_ = ws.ew.send(watch.Error, b, true)
		return err
	}
	ws.floor = make(map[string]uint64, len(items))
	for i := range items {
		it := &items[i]
		key := it.key(ws.res)
		if it.rvOK {
			ws.floor[key] = it.rv
		}
		if !o.filter.matches(ws.res, it) {
			continue
		}
		if ws.members != nil {
			ws.members[key] = true
		}
		var typ watch.EventType
		switch {
		case o.sendInitial:
			typ = watch.Added
		case o.since > 0 && (!it.rvOK || it.rv > o.since):
			typ = watch.Modified
		default:
			continue
		}
		b, err := it.render(ws.res)
		if err != nil {
			return err
		}
		if err := ws.ew.send(typ, b, false); err != nil {
			return err
		}
	}
	if o.sendInitial && o.bookmarks {
		b, err := json.Marshal(bookmark(ws.res, max(listRV, o.since)))
		if err != nil {
			return err
		}
		if err := ws.ew.send(watch.Bookmark, b, false); err != nil {
			return err
		}
	}
	return ws.ew.flush()
}

func bookmark(r *resource, rv uint64) map[string]any {
	return map[string]any{
		"kind": r.kind, "apiVersion": r.apiVersion(),
		"metadata": map[string]any{
			"resourceVersion": strconv.FormatUint(rv, 10),
			"annotations":     map[string]string{initialEventsEnd: "true"},
		},
	}
}

// handle sends what one change means to this client, if anything.
func (ws *watchState) handle(op message.Operation, obj store.Object) error {
	it, err := newItem(obj)
	if err != nil {
		ws.s.log.Info("skipping a changed object that is not valid JSON", "key", obj.Key.String(), "err", err)
		return nil
	}
	key := it.key(ws.res)
	matches := ws.opts.filter.matches(ws.res, &it)
	var typ watch.EventType
	if op == message.OpDelete {
		// A deleted object keeps its last resourceVersion, older than the
		// deletion: deletes are never filtered by version.
		switch {
		case ws.members != nil && ws.members[key]:
			typ = watch.Deleted
			delete(ws.members, key)
		case ws.members == nil && matches:
			typ = watch.Deleted
		default:
			return nil
		}
		delete(ws.floor, key)
	} else {
		floor, seen := ws.floor[key]
		if !seen && !ws.opts.sendInitial {
			floor = ws.opts.since
		}
		if it.rvOK && floor > 0 && it.rv <= floor {
			return nil // already reflected, or older than the client's resourceVersion
		}
		if it.rvOK {
			if ws.floor == nil {
				ws.floor = map[string]uint64{}
			}
			ws.floor[key] = it.rv
		}
		switch {
		case ws.members == nil:
			if !matches {
				return nil
			}
			typ = watch.Modified
			if op == message.OpInsert {
				typ = watch.Added
			}
		case matches && ws.members[key] && op != message.OpInsert:
			typ = watch.Modified
		case matches:
			typ = watch.Added
			ws.members[key] = true
		case ws.members[key]:
			typ = watch.Deleted // left the selection
			delete(ws.members, key)
		default:
			return nil
		}
	}
	b, err := it.render(ws.res)
	if err != nil {
		return err
	}
	return ws.ew.send(typ, b, false)
}

// eventWriter frames watch events.
type eventWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	failed  bool // a write failed: the client is gone or stopped reading
	pending bool // written, not flushed
}

func (e *eventWriter) send(typ watch.EventType, obj []byte, flush bool) error {
	e.buf = append(e.buf[:0], `{"type":"`...)
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, `","object":`...)
	e.buf = append(e.buf, obj...)
	e.buf = append(e.buf, "}\n"...)
	if e.timeout > 0 {
		_ = e.rc.SetWriteDeadline(time.Now().Add(e.timeout)) // a client that stops reading is dropped
	}
	if _, err := e.w.Write(e.buf); err != nil {
		e.failed = true
		return err
	}
	e.pending = true
	if flush {
		return e.flush()
	}
	return nil
}

func (e *eventWriter) flush() error {
	if e.timeout > 0 {
		_ = e.rc.SetWriteDeadline(time.Now().Add(e.timeout))
	}
	if err := e.rc.Flush(); err != nil {
		e.failed = true
		return err
	}
	e.pending = false
	return nil
}
