// Package edged is the edge node's pod worker: it makes the container
// runtime run the pods the metadata store assigns to this node, and reports
// their status to the cloud as kubelet does (a strategic-merge patch of the
// pod status on <ns>/podpatch/<name>).
//
// All state that matters lives in the runtime (sandboxes and containers carry
// the pod's UID, the container's spec hash and its attempt), so an edgecore
// restart adopts the running pods without restarting them. Only the restart
// back-off, the waiting reasons and the last status sent are kept in memory.
//
// One goroutine does all the work: it syncs every pod on each store event
// and every ResyncPeriod, and when a container probe is due (probe.go): a
// container is ready when it runs and its startup and readiness probes
// succeeded; a failed liveness or startup probe stops it to be restarted.
package edged

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/message"
)

// Defaults of Config.
const (
	DefaultResyncPeriod = 2 * time.Second
	// DefaultGracePeriod is used when a pod names none.
	DefaultGracePeriod = 30 * time.Second
)

// Config is Edged's node configuration.
type Config struct {
	// NodeName selects the pods to run (spec.nodeName).
	NodeName string
	// NodeIP is the pods' hostIP, and the podIP of host-network pods.
	NodeIP string
	// RootDirectory holds the pods' volumes:
	// <root>/pods/<uid>/volumes/<plugin>/<volume>.
	RootDirectory string
	// PodLogsRoot holds the pods' log directories (runtime default
	// /var/log/pods).
	PodLogsRoot string
	// CgroupRoot is the parent of the pods' cgroups (default /kubeedge).
	CgroupRoot string
	// ResyncPeriod is how often every pod is synced without an event
	// (default 2s).
	ResyncPeriod time.Duration
	// ClusterDNS and ClusterDomain configure dnsPolicy ClusterFirst.
	ClusterDNS    []string
	ClusterDomain string
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Prober runs container probes (default NewProber over the runtime).
	Prober Prober
	// Tokens issues service account tokens for projected volumes (the cloud,
	// through EdgeHub); nil skips token sources.
	Tokens TokenSource
}

// Store is what Edged reads from the local metadata store
// (*metamanager.MetaManager implements it). Pods returns every stored pod;
// Edged keeps those bound to its node.
type Store interface {
	Pods() ([]*corev1.Pod, error)
	ConfigMap(namespace, name string) (*corev1.ConfigMap, bool, error)
	Secret(namespace, name string) (*corev1.Secret, bool, error)
}

// Subscriber is optionally implemented by a Store: Run then syncs on every
// pod, configmap and secret event instead of only every ResyncPeriod.
type Subscriber interface {
	Subscribe(typ message.ResourceType, buffer int) <-chan metamanager.Event
}

// Sender delivers messages to the cloud (EdgeHub). A failed send is retried
// on a later sync: the status is recomputed every time.
type Sender interface {
	Send(m message.Message) error
}

// Edged is the pod worker module.
type Edged struct {
	cfg     Config
	rt      *runtime.Runtime
	store   Store
	sender  Sender
	log     logr.Logger
	factory message.Factory
	kick    chan struct{}

	// Worker state: only touched by the goroutine running syncAll.
	backoff    map[string]*backoff                      // restart back-off by uid/container
	pullOff    map[string]*backoff                      // image pull back-off by uid/container
	waiting    map[string]*corev1.ContainerStateWaiting // why a container is not running, by uid/container
	lastSent   map[string]*corev1.PodStatus             // last status the cloud accepted, by uid
	sentAtRV   map[string]string                        // the stored pod's resourceVersion when it was sent, by uid
	startTimes map[string]time.Time                     // first time we saw the pod, by uid
	volHashes  map[string]string                        // payload hash of written volume dirs
	deleteSent map[string]time.Time                     // when the final delete went out, by uid
	volErrs    map[string]map[string]error              // volume set-up errors by uid, volume
	killMsgs   map[string]map[string]string             // why a probe stopped a container, by uid, container ID
	nextProbe  time.Time                                // when a probe is due next (zero: none)

	prober Prober
	tokens *tokenCache
	probes *probeManager // shared with the probe goroutines
	// waitProbes makes each sync wait for the probes it launched (tests).
	waitProbes bool
}

// New builds Edged over a runtime, the metadata store and the cloud sender.
func New(cfg Config, rt *runtime.Runtime, store Store, sender Sender, log logr.Logger) *Edged {
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = runtime.DefaultCgroupRoot
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	prober := cfg.Prober
	if prober == nil {
		prober = NewProber(rt.RuntimeService())
	}
	return &Edged{
		prober: prober, probes: newProbeManager(), tokens: newTokenCache(cfg.Tokens, cfg.Now), killMsgs: map[string]map[string]string{},
		cfg: cfg, rt: rt, store: store, sender: sender, log: log,
		factory:    message.Factory{Now: cfg.Now, NewID: message.DefaultFactory.NewID},
		kick:       make(chan struct{}, 1),
		backoff:    map[string]*backoff{},
		pullOff:    map[string]*backoff{},
		waiting:    map[string]*corev1.ContainerStateWaiting{},
		lastSent:   map[string]*corev1.PodStatus{},
		sentAtRV:   map[string]string{},
		startTimes: map[string]time.Time{},
		volHashes:  map[string]string{},
		deleteSent: map[string]time.Time{},
		volErrs:    map[string]map[string]error{},
	}
}

// Name is the module name.
func (e *Edged) Name() string { return "edged" }

// Trigger asks for a sync soon (it never blocks).
func (e *Edged) Trigger() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run syncs the pods until ctx ends. The first sync adopts what the runtime
// already runs: running containers whose spec is unchanged are kept.
func (e *Edged) Run(ctx context.Context) error {
	var events []<-chan metamanager.Event
	if s, ok := e.store.(Subscriber); ok {
		for _, t := range []message.ResourceType{message.ResPod, message.ResConfigMap, message.ResSecret} {
			events = append(events, s.Subscribe(t, 64))
		}
	}
	merged := make(chan struct{}, 1)
	for _, ch := range events {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-ch:
					select {
					case merged <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	ticker := time.NewTicker(e.cfg.ResyncPeriod)
	defer ticker.Stop()
	for {
		if err := e.syncAll(ctx); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error(err, "sync pods")
		}
		var probeDue <-chan time.Time
		var timer *time.Timer
		if !e.nextProbe.IsZero() {
			d := max(e.nextProbe.Sub(e.cfg.Now()), 10*time.Millisecond)
			timer = time.NewTimer(d)
			probeDue = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-ticker.C:
		case <-merged:
		case <-e.kick:
		case <-probeDue:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
