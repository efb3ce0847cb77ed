package framework

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Mosquitto is a mosquitto broker started by StartMosquittoProcess.
type Mosquitto struct {
	// URL is tcp://127.0.0.1:<port>, the form of mqttServerExternal.
	URL string
	// Addr is 127.0.0.1:<port>.
	Addr string
	proc *Process
	bin  string
	conf string
	log  string
}

// FindMosquitto locates Debian's mosquitto (in /usr/sbin, not always on PATH).
func FindMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if isExecutable("/usr/sbin/mosquitto") {
		return "/usr/sbin/mosquitto", nil
	}
	return "", &MissingError{What: "mosquitto", Looked: "PATH and /usr/sbin", Fix: "make deps"}
}

// StartMosquittoProcess writes dir/mosquitto.conf (a listener on 127.0.0.1
// and a free port, anonymous access, no persistence), starts mosquitto with
// its output in dir/mosquitto.log and waits until the port accepts
// connections.
func StartMosquittoProcess(ctx context.Context, dir string) (*Mosquitto, error) {
	bin, err := FindMosquitto()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &Mosquitto{
		Addr: hostPort(port),
		bin:  bin,
		conf: filepath.Join(dir, "mosquitto.conf"),
		log:  filepath.Join(dir, "mosquitto.log"),
	}
	m.URL = "tcp://" + m.Addr
	// Logging to stdout (captured in the log file) rather than log_dest file:
	// mosquitto started as root drops to the mosquitto user, which could not
	// write into the test's directory. "user root" keeps it from switching.
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
user root
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S
`, port)
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Start starts the broker again on the same port after Stop.
func (m *Mosquitto) Start(ctx context.Context) error {
	p, err := StartProcess("mosquitto", m.log, m.bin, []string{"-c", m.conf}, ProcessOptions{})
	if err != nil {
		return err
	}
	m.proc = p
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = WaitFor(waitCtx, "mosquitto on "+m.Addr, 50*time.Millisecond, p, func(ctx context.Context) (bool, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", m.Addr)
		if err != nil {
			return false, err
		}
		_ = c.Close()
		return true, nil
	})
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return fmt.Errorf("start mosquitto: %w (log in %s)", err, m.log)
	}
	return nil
}

// Stop stops the broker (SIGTERM, then SIGKILL after 5 s).
func (m *Mosquitto) Stop() error {
	if m.proc == nil {
		return nil
	}
	return m.proc.Stop(5 * time.Second)
}

// LogPath is the broker's log file.
func (m *Mosquitto) LogPath() string { return m.log }

// MosquittoForTest starts mosquitto for t with its config and log in t's
// artifact directory, and stops it in t.Cleanup. A missing mosquitto fails
// the test.
func MosquittoForTest(t testing.TB) *Mosquitto {
	t.Helper()
	if _, err := FindMosquitto(); err != nil {
		t.Fatalf("mosquitto not found: run make deps (%v)", err)
	}
	dir := ArtifactDir(t)
	m, err := StartMosquittoProcess(Context(t), dir)
	if err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stop mosquitto: %v", err)
		}
	})
	return m
}

// StartMosquitto starts mosquitto for t (see MosquittoForTest) and returns
// its address, 127.0.0.1:<port> (the broker URL is "tcp://" + addr).
func StartMosquitto(t testing.TB) (addr string) {
	t.Helper()
	return MosquittoForTest(t).Addr
}
