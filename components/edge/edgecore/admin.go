package edgecore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
)

// AdminSocket is edgecore's local admin endpoint: a unix socket beside
// meta.db, mode 0600 (root only). It serves GET /backup, a consistent
// snapshot of meta.db taken while edgecore runs.
func AdminSocket(cfg *v1alpha2.EdgeCore) string {
	return filepath.Join(filepath.Dir(cfg.Modules.MetaManager.DBPath), "edgecore.sock")
}

// adminServer is the module serving AdminSocket.
type adminServer struct {
	path string
	db   *store.DB
	log  logr.Logger
}

func (a *adminServer) Name() string { return "admin" }

func (a *adminServer) Run(ctx context.Context) error {
	_ = os.Remove(a.path) // a stale socket from a killed edgecore
	l, err := net.Listen("unix", a.path)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", a.path, err)
	}
	if err := os.Chmod(a.path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("admin socket %s: %w", a.path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if n, err := a.db.Backup(w); err != nil {
			a.log.Error(err, "meta.db backup failed", "written", n)
		} else {
			a.log.Info("meta.db backup served", "bytes", n)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err = srv.Serve(l)
	_ = os.Remove(a.path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Backup writes a consistent copy of the node's meta.db to out (0600,
// atomically). With edgecore running it asks edgecore through AdminSocket
// (a hot backup: edgecore goes on writing); otherwise it opens meta.db
// itself. The copy is checked before it replaces out.
func Backup(ctx context.Context, cfg *v1alpha2.EdgeCore, out string) (int64, error) {
	path := cfg.Modules.MetaManager.DBPath
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("meta.db (modules.metaManager.dbPath): %w", err)
	}
	db, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	switch {
	case err == nil:
		defer db.Close()
		return db.BackupFile(out)
	case !errors.Is(err, store.ErrInUse):
		return 0, err
	}
	sock := AdminSocket(cfg)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://edgecore/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("meta.db is in use and edgecore's admin socket %s does not answer: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("edgecore refused the backup: %s: %s", resp.Status, b)
	}
	var n int64
	err = atomicfile.WriteFrom(out, 0o600, 0o700, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, resp.Body)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("write %s: %w", out, err)
	}
	if err := store.Check(out); err != nil {
		return n, fmt.Errorf("the backup %s does not check: %w", out, err)
	}
	return n, nil
}
