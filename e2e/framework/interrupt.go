package framework

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type hook struct{ fn func() }

var (
	installOnce sync.Once
	hooks       []*hook
)

// OnInterrupt registers fn to run (newest first) when this program gets
// SIGINT or SIGTERM, before the tracked processes are stopped. The returned
// function unregisters it.
func OnInterrupt(fn func()) (unregister func()) {
	h := &hook{fn: fn}
	trackMu.Lock()
	hooks = append(hooks, h)
	trackMu.Unlock()
	installInterruptHandler()
	return func() {
		trackMu.Lock()
		defer trackMu.Unlock()
		for i, x := range hooks {
			if x == h {
				hooks = append(hooks[:i], hooks[i+1:]...)
				return
			}
		}
	}
}

func installInterruptHandler() {
	installOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			trackMu.Lock()
			hs := append([]*hook(nil), hooks...)
			procs := make([]*Process, 0, len(tracked))
			for p := range tracked {
				procs = append(procs, p)
			}
			trackMu.Unlock()
			for i := len(hs) - 1; i >= 0; i-- {
				hs[i].fn()
			}
			var wg sync.WaitGroup
			for _, p := range procs {
				wg.Add(1)
				go func() { defer wg.Done(); _ = p.Stop(10 * time.Second) }()
			}
			wg.Wait()
			// Die of the same signal, as the default handler would have. A
			// program started with the signal ignored (a background job of a
			// non-interactive shell) would survive that: then die by SIGKILL.
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			time.Sleep(2 * time.Second)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}()
	})
}
