package cloudhub

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxCSRSize bounds a CSR body, as upstream (1 MiB).
const maxCSRSize = 1 << 20

func forbidden(cause error) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", cause)
}

// certHandler serves /ca.crt and /edge.crt (upstream's paths and encodings).
func (h *Hub) certHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ca.crt", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		_, _ = w.Write(h.auth.CACert().Raw)
	})
	// Upstream's edge sends GET with the CSR in the body; POST is accepted too.
	mux.HandleFunc("/edge.crt", h.serveEdgeCert)
	return mux
}

func (h *Hub) serveEdgeCert(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "use GET or POST with a DER CSR body", http.StatusMethodNotAllowed)
		return
	}
	claimed := r.Header.Get("NodeName")
	node, status, err := h.authorizeEdgeCert(r, claimed)
	if err != nil {
		// Log who and why, never the token.
		h.log.Info("refused an edge certificate request", "remote", r.RemoteAddr, "node", claimed, "reason", err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	usages, err := parseUsages(r.Header.Get("ExtKeyUsages"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	csr, err := io.ReadAll(io.LimitReader(r.Body, maxCSRSize+1))
	if err != nil {
		http.Error(w, "read CSR: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(csr) > maxCSRSize {
		http.Error(w, "CSR larger than 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	der, err := h.auth.SignCSR(csr, node, usages)
	if err != nil {
		h.log.Info("refused an edge certificate request", "remote", r.RemoteAddr, "node", node, "reason", err.Error())
		http.Error(w, "sign certificate: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.log.Info("issued an edge certificate", "node", node, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/pkix-cert")
	_, _ = w.Write(der)
}

// authorizeEdgeCert decides who the certificate is for: the holder of a valid
// client certificate renews its own; a valid join token gets one for the
// NodeName it asks for, unless a connected node already holds that name.
func (h *Hub) authorizeEdgeCert(r *http.Request, claimed string) (string, int, error) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		pool := x509.NewCertPool()
		pool.AddCert(h.auth.CACert())
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return "", http.StatusUnauthorized, fmt.Errorf("client certificate not valid for this cloud: %w", err)
		}
		node, err := h.auth.NodeName(cert)
		if err != nil {
			return "", http.StatusForbidden, err
		}
		if claimed != "" && claimed != node {
			return "", http.StatusForbidden, fmt.Errorf("node %q cannot request a certificate for node %q", node, claimed)
		}
		return node, 0, nil
	}
	authz := r.Header.Get("Authorization")
	parts := strings.Split(authz, " ")
	if authz == "" || len(parts) != 2 || parts[1] == "" {
		return "", http.StatusUnauthorized, fmt.Errorf("no join token: send Authorization: Bearer <token> (keadm join --token)")
	}
	if err := h.auth.VerifyToken(parts[1]); err != nil {
		return "", http.StatusUnauthorized, err
	}
	if claimed == "" {
		return "", http.StatusBadRequest, fmt.Errorf("the NodeName header is required with a join token")
	}
	if h.Connected(claimed) {
		return "", http.StatusConflict, fmt.Errorf("node name %q is in use by a connected edge node: choose another --edgenode-name, or reset that node first", claimed)
	}
	return claimed, 0, nil
}

// parseUsages reads the optional ExtKeyUsages header: a JSON array of Go
// x509.ExtKeyUsage numbers (1 server auth, 2 client auth). Default: client auth.
func parseUsages(header string) ([]x509.ExtKeyUsage, error) {
	if header == "" {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	var nums []int
	if err := json.Unmarshal([]byte(header), &nums); err != nil {
		return nil, fmt.Errorf("ExtKeyUsages header must be a JSON array of numbers: %w", err)
	}
	var out []x509.ExtKeyUsage
	for _, n := range nums {
		u := x509.ExtKeyUsage(n)
		if u != x509.ExtKeyUsageServerAuth && u != x509.ExtKeyUsageClientAuth {
			return nil, fmt.Errorf("ExtKeyUsages: %d is not allowed (1 server auth, 2 client auth)", n)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		out = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return out, nil
}
