//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/e2e/framework"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

// cloud is a cloud set up with keadm init against a real control plane.
type cloud struct {
	cp                *framework.ControlPlane
	root              string
	wsPort, httpsPort int
	wsAddr, httpsURL  string
}

func initCloud(ctx context.Context, t *testing.T, dir string) *cloud {
	t.Helper()
	cp := framework.ControlPlaneForTest(t, framework.ControlPlaneOptions{Controllers: true})
	c := &cloud{cp: cp, root: filepath.Join(dir, "cloud")}
	var err error
	if c.wsPort, err = framework.FreePort(); err != nil {
		t.Fatal(err)
	}
	if c.httpsPort, err = framework.FreePort(); err != nil {
		t.Fatal(err)
	}
	c.wsAddr = "127.0.0.1:" + strconv.Itoa(c.wsPort)
	c.httpsURL = "https://127.0.0.1:" + strconv.Itoa(c.httpsPort)
	cloudcore, err := framework.ProjectBinary("cloudcore")
	if err != nil {
		t.Fatal(err)
	}
	resetOnCleanup(t, dir, c.root)
	framework.MustRun(ctx, t, "keadm", "init", "--kube-config", cp.Kubeconfig, "--advertise-address", "127.0.0.1",
		"--root", c.root, "--websocket-port", strconv.Itoa(c.wsPort), "--https-port", strconv.Itoa(c.httpsPort),
		"--cloudcore-binary", cloudcore)
	return c
}

// resetOnCleanup runs keadm reset for root when the test ends, whatever it
// did, so that nothing is left running. reset removes the daemons' logs: a
// failed test's are first copied into dir.
func resetOnCleanup(t *testing.T, dir, root string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(layout.Under(root).Log, "*.log"))
			for _, f := range logs {
				if b, err := os.ReadFile(f); err == nil {
					_ = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
				}
			}
		}
		_ = framework.RunCommand(context.Background(), t, "keadm", "reset", "--force", "--root", root)
	})
}

func (c *cloud) token(ctx context.Context, t *testing.T) string {
	t.Helper()
	r := framework.MustRun(ctx, t, "keadm", "gettoken", "--kube-config", c.cp.Kubeconfig)
	tok := strings.TrimSpace(r.Stdout)
	if strings.Count(tok, ".") != 3 || strings.Contains(tok, "\n") {
		t.Fatalf("keadm gettoken printed %q, want only the token", r.Stdout)
	}
	return tok
}

func (c *cloud) join(ctx context.Context, t *testing.T, dir, node, token string) string {
	t.Helper()
	root := filepath.Join(dir, node)
	edgecore, err := framework.ProjectBinary("edgecore")
	if err != nil {
		t.Fatal(err)
	}
	resetOnCleanup(t, dir, root)
	framework.MustRun(ctx, t, "keadm", "join", "--cloudcore-ipport", c.wsAddr, "--certport", strconv.Itoa(c.httpsPort),
		"--token", token, "--edgenode-name", node, "--root", root, "--edgecore-binary", edgecore)
	return root
}

func nodeReady(ctx context.Context, client kubernetes.Interface, name string) (bool, *corev1.NodeCondition, error) {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, nil, err
	}
	for i, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, &n.Status.Conditions[i], nil
		}
	}
	return false, nil, nil
}

func waitReady(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, want bool, timeout time.Duration) *corev1.NodeCondition {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *corev1.NodeCondition
	err := framework.WaitFor(ctx, fmt.Sprintf("node %s Ready=%v", name, want), 500*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		ready, cond, err := nodeReady(ctx, client, name)
		last = cond
		return err == nil && ready == want, err
	})
	if err != nil {
		t.Fatalf("%v (last Ready condition: %+v)", err, last)
	}
	return last
}

// alive reports whether pid runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func pidOf(t *testing.T, root, name string) int {
	t.Helper()
	b, err := os.ReadFile(layout.Under(root).PIDFile(name))
	if err != nil {
		t.Fatalf("%s pid file: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s pid file: %v", name, err)
	}
	return pid
}

// init → gettoken → join two nodes → both Ready; a killed edgecore makes its
// node NotReady after the grace period, and a re-run join brings it back;
// reset leaves nothing of ours running or on disk.
func TestNodeLifecycle(t *testing.T) {
	ctx := framework.Context(t)
	dir := framework.ArtifactDir(t)
	c := initCloud(ctx, t, dir)
	token := c.token(ctx, t)
	client := c.cp.Client

	edge1 := c.join(ctx, t, dir, "edge-1", token)
	edge2 := c.join(ctx, t, dir, "edge-2", token)
	for _, n := range []string{"edge-1", "edge-2"} {
		waitReady(ctx, t, client, n, true, 60*time.Second)
		node, err := client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := node.Labels["node-role.kubernetes.io/edge"]; !ok {
			t.Errorf("node %s lacks the edge label: %v", n, node.Labels)
		}
		if node.Status.Capacity.Cpu().IsZero() || node.Status.NodeInfo.KernelVersion == "" || len(node.Status.Addresses) == 0 {
			t.Errorf("node %s status incomplete: %+v", n, node.Status)
		}
	}
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "edge-1", metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime == nil {
		t.Errorf("edge-1 lease: %+v %v", lease, err)
	}

	// Keys are private.
	for _, f := range []string{layout.Under(edge1).KeyFile(), layout.Under(edge2).KeyFile(), layout.Under(c.root).KeyFile(), layout.Under(c.root).CAKeyFile()} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("key file %s: mode %v, err %v; want 0600", f, st.Mode().Perm(), err)
		}
	}

	// Kill edge-1: NotReady after the grace period, with our reason.
	if err := syscall.Kill(pidOf(t, edge1, "edgecore"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cond := waitReady(ctx, t, client, "edge-1", false, 120*time.Second)
	t.Logf("edge-1 after its edgecore was killed: %s %s: %s", cond.Status, cond.Reason, cond.Message)
	if ready, _, _ := nodeReady(ctx, client, "edge-2"); !ready {
		t.Error("edge-2 went NotReady when edge-1's edgecore was killed")
	}
	// A re-run of join (after a crash, a partial join) brings it back.
	c.join(ctx, t, dir, "edge-1", token)
	waitReady(ctx, t, client, "edge-1", true, 60*time.Second)

	// The security checks connect with edge-1's certificate; stop its edgecore
	// first so that its reconnects do not replace the test's session.
	if err := syscall.Kill(pidOf(t, edge1, "edgecore"), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Run("security", func(t *testing.T) { testLinkSecurity(ctx, t, c, edge1, token) })

	// No token and no private key in any log.
	keyPEM, _ := os.ReadFile(layout.Under(edge1).KeyFile())
	caKeyPEM, _ := os.ReadFile(layout.Under(c.root).CAKeyFile())
	secrets := map[string]string{"join token": token, "join token JWT": token[strings.Index(token, ".")+1:]}
	for i, pemBytes := range [][]byte{keyPEM, caKeyPEM} {
		lines := strings.Split(strings.TrimSpace(string(pemBytes)), "\n")
		if len(lines) > 2 {
			secrets[fmt.Sprintf("private key %d", i)] = lines[1]
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "var", "log", "kubeedge", "*.log"))
	if len(logs) < 3 {
		t.Errorf("expected cloudcore and edgecore logs, found %v", logs)
	}
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		for what, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s appears in %s", what, f)
			}
		}
	}

	// A pod bound to edge-2, and the configmap it uses, reach edge-2's meta.db.
	t.Run("pod reaches meta.db", func(t *testing.T) { testPodPersisted(ctx, t, c, edge2) })

	// Reset both sides: nothing of ours running or on disk.
	pids := []int{pidOf(t, edge1, "edgecore"), pidOf(t, c.root, "cloudcore")}
	for _, root := range []string{edge1, edge2} {
		framework.MustRun(ctx, t, "keadm", "reset", "--force", "--root", root)
	}
	framework.MustRun(ctx, t, "keadm", "reset", "--force", "--root", c.root, "--kube-config", c.cp.Kubeconfig)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still running after reset", pid)
		}
	}
	for _, root := range []string{edge1, edge2, c.root} {
		l := layout.Under(root)
		for _, p := range []string{l.Etc, l.VarLib, l.Binary("edgecore"), l.Binary("cloudcore"), l.Edged} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind by reset (%v)", p, err)
			}
		}
	}
	// Resetting twice is fine.
	framework.MustRun(ctx, t, "keadm", "reset", "--force", "--root", edge1)
}

// testLinkSecurity checks that the link refuses what it must.
func testLinkSecurity(ctx context.Context, t *testing.T, c *cloud, edge1Root, token string) {
	l := layout.Under(edge1Root)
	caPEM, err := os.ReadFile(l.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509Pool(t, caPEM)
	edge1Cert, err := tls.LoadX509KeyPair(l.CertFile(), l.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	url := "wss://" + c.wsAddr + "/e632aba927ea4ac2b575ec1603d56f10/edge-2/events"

	t.Run("no client certificate", func(t *testing.T) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, HandshakeTimeout: 5 * time.Second}
		conn, _, err := d.DialContext(ctx, url, nil)
		if err == nil {
			conn.Close()
			t.Fatal("a websocket client without a certificate was accepted")
		}
	})

	t.Run("certificate of edge-1 claiming edge-2 in the header", func(t *testing.T) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{edge1Cert}}, HandshakeTimeout: 5 * time.Second}
		hdr := http.Header{}
		hdr.Set("node_id", "edge-2")
		conn, resp, err := d.DialContext(ctx, url, hdr)
		if err == nil {
			conn.Close()
			t.Fatal("edge-1's certificate was accepted for node_id edge-2")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("want HTTP 403, got %v (%v)", resp, err)
		}
	})

	t.Run("certificate of edge-1 claiming edge-2 in a node status message", func(t *testing.T) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{edge1Cert}}, HandshakeTimeout: 5 * time.Second}
		hdr := http.Header{}
		hdr.Set("node_id", "edge-1")
		conn, _, err := d.DialContext(ctx, "wss://"+c.wsAddr+"/x/edge-1/events", hdr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		patch := `{"metadata":{"labels":{"hijacked":"yes"}},"status":{"conditions":[{"type":"Ready","status":"False","reason":"Hijacked"}]}}`
		for _, typ := range []message.ResourceType{message.ResNodePatch, message.ResNode} {
			m, _ := message.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpPatch,
				Resource: message.Resource{Namespace: "default", Type: typ, Name: "edge-2"}.String()}, patch)
			frame, _ := message.Encode(m)
			if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				t.Fatal(err)
			}
			// The refusal comes back as a 403 reply to this message.
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					t.Fatalf("no refusal for %s: %v", typ, err)
				}
				reply, err := message.Decode(data)
				if err != nil || reply.Header.ParentID != m.Header.ID {
					continue
				}
				var resp message.ObjectResponse
				if err := reply.DecodeContent(&resp); err != nil || resp.Error() == nil || !strings.Contains(resp.Error().Error(), "another node") {
					t.Fatalf("reply to a claim on edge-2: %s (%v)", data, err)
				}
				break
			}
		}
		time.Sleep(time.Second)
		n, err := c.cp.Client.CoreV1().Nodes().Get(ctx, "edge-2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels["hijacked"] != "" {
			t.Error("edge-1 changed edge-2's labels")
		}
		for _, cond := range n.Status.Conditions {
			if cond.Reason == "Hijacked" {
				t.Error("edge-1 changed edge-2's status")
			}
		}
	})

	t.Run("bad tokens are refused with distinct messages", func(t *testing.T) {
		ca, err := (&secretstore.SecretStore{Client: c.cp.Client}).LoadCA(ctx)
		if err != nil {
			t.Fatal(err)
		}
		expired, err := certs.GenerateToken(ca, time.Now().Add(-48*time.Hour), 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := certs.NewCA(time.Now())
		foreign, _ := certs.GenerateToken(other, time.Now(), time.Hour)
		foreign = ca.Hash() + foreign[strings.Index(foreign, "."):] // right CA hash, wrong signer
		wrongHash := strings.Repeat("ab", 32) + token[strings.Index(token, "."):]
		garbled := base64.StdEncoding.EncodeToString([]byte("not a token"))
		edgecore, _ := framework.ProjectBinary("edgecore")
		seen := map[string]string{}
		for name, tc := range map[string]struct{ token, want string }{
			"expired":       {expired, "expired"},
			"wrong signer":  {foreign, "not signed by this cluster's CA"},
			"wrong CA hash": {wrongHash, "does not match the join token"},
			"garbled":       {garbled, "malformed"},
		} {
			root := filepath.Join(filepath.Dir(edge1Root), "bad-"+strings.ReplaceAll(name, " ", "-"))
			r := framework.RunCommand(ctx, t, "keadm", "join", "--cloudcore-ipport", c.wsAddr, "--certport", strconv.Itoa(c.httpsPort),
				"--token", tc.token, "--edgenode-name", "bad-node", "--root", root, "--edgecore-binary", edgecore, "--wait", "5s")
			_ = framework.RunCommand(ctx, t, "keadm", "reset", "--force", "--root", root)
			if r.Err == nil {
				t.Errorf("%s token: join succeeded", name)
				continue
			}
			if !strings.Contains(r.Output(), tc.want) {
				t.Errorf("%s token: output does not say %q:\n%s", name, tc.want, r.Output())
			}
			if strings.Contains(r.Output(), tc.token) {
				t.Errorf("%s token: the token is printed in the error", name)
			}
			seen[name] = r.Output()
		}
		if _, err := c.cp.Client.CoreV1().Nodes().Get(ctx, "bad-node", metav1.GetOptions{}); err == nil {
			t.Error("a node registered with a bad token")
		}
		b, _ := json.MarshalIndent(seen, "", "  ")
		t.Logf("join errors:\n%s", b)
	})
}

func testPodPersisted(ctx context.Context, t *testing.T, c *cloud, edgeRoot string) {
	client := c.cp.Client
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: "default"}, Data: map[string]string{"msg": "hello edge"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "edge-2", Containers: []corev1.Container{{
			Name: "app", Image: "localhost/kubeedge/app:v1",
			Env: []corev1.EnvVar{{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "msg"}}}},
		}}},
	}
	created, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// meta.db is locked while edgecore runs: give the push a moment, then stop
	// edgecore cleanly and read the file.
	time.Sleep(3 * time.Second)
	db := stopAndOpenMetaDB(t, edgeRoot)
	p, found, err := db.Get(message.Resource{Namespace: "default", Type: message.ResPod, Name: "web"})
	if err != nil || !found || p.UID != string(created.UID) {
		t.Fatalf("pod in meta.db: found %v, uid %q (want %q), err %v", found, p.UID, created.UID, err)
	}
	got, found, err := db.Get(message.Resource{Namespace: "default", Type: message.ResConfigMap, Name: "web-config"})
	if err != nil || !found || !strings.Contains(string(got.Data), "hello edge") {
		t.Fatalf("configmap in meta.db: found %v, %s, err %v", found, got.Data, err)
	}
}

// stopAndOpenMetaDB stops the node's edgecore cleanly (meta.db is locked
// while it runs) and opens its meta.db; the test closes it at cleanup.
func stopAndOpenMetaDB(t *testing.T, edgeRoot string) *store.DB {
	t.Helper()
	pid := pidOf(t, edgeRoot, "edgecore")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	db, err := store.Open(layout.Under(edgeRoot).MetaDB(), store.Options{})
	if err != nil {
		t.Fatalf("open meta.db of %s: %v", edgeRoot, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
