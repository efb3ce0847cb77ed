package edgehub

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/cleanedge/kubeedge/certs"
)

// BootstrapError says why a node could not get its certificate, with the fix.
type BootstrapError struct {
	Step string
	Err  error
	Fix  string
}

func (e *BootstrapError) Error() string {
	if e.Fix == "" {
		return e.Step + ": " + e.Err.Error()
	}
	return e.Step + ": " + e.Err.Error() + "\n  fix: " + e.Fix
}

func (e *BootstrapError) Unwrap() error { return e.Err }

// Bootstrap errors callers may test for.
var (
	ErrCloudUnreachable  = errors.New("cloudcore is unreachable")
	ErrServerNameInvalid = errors.New("cloudcore's certificate does not cover the address used")
	ErrClockSkew         = errors.New("certificate not valid at this machine's time")
	ErrRefused           = errors.New("cloudcore refused the certificate request")
	ErrNameInUse         = errors.New("node name in use")
)

// HaveCertificate reports whether the configured certificate and key load and
// the certificate is valid now.
func HaveCertificate(cfg Config, now time.Time) bool {
	kp, err := certs.LoadKeyPairFiles(cfg.CertFile, cfg.KeyFile)
	return err == nil && certs.CheckCert(kp.Cert, now, 0) == nil
}

// EnsureCertificate gives the node its CA and client certificate: if a valid
// pair is on disk it is kept; otherwise the join token is used to fetch the CA
// (checked against the token's hash) and have a CSR signed.
func EnsureCertificate(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	if HaveCertificate(cfg, time.Now()) {
		return nil
	}
	if cfg.Token == "" {
		return &BootstrapError{Step: "certificate bootstrap", Err: errors.New("no valid certificate at " + cfg.CertFile + " and no join token"),
			Fix: "get a token with `keadm gettoken` on the cloud and set modules.edgeHub.token (or re-run keadm join --token)"}
	}
	tok, err := certs.ParseToken(cfg.Token)
	if err != nil {
		return &BootstrapError{Step: "join token", Err: err}
	}
	caDER, err := fetchCA(ctx, cfg.HTTPServer)
	if err != nil {
		return err
	}
	if err := tok.CheckCA(caDER); err != nil {
		return &BootstrapError{Step: "CA check", Err: err}
	}
	if err := certs.WriteCertFile(cfg.CAFile, caDER); err != nil {
		return &BootstrapError{Step: "write CA", Err: err}
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return &BootstrapError{Step: "CA check", Err: err}
	}
	key, der, err := requestCert(ctx, cfg, ca, nil, tok.JWT)
	if err != nil {
		return err
	}
	if err := certs.WriteKeyPairFiles(cfg.CertFile, cfg.KeyFile, der, key); err != nil {
		return &BootstrapError{Step: "write certificate", Err: err}
	}
	return nil
}

func fetchCA(ctx context.Context, server string) ([]byte, error) {
	// The CA is what we are about to trust: it is checked against the token's
	// hash, not by TLS.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // verified by hash below
		Proxy:           http.ProxyFromEnvironment,
		// One request per transport: keep-alive would leave the connection open.
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/ca.crt", nil)
	if err != nil {
		return nil, &BootstrapError{Step: "fetch CA", Err: err, Fix: "modules.edgeHub.httpServer must look like https://<cloud-ip>:10002"}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, classify("fetch CA from "+server, err, server)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		return nil, &BootstrapError{Step: "fetch CA from " + server, Err: fmt.Errorf("HTTP %s", resp.Status),
			Fix: "check that --certport points at cloudcore's HTTPS port (default 10002)"}
	}
	return body, nil
}

// requestCert sends a new key's CSR to /edge.crt, authorised by the join
// token (bootstrap) or the current client certificate (renewal).
func requestCert(ctx context.Context, cfg Config, ca *x509.Certificate, client *tls.Certificate, jwt string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := certs.NewKey()
	if err != nil {
		return nil, nil, err
	}
	csr, err := certs.NewCSR(key, cfg.NodeName)
	if err != nil {
		return nil, nil, &BootstrapError{Step: "certificate request", Err: err, Fix: "choose a node name that is a DNS-1123 subdomain (--edgenode-name)"}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	u, err := url.Parse(cfg.HTTPServer)
	if err != nil {
		return nil, nil, &BootstrapError{Step: "certificate request", Err: err}
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: u.Hostname()}
	if client != nil {
		tlsCfg.Certificates = []tls.Certificate{*client}
	}
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment,
		DisableKeepAlives: true}} // one request: do not leave the connection open
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.HTTPServer+"/edge.crt", bytes.NewReader(csr))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("NodeName", cfg.NodeName)
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, nil, classify("request certificate from "+cfg.HTTPServer, err, u.Hostname())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusConflict:
		return nil, nil, &BootstrapError{Step: "request certificate", Err: fmt.Errorf("%w: %s", ErrNameInUse, bytes.TrimSpace(body))}
	case resp.StatusCode != http.StatusOK:
		return nil, nil, &BootstrapError{Step: "request certificate", Err: fmt.Errorf("%w (HTTP %d): %s", ErrRefused, resp.StatusCode, bytes.TrimSpace(body))}
	case len(body) == 0:
		// Upstream answers 200 with no body when it cannot sign.
		return nil, nil, &BootstrapError{Step: "request certificate", Err: fmt.Errorf("%w: empty answer", ErrRefused)}
	}
	if _, err := x509.ParseCertificate(body); err != nil {
		return nil, nil, &BootstrapError{Step: "request certificate", Err: fmt.Errorf("answer is not a DER certificate: %w", err)}
	}
	return key, body, nil
}

// classify turns transport errors into the causes users meet most, each with its fix.
func classify(step string, err error, host string) error {
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var opErr *net.OpError
	switch {
	case errors.As(err, &hostErr):
		return &BootstrapError{Step: step, Err: fmt.Errorf("%w: %v", ErrServerNameInvalid, err),
			Fix: fmt.Sprintf("re-run `keadm init` on the cloud with --advertise-address (or --domainname) including %s, or join with an address the certificate covers", host)}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return &BootstrapError{Step: step, Err: fmt.Errorf("%w: %v", ErrClockSkew, err),
			Fix: fmt.Sprintf("check this machine's clock (now %s UTC) against the cloud's; enable NTP", time.Now().UTC().Format(time.RFC3339))}
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &opErr):
		return &BootstrapError{Step: step, Err: fmt.Errorf("%w: %v", ErrCloudUnreachable, err),
			Fix: "check that cloudcore runs and that ports 10000 and 10002 are open in every firewall between this machine and the cloud (--cloudcore-ipport, --certport)"}
	}
	return &BootstrapError{Step: step, Err: err}
}

// rotateLoop renews the certificate at a random point between 70 % and 90 %
// of its validity, then reconnects with it.
func (h *Hub) rotateLoop(ctx context.Context) {
	for {
		kp, err := certs.LoadKeyPairFiles(h.cfg.CertFile, h.cfg.KeyFile)
		if err != nil {
			h.log.Info("certificate rotation stopped: cannot read the certificate", "err", err)
			return
		}
		life := kp.Cert.NotAfter.Sub(kp.Cert.NotBefore)
		deadline := kp.Cert.NotBefore.Add(time.Duration(float64(life) * (0.7 + 0.2*rand.Float64())))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline)):
		}
		backoff := 2 * time.Second
		for {
			if err := h.renew(ctx); err == nil {
				break
			} else {
				h.log.Info("certificate renewal failed", "err", err, "retryIn", backoff)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 32*time.Second)
		}
		select {
		case h.reconnect <- struct{}{}:
		default:
		}
	}
}

func (h *Hub) renew(ctx context.Context) error {
	ca, err := certs.LoadCertFile(h.cfg.CAFile)
	if err != nil {
		return err
	}
	current, err := tls.LoadX509KeyPair(h.cfg.CertFile, h.cfg.KeyFile)
	if err != nil {
		return err
	}
	key, der, err := requestCert(ctx, h.cfg, ca, &current, "")
	if err != nil {
		return err
	}
	if err := certs.WriteKeyPairFiles(h.cfg.CertFile, h.cfg.KeyFile, der, key); err != nil {
		return err
	}
	h.log.Info("edge certificate renewed")
	return nil
}
