package metamanager

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// The edge → cloud outbox: what the edge reports (pod status, pod deletes,
// device twins) is written to meta.db first and sent from there, one entry
// at a time and in order, each removed only once the cloud has answered.
// While the link is down entries wait (a newer entry with the same coalesce
// key replaces the queued one, so a long outage keeps the latest state per
// object, not a backlog); an entry in flight when the link breaks stays
// queued and is sent again after the reconnect; a restart loses nothing.

// ErrOutboxFull is returned by SendReliable when the outbox holds
// OutboxLimit entries; the caller reports again later.
var ErrOutboxFull = errors.New("edge outbox full")

// OutboxLimit bounds the outbox. Coalescing keeps it near one entry per
// object, so only a runaway producer reaches it.
const OutboxLimit = 50000

// outboxTimeout is how long one entry waits for the cloud's answer.
const outboxTimeout = 30 * time.Second

// SendReliable queues m for the cloud in meta.db and returns once it is
// stored. coalesceKey, when not empty, makes m replace a queued message with
// the same key.
func (m *MetaManager) SendReliable(msg message.Message, coalesceKey string) error {
	frame, err := message.Encode(msg)
	if err != nil {
		return fmt.Errorf("outbox: encode %s %s: %w", msg.Route.Operation, msg.Route.Resource, err)
	}
	err = m.db.Batch(func(tx store.Tx) error {
		n, err := tx.OutboxLen()
		if err != nil {
			return err
		}
		if n >= OutboxLimit {
			return fmt.Errorf("%w (%d entries): %s %s not queued", ErrOutboxFull, n, msg.Route.Operation, msg.Route.Resource)
		}
		_, err = tx.Enqueue(store.OutboxEntry{CoalesceKey: coalesceKey, Message: frame})
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	m.kick()
	return nil
}

// SetConnected tells the outbox whether the link to the cloud is up.
func (m *MetaManager) SetConnected(up bool) {
	m.mu.Lock()
	m.connected = up
	m.mu.Unlock()
	if up {
		m.kick()
	}
}

func (m *MetaManager) isConnected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connected
}

func (m *MetaManager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// ReliableSender adapts SendReliable to a plain Send, with a coalesce key
// derived from the message: one queued entry per (operation, resource), so
// the latest pod status replaces an older one while a delete stays apart.
type ReliableSender struct{ Meta *MetaManager }

// Send queues m.
func (s ReliableSender) Send(m message.Message) error {
	return s.Meta.SendReliable(m, string(m.Route.Operation)+" "+m.Route.Resource)
}

// runOutbox sends queued entries while the link is up.
func (m *MetaManager) runOutbox(ctx context.Context) {
	backoff := time.Second
	for {
		if m.isConnected() && m.requester != nil {
			sent, err := m.flush(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				m.log.V(1).Info("outbox: cloud did not answer; retrying", "err", err, "in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			case sent:
				backoff = time.Second
				continue // more may be queued
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
	}
}

// flush sends the oldest queued entries in order, stopping at the first one
// the cloud does not answer. sent reports whether any entry left the queue.
func (m *MetaManager) flush(ctx context.Context) (sent bool, err error) {
	entries, err := m.db.Pending(64)
	if err != nil || len(entries) == 0 {
		return false, err
	}
	for _, e := range entries {
		if !m.isConnected() {
			return sent, nil
		}
		msg, err := message.Decode(e.Message)
		switch {
		case err != nil:
			m.log.Error(err, "outbox: dropped an undecodable entry", "seq", e.Seq)
		case !expectsAnswer(msg):
			// Clouds do not answer these: queue it on the link and move on.
			if err := m.sender.Send(msg); err != nil {
				return sent, err
			}
		default:
			rctx, cancel := context.WithTimeout(ctx, outboxTimeout)
			reply, err := m.requester.Request(rctx, msg)
			cancel()
			if err != nil {
				return sent, fmt.Errorf("%s %s: %w", msg.Route.Operation, msg.Route.Resource, err)
			}
			if retry := m.checkReply(msg, reply); retry != nil {
				return sent, retry
			}
		}
		if err := m.db.Ack(e.Seq); err != nil {
			return sent, fmt.Errorf("outbox: remove %d: %w", e.Seq, err)
		}
		sent = true
	}
	return sent, nil
}

// expectsAnswer reports whether the cloud answers m. Upstream's cloud (and
// ours, for compatibility) answers pod status, pod deletes and twin reports,
// but not device state reports or membership requests.
func expectsAnswer(m message.Message) bool {
	if r, err := message.ParseDeviceResource(m.Route.Resource); err == nil {
		return r.Event == message.DeviceTwinEdgeUpdated
	}
	return m.Route.Resource != message.ResourceMembershipDetail
}

// checkReply looks at the cloud's answer. A passing failure of the API
// server (unavailable, timeout, throttled, internal error) is retried; any
// other error is final (the pod is gone, or the request is not this node's
// to make) and the entry is dropped with a log line.
func (m *MetaManager) checkReply(req, reply message.Message) (retry error) {
	var resp message.ObjectResponse
	if reply.DecodeContent(&resp) != nil {
		return nil
	}
	err := resp.Error()
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsTooManyRequests(err), apierrors.IsInternalError(err):
		return fmt.Errorf("%s %s: cloud answered: %w", req.Route.Operation, req.Route.Resource, err)
	}
	m.log.Info("cloud refused a queued report; dropping it", "operation", req.Route.Operation, "resource", req.Route.Resource, "err", err)
	return nil
}
