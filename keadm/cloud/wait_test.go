package cloud

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPWaiter(t *testing.T) {
	caDER := []byte("the CA DER")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ca.crt" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(caDER)
	}))
	defer srv.Close()
	ws, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() {
		for {
			c, err := ws.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// Nothing listens on port 1 (a freshly closed port may be taken again
	// by a test running in parallel).
	const closedAddr = "127.0.0.1:1"

	base := ReadyCheck{CAURL: srv.URL + "/ca.crt", CADER: caDER, WebsocketAddr: ws.Addr().String(),
		Timeout: 300 * time.Millisecond, Interval: 20 * time.Millisecond, Hint: "see the log"}
	tests := map[string]struct {
		mod  func(*ReadyCheck)
		want string
	}{
		"ready":          {mod: func(*ReadyCheck) {}},
		"other CA":       {mod: func(c *ReadyCheck) { c.CADER = []byte("another") }, want: "not the cluster CA"},
		"websocket shut": {mod: func(c *ReadyCheck) { c.WebsocketAddr = closedAddr }, want: "websocket port"},
		"not found":      {mod: func(c *ReadyCheck) { c.CAURL = srv.URL + "/nope" }, want: "404"},
		"exited": {mod: func(c *ReadyCheck) {
			c.CAURL = srv.URL + "/nope"
			c.Timeout = time.Minute
			c.Running = func(context.Context) (bool, error) { return false, nil }
		}, want: "not running any more"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			start := time.Now()
			err := HTTPWaiter{}.WaitReady(context.Background(), c)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "see the log") {
				t.Errorf("WaitReady = %v, want %q and the hint", err, tt.want)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestWaitFailureShowsLog(t *testing.T) {
	e := newEnv(t)
	e.waiter.err = errors.New("cloudcore did not answer within 2s")
	if err := os.MkdirAll(e.roots.Log, 0o755); err != nil {
		t.Fatal(err)
	}
	log := "line1\nE0101 cloudcore.go:1] cannot reach the API server\n"
	if err := os.WriteFile(filepath.Join(e.roots.Log, "cloudcore.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err := Run(context.Background(), e.cfg, e.deps(), &out)
	if err == nil || !strings.HasPrefix(err.Error(), "phase wait: ") || !strings.Contains(err.Error(), "cannot reach the API server") {
		t.Errorf("Init = %v, want the wait error with the log tail", err)
	}
	if hint := e.waiter.checks[0].Hint; hint != "see "+e.roots.LogFile("cloudcore") {
		t.Errorf("hint %q", hint)
	}
}
