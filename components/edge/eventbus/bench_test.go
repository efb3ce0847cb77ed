package eventbus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// BenchmarkInternalBrokerThroughput publishes QoS 0 messages from a paho
// client through the internal broker to the Handler and reports messages/s.
func BenchmarkInternalBrokerThroughput(b *testing.B) {
	cfg := internalConfig(b)
	cfg.HandlerQueueSize = 1 << 16
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(0)
	bus, err := New(cfg, HandlerFunc(func(string, []byte) {
		if got.Add(1) == atomic.LoadInt64(&target) {
			close(done)
		}
	}), logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	runBus(b, bus)
	c := connect(b, cfg.InternalServer)
	payload := []byte(`{"event_id":"","timestamp":1,"twin":{"temperature":{"actual":{"value":"21.5"}}}}`)

	atomic.StoreInt64(&target, int64(b.N))
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		c.Publish("$hw/events/device/dev1/twin/update", 0, false, payload)
	}
	// QoS 0 may lose messages only if the bus drops them; count those too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		st := bus.Stats()
		if got.Load()+int64(st.Dropped) >= int64(b.N) {
			break
		}
		select {
		case <-done:
		case <-ctx.Done():
			b.Fatalf("handler saw %d of %d messages (dropped %d)", got.Load(), b.N, st.Dropped)
		case <-time.After(time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(bus.Stats().Dropped), "dropped")
}
