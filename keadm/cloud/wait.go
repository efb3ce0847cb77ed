package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cleanedge/kubeedge/keadm/service"
)

// ReadyCheck is what "cloudcore answers" means.
type ReadyCheck struct {
	// CAURL is CloudHub's /ca.crt, which must serve CADER.
	CAURL string
	CADER []byte
	// WebsocketAddr must accept TCP connections.
	WebsocketAddr string
	// Timeout bounds the wait.
	Timeout time.Duration
	// Interval between attempts.
	Interval time.Duration
	// Running, if set, reports whether the service still runs, so that a
	// cloudcore that exits fails the wait at once.
	Running func(ctx context.Context) (bool, error)
	// Hint says where to look when the wait fails.
	Hint string
}

// Waiter waits for cloudcore to answer.
type Waiter interface {
	WaitReady(ctx context.Context, c ReadyCheck) error
}

// HTTPWaiter polls CloudHub: GET /ca.crt over TLS (cloudcore's server
// certificate is signed by the CA being checked, so the body is what is
// verified, not the chain) and a TCP connection to the websocket port.
type HTTPWaiter struct{}

// WaitReady polls until both answer, cloudcore exits or the timeout passes.
func (HTTPWaiter) WaitReady(ctx context.Context, c ReadyCheck) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	interval := c.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	httpc := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			// The served CA is compared byte for byte below.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
			Proxy:           nil,
		},
	}
	defer httpc.CloseIdleConnections()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last error
	for {
		err := probe(ctx, httpc, c)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err // not the error of a probe cut short by the deadline
		}
		if c.Running != nil {
			if ok, rerr := c.Running(ctx); rerr == nil && !ok {
				return fmt.Errorf("cloudcore is not running any more (%v); %s", last, c.Hint)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("cloudcore did not answer within %s: %v; %s", c.Timeout, last, c.Hint)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, httpc *http.Client, c ReadyCheck) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.CAURL, nil)
	if err != nil {
		return err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: %w", c.CAURL, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: %s", c.CAURL, resp.Status)
	case !bytes.Equal(body, c.CADER):
		return fmt.Errorf("GET %s: the served CA is not the cluster CA (another cloudcore on this port?)", c.CAURL)
	}
	var dialer net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(dctx, "tcp", c.WebsocketAddr)
	if err != nil {
		return fmt.Errorf("websocket port: %w", err)
	}
	return conn.Close()
}

// DryRunWaiter only says what it would wait for.
type DryRunWaiter struct {
	Out io.Writer
}

// WaitReady prints what a real run would wait for.
func (w DryRunWaiter) WaitReady(_ context.Context, c ReadyCheck) error {
	if w.Out != nil {
		fmt.Fprintf(w.Out, "[wait] would wait up to %s for %s to serve the CA and %s to accept connections\n",
			c.Timeout, c.CAURL, c.WebsocketAddr)
	}
	return nil
}

// runWait waits until cloudcore serves the cluster CA on its HTTPS port and
// accepts connections on its websocket port.
func runWait(ctx context.Context, d *InitData) error {
	ca, err := d.ca(ctx)
	if err != nil {
		return err
	}
	hub := d.config.Modules.CloudHub
	spec := d.serviceSpec()
	hint := "see " + spec.LogFile
	if _, ok := d.deps.Services.(*service.Systemd); ok {
		hint = "see journalctl -u " + ServiceName
	}
	check := ReadyCheck{
		CAURL:         "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hub.HTTPS.Port))) + "/ca.crt",
		CADER:         ca.Cert.Raw,
		WebsocketAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hub.WebSocket.Port))),
		Timeout:       d.cfg.Wait,
		Interval:      d.deps.PollInterval,
		Hint:          hint,
		Running: func(ctx context.Context) (bool, error) {
			st, err := d.deps.Services.Status(ctx, ServiceName)
			if err != nil {
				return false, err
			}
			return st.State == service.StateRunning, nil
		},
	}
	if err := d.deps.Waiter.WaitReady(ctx, check); err != nil {
		if tail := logTail(spec.LogFile, 10); tail != "" {
			return fmt.Errorf("%w\nlast lines of %s:\n%s", err, spec.LogFile, tail)
		}
		return err
	}
	d.result.Ready = true
	if !d.cfg.DryRun {
		d.printf("wait", "cloudcore serves the CA at %s and accepts connections on %s", check.CAURL, check.WebsocketAddr)
	}
	return nil
}

// logTail returns the last n lines of a log file, "" if unreadable.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, err := io.ReadAll(f)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
