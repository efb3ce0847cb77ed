// Command app is the sample HTTP application of the e2e tests and the README's
// demo. It answers GET / with JSON describing where it runs: hostname, pid, the
// MSG environment variable and the contents of the files named in SHOW_FILES
// (comma-separated), so that tests can see env vars and mounted volumes.
// GET /healthz answers 200 until POST /fail makes it answer 500 (for liveness
// probe tests). It listens on $LISTEN (default :8080).
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type answer struct {
	Hostname string            `json:"hostname"`
	PID      int               `json:"pid"`
	Msg      string            `json:"msg"`
	Files    map[string]string `json:"files,omitempty"`
}

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	var failing atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		host, _ := os.Hostname()
		a := answer{Hostname: host, PID: os.Getpid(), Msg: os.Getenv("MSG")}
		if list := os.Getenv("SHOW_FILES"); list != "" {
			a.Files = map[string]string{}
			for _, f := range strings.Split(list, ",") {
				b, err := os.ReadFile(f)
				if err != nil {
					a.Files[f] = "error: " + err.Error()
					continue
				}
				a.Files[f] = string(b)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "failing on request", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, _ *http.Request) {
		failing.Store(true)
		_, _ = w.Write([]byte("healthz now fails\n"))
	})

	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("listening on %s", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Printf("serve: %v", err)
		os.Exit(1)
	}
}
