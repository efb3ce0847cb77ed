// Package cloudcore assembles the cloud daemon from its configuration: the
// Kubernetes client, the PKI (the cluster CA in the kubeedge secrets is the
// single source), and the modules run by the module host.
package cloudcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
	"github.com/cleanedge/kubeedge/components/cloud/admission"
	"github.com/cleanedge/kubeedge/components/cloud/cloudhub"
	"github.com/cleanedge/kubeedge/components/cloud/devicecontroller"
	"github.com/cleanedge/kubeedge/components/cloud/edgecontroller"
	"github.com/cleanedge/kubeedge/components/cloud/synccontroller"
	"github.com/cleanedge/kubeedge/components/host"
	"github.com/cleanedge/kubeedge/components/message"
)

// Run starts cloudcore and blocks until ctx ends or a module cannot start.
func Run(ctx context.Context, cfg *v1alpha1.CloudCore, log logr.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid cloudcore configuration: %w", err)
	}
	restCfg, err := RESTConfig(cfg.KubeAPIConfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	hubCfg := &cfg.Modules.CloudHub
	pki, err := PreparePKI(ctx, client, hubCfg, log)
	if err != nil {
		return err
	}

	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes dynamic client: %w", err)
	}

	h := host.New(host.Options{Logger: log.WithName("host")})
	var hub *cloudhub.Hub
	// Every object for a node goes through the dispatcher, which resends it
	// until the node acknowledges it and records the acknowledgement.
	syncs := &synccontroller.ObjectSyncStore{Client: dyn, Log: log.WithName("objectsync")}
	disp := synccontroller.New(synccontroller.Config{}, hubSender{&hub}, syncs, log.WithName("synccontroller"))
	ctl := edgecontroller.New(edgecontroller.Config{
		Grace: time.Duration(hubCfg.NodeStatusGracePeriod) * time.Second,
	}, client, disp, log.WithName("edgecontroller"), nil)
	rt := &router{disp: disp, edge: ctl}
	if cfg.Modules.DeviceController.Enable {
		rt.devices = devicecontroller.New(devicecontroller.Config{}, dyn, disp, log.WithName("devicecontroller"))
	}
	hub = cloudhub.New(cloudhub.Config{
		WebsocketAddr:     addr(hubCfg.WebSocket.Enable, hubCfg.WebSocket.Address, hubCfg.WebSocket.Port),
		HTTPSAddr:         addr(hubCfg.HTTPS.Enable, hubCfg.HTTPS.Address, hubCfg.HTTPS.Port),
		KeepaliveInterval: time.Duration(hubCfg.KeepaliveInterval) * time.Second,
		WriteTimeout:      time.Duration(hubCfg.WriteTimeout) * time.Second,
		NodeLimit:         int(hubCfg.NodeLimit),
	}, &cloudhub.CAAuthority{CA: pki.CA, Server: pki.Server, EdgeValidity: hubCfg.EdgeCertValidity()}, rt, log.WithName("cloudhub"))
	refresher := &certs.TokenRefresher{
		Store: &secretstore.SecretStore{Client: client}, CA: pki.CA, Interval: hubCfg.TokenRefreshInterval(),
		Logger: func(msg string, kv ...any) { log.WithName("token").Info(msg, kv...) },
	}
	// The dispatcher loads the recorded acknowledgements before the hub
	// accepts nodes.
	// DeviceController comes after the hub: a cluster without the device
	// CRDs keeps it restarting (with a message) but never keeps nodes out.
	mods := []host.Module{host.Func("objectsync", syncs.Run), disp, ctl, hub, host.Func("tokenrefresher", refresher.Run)}
	if rt.devices != nil {
		mods = append(mods, rt.devices)
	}
	if adm := cfg.Modules.EdgePodAdmission; adm.Enable {
		// The API server calls the webhook at the first advertise address,
		// which the server certificate covers; failurePolicy Ignore means a
		// cloudcore that is down never blocks pod creation.
		server := &admission.Server{
			Addr:    addr(true, adm.Address, adm.Port),
			TLS:     pki.Server,
			Handler: &admission.Handler{Nodes: admission.ClientNodes(client, 2*time.Second), Logger: log.WithName("admission")},
			Logger:  log.WithName("admission"),
		}
		url := "https://" + net.JoinHostPort(hubCfg.AdvertiseAddress[0], strconv.Itoa(int(adm.Port))) + admission.MutatePodsPath
		caPEM := certs.EncodeCertPEM(pki.CA.Cert.Raw)
		mods = append(mods, server, host.Func("admission-config", func(ctx context.Context) error {
			return admission.EnsureWebhookConfiguration(ctx, client, url, caPEM)
		}))
	}
	if err := h.Add(mods...); err != nil {
		return err
	}
	log.Info("cloudcore starting", "websocket", addr(true, hubCfg.WebSocket.Address, hubCfg.WebSocket.Port),
		"https", addr(true, hubCfg.HTTPS.Address, hubCfg.HTTPS.Port), "caSHA256", pki.CA.Hash())
	return h.Run(ctx)
}

// router hands what CloudHub receives to the modules: acknowledgements to
// the dispatcher, device messages to DeviceController, the rest to
// EdgeController; link events to all of them.
type router struct {
	disp    *synccontroller.Dispatcher
	edge    *edgecontroller.Controller
	devices *devicecontroller.Controller
}

func (r *router) HandleMessage(node string, m message.Message) {
	if r.disp.HandleAck(node, m) {
		return
	}
	if r.devices != nil && r.devices.HandleMessage(node, m) {
		return
	}
	r.edge.HandleMessage(node, m)
}

func (r *router) NodeConnected(node string) {
	r.disp.NodeConnected(node)
	r.edge.NodeConnected(node)
	if r.devices != nil {
		r.devices.NodeConnected(node)
	}
}

func (r *router) NodeDisconnected(node string) {
	r.disp.NodeDisconnected(node)
	r.edge.NodeDisconnected(node)
	if r.devices != nil {
		r.devices.NodeDisconnected(node)
	}
}

func (r *router) NodeAlive(node string) { r.edge.NodeAlive(node) }

// hubSender breaks the construction cycle between the hub and its handler.
type hubSender struct{ hub **cloudhub.Hub }

func (s hubSender) Send(node string, m message.Message) error { return (*s.hub).Send(node, m) }

func addr(enable bool, host string, port int32) string {
	if !enable {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// RESTConfig builds the API server client config: a kubeconfig file, a master
// URL, or (both empty) the in-cluster config.
func RESTConfig(c v1alpha1.KubeAPIConfig) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if c.KubeConfig == "" && c.Master == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeAPIConfig: no kubeConfig or master set and not running in a cluster: %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags(c.Master, c.KubeConfig)
		if err != nil {
			return nil, fmt.Errorf("kubeAPIConfig.kubeConfig %s: %w", c.KubeConfig, err)
		}
	}
	cfg.ContentType = c.ContentType
	cfg.QPS = float32(c.QPS)
	cfg.Burst = int(c.Burst)
	cfg.UserAgent = "cloudcore"
	return cfg, nil
}

// PKI is what CloudHub serves with.
type PKI struct {
	CA     *certs.CA
	Server *certs.KeyPair
}

// PreparePKI settles the CA and the server certificate. The CA in the
// kubeedge/casecret secret is the single source: local CA files that differ
// from it are an error (never a silent switch). The server certificate comes
// from the configured files, else the cloudcoresecret, else it is issued; one
// whose SANs miss an advertise address is reissued.
func PreparePKI(ctx context.Context, client kubernetes.Interface, hub *v1alpha1.CloudHub, log logr.Logger) (*PKI, error) {
	store := &secretstore.SecretStore{Client: client}
	var local *certs.CA
	if fileExists(hub.TLSCAFile) || fileExists(hub.TLSCAKeyFile) {
		ca, err := certs.LoadCAFiles(hub.TLSCAFile, hub.TLSCAKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cloudHub.tlsCAFile/tlsCAKeyFile: %w", err)
		}
		local = ca
	}
	ca, created, err := secretstore.EnsureCA(ctx, store, local, time.Now())
	if err != nil {
		var drift *secretstore.CADriftError
		if errors.As(err, &drift) {
			log.Error(err, "REFUSING TO START: the local CA differs from the cluster's CA secret")
		}
		return nil, err
	}
	if created {
		log.Info("created the cluster CA and stored it in the kubeedge/casecret secret", "caSHA256", ca.Hash())
	}

	want := func(kp *certs.KeyPair) error {
		if err := certs.CheckCert(kp.Cert, time.Now(), 30*24*time.Hour); err != nil {
			return err
		}
		if err := kp.Cert.CheckSignatureFrom(ca.Cert); err != nil {
			return fmt.Errorf("not signed by the cluster CA: %w", err)
		}
		for _, a := range hub.AdvertiseAddress {
			if err := certs.VerifyServerSANs(kp.Cert, a); err != nil {
				return err
			}
		}
		for _, d := range hub.DNSNames {
			if d == "" {
				continue
			}
			if !slices.Contains(kp.Cert.DNSNames, d) {
				return fmt.Errorf("DNS name %s missing from the server certificate", d)
			}
		}
		return nil
	}
	if fileExists(hub.TLSCertFile) {
		kp, err := certs.LoadKeyPairFiles(hub.TLSCertFile, hub.TLSPrivateKeyFile)
		if err == nil {
			err = want(kp)
		}
		if err == nil {
			return &PKI{CA: ca, Server: kp}, nil
		}
		log.Info("server certificate file not usable; using the cluster's", "file", hub.TLSCertFile, "reason", err.Error())
	}
	if kp, err := store.LoadServer(ctx); err == nil {
		if err := want(kp); err == nil {
			return &PKI{CA: ca, Server: kp}, nil
		} else {
			log.Info("stored server certificate not usable; issuing a new one", "reason", err.Error())
		}
	} else if !errors.Is(err, secretstore.ErrNotFound) {
		return nil, err
	}
	kp, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: hub.AdvertiseAddress, DNSNames: hub.DNSNames})
	if err != nil {
		return nil, fmt.Errorf("issue the cloudcore server certificate: %w", err)
	}
	if err := store.SaveServer(ctx, kp); err != nil {
		return nil, err
	}
	log.Info("issued the cloudcore server certificate", "ips", hub.AdvertiseAddress, "dns", hub.DNSNames)
	return &PKI{CA: ca, Server: kp}, nil
}

func fileExists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}
