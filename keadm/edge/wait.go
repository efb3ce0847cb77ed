package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// WaitRequest says what to wait for.
type WaitRequest struct {
	// StatusFile is edgecore's link status file (edgecore.status).
	StatusFile string
	// Node is the node name the status must report.
	Node string
	// Server is the websocket address, for messages.
	Server string
	// Service is edgecore's service name.
	Service string
	// LogFile is edgecore's log ("" under systemd: the journal).
	LogFile string
	// Timeout bounds the wait.
	Timeout time.Duration
	// Out receives progress lines.
	Out io.Writer
}

// Waiter waits until edgecore reports that it is connected.
type Waiter interface {
	WaitConnected(ctx context.Context, req WaitRequest) (edgecore.LinkStatus, error)
}

// ErrNotConnected is returned (wrapped) when edgecore did not connect in time
// or exited.
var ErrNotConnected = errors.New("edgecore did not connect to cloudcore")

// StatusWaiter polls the status file and the service.
type StatusWaiter struct {
	FS       FS
	Services service.Manager
	// Poll is the polling period (default 500ms); Progress the period of
	// progress lines (default 5s); LogLines how many log lines a failure
	// shows (default 20).
	Poll, Progress time.Duration
	LogLines       int
}

// WaitConnected implements Waiter.
func (w *StatusWaiter) WaitConnected(ctx context.Context, req WaitRequest) (edgecore.LinkStatus, error) {
	poll, progress, lines := w.Poll, w.Progress, w.LogLines
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	if progress <= 0 {
		progress = 5 * time.Second
	}
	if lines <= 0 {
		lines = 20
	}
	start := time.Now()
	deadline := time.NewTimer(req.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	lastProgress := start
	var last edgecore.LinkStatus
	for {
		if st, ok := w.read(req.StatusFile); ok && st.Node == req.Node {
			last = st
			if st.Connected {
				return st, nil
			}
		}
		if w.Services != nil {
			if s, err := w.Services.Status(ctx, req.Service); err == nil && s.State != service.StateRunning {
				return last, fmt.Errorf("%w: the %s service is not running (it exited)\n%s", ErrNotConnected, req.Service, w.diagnose(req, lines))
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-deadline.C:
			return last, fmt.Errorf("%w within %s\n%s", ErrNotConnected, req.Timeout, w.diagnose(req, lines))
		case now := <-tick.C:
			if now.Sub(lastProgress) >= progress {
				lastProgress = now
				fmt.Fprintf(req.Out, "[wait] edgecore is not connected to %s yet (%s elapsed, waiting up to %s)\n",
					req.Server, now.Sub(start).Round(time.Second), req.Timeout)
			}
		}
	}
}

func (w *StatusWaiter) read(path string) (edgecore.LinkStatus, bool) {
	var st edgecore.LinkStatus
	b, err := w.FS.ReadFile(path)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// diagnose is the tail of the log and the usual causes.
func (w *StatusWaiter) diagnose(req WaitRequest, lines int) string {
	var b strings.Builder
	if req.LogFile == "" {
		fmt.Fprintf(&b, "See edgecore's log: journalctl -u %s -n 50 --no-pager\n", req.Service)
	} else if data, err := w.FS.ReadFile(req.LogFile); err != nil || len(bytes.TrimSpace(data)) == 0 {
		fmt.Fprintf(&b, "edgecore's log %s is empty or unreadable\n", req.LogFile)
	} else {
		fmt.Fprintf(&b, "Last lines of %s:\n", req.LogFile)
		for _, l := range tail(data, lines) {
			fmt.Fprintf(&b, "\t%s\n", l)
		}
	}
	b.WriteString("Likely causes:\n")
	fmt.Fprintf(&b, "\t- the websocket port of %s is blocked by a firewall or security group (the certificate port answered, this one may not)\n", req.Server)
	b.WriteString("\t- cloudcore refused the connection: its log says why (node name in use, certificate not from this cluster)\n")
	b.WriteString("\t- this machine's clock is far from the cloud's: the certificate is not valid yet or any more\n")
	b.WriteString("\t- edgecore could not start: check the log above for configuration errors")
	return b.String()
}

// tail returns the last n lines of data.
func tail(data []byte, n int) []string {
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// DryRunWaiter only says what it would wait for.
type DryRunWaiter struct{ Out io.Writer }

// WaitConnected implements Waiter.
func (d DryRunWaiter) WaitConnected(_ context.Context, req WaitRequest) (edgecore.LinkStatus, error) {
	fmt.Fprintf(d.Out, "[dry-run] Would wait up to %s for %s to report node %q connected to %s\n",
		req.Timeout, req.StatusFile, req.Node, req.Server)
	return edgecore.LinkStatus{Node: req.Node, Server: req.Server}, nil
}
