package cloudhub

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/certs"
)

// certRequest is one call to the certificate server.
type certRequest struct {
	method string
	path   string
	header map[string]string
	body   []byte
}

func doCert(t *testing.T, client *http.Client, hub *Hub, r certRequest) (int, []byte) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.path == "" {
		r.path = "/edge.crt"
	}
	req, err := http.NewRequest(r.method, "https://"+hub.HTTPSAddr().String()+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func newCSR(t *testing.T) []byte {
	t.Helper()
	key, err := certs.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.NewCSR(key, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// jwtOf returns the bearer part of a join token made by ca.
func jwtOf(t *testing.T, ca *certs.CA, now time.Time, ttl time.Duration) string {
	t.Helper()
	token, err := certs.GenerateToken(ca, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := certs.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return tok.JWT
}

func parseIssued(t *testing.T, p *testPKI, der []byte) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("answer is not a DER certificate: %v (%q)", err, der)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: p.pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("issued certificate does not chain to the CA: %v", err)
	}
	return cert
}

func TestCACert(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	hub, _ := startHub(t, Config{}, p.authority(), &recorder{}, logr.Discard())
	// A joining node has no trust yet: it fetches the CA without verifying TLS.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // as the edge does
	t.Cleanup(insecure.CloseIdleConnections)

	status, body := doCert(t, insecure, hub, certRequest{path: "/ca.crt"})
	if status != http.StatusOK {
		t.Fatalf("GET /ca.crt: %d %s", status, body)
	}
	if !bytes.Equal(body, p.ca.Cert.Raw) {
		t.Error("GET /ca.crt did not return the CA certificate DER")
	}
	if status, _ := doCert(t, insecure, hub, certRequest{method: http.MethodPost, path: "/ca.crt"}); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /ca.crt: got %d, want 405", status)
	}
	if status, _ := doCert(t, insecure, hub, certRequest{method: http.MethodDelete}); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /edge.crt: got %d, want 405", status)
	}
}

func TestEdgeCertWithToken(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	other := newTestPKI(t)
	logs := &logBuffer{}
	rec := &recorder{}
	hub, _ := startHub(t, Config{}, p.authority(), rec, logs.logger())
	client := p.httpClient(t)
	now := time.Now()
	valid := jwtOf(t, p.ca, now, time.Hour)

	t.Run("issues a certificate named after the node", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			status, body := doCert(t, client, hub, certRequest{method: method, body: newCSR(t),
				header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1"}})
			if status != http.StatusOK {
				t.Fatalf("%s: %d %s", method, status, body)
			}
			cert := parseIssued(t, p, body)
			if cert.Subject.CommonName != "edge-1" {
				t.Errorf("CN = %q, want edge-1", cert.Subject.CommonName)
			}
			if !reflect.DeepEqual(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ExtKeyUsage = %v, want client auth only", cert.ExtKeyUsage)
			}
			if got := cert.NotAfter.Sub(cert.NotBefore); got != time.Hour {
				t.Errorf("validity = %s, want the authority's 1h", got)
			}
		}
	})

	t.Run("ExtKeyUsages header", func(t *testing.T) {
		status, body := doCert(t, client, hub, certRequest{body: newCSR(t),
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1", "ExtKeyUsages": "[1,2]"}})
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		cert := parseIssued(t, p, body)
		if !reflect.DeepEqual(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("ExtKeyUsage = %v", cert.ExtKeyUsage)
		}
		status, body = doCert(t, client, hub, certRequest{body: newCSR(t),
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1", "ExtKeyUsages": "[4]"}})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "4 is not allowed") {
			t.Errorf("usage 4: got %d %s", status, body)
		}
	})

	refusals := []struct {
		name   string
		header map[string]string
		body   []byte
		status int
		want   string // in the answer
		secret string // must not be in the answer or the logs
	}{
		{
			name:   "no authorization",
			header: map[string]string{"NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: "no join token",
		},
		{
			name:   "garbled authorization",
			header: map[string]string{"Authorization": "Bearer" + valid, "NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: "no join token", secret: valid,
		},
		{
			name:   "three-part authorization",
			header: map[string]string{"Authorization": "Bearer " + valid + " extra", "NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: "no join token", secret: valid,
		},
		{
			name:   "malformed jwt",
			header: map[string]string{"Authorization": "Bearer not-a-jwt-secret", "NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: certs.ErrTokenMalformed.Error(), secret: "not-a-jwt-secret",
		},
		{
			name:   "expired token",
			header: map[string]string{"Authorization": "Bearer " + jwtOf(t, p.ca, now.Add(-3*time.Hour), time.Hour), "NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: certs.ErrTokenExpired.Error(),
		},
		{
			name:   "token from another CA",
			header: map[string]string{"Authorization": "Bearer " + jwtOf(t, other.ca, now, time.Hour), "NodeName": "edge-1"},
			status: http.StatusUnauthorized, want: certs.ErrTokenSignature.Error(),
		},
		{
			name:   "no node name",
			header: map[string]string{"Authorization": "Bearer " + valid},
			status: http.StatusBadRequest, want: "NodeName header is required",
		},
		{
			name:   "invalid node name",
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "Edge_1"},
			status: http.StatusBadRequest, want: certs.ErrInvalidNodeName.Error(),
		},
		{
			name:   "bad ExtKeyUsages",
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1", "ExtKeyUsages": "client"},
			status: http.StatusBadRequest, want: "JSON array",
		},
		{
			name:   "not a CSR",
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1"},
			body:   []byte("garbage"),
			status: http.StatusBadRequest, want: certs.ErrInvalidCSR.Error(),
		},
		{
			name:   "CSR over 1 MiB",
			header: map[string]string{"Authorization": "Bearer " + valid, "NodeName": "edge-1"},
			body:   make([]byte, maxCSRSize+1),
			status: http.StatusRequestEntityTooLarge, want: "larger than 1 MiB",
		},
	}
	seen := map[string]string{}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == nil {
				body = newCSR(t)
			}
			status, answer := doCert(t, client, hub, certRequest{header: tt.header, body: body})
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, answer, tt.status)
			}
			if !strings.Contains(string(answer), tt.want) {
				t.Errorf("answer %q does not say %q", answer, tt.want)
			}
			secrets := []string{tt.secret}
			if a := tt.header["Authorization"]; len(a) > len("Bearer ") {
				secrets = append(secrets, strings.TrimPrefix(a, "Bearer "))
			}
			for _, s := range secrets {
				if s == "" {
					continue
				}
				if strings.Contains(string(answer), s) {
					t.Errorf("answer reveals the token: %q", answer)
				}
				if strings.Contains(logs.String(), s) {
					t.Errorf("logs reveal the token:\n%s", logs.String())
				}
			}
			if status == http.StatusUnauthorized {
				if prev, ok := seen[string(answer)]; ok && tt.want != "no join token" {
					t.Errorf("same answer as %q: %q", prev, answer)
				}
				seen[string(answer)] = tt.name
			}
		})
	}
	if rec.total() != 0 {
		t.Errorf("certificate requests reached the handler: %v", rec.events)
	}
}

func TestEdgeCertNameInUse(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	hub, _ := startHub(t, Config{}, p.authority(), &recorder{}, logr.Discard())
	p.connect(t, hub, "edge-1")
	client := p.httpClient(t)
	jwt := jwtOf(t, p.ca, time.Now(), time.Hour)

	status, body := doCert(t, client, hub, certRequest{body: newCSR(t),
		header: map[string]string{"Authorization": "Bearer " + jwt, "NodeName": "edge-1"}})
	if status != http.StatusConflict || !strings.Contains(string(body), `"edge-1" is in use`) {
		t.Errorf("joining as a connected node: %d %s, want 409", status, body)
	}
	status, body = doCert(t, client, hub, certRequest{body: newCSR(t),
		header: map[string]string{"Authorization": "Bearer " + jwt, "NodeName": "edge-2"}})
	if status != http.StatusOK {
		t.Errorf("joining as a free name: %d %s", status, body)
	}
}

func TestEdgeCertRenewal(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	other := newTestPKI(t)
	hub, _ := startHub(t, Config{}, p.authority(), &recorder{}, logr.Discard())
	// The renewing node is connected: that must not count as a name in use.
	p.connect(t, hub, "edge-1")
	edge1 := p.clientCert(t, "edge-1")

	for _, claimed := range []string{"edge-1", ""} {
		status, body := doCert(t, p.httpClient(t, edge1), hub, certRequest{body: newCSR(t), header: map[string]string{"NodeName": claimed}})
		if status != http.StatusOK {
			t.Fatalf("renewal with NodeName %q: %d %s", claimed, status, body)
		}
		if cn := parseIssued(t, p, body).Subject.CommonName; cn != "edge-1" {
			t.Errorf("renewal with NodeName %q: CN %q, want edge-1", claimed, cn)
		}
	}

	tests := []struct {
		name   string
		cert   tls.Certificate
		header map[string]string
		status int
		want   string
	}{
		{"another node's name", edge1, map[string]string{"NodeName": "edge-2"}, http.StatusForbidden,
			`node "edge-1" cannot request a certificate for node "edge-2"`},
		{"another node's name with a valid token too", edge1,
			map[string]string{"NodeName": "edge-2", "Authorization": "Bearer " + jwtOf(t, p.ca, time.Now(), time.Hour)},
			http.StatusForbidden, "cannot request a certificate"},
		{"certificate from another CA", other.clientCert(t, "edge-1"), map[string]string{"NodeName": "edge-1"},
			http.StatusUnauthorized, "not valid for this cloud"},
		{"server-auth only certificate", p.clientCert(t, "edge-1", x509.ExtKeyUsageServerAuth), map[string]string{"NodeName": "edge-1"},
			http.StatusUnauthorized, "not valid for this cloud"},
		{"upstream certificate naming no node", p.clientCert(t, certs.EdgeCSRCommonName), nil,
			http.StatusForbidden, "keadm join --token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := doCert(t, p.httpClient(t, tt.cert), hub, certRequest{body: newCSR(t), header: tt.header})
			if status != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %d %q, want %d with %q", status, body, tt.status, tt.want)
			}
		})
	}
}

func TestParseUsages(t *testing.T) {
	t.Parallel()
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		header  string
		want    []x509.ExtKeyUsage
		wantErr string
	}{
		{header: "", want: client},
		{header: "[]", want: client},
		{header: "null", want: client},
		{header: "[2]", want: client},
		{header: "[1]", want: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{header: "[1,2]", want: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{header: " [2, 1] ", want: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}},
		{header: "[0]", wantErr: "0 is not allowed"},
		{header: "[3]", wantErr: "3 is not allowed"},
		{header: "[2,-1]", wantErr: "-1 is not allowed"},
		{header: "2", wantErr: "JSON array"},
		{header: `["clientAuth"]`, wantErr: "JSON array"},
		{header: "[1.5]", wantErr: "JSON array"},
		{header: "[1,", wantErr: "JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := parseUsages(tt.header)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
