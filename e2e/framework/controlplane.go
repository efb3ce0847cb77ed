package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ControlPlaneOptions configure StartControlPlane.
type ControlPlaneOptions struct {
	// Dir holds certificates, kubeconfigs, etcd data and logs. Required.
	Dir string
	// Controllers also starts kube-controller-manager and kube-scheduler and
	// waits until the controller-manager has created the default ServiceAccount.
	Controllers bool
	// ControllerManagerArgs are extra kube-controller-manager flags.
	ControllerManagerArgs []string
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
	// Detach leaves the processes running after this program exits (make run).
	Detach bool
	// APIServerPort fixes the apiserver's port; 0 picks a free one.
	APIServerPort int
}

// ControlPlane is a running etcd + kube-apiserver (+ controllers).
type ControlPlane struct {
	Dir string
	// Kubeconfig is an admin kubeconfig file (system:masters).
	Kubeconfig string
	// Config is the admin rest.Config.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// URL is the apiserver's https URL.
	URL string
	// Binaries are the programs in use; Kubectl is handy for tests and users.
	Binaries ControlPlaneBinaries

	procs    []*Process
	stopOnce sync.Once
	stopErr  error
}

const startTimeout = 90 * time.Second

// StartControlPlane starts etcd and kube-apiserver (and, with Controllers,
// kube-controller-manager and kube-scheduler) on loopback and waits until they
// serve. On error everything it started is stopped again.
func StartControlPlane(ctx context.Context, opts ControlPlaneOptions) (cp *ControlPlane, err error) {
	if opts.Dir == "" {
		return nil, errors.New("control plane: Dir is required")
	}
	bins, err := FindControlPlane()
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{Dir: opts.Dir, Binaries: bins}
	defer func() {
		if err != nil {
			_ = cp.Stop()
			cp = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	pki, err := newTestPKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("control plane certificates: %w", err)
	}
	servingCert, servingKey, err := pki.issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")})
	if err != nil {
		return nil, err
	}
	saPub, saKey, err := pki.serviceAccountKeys()
	if err != nil {
		return nil, err
	}

	etcdURL, err := cp.startEtcd(ctx, bins.Etcd, opts)
	if err != nil {
		return nil, err
	}

	port := opts.APIServerPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	cp.URL = "https://" + hostPort(port)
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + servingCert, "--tls-private-key-file=" + servingKey, "--client-ca-file=" + pki.CAFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
	}
	if !opts.Controllers {
		// Without a controller-manager no default ServiceAccount is ever created.
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	}
	args = append(args, opts.APIServerArgs...)
	api, err := cp.start("kube-apiserver", bins.APIServer, args, opts)
	if err != nil {
		return nil, err
	}
	if err := waitHTTPS(ctx, "kube-apiserver /readyz", cp.URL+"/readyz", pki.CAFile, api); err != nil {
		return nil, err
	}

	// Kubeconfigs: admin for tests and users, one each for the controllers.
	kubeconfig := func(name, cn string, orgs []string) (string, error) {
		cert, key, err := pki.issue(name, pkix.Name{CommonName: cn, Organization: orgs}, x509.ExtKeyUsageClientAuth, nil, nil)
		if err != nil {
			return "", err
		}
		path := filepath.Join(opts.Dir, name+".kubeconfig")
		return path, writeKubeconfig(path, cp.URL, pki.CAFile, cert, key)
	}
	if cp.Kubeconfig, err = kubeconfig("admin", "admin", []string{"system:masters"}); err != nil {
		return nil, err
	}
	if cp.Config, err = clientcmd.BuildConfigFromFlags("", cp.Kubeconfig); err != nil {
		return nil, fmt.Errorf("load admin kubeconfig: %w", err)
	}
	if cp.Client, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return nil, err
	}

	if opts.Controllers {
		kcmConfig, err := kubeconfig("controller-manager", "system:kube-controller-manager", nil)
		if err != nil {
			return nil, err
		}
		schedConfig, err := kubeconfig("scheduler", "system:kube-scheduler", nil)
		if err != nil {
			return nil, err
		}
		kcmArgs := append([]string{
			"--kubeconfig=" + kcmConfig, "--secure-port=0", "--leader-elect=false",
			"--use-service-account-credentials=true", "--service-account-private-key-file=" + saKey,
			"--root-ca-file=" + pki.CAFile,
			"--cluster-signing-cert-file=" + pki.CAFile, "--cluster-signing-key-file=" + filepath.Join(pki.dir, "ca.key"),
			"--service-cluster-ip-range=10.0.0.0/24", "--allocate-node-cidrs=false",
		}, opts.ControllerManagerArgs...)
		kcm, err := cp.start("kube-controller-manager", bins.ControllerManager, kcmArgs, opts)
		if err != nil {
			return nil, err
		}
		if _, err := cp.start("kube-scheduler", bins.Scheduler,
			[]string{"--kubeconfig=" + schedConfig, "--secure-port=0", "--leader-elect=false"}, opts); err != nil {
			return nil, err
		}
		err = WaitFor(ctx, "the default ServiceAccount (kube-controller-manager)", 200*time.Millisecond, kcm, func(ctx context.Context) (bool, error) {
			_, err := cp.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return nil, err
		}
	}
	if err := cp.writePIDs(); err != nil {
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) startEtcd(ctx context.Context, bin string, opts ControlPlaneOptions) (string, error) {
	// A port taken between FreePort and etcd's bind makes etcd exit at once;
	// try again with new ports rather than talk to someone else's etcd.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		clientPort, err := FreePort()
		if err != nil {
			return "", err
		}
		peerPort, err := FreePort()
		if err != nil {
			return "", err
		}
		data := filepath.Join(opts.Dir, "etcd")
		_ = os.RemoveAll(data)
		if err := os.MkdirAll(data, 0o700); err != nil {
			return "", err
		}
		clientURL, peerURL := "http://"+hostPort(clientPort), "http://"+hostPort(peerPort)
		p, err := cp.start("etcd", bin, []string{
			"--name=e2e", "--data-dir=" + data, "--unsafe-no-fsync", "--logger=zap", "--log-level=warn",
			"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=e2e=" + peerURL, "--initial-cluster-state=new",
		}, opts)
		if err != nil {
			return "", err
		}
		lastErr = WaitFor(ctx, "etcd /health", 100*time.Millisecond, p, func(ctx context.Context) (bool, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			if exited, _ := p.Exited(); exited {
				return false, nil // someone else's etcd answered
			}
			return resp.StatusCode == http.StatusOK, nil
		})
		if lastErr == nil {
			return clientURL, nil
		}
		if exited, _ := p.Exited(); !exited {
			return "", lastErr
		}
		cp.procs = cp.procs[:len(cp.procs)-1]
	}
	return "", lastErr
}

func (cp *ControlPlane) start(name, bin string, args []string, opts ControlPlaneOptions) (*Process, error) {
	p, err := StartProcess(name, filepath.Join(cp.Dir, name+".log"), bin, args, ProcessOptions{Detach: opts.Detach})
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// PIDFile lists the control plane's processes, one "name pid" per line, so
// that a detached control plane can be stopped later (StopDetached).
const PIDFile = "pids"

func (cp *ControlPlane) writePIDs() error {
	var b []byte
	for _, p := range cp.procs {
		b = fmt.Appendf(b, "%s %d\n", p.Name, p.PID())
	}
	return os.WriteFile(filepath.Join(cp.Dir, PIDFile), b, 0o644)
}

// Processes returns the running control-plane processes, in start order.
func (cp *ControlPlane) Processes() []*Process { return append([]*Process(nil), cp.procs...) }

// Stop stops the processes in reverse start order. It is safe to call twice.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		var errs []error
		for i := len(cp.procs) - 1; i >= 0; i-- {
			if err := cp.procs[i].Stop(15 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		cp.stopErr = errors.Join(errs...)
	})
	return cp.stopErr
}

func waitHTTPS(ctx context.Context, what, url, caFile string, p *Process) error {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return WaitFor(ctx, what, 100*time.Millisecond, p, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

func writeKubeconfig(path, server, caFile, certFile, keyFile string) error {
	read := func(p string) ([]byte, error) { return os.ReadFile(p) }
	ca, err := read(caFile)
	if err != nil {
		return err
	}
	cert, err := read(certFile)
	if err != nil {
		return err
	}
	key, err := read(keyFile)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, path)
}
