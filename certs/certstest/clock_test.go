package certstest

import (
	"context"
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		after   time.Duration
		advance time.Duration
		fired   bool
	}{
		{"not due", time.Minute, 59 * time.Second, false},
		{"exactly due", time.Minute, time.Minute, true},
		{"overdue", time.Minute, time.Hour, true},
		{"zero fires at once", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFakeClock(start)
			ch := c.After(tt.after)
			c.Advance(tt.advance)
			select {
			case got := <-ch:
				if !tt.fired {
					t.Fatal("fired early")
				}
				if got.Before(start.Add(tt.after)) {
					t.Errorf("fired with %v", got)
				}
			default:
				if tt.fired {
					t.Fatal("did not fire")
				}
			}
			if got := c.Now(); !got.Equal(start.Add(tt.advance)) {
				t.Errorf("Now = %v", got)
			}
		})
	}
}

func TestFakeClockBlockUntil(t *testing.T) {
	var c FakeClock // zero value is usable
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.After(2 * time.Second)
		c.After(time.Second)
	}()
	if err := c.BlockUntil(ctx, 2); err != nil {
		t.Fatal(err)
	}
	w := c.Waiters()
	if len(w) != 2 || !w[0].Equal(time.Time{}.Add(time.Second)) {
		t.Fatalf("Waiters = %v", w)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if err := c.BlockUntil(short, 3); err == nil {
		t.Fatal("BlockUntil(3) returned without a third waiter")
	}
}
